"""The dashboard's pages: server-rendered HTML over the same storage functions and permission
checks as the API (a facility, job, report or key of another tenant is "not found" here too).

Reading pages take ``viewer`` (signed in); forms that change something take ``editor`` (signed
in with a write key, the form's CSRF token checked). Every write goes through the function the
API's route uses, so it is audit-logged the same way.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import escape
from pydantic import ValidationError
from sqlalchemy.orm import Session

from api import enqueue
from api.dashboard import charts
from api.dashboard.session import (
    COOKIE,
    LOGIN_COOKIE,
    PATH,
    Viewer,
    cookie_options,
    editor,
    max_age,
    new_session,
    same_token,
    viewer,
)
from api.deps import get_session, read_session
from api.errors import ApiError
from api.routes.data_points import csv_file
from api.schemas.reports import ReportIn
from api.uploads import FormFile
from pipelines.downsample import m4
from worker.storage import audit, facilities, findings, jobs, overview, reports, tenants
from worker.storage.analysis import load_points
from worker.storage.models import ApiKey, Facility, Report, Tag
from worker.storage.pages import numbered_page

router = APIRouter(prefix=PATH, include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
PAGE = 50
ALERTS = 25  # the facility page's newest alerts; GET /v1/alerts lists them all
RANGES = {"1d": 1, "7d": 7, "30d": 30, "90d": 90}
CHART_BUCKETS = charts.WIDTH - charts.LEFT - charts.RIGHT  # one bucket per pixel column


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


def _local(value: datetime | None, tz: str = "UTC") -> str:
    if value is None:
        return "—"
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


templates.env.filters["local"] = _local
templates.env.filters["interval"] = lambda s: (
    f"{s:g} s" if s < 120 else f"{s / 60:g} min" if s < 7200 else
    f"{s / 3600:.3g} h" if s < 172800 else f"{s / 86400:.3g} d"
)  # fmt: skip
templates.env.globals["quote"] = lambda v: quote(str(v), safe="")


# --- sign-in ----------------------------------------------------------------------------------


@router.get("/sign-in")
def sign_in_form(request: Request, next: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    page = render(request, "sign_in.html", {"login_token": token, "next": safe_next(next)})
    page.set_cookie(LOGIN_COOKIE, token, max_age=900, **cookie_options(request))  # type: ignore[arg-type]
    return page


@router.post("/sign-in")
async def sign_in(request: Request, session: Session = Depends(read_session)) -> Response:
    form = await request.form()
    target = safe_next(form.get("next"))
    if not same_token(_text(form.get("login_token")), request.cookies.get(LOGIN_COOKIE) or ""):
        return _sign_in_again(request, target, "The sign-in form expired. Try again.", 400)
    key = tenants.authenticate(session, plaintext=(_text(form.get("api_key")) or "").strip())
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
async def sign_out(request: Request, who: Viewer = Depends(viewer)) -> Response:
    form = await request.form()
    if not same_token(_text(form.get("csrf")), who.csrf):
        raise ApiError(400, "invalid_csrf", "this form is stale: reload the page and try again")
    answer = RedirectResponse(PATH + "/sign-in", status_code=303)
    answer.delete_cookie(COOKIE, path=PATH)
    return answer


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


# --- facilities ---------------------------------------------------------------------------------


@router.get("/")
def home(
    request: Request, who: Viewer = Depends(viewer), session: Session = Depends(read_session)
) -> Response:
    now = datetime.now(UTC)
    rows = overview.facility_summaries(session, tenant_id=who.tenant_id, now=now)
    return render(request, "overview.html", {
        "who": who, "nav": "facilities", "facilities": rows, "due": next_report_due(now.date()),
    })  # fmt: skip


def next_report_due(today: date) -> tuple[str, date] | None:
    """The quarterly fuel transactions report due next, as 17 CCR §95491(b)(2) sets the dates
    for the first three quarters; None while the fourth quarter's is the next one (its date is
    not among the figures this project has checked against the regulation text)."""
    year = today.year
    candidates = [
        (f"Q3 {year - 1}", date(year - 1, 12, 31)),
        (f"Q1 {year}", date(year, 6, 30)),
        (f"Q2 {year}", date(year, 9, 30)),
        (f"Q3 {year}", date(year, 12, 31)),
    ]
    upcoming = [c for c in candidates if c[1] >= today]
    return upcoming[0] if upcoming and upcoming[0][1] >= today else None


@router.get("/facilities/{facility_id}")
def facility_page(
    request: Request,
    facility_id: str,
    days: int = 30,
    tag: str = "",
    day: str = "",
    who: Viewer = Depends(viewer),
    session: Session = Depends(read_session),
) -> Response:
    """Tags, the daily quality heatmap (``tag``/``day`` pick a cell to show its dimensions), the
    gap timeline and the alerts."""
    facility = facility_of(session, who, facility_id)
    days = min(max(days, 7), 120)
    tz = facility.timezone
    now = datetime.now(UTC)
    last = overview.latest_scored_day(session, tenant_id=who.tenant_id, facility_id=facility.id)
    last_day = date.fromisoformat(last) if last else overview.last_ended_day(now, tz)
    first_day = last_day - timedelta(days=days - 1)
    scores = overview.day_scores(
        session, tenant_id=who.tenant_id, facility_id=facility.id,
        first_day=first_day.isoformat(), last_day=last_day.isoformat(),
    )  # fmt: skip
    tags = overview.tag_summaries(session, tenant_id=who.tenant_id, facility_id=facility.id)
    day_list = [(first_day + timedelta(days=i)).isoformat() for i in range(days)]
    heat = heatmap([t.name for t in tags], day_list, scores, window=days)
    picked = next((s for s in scores if s.tag == tag and s.day == day), None)
    window_start = datetime.combine(first_day, datetime.min.time(), ZoneInfo(tz))
    # Up to now while the newest reading is within the window's length of it; else to a day
    # after the newest reading (or the end of the last scored day when later), so old data is
    # not squeezed against a year of open gap.
    newest = max((t.latest for t in tags if t.latest is not None), default=now)
    recent = now - newest < timedelta(days=days)
    window_end = max(now if recent else newest + timedelta(days=1),
                     datetime.combine(last_day + timedelta(days=1), datetime.min.time(),
                                      ZoneInfo(tz)))  # fmt: skip
    gap_rows = session.execute(
        findings.gap_listing(tenant_id=who.tenant_id, facility_id=facility.id,
                             start=window_start - timedelta(days=days), end=window_end).limit(500)
    ).all()  # fmt: skip
    # A resolved gap was filled by data that came late: history, not missing data.
    gaps = [(g, name) for g, name in gap_rows
            if g.status != "resolved" and _aware(g.gap_end) > window_start]  # fmt: skip
    lanes: dict[str, list[charts.Band]] = {}
    label = charts.label_for(ZoneInfo(tz))
    for g, name in gaps:
        lanes.setdefault(name, []).append(_band(g, label))
    timeline = charts.timeline_svg(
        rows=sorted(lanes.items()), start_ns=_ns(window_start), end_ns=_ns(window_end),
        time_label=label,
    ) if lanes else ""  # fmt: skip
    alerts = session.execute(
        findings.alert_listing(tenant_id=who.tenant_id, facility_id=facility.id).limit(ALERTS + 1)
    ).all()
    return render(request, "facility.html", {
        "who": who, "nav": "facilities", "facility": facility, "tags": tags, "days": day_list,
        "heat": heat, "picked": picked, "gaps": gaps[:100], "gap_count": len(gaps),
        "timeline": timeline, "alerts": alerts[:ALERTS], "more_alerts": len(alerts) > ALERTS,
        "window": days, "tz": tz,
    })  # fmt: skip


def heatmap(
    tags: list[str], day_list: list[str], scores: list[overview.DayScore], *, window: int
) -> list[tuple[str, str]]:
    """Each tag's row of cells as HTML: a scored day is a link (score as text, band as class and
    in its label) to the same page showing that day's dimensions; an unscored day says so."""
    by_cell = {(s.tag, s.day): s for s in scores}
    rows = []
    for name in tags:
        q = quote(name, safe="")
        cells = []
        for d in day_list:
            s = by_cell.get((name, d))
            if s is None:
                cells.append(f'<td class="q-none" title="{escape(name)} {d}: not scored">·</td>')
                continue
            band = "good" if s.score >= 95 else "fair" if s.score >= 80 else "poor"
            cells.append(
                f'<td class="q-{band}"><a href="?days={window}&amp;tag={q}&amp;day={d}#dims" '
                f'aria-label="{escape(name)} {d}: score {s.score:.0f}, {band}">'
                f"{s.score:.0f}</a></td>"
            )
        rows.append((name, "".join(cells)))
    return rows


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _ns(value: datetime) -> int:
    return int(pd.Timestamp(value).value)


