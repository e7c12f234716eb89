"""What every dashboard page shares: the templates and their filters, rendering, the
"not found" page, where to go after signing in, and the signed-in caller's facility."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from api.dashboard.session import (
    PATH,
    Viewer,
)
from worker.storage import facilities
from worker.storage.models import Facility

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
PAGE = 50


class PageNotFound(Exception):
    def __init__(self, what: str, ident: str) -> None:
        super().__init__(f"{what} '{ident}' not found")
        self.what, self.ident = what, ident


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status)


def safe_next(value: object) -> str:
    """Where to go after signing in: a path of this dashboard, never another site."""
    text = value if isinstance(value, str) else ""
    parts = urlsplit(text)
    if parts.scheme or parts.netloc or not text.startswith(PATH + "/") or "\\" in text:
        return PATH + "/"
    return text


def facility_of(session: Session, who: Viewer, facility_id: str) -> Facility:
    row = facilities.get_facility(session, tenant_id=who.tenant_id, facility_id=facility_id)
    if row is None:
        raise PageNotFound("facility", facility_id)
    return row


def queued(request: Request, target: str, **ids: str) -> Response:
    """The answer to an upload form: to the page's script (which asked for JSON) the new ids and
    the page to follow (202), else a redirect to that page."""
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({**ids, "url": target}, status_code=202)
    return RedirectResponse(target, status_code=303)


def local_time(value: datetime | None, tz: str = "UTC") -> str:
    if value is None:
        return "—"
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


templates.env.filters["local"] = local_time
templates.env.filters["interval"] = lambda s: (
    f"{s:g} s"
    if s < 120
    else f"{s / 60:g} min"
    if s < 7200
    else f"{s / 3600:.3g} h"
    if s < 172800
    else f"{s / 86400:.3g} d"
)
templates.env.globals["quote"] = lambda v: quote(str(v), safe="")


def text_of(value: object) -> str | None:
    """A form field's text; None for a file or nothing."""
    return value if isinstance(value, str) else None


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def nanoseconds(value: datetime) -> int:
    """Nanoseconds since the Unix epoch (a naive value is taken as UTC), as pandas counts."""
    return (aware(value) - EPOCH) // timedelta(microseconds=1) * 1000
