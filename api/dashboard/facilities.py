"""The facilities overview, a facility's page (tags, daily quality heatmap, gap timeline,
alerts) and a tag's trend."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import escape
from sqlalchemy.orm import Session

from api.dashboard import charts
from api.dashboard.common import (
    PageNotFound,
    aware,
    facility_of,
    nanoseconds,
    render,
)
from api.dashboard.session import PATH, EditorDep, ViewerDep
from api.deps import ReadSession, WriteSession
from pipelines.downsample import m4
from worker.storage import audit, facilities, findings, overview
from worker.storage.analysis import load_points
from worker.storage.models import Facility, Gap, Tag

router = APIRouter(prefix=PATH, include_in_schema=False)

ALERTS = 25  # the facility page's newest alerts; GET /v1/alerts lists them all
RANGES = {"1d": 1, "7d": 7, "30d": 30, "90d": 90}
CHART_BUCKETS = charts.WIDTH - charts.LEFT - charts.RIGHT  # one bucket per pixel column

# --- facilities ---------------------------------------------------------------------------------


@router.get("/")
def home(request: Request, who: ViewerDep, session: ReadSession) -> Response:
    now = datetime.now(UTC)
    rows = overview.facility_summaries(session, tenant_id=who.tenant_id, now=now)
    return render(
        request,
        "overview.html",
        {
            "who": who,
            "nav": "facilities",
            "facilities": rows,
            "due": next_report_due(now.date()),
        },
    )


def next_report_due(today: date) -> tuple[str, date] | None:
    """The quarterly fuel transactions report due next, by the dates 17 CCR §95491(b)(2) sets
    for the first three quarters (30 June, 30 September, 31 December). From January to March
    the fourth quarter's report is the one due, and its date is not among the figures this
    project has checked against the regulation text: None then, rather than a guess."""
    if today.month <= 3:
        return None
    year = today.year
    for label, due in (
        (f"Q1 {year}", date(year, 6, 30)),
        (f"Q2 {year}", date(year, 9, 30)),
        (f"Q3 {year}", date(year, 12, 31)),
    ):
        if today <= due:
            return label, due
    return None  # unreachable: 31 December is the last day of the year


def _gap_window(
    now: datetime, tags: list[overview.TagSummary], *, first_day: date, last_day: date, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    """The gap timeline's span: from the heatmap's first day up to now while the newest reading
    is within the window's length of it; else to a day after the newest reading (or the end of
    the last scored day when later), so old data is not squeezed against a year of open gap."""
    start = datetime.combine(first_day, datetime.min.time(), tz)
    newest = max((t.latest for t in tags if t.latest is not None), default=now)
    recent = now - newest < timedelta(days=(last_day - first_day).days + 1)
    end = max(
        now if recent else newest + timedelta(days=1),
        datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tz),
    )
    return start, end


def _scored_days(
    session: Session, tenant_id: str, facility: Facility, days: int, *, now: datetime
) -> tuple[date, date, list[overview.DayScore]]:
    """The heatmap's first and last day (``days`` days ending on the newest scored day, or on
    the last day that has ended in the facility's time zone) and the scores between them."""
    last = overview.latest_scored_day(session, tenant_id=tenant_id, facility_id=facility.id)
    last_day = date.fromisoformat(last) if last else overview.last_ended_day(now, facility.timezone)
    first_day = last_day - timedelta(days=days - 1)
    scores = overview.day_scores(
        session,
        tenant_id=tenant_id,
        facility_id=facility.id,
        first_day=first_day.isoformat(),
        last_day=last_day.isoformat(),
    )
    return first_day, last_day, scores


def _open_gaps(
    session: Session, tenant_id: str, facility_id: str, *, start: datetime, end: datetime, days: int
) -> list[tuple[Gap, str]]:
    """The gaps (with their tag's name) that reach into the timeline's span, at most 500. A
    resolved gap was filled by data that came late: history, not missing data."""
    rows = session.execute(
        findings.gap_listing(
            tenant_id=tenant_id,
            facility_id=facility_id,
            start=start - timedelta(days=days),
            end=end,
        ).limit(500)
    ).all()
    return [(g, name) for g, name in rows if g.status != "resolved" and aware(g.gap_end) > start]


def _gap_timeline(
    gaps: list[tuple[Gap, str]], *, start: datetime, end: datetime, tz: ZoneInfo
) -> str:
    """One lane per tag with a band per gap, as SVG; empty when there is no gap."""
    lanes: dict[str, list[charts.Band]] = {}
    label = charts.label_for(tz)
    for g, name in gaps:
        lanes.setdefault(name, []).append(_band(g, label))
    if not lanes:
        return ""
    return charts.timeline_svg(
        rows=sorted(lanes.items()),
        start_ns=nanoseconds(start),
        end_ns=nanoseconds(end),
        time_label=label,
    )