def _band(gap: Any, label: charts.TimeLabel) -> charts.Band:
    start, end = _ns(_aware(gap.gap_start)), _ns(_aware(gap.gap_end))
    return charts.Band(start, end, f"gap {label(start)} to {label(end)} "
                       f"({gap.duration_minutes:.0f} min, {gap.status})")  # fmt: skip


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge_alert(
    alert_id: str, who: Viewer = Depends(editor), session: Session = Depends(get_session)
) -> Response:
    alert = findings.acknowledge_alert(session, tenant_id=who.tenant_id, alert_id=alert_id,
                                       actor=audit.actor_of_key(who.key_id))  # fmt: skip
    if alert is None:
        raise PageNotFound("alert", alert_id)
    return RedirectResponse(f"{PATH}/facilities/{quote(alert.facility_id)}#alerts", 303)


@router.get("/facilities/{facility_id}/tags/{tag_name}")
def tag_page(
    request: Request,
    facility_id: str,
    tag_name: str,
    range: str = "7d",
    who: Viewer = Depends(viewer),
    session: Session = Depends(read_session),
) -> Response:
    facility = facility_of(session, who, facility_id)
    tag = facilities.get_tag(session, facility_id=facility.id, name=tag_name)
    if tag is None:
        raise PageNotFound("tag", tag_name)
    span = RANGES.get(range, 7)
    tags = overview.tag_summaries(session, tenant_id=who.tenant_id, facility_id=facility.id)
    now = datetime.now(UTC)
    latest = next((t.latest for t in tags if t.id == tag.id), None) or now
    # Up to now while the tag is recent (a trailing gap shows); else up to its last reading.
    end = now if now - latest < timedelta(days=span) / 2 else latest + timedelta(minutes=1)
    start = end - timedelta(days=span)
    chart = tag_chart(session, tag=tag, tz=facility.timezone, start=start, end=end,
                      tenant_id=who.tenant_id)  # fmt: skip
    return render(request, "tag.html", {
        "who": who, "nav": "facilities", "facility": facility, "tag": tag, "chart": chart,
        "range": range if range in RANGES else "7d", "ranges": list(RANGES), "start": start,
        "end": end,
    })  # fmt: skip


