"""The HTTP API: authenticate, validate, enqueue, read back. It never computes."""

from __future__ import annotations

from fastapi import FastAPI

from api import errors
from api.routes import analysis, data_points, documents, facilities, jobs, reports, webhooks


def create_app() -> FastAPI:
    app = FastAPI(
        title="Tickwork API",
        version="1",
        description="Meter data ingest, jobs and facilities for fuel-compliance reporting.",
    )
    errors.install(app)
    for module in (data_points, facilities, jobs, analysis, reports, webhooks, documents):
        app.include_router(module.router, prefix="/v1")

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


app = create_app()
