"""The web dashboard at ``/app/``: server-rendered pages (Jinja2) over the API's storage
functions, signed in with an API key (``api.dashboard.session``).

Pages by concern: ``signin``, ``facilities`` (overview, facility, tag), ``work`` (uploads, jobs,
reports), ``documents``, ``webhooks``, ``settings`` (API keys, audit log); ``common`` holds what
they share and ``charts`` draws the SVG. Reading pages take ``session.viewer`` (signed in); forms
that change something take ``session.editor`` (a write key, the form's CSRF token checked). Every
read and write goes through the storage function the API's route uses, scoped to the caller's
tenant, so permissions, tenant isolation and audit entries are the API's.

Everything a page loads comes from this server: its stylesheet and one small script of its own
under ``/app/static/``, charts drawn on the server as SVG. A strict Content-Security-Policy says
so to the browser as well.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.dashboard import common, documents, facilities, settings, signin, webhooks, work
from api.dashboard.session import PATH, BadCsrf, ReadOnly, SignInRequired
from api.errors import ApiError
from pipelines.errors import PipelineError

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-src 'self'; object-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'self'"
)


def install(app: FastAPI) -> None:
    for pages in (signin, facilities, work, documents, webhooks, settings):
        app.include_router(pages.router)
    static = Path(__file__).parent / "static"
    app.mount(PATH + "/static", StaticFiles(directory=static), name="dashboard-static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(PATH + "/", status_code=307)

    @app.get(PATH, include_in_schema=False)
    def app_root() -> RedirectResponse:
        return RedirectResponse(PATH + "/", status_code=307)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        if request.url.path.startswith(PATH):
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    api_error = app.exception_handlers[ApiError]
    pipeline_error = app.exception_handlers[PipelineError]
    invalid = app.exception_handlers[RequestValidationError]

    async def on_sign_in_required(request: Request, exc: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = PATH + "/"
        return RedirectResponse(f"{PATH}/sign-in?next={quote(target, safe='')}", status_code=303)

    async def on_read_only(request: Request, exc: Exception) -> Response:
        return _problem(request, 403, "This API key is read-only",
                        "Sign in with a key that may write to change anything.")  # fmt: skip

    async def on_bad_csrf(request: Request, exc: Exception) -> Response:
        return _problem(request, 403, "This form is stale",
                        "The page was open too long or came from elsewhere. Reload it and "
                        "try again.")  # fmt: skip

    async def on_not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, common.PageNotFound)
        return _problem(request, 404, f"No such {exc.what}",
                        f"There is no {exc.what} '{exc.ident}' here. It may belong to another "
                        "organisation, or have been deleted.")  # fmt: skip

    async def on_api_error(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith(PATH + "/"):
            return await api_error(request, exc)  # type: ignore[no-any-return]
        assert isinstance(exc, ApiError)
        return _problem(request, exc.status, "That did not work", exc.message)

    async def on_pipeline_error(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith(PATH + "/"):
            return await pipeline_error(request, exc)  # type: ignore[no-any-return]
        return _problem(request, 400, "That did not work", str(exc))

    async def on_invalid(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith(PATH + "/"):
            return await invalid(request, exc)  # type: ignore[no-any-return]
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path"))
        return _problem(request, 400, "That did not work", f"{where}: {first.get('msg', '')}")

    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(SignInRequired, on_sign_in_required)
    app.add_exception_handler(ReadOnly, on_read_only)
    app.add_exception_handler(BadCsrf, on_bad_csrf)
    app.add_exception_handler(common.PageNotFound, on_not_found)
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(PipelineError, on_pipeline_error)


def _problem(request: Request, status: int, title: str, message: str) -> Response:
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"error": {"title": title, "message": message}}, status_code=status)
    context = {"title": title, "message": message, "status": status}
    return common.render(request, "problem.html", context, status=status)