def tag_chart(
    session: Session, *, tag: Tag, tz: str, start: datetime, end: datetime, tenant_id: str
) -> dict[str, Any]:
    """The tag's trend over ``[start, end)`` as SVG (M4-downsampled), with its gaps shaded and
    its unusable readings (bad quality flag, outside the tag's limits) marked."""
    points = load_points(session, tag_ids=[tag.id], start=start, end=end)
    ts = pd.DatetimeIndex(points["ts"]).as_unit("ns").asi8
    values = points["value"].to_numpy(dtype=np.float64)
    usable = (points["quality"].to_numpy() < 2) & np.isfinite(values)
    if tag.min_value is not None:
        usable &= values >= tag.min_value
    if tag.max_value is not None:
        usable &= values <= tag.max_value
    start_ns, end_ns = _ns(start), _ns(end)
    kept = m4(ts[usable], values[usable], start_ns=start_ns, end_ns=end_ns, buckets=CHART_BUCKETS)
    label = charts.label_for(ZoneInfo(tz))
    gap_rows = session.scalars(
        findings.gap_listing(tenant_id=tenant_id, facility_id=tag.facility_id, tag=tag.name,
                             start=start - timedelta(days=90), end=end).limit(1000)
    ).all()  # fmt: skip
    bands = [_band(g, label) for g in gap_rows
             if g.status != "resolved" and _aware(g.gap_end) > start]  # fmt: skip
    flagged = ~usable
    days = _flagged_days(session, tag=tag, tz=tz, start=start, end=end, tenant_id=tenant_id)
    svg = charts.trend_svg(
        ts_ns=kept.ts_ns, values=kept.values, start_ns=start_ns, end_ns=end_ns, gaps=bands,
        flagged_ns=ts[flagged][:500], flagged_values=values[flagged][:500], time_label=label,
        title=f"{tag.name} from {label(start_ns)} to {label(end_ns)} ({tz})", unit=tag.unit,
        day_marks=days,
    )  # fmt: skip
    return {"svg": svg, "points": len(points), "drawn": len(kept.ts_ns), "gaps": len(bands),
            "flagged": int(flagged.sum()), "flagged_days": len(days)}  # fmt: skip


