"""The HTTP API: authenticate, validate, enqueue, read back. It never computes."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline

from api import dashboard, deps, errors, hsts, idempotency, limits, metrics, openapi, params
from api.routes import (
    analysis,
    api_keys,
    audit,
    data_points,
    documents,
    facilities,
    jobs,
    organization,
    reports,
    stats,
    webhooks,
)
from api.schemas.health import NOT_READY, Liveness, Readiness
from worker.observability import health, logs


def operation_id(route: APIRoute) -> str:
    return route.name


def create_app() -> FastAPI:
    # /docs and /redoc load Swagger UI and ReDoc from this server, not from a CDN.
    app = FastAPIOffline(
        title="Tickwork API",
        version="1",
        description="Meter data ingest, jobs and facilities for fuel-compliance reporting.",
        # operationId = the route function's name (list_data_points): what generated clients
        # name their methods after, stable when a path gains a parameter.
        generate_unique_id_function=operation_id,
    )
    errors.install(app)
    # Inside the body size limit: an oversized body is refused before it is read and hashed.
    app.add_middleware(idempotency.Idempotency)
    limits.install(app)
    app.add_middleware(params.QueryAliases)
    app.add_middleware(deps.RateLimitHeaders)
    # Every /v1 route answers 400 for a query parameter it does not declare.
    checked = [Depends(params.known_query)]
    for module in (
        data_points,
        facilities,
        jobs,
        analysis,
        reports,
        webhooks,
        documents,
        audit,
        stats,
        organization,
        api_keys,
    ):
        app.include_router(module.router, prefix="/v1", dependencies=checked)
    openapi.install(app)  # /openapi.json's webhooks, and examples kept as written
    dashboard.install(app)  # /app/: the web dashboard (its pages are not in the schema)
    app.add_middleware(metrics.RequestMetrics)
    app.add_middleware(hsts.StrictTransportSecurity)

    @app.get("/healthz", tags=["operations"], response_model=Liveness)
    def healthz() -> dict[str, str]:
        """Liveness: the process answers. It checks nothing else."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        response_model=Readiness,
        responses={
            503: {
                "model": errors.ErrorBody,
                "description": "Not ready",
                "content": {"application/json": {"example": NOT_READY}},
            }
        },
    )
    def readyz() -> JSONResponse:
        """Readiness: the database and the broker answer (each within 2 s)."""
        checks = health.readiness()
        if all(v == "ok" for v in checks.values()):
            return JSONResponse({"status": "ready", "checks": checks})
        failing = ", ".join(f"{k} {v}" for k, v in checks.items() if v != "ok")
        body = errors.error_body(503, "not_ready", f"not ready: {failing}", checks=checks)
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        """Prometheus text format; unauthenticated, like /healthz (docs/operations.md)."""
        body, content_type = metrics.render(metrics.api_registry())
        return Response(body, media_type=content_type)

    return app


app = create_app()
logs.configure_served_api()  # under uvicorn: TICKWORK_LOG_FORMAT for the whole process