@router.get("/facilities/{facility_id}")
def facility_page(
    request: Request,
    facility_id: str,
    days: int = 30,
    tag: str = "",
    day: str = "",
    *,
    who: ViewerDep,
    session: ReadSession,
) -> Response:
    """Tags, the daily quality heatmap (``tag``/``day`` pick a cell to show its dimensions), the
    gap timeline and the alerts."""
    facility = facility_of(session, who, facility_id)
    days = min(max(days, 7), 120)
    tz = facility.timezone
    now = datetime.now(UTC)
    first_day, last_day, scores = _scored_days(session, who.tenant_id, facility, days, now=now)
    tags = overview.tag_summaries(session, tenant_id=who.tenant_id, facility_id=facility.id)
    day_list = [(first_day + timedelta(days=i)).isoformat() for i in range(days)]
    heat = heatmap([t.name for t in tags], day_list, scores, window=days)
    picked = next((s for s in scores if s.tag == tag and s.day == day), None)
    start, end = _gap_window(now, tags, first_day=first_day, last_day=last_day, tz=ZoneInfo(tz))
    gaps = _open_gaps(session, who.tenant_id, facility.id, start=start, end=end, days=days)
    timeline = _gap_timeline(gaps, start=start, end=end, tz=ZoneInfo(tz))
    alerts = session.execute(
        findings.alert_listing(tenant_id=who.tenant_id, facility_id=facility.id).limit(ALERTS + 1)
    ).all()
    return render(
        request,
        "facility.html",
        {
            "who": who,
            "nav": "facilities",
            "facility": facility,
            "tags": tags,
            "days": day_list,
            "heat": heat,
            "picked": picked,
            "gaps": gaps[:100],
            "gap_count": len(gaps),
            "timeline": timeline,
            "alerts": alerts[:ALERTS],
            "more_alerts": len(alerts) > ALERTS,
            "window": days,
            "tz": tz,
        },
    )


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


def _band(gap: Any, label: charts.TimeLabel) -> charts.Band:
    start, end = nanoseconds(aware(gap.gap_start)), nanoseconds(aware(gap.gap_end))
    return charts.Band(
        start,
        end,
        f"gap {label(start)} to {label(end)} ({gap.duration_minutes:.0f} min, {gap.status})",
    )


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge_alert(alert_id: str, who: EditorDep, session: WriteSession) -> Response:
    alert = findings.acknowledge_alert(
        session, tenant_id=who.tenant_id, alert_id=alert_id, actor=audit.actor_of_key(who.key_id)
    )
    if alert is None:
        raise PageNotFound("alert", alert_id)
    return RedirectResponse(f"{PATH}/facilities/{quote(alert.facility_id)}#alerts", 303)


@router.get("/facilities/{facility_id}/tags/{tag_name}")
def tag_page(
    request: Request,
    facility_id: str,
    tag_name: str,
    range: str = "7d",
    *,
    who: ViewerDep,
    session: ReadSession,
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
    chart = tag_chart(
        session, tag=tag, tz=facility.timezone, start=start, end=end, tenant_id=who.tenant_id
    )
    return render(
        request,
        "tag.html",
        {
            "who": who,
            "nav": "facilities",
            "facility": facility,
            "tag": tag,
            "chart": chart,
            "range": range if range in RANGES else "7d",
            "ranges": list(RANGES),
            "start": start,
            "end": end,
        },
    )


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
    start_ns, end_ns = nanoseconds(start), nanoseconds(end)
    kept = m4(ts[usable], values[usable], start_ns=start_ns, end_ns=end_ns, buckets=CHART_BUCKETS)
    label = charts.label_for(ZoneInfo(tz))
    gap_rows = session.scalars(
        findings.gap_listing(
            tenant_id=tenant_id,
            facility_id=tag.facility_id,
            tag=tag.name,
            start=start - timedelta(days=90),
            end=end,
        ).limit(1000)
    ).all()
    bands = [
        _band(g, label) for g in gap_rows if g.status != "resolved" and aware(g.gap_end) > start
    ]
    flagged = ~usable
    days = _flagged_days(session, tag=tag, tz=tz, start=start, end=end, tenant_id=tenant_id)
    svg = charts.trend_svg(
        ts_ns=kept.ts_ns,
        values=kept.values,
        start_ns=start_ns,
        end_ns=end_ns,
        gaps=bands,
        flagged_ns=ts[flagged][:500],
        flagged_values=values[flagged][:500],
        time_label=label,
        title=f"{tag.name} from {label(start_ns)} to {label(end_ns)} ({tz})",
        unit=tag.unit,
        day_marks=days,
    )
    return {
        "svg": svg,
        "points": len(points),
        "drawn": len(kept.ts_ns),
        "gaps": len(bands),
        "flagged": int(flagged.sum()),
        "flagged_days": len(days),
    }


def _flagged_days(
    session: Session, *, tag: Tag, tz: str, start: datetime, end: datetime, tenant_id: str
) -> list[charts.Band]:
    """The local days of ``[start, end)`` whose quality score found spikes or flatlines."""
    zone = ZoneInfo(tz)
    scores = overview.day_scores(
        session,
        tenant_id=tenant_id,
        facility_id=tag.facility_id,
        first_day=start.astimezone(zone).date().isoformat(),
        last_day=end.astimezone(zone).date().isoformat(),
    )
    marks = []
    for s in scores:
        spikes = int(s.metrics.get("spikes") or 0)
        runs = int(s.metrics.get("flatline_runs") or 0)
        if s.tag != tag.name or not (spikes or runs):
            continue
        day = datetime.combine(date.fromisoformat(s.day), datetime.min.time(), zone)
        what = ", ".join(
            part
            for part in (
                f"{spikes} spike{'s' * (spikes != 1)}" if spikes else "",
                f"{runs} flatline{'s' * (runs != 1)} "
                f"({float(s.metrics.get('flatline_minutes') or 0):.0f} min)"
                if runs
                else "",
            )
            if part
        )
        end = day + timedelta(days=1)
        marks.append(charts.Band(nanoseconds(day), nanoseconds(end), f"{s.day}: {what}"))
    return marks