def _flagged_days(
    session: Session, *, tag: Tag, tz: str, start: datetime, end: datetime, tenant_id: str
) -> list[charts.Band]:
    """The local days of ``[start, end)`` whose quality score found spikes or flatlines."""
    zone = ZoneInfo(tz)
    scores = overview.day_scores(
        session, tenant_id=tenant_id, facility_id=tag.facility_id,
        first_day=start.astimezone(zone).date().isoformat(),
        last_day=end.astimezone(zone).date().isoformat(),
    )  # fmt: skip
    marks = []
    for s in scores:
        spikes = int(s.metrics.get("spikes") or 0)
        runs = int(s.metrics.get("flatline_runs") or 0)
        if s.tag != tag.name or not (spikes or runs):
            continue
        day = datetime.combine(date.fromisoformat(s.day), datetime.min.time(), zone)
        what = ", ".join(part for part in (
            f"{spikes} spike{'s' * (spikes != 1)}" if spikes else "",
            f"{runs} flatline{'s' * (runs != 1)} "
            f"({float(s.metrics.get('flatline_minutes') or 0):.0f} min)" if runs else "",
        ) if part)  # fmt: skip
        marks.append(charts.Band(_ns(day), _ns(day + timedelta(days=1)), f"{s.day}: {what}"))
    return marks


# --- jobs and uploads ---------------------------------------------------------------------------


@router.get("/jobs")
def jobs_page(
    request: Request,
    page: int = 1,
    who: Viewer = Depends(viewer),
    session: Session = Depends(read_session),
) -> Response:
    page = max(page, 1)
    listing = jobs.job_listing(tenant_id=who.tenant_id)
    rows, has_more, total = numbered_page(session, query=listing.query, limit=PAGE, page=page)
    return render(request, "jobs.html", {
        "who": who, "nav": "jobs", "jobs": [r[0] for r in rows], "page": page,
        "has_more": has_more, "total": total,
    })  # fmt: skip


@router.get("/jobs/{job_id}")
def job_page(
    request: Request,
    job_id: str,
    who: Viewer = Depends(viewer),
    session: Session = Depends(read_session),
) -> Response:
    job = jobs.get_job(session, job_id=job_id, tenant_id=who.tenant_id)
    if job is None:
        raise PageNotFound("job", job_id)
    rejected = session.scalars(
        jobs.rejected_rows(tenant_id=who.tenant_id, job_id=job.id).limit(200)
    ).all()
    return render(request, "job.html", {"who": who, "nav": "jobs", "job": job,
                                        "rejected": rejected})  # fmt: skip


@router.get("/upload")
def upload_form(
    request: Request, who: Viewer = Depends(viewer), session: Session = Depends(read_session)
) -> Response:
    rows = session.scalars(facilities.facility_listing(tenant_id=who.tenant_id)).all()
    return render(request, "upload.html", {"who": who, "nav": "upload", "facilities": rows})


@router.post("/upload")
def upload(
    request: Request,
    who: Viewer = Depends(editor),
    file: FormFile = Depends(csv_file),
    session: Session = Depends(get_session),
) -> Response:
    """The upload form's CSV: queued as ``POST /v1/data-points/import`` queues it."""
    facility_id = file.fields["facility_id"]
    if facility_id is not None:
        facility_of(session, who, facility_id)
    accepted = enqueue.points_csv(session, tenant_id=who.tenant_id, file=file,
                                  facility_id=facility_id)  # fmt: skip
    target = f"{PATH}/jobs/{quote(accepted.job_id)}"
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"job_id": accepted.job_id, "url": target}, status_code=202)
    return RedirectResponse(target, status_code=303)


# --- reports ------------------------------------------------------------------------------------


