"""Signing in to the dashboard with an API key, and out (api.dashboard.session)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.dashboard.common import (
    render,
    safe_next,
    text_of,
)
from api.dashboard.session import (
    COOKIE,
    LOGIN_COOKIE,
    PATH,
    ViewerDep,
    cookie_options,
    max_age,
    new_session,
    same_token,
)
from api.deps import ReadSession
from api.errors import ApiError
from worker.storage import tenants

router = APIRouter(prefix=PATH, include_in_schema=False)


# --- sign-in ----------------------------------------------------------------------------------


@router.get("/sign-in")
def sign_in_form(request: Request, next: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    page = render(request, "sign_in.html", {"login_token": token, "next": safe_next(next)})
    page.set_cookie(LOGIN_COOKIE, token, max_age=900, **cookie_options(request))  # type: ignore[arg-type]
    return page


@router.post("/sign-in")
async def sign_in(request: Request, session: ReadSession) -> Response:
    form = await request.form()
    target = safe_next(form.get("next"))
    if not same_token(text_of(form.get("login_token")), request.cookies.get(LOGIN_COOKIE) or ""):
        return _sign_in_again(request, target, "The sign-in form expired. Try again.", 400)
    key = tenants.authenticate(session, plaintext=(text_of(form.get("api_key")) or "").strip())
    if key is None:
        return _sign_in_again(request, target, "That key is not valid, or it was revoked.", 401)
    answer = RedirectResponse(target, status_code=303)
    answer.set_cookie(COOKIE, new_session(key.id), max_age=max_age(), **cookie_options(request))  # type: ignore[arg-type]
    answer.delete_cookie(LOGIN_COOKIE, path=PATH)
    return answer


def _sign_in_again(request: Request, target: str, error: str, status: int) -> Response:
    token = secrets.token_urlsafe(24)
    context = {"login_token": token, "next": target, "error": error}
    page = render(request, "sign_in.html", context, status=status)
    page.set_cookie(LOGIN_COOKIE, token, max_age=900, **cookie_options(request))  # type: ignore[arg-type]
    return page


@router.post("/sign-out")
async def sign_out(request: Request, who: ViewerDep) -> Response:
    form = await request.form()
    if not same_token(text_of(form.get("csrf")), who.csrf):
        raise ApiError(400, "invalid_csrf", "this form is stale: reload the page and try again")
    answer = RedirectResponse(PATH + "/sign-in", status_code=303)
    answer.delete_cookie(COOKIE, path=PATH)
    return answer