@router.get("/reports")
def reports_page(
    request: Request, who: Viewer = Depends(viewer), session: Session = Depends(read_session)
) -> Response:
    rows = session.scalars(reports.report_listing(tenant_id=who.tenant_id).limit(100)).all()
    owned = session.scalars(facilities.facility_listing(tenant_id=who.tenant_id)).all()
    refresh = any(r.status == "queued" for r in rows)
    today = datetime.now(UTC).date()
    return render(request, "reports.html", {
        "who": who, "nav": "reports", "reports": rows, "facilities": owned, "refresh": refresh,
        "year": today.year if today.month > 3 else today.year - 1,
        "quarter": ((today.month - 1) // 3) or 4,
    })  # fmt: skip


@router.post("/reports")
async def request_report(
    request: Request, who: Viewer = Depends(editor), session: Session = Depends(get_session)
) -> Response:
    form = await request.form()
    facility = facility_of(session, who, _text(form.get("facility_id")) or "")
    try:
        body = ReportIn.model_validate({
            "facility_id": facility.id, "quarter": _text(form.get("quarter")) or "",
            "year": int(_text(form.get("year")) or 0), "format": _text(form.get("format")) or "pdf",
            "preparer": _text(form.get("preparer")) or "",
            "reviewer": _text(form.get("reviewer")) or "",
        })  # fmt: skip
    except (ValidationError, ValueError) as exc:
        raise ApiError(400, "invalid_parameter", _first_error(exc)) from None
    enqueue.report(session, facility=facility, body=body)
    return RedirectResponse(f"{PATH}/reports", status_code=303)


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return "year must be a number"


@router.get("/reports/{report_id}")
def report_page(
    request: Request,
    report_id: str,
    who: Viewer = Depends(viewer),
    session: Session = Depends(read_session),
) -> Response:
    """A report's status, totals per fuel pathway, what to check before filing, and (a PDF)
    its pages shown in the browser's own PDF viewer."""
    row = reports.get_report(session, tenant_id=who.tenant_id, report_id=report_id)
    if row is None:
        raise PageNotFound("report", report_id)
    return render(request, "report.html", {"who": who, "nav": "reports", "report": row,
                                           "totals": row.totals or {}})  # fmt: skip


@router.get("/reports/{report_id}/file")
def report_file(
    report_id: str, who: Viewer = Depends(viewer), session: Session = Depends(read_session)
) -> Response:
    row: Report | None = reports.get_report(session, tenant_id=who.tenant_id,
                                            report_id=report_id, content=True)  # fmt: skip
    if row is None:
        raise PageNotFound("report", report_id)
    if row.status != "generated" or row.content is None:
        raise ApiError(409, "report_not_ready", f"report '{report_id}' is {row.status}")
    name = f"lcfs_{row.facility_id}_{row.year}Q{row.quarter}{'_draft' if row.draft else ''}"
    inline = row.format == "pdf"
    disposition = "inline" if inline else "attachment"
    return Response(content=row.content, media_type=row.content_type, headers={
        "Content-Disposition": f'{disposition}; filename="{name}.{row.format}"'})  # fmt: skip


# --- settings: API keys -------------------------------------------------------------------------


@router.get("/settings/keys")
def keys_page(
    request: Request, who: Viewer = Depends(viewer), session: Session = Depends(read_session)
) -> Response:
    return _keys(request, who, session)


def _keys(
    request: Request, who: Viewer, session: Session, created: tuple[ApiKey, str] | None = None
) -> Response:
    rows = tenants.list_api_keys(session, tenant_id=who.tenant_id)
    return render(request, "keys.html", {"who": who, "nav": "keys", "keys": rows,
                                         "created": created})  # fmt: skip


@router.post("/settings/keys")
async def create_key(
    request: Request, who: Viewer = Depends(editor), session: Session = Depends(get_session)
) -> Response:
    form = await request.form()
    name = (_text(form.get("name")) or "").strip()[:200]
    scope = _text(form.get("scope")) or "write"
    if scope not in tenants.SCOPES:
        raise ApiError(400, "invalid_parameter", "scope must be write or read", field="scope")
    created = tenants.create_api_key(session, tenant_id=who.tenant_id, name=name, scope=scope,
                                     actor=audit.actor_of_key(who.key_id))  # fmt: skip
    session.commit()
    page = _keys(request, who, session, created=created)
    page.headers["Cache-Control"] = "no-store"  # the new key is on this page, once
    return page


@router.post("/settings/keys/{key_id}/revoke")
def revoke_key(
    key_id: str, who: Viewer = Depends(editor), session: Session = Depends(get_session)
) -> Response:
    key = tenants.revoke_tenant_api_key(session, tenant_id=who.tenant_id, key_id=key_id,
                                        actor=audit.actor_of_key(who.key_id))  # fmt: skip
    if key is None:
        raise PageNotFound("API key", key_id)
    return RedirectResponse(f"{PATH}/settings/keys", status_code=303)


# --- audit log ----------------------------------------------------------------------------------


@router.get("/audit")
def audit_page(
    request: Request,
    page: int = 1,
    who: Viewer = Depends(viewer),
    session: Session = Depends(read_session),
) -> Response:
    page = max(page, 1)
    listing = audit.entry_listing(tenant_id=who.tenant_id, newest_first=True)
    rows, has_more, total = numbered_page(session, query=listing.query, limit=PAGE, page=page)
    verdict = audit.verify(session, tenant_id=who.tenant_id)
    return render(request, "audit.html", {
        "who": who, "nav": "audit", "entries": [r[0] for r in rows], "page": page,
        "has_more": has_more, "total": total, "verdict": verdict,
    })  # fmt: skip


__all__ = ["PageNotFound", "router"]
