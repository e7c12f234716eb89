"""``tickwork demo``: a quarter of meter data through the real API, broker and worker.

Runs on the embedded default (SQLite + an embedded Redis) unless TICKWORK_DATABASE_URL /
TICKWORK_BROKER_URL point elsewhere. Everything goes through HTTP, as a customer would send it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines.synthetic import RNG_PLANT, Fault, make_series, to_csv_bytes
from worker.broker import free_port
from worker.demo.receiver import Inbox, receiving

DEMO_TZ = "America/Los_Angeles"
# The facility's local quarter: its report has no artificial gap at either end.
QUARTER_START = pd.Timestamp("2025-10-01", tz=DEMO_TZ).tz_convert("UTC")
LAB_READINGS = (("2025-10-15T17:00:00Z", 58.9), ("2025-11-15T17:00:00Z", 59.3))


@dataclass
class Sent:
    label: str
    job_id: str
    rows: int
    sent_at: float = field(default_factory=time.monotonic)
    view: dict | None = None


def _prepare_environment(console: Console) -> tuple[Path, bool]:
    """Point this process and its children at the demo's own database and broker.

    Returns the demo directory and whether an embedded broker was started for the demo.
    """
    from worker.settings import get_settings
    from worker.storage import db

    base = get_settings().data_dir.resolve() / "demo"
    base.mkdir(parents=True, exist_ok=True)
    os.environ["TICKWORK_DATA_DIR"] = str(base)
    if "TICKWORK_DATABASE_URL" not in os.environ:
        for stale in base.glob("demo.db*"):
            stale.unlink()
        os.environ["TICKWORK_DATABASE_URL"] = f"sqlite:///{base / 'demo.db'}"
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    db._sessionmaker.cache_clear()
    settings = get_settings()
    embedded = settings.broker_url is None
    if embedded:
        from worker.broker import ensure_embedded_redis

        os.environ["TICKWORK_BROKER_URL"] = ensure_embedded_redis(base)
        get_settings.cache_clear()
        console.print(f"embedded Redis broker at {os.environ['TICKWORK_BROKER_URL']}")
    db.upgrade()
    console.print(f"database {get_settings().resolved_database_url} migrated")
    return base, embedded


def run_demo(*, console: Console, days: int = 92, serve: bool = False) -> int:
    started = time.monotonic()
    base, embedded = _prepare_environment(console)
    try:
        return _run(console, base, days=days, started=started, serve=serve)
    finally:
        if embedded:
            from worker.broker import stop_embedded_redis

            stop_embedded_redis(base)


def _run(console: Console, base: Path, *, days: int, started: float, serve: bool) -> int:
    from worker import processes
    from worker.storage.db import session_scope
    from worker.storage.tenants import create_api_key, create_tenant

    hook_port = free_port()
    # The demo's receiver listens on 127.0.0.1: the operator allow-list lets webhooks reach it.
    os.environ["TICKWORK_WEBHOOK_ALLOWED_NETWORKS"] = '["127.0.0.1/32"]'
    os.environ["TICKWORK_WEBHOOK_ALLOW_HTTP"] = "true"
    env = dict(os.environ)
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    worker = processes.start(
        processes.worker_command(concurrency=2, loglevel="WARNING", beat=True),
        env=env,
        log_file=base / "worker.log",
    )
    api = processes.start(
        processes.api_command(host="127.0.0.1", port=port), env=env, log_file=base / "api.log"
    )
    with processes.running(api, worker), receiving(hook_port) as inbox:
        processes.wait_http(f"{api_url}/healthz", proc=api)
        console.print(f"API on {api_url}, worker running (logs in {base})")

        with session_scope() as s:
            tenant = create_tenant(s, name="Demo RNG Co")
            _, key = create_api_key(s, tenant_id=tenant.id, name="demo")
        client = httpx.Client(
            base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=120
        )
        _check(client.patch("/v1/organization", json=DEMO_ORGANIZATION))
        facility = _check(
            client.post(
                "/v1/facilities",
                json={
                    "name": "Central Valley RNG",
                    "timezone": DEMO_TZ,
                    "carb_facility_id": "DEMO-F-0001",
                },
            )
        )
        for spec in RNG_PLANT:
            _check(
                client.post(
                    f"/v1/facilities/{facility['id']}/tags",
                    json={
                        "name": spec.name,
                        "unit": spec.unit,
                        "role": spec.role,
                        "expected_interval_seconds": 60,
                        "min_value": spec.low,
                        "max_value": spec.high,
                    },
                )
            )
        console.print(f"facility {facility['id']} with {len(RNG_PLANT)} tags")
        hook = _check(
            client.post(
                "/v1/webhook-endpoints",
                json={
                    "url": f"http://127.0.0.1:{hook_port}/tickwork",
                    "description": "demo receiver",
                },
            )
        )
        inbox.secret = hook["secret"]
        console.print(f"webhook endpoint {hook['id']} -> {hook['url']} (every event)")

        end = (QUARTER_START.tz_convert(DEMO_TZ) + pd.DateOffset(days=days)).tz_convert("UTC")
        with console.status("generating 1-minute data with planted gaps, flatlines, spikes"):
            frame, faults = make_series(QUARTER_START, end)
        console.print(f"generated {len(frame):,} readings, {len(faults)} planted faults")

        sent, first = _send_all(client, console, frame, facility["id"])
        _wait_all(client, console, sent)
        # The same file again, after it was stored: must change nothing.
        name, content, n = first
        body = _check(
            client.post("/v1/data-points/import", files={"file": (name, content, "text/csv")})
        )
        sent.append(Sent(f"{name} again", body["job_id"], int(n)))
        _wait_all(client, console, sent[-1:])

        stored = _check(
            client.get(
                "/v1/data-points",
                params={
                    "facility_id": facility["id"],
                    "start_date": QUARTER_START.isoformat(),
                    "end_date": end.isoformat(),
                    "limit": 3,
                },
            )
        )
        lab_in_range = sum(1 for t in LAB_READINGS if pd.Timestamp(t[0]) < end)
        ok = _summarise(console, sent, stored, expected=len(frame) + lab_in_range)
        bad = next(s for s in sent if s.label.startswith("bad_rows"))
        rows = _check(client.get(f"/v1/jobs/{bad.job_id}/rejected-rows"))
        table = Table(title="rejected rows of bad_rows.csv (kept with their reasons)")
        table.add_column("row", justify="right")
        table.add_column("reason")
        for r in rows["data"]:
            table.add_row(str(r["row"]), r["reason"])
        console.print(table)
        console.print("GET /v1/data-points ->", json.dumps(stored["data"][0]))
        ok &= _report_analysis(client, console, sent, faults, facility["id"], end=end)
        _check(
            client.put(
                f"/v1/facilities/{facility['id']}/fuel-mappings", json={"data": DEMO_MAPPINGS}
            )
        )
        ok &= _report_documents(client, console, facility["id"], frame, days=days)
        ok &= _report_lcfs(client, console, facility["id"], base / "reports", full=days >= 92)
        ok &= _report_webhooks(client, console, inbox)
        ok &= _report_audit(client, console)
        console.print(
            f"demo finished in {time.monotonic() - started:.1f} s "
            f"({'all checks passed' if ok else 'CHECKS FAILED'})"
        )
        if serve:
            _keep_serving(console, api_url, key)
        else:
            console.print("`tickwork demo --serve` keeps it running to look at the dashboard.")
    return 0 if ok else 1


def _keep_serving(console: Console, api_url: str, key: str) -> None:
    """Keep the API and the worker running for a look at the dashboard, until Ctrl-C."""
    console.print(
        f"\n[bold]Dashboard:[/] {api_url}/app/  (sign in with this API key)\n"
        f"[bold]API key:[/]   {key}\n"
        f"[bold]API docs:[/]  {api_url}/docs\n"
        "Serving until Ctrl-C."
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopping")


def _report_analysis(
    client: httpx.Client,
    console: Console,
    sent: list[Sent],
    faults: list[Fault],
    facility_id: str,
    *,
    end: pd.Timestamp,
) -> bool:
    """Wait for the follow-up analyses, then set what they found beside what was planted."""
    analyses = [
        Sent(f"analysis of {s.label}", s.view["result"]["analysis_job_id"], 0)
        for s in sent
        if s.view and (s.view.get("result") or {}).get("analysis_job_id")
    ]
    _wait_all(client, console, analyses)
    failed = [a.label for a in analyses if (a.view or {}).get("status") != "succeeded"]
    gaps = _all_pages(client, "/v1/gaps", {"facility_id": facility_id})
    quality = _all_pages(client, "/v1/quality", {"facility_id": facility_id})
    alerts = _all_pages(client, "/v1/alerts", {"facility_id": facility_id})
    # Closed gaps only: open ones are "data stopped", resolved ones were filled in later (a month's
    # trailing gap, until the next month's file arrived).
    found_gaps = {(g["tag"], g["gap_start"], g["gap_end"]) for g in gaps if g["status"] == "closed"}
    planted_gaps = {(f.tag, _z(f.start), _z(f.end)) for f in faults if f.kind == "gap"}
    flat_days = {(q["tag"], q["day"]) for q in quality if q["flatline_minutes"] > 0}
    spike_days = {(q["tag"], q["day"]) for q in quality if q["spikes"] > 0}

    def days(kind: str) -> set[tuple[str, str]]:
        out = set()
        for f in faults:
            if f.kind == kind and f.start < end:
                # flat time is [first, last): a run ending at midnight has none on that day
                last = f.end - pd.Timedelta(microseconds=1) if f.end > f.start else f.end
                local = pd.date_range(
                    f.start.tz_convert(DEMO_TZ).normalize(),
                    last.tz_convert(DEMO_TZ).normalize(),
                    freq="D",
                )
                out |= {(f.tag, d.date().isoformat()) for d in local}
        return out

    planted_flat, planted_spikes = days("flatline"), days("spike")
    table = Table(title="planted faults and what the analysis found")
    for column in ("fault", "planted", "found", "missed", "extra"):
        table.add_column(column, justify="left" if column == "fault" else "right")
    rows = [
        ("gaps (exact start and end)", planted_gaps, found_gaps),
        ("flatline tag-days", planted_flat, flat_days),
        ("spike tag-days", planted_spikes, spike_days),
    ]
    for label, planted, found in rows:
        table.add_row(
            label,
            str(len(planted)),
            str(len(planted & found)),
            str(len(planted - found)),
            str(len(found - planted)),
        )
    console.print(table)
    open_gaps = [g for g in gaps if g["status"] == "open"]
    console.print(
        f"{len(open_gaps)} open gap(s): data stopped arriving after the quarter "
        f"(e.g. {open_gaps[0]['tag']} since {open_gaps[0]['gap_start']})"
        if open_gaps
        else "no open gaps"
    )
    by_rule: dict[str, int] = {}
    for a in alerts:
        by_rule[a["rule"]] = by_rule.get(a["rule"], 0) + 1
    console.print(
        f"alerts: {by_rule}; quality scored for {len(quality)} tag-days, mean score "
        f"{sum(q['score'] for q in quality) / max(1, len(quality)):.1f}"
    )
    checks = {
        "every analysis job succeeded": not failed,
        "every planted gap found with its exact start and end": planted_gaps <= found_gaps,
        "every planted flatline found": planted_flat <= flat_days,
        "every planted spike found": planted_spikes <= spike_days,
    }
    for label, passed in checks.items():
        console.print(f"[{'green' if passed else 'red'}]{'ok ' if passed else 'FAIL'}[/] {label}")
    return all(checks.values())


# How the demo plant's meters become LCFS fuel: the RNG it injects (a landfill-gas pathway)
# and the fossil CNG its station dispenses. Pathway codes and CIs are illustrative.
# Book-and-claim: the plant's injection meter is a supply record (biomethane into the common
# carrier pipeline, no credits of its own); the station's dispenser claims that biomethane as
# CNG for heavy-duty trucks and generates the credits. The claim may not exceed the injection.
RNG_PATHWAY = "RNG-LFG-0046"
DEMO_MAPPINGS = [
    {
        "tag": "rng_injection_flow",
        "fuel_pathway_code": RNG_PATHWAY,
        "fuel_type": "rng",
        "ci": 46.42,
        "unit": "scf",
        "kind": "rate",
        "rate_per": "min",
        "role": "injection",
        "transaction_type": "Production in California",
    },
    {
        "tag": "cng_dispensed_total",
        "fuel_pathway_code": RNG_PATHWAY,
        "fuel_type": "rng",
        "ci": 46.42,
        "unit": "GGE",
        "kind": "totalizer",
        "application": "cng_lng_hd_si",
        "transaction_type": "Production in California",
    },
]
DEMO_ORGANIZATION = {
    "organization_name": "Demo RNG Co (sample data)",
    "organization_fein": "00-0000000",
}


def _metered_gge(frame: pd.DataFrame, day: pd.Timestamp) -> float:
    """GGE the station's counter advanced over one local day of the generated readings."""
    start = day.tz_localize(DEMO_TZ).tz_convert("UTC")
    end = (day + pd.Timedelta(days=1)).tz_localize(DEMO_TZ).tz_convert("UTC")
    counter = frame[frame["tag"] == "cng_dispensed_total"]
    inside = counter[(counter["timestamp"] >= start) & (counter["timestamp"] <= end)]
    return float(inside["value"].iloc[-1] - inside["value"].iloc[0])


def _report_documents(
    client: httpx.Client,
    console: Console,
    facility_id: str,
    frame: pd.DataFrame,
    *,
    days: int,
    timeout: float = 120,
) -> bool:
    """Upload two invoices and a PTD for days the station's meter covers; show what came out."""
    from worker.demo.documents import DemoDocument, render

    picks = [(2, 1.004, "invoice"), (4, 0.97, "product_transfer_document"), (6, 1.10, "invoice")]
    docs = []
    for offset, factor, kind in picks:
        day = pd.Timestamp(QUARTER_START.tz_convert(DEMO_TZ).date()) + pd.Timedelta(
            days=min(offset, days - 2)
        )
        metered = _metered_gge(frame, day)
        prefix = "INV" if kind == "invoice" else "PTD"
        docs.append(
            DemoDocument(
                kind,
                f"{prefix}-{day:%Y%m%d}-{offset:02d}",
                day.date(),
                round(metered * factor, 2),
                unit_price=3.15,
            )
        )
    queued = []
    for doc in docs:
        content = render(doc, facility_name="Central Valley RNG")
        queued.append(
            _check(
                client.post(
                    "/v1/documents",
                    data={"facility_id": facility_id},
                    files={"file": (doc.filename, content, "application/pdf")},
                )
            )
        )
    deadline, views = time.monotonic() + timeout, {}
    with console.status("extracting and reconciling the documents"):
        while len(views) < len(queued) and time.monotonic() < deadline:
            for q in queued:
                view = _check(client.get(f"/v1/documents/{q['document_id']}"))
                if view["status"] in ("processed", "failed"):
                    views[q["document_id"]] = view
            time.sleep(0.3)
    table = Table(title="documents: extracted and reconciled with the station's meter")
    for column in ("type", "number", "date", "GGE", "FPC", "CI", "metered", "diff %", "check"):
        table.add_column(
            column, justify="right" if column in ("GGE", "CI", "metered", "diff %") else "left"
        )
    statuses = []
    for q in queued:
        view = views.get(q["document_id"], {})
        fields = {k: v["value"] for k, v in view.get("fields", {}).items()}
        rec = view.get("reconciliation") or {}
        statuses.append(rec.get("status"))
        pct = rec.get("difference_pct")
        table.add_row(
            str(view.get("document_type")).replace("product_transfer_document", "PTD"),
            str(fields.get("document_number")),
            str(fields.get("document_date") or fields.get("transaction_date")),
            f"{fields.get('quantity', 0):,.2f}",
            str(fields.get("fuel_pathway_code")),
            str(fields.get("carbon_intensity")),
            f"{rec.get('metered_quantity', 0):,.2f}",
            f"{100 * pct:+.1f}" if isinstance(pct, float) else "",
            str(rec.get("status")),
        )
    console.print(table)
    ok = len(views) == len(queued) and statuses == ["pass", "warn", "fail"]
    console.print(
        f"{'ok ' if ok else 'FAIL'} documents extracted; reconciliation pass / warn / "
        f"fail as planted ({', '.join(map(str, statuses))})"
    )
    return ok


def _report_lcfs(
    client: httpx.Client,
    console: Console,
    facility_id: str,
    out: Path,
    *,
    full: bool,
    timeout: float = 300,
) -> bool:
    """Build the quarter's PDF and CSV from the mapped meters, save them, show the totals."""
    quarter = {
        "report_type": "lcfs_quarterly",
        "facility_id": facility_id,
        "quarter": "Q4",
        "year": 2025,
        "preparer": "Demo Preparer",
        "reviewer": "Demo Reviewer",
    }
    queued = {
        fmt: _check(client.post("/v1/reports", json={**quarter, "format": fmt}))
        for fmt in ("pdf", "csv", "calculation_csv")
    }
    deadline = time.monotonic() + timeout
    done: dict[str, dict] = {}
    with console.status("building the LCFS Q4 2025 report (PDF and CSV)"):
        while len(done) < len(queued) and time.monotonic() < deadline:
            for fmt, report in queued.items():
                view = _check(client.get(f"/v1/reports/{report['id']}"))
                if view["status"] in ("generated", "failed"):
                    done[fmt] = view
            time.sleep(0.5)
    if len(done) < len(queued) or any(v["status"] != "generated" for v in done.values()):
        console.print(f"[red]reports not generated: {json.dumps(done)}[/red]")
        return False
    out.mkdir(parents=True, exist_ok=True)
    for fmt, view in done.items():
        response = client.get(view["download_url"])
        response.raise_for_status()
        suffix = {"calculation_csv": "calculation.csv"}.get(fmt, fmt)
        path = out / f"lcfs_{facility_id}_2025Q4.{suffix}"
        path.write_bytes(response.content)
        console.print(f"saved {path} ({len(response.content):,} bytes)")
    totals = done["pdf"]["totals"]
    table = Table(title="LCFS Q4 2025 by fuel pathway (MT CO2e; negative = deficits)")
    for column in ("pathway", "transaction type", "quantity", "unit", "energy MJ", "credits"):
        table.add_column(
            column, justify="left" if column in ("pathway", "transaction type", "unit") else "right"
        )
    for row in totals.get("by_pathway", []):
        table.add_row(
            row["fuel_pathway_code"],
            row["transaction_type"],
            f"{row['quantity']:,.0f}",
            row["unit"],
            f"{row['energy_mj']:,.0f}",
            f"{row['credits_mt']:,.2f}",
        )
    console.print(table)
    shown = totals.get("display", {})
    console.print(
        f"credits {shown.get('credits_mt')} MT, deficits {shown.get('deficits_mt')} MT,"
        f" net {shown.get('net_mt')} MT; input SHA-256 "
        f"{done['pdf']['input_sha256']}"
    )
    for b in totals.get("biomethane", []):
        console.print(
            f"book-and-claim {b['fuel_pathway_code']}: injected {b['injected_mj']:,.0f}"
            f" MJ, claimed by dispensing {b['claimed_mj']:,.0f} MJ -> {b['status']}"
        )
    for warning in totals.get("warnings", []):
        console.print(f"[yellow]before filing:[/yellow] {warning}")
    same_inputs = len({v["input_sha256"] for v in done.values()}) == 1
    covered = [b["status"] for b in totals.get("biomethane", [])] == ["covered"]
    # A shortened demo (--days) stops before the quarter ends: its trailing gap is real.
    no_gap = not full or not any("not filled" in w for w in totals.get("warnings", []))
    ok = bool(totals.get("has_data")) and same_inputs and covered and no_gap
    console.print(
        f"report checks: data found {totals.get('has_data')}, PDF and CSVs built from "
        f"the same inputs {same_inputs}, biomethane claim covered by the injection "
        f"{covered}, no unfilled gap at the quarter's ends {no_gap}"
    )
    return ok


def _report_audit(client: httpx.Client, console: Console) -> bool:
    """What the audit log recorded, and that its hash chain verifies."""
    entries = _all_pages(client, "/v1/audit-log", {})
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["action"]] = counts.get(entry["action"], 0) + 1
    table = Table(title="audit log (hash-chained; inputs and outputs as SHA-256)")
    table.add_column("action")
    table.add_column("entries", justify="right")
    for action, count in counts.items():
        table.add_row(action, f"{count:,}")
    console.print(table)
    report = next((e for e in reversed(entries) if e["action"] == "report.generated"), None)
    if report is not None:
        console.print(
            f"last report: input {report['details']['input_sha256'][:16]}…, "
            f"file {report['details']['file_sha256'][:16]}…"
        )
    verdict = _check(client.get("/v1/audit-log/verify"))
    checks = {
        f"audit chain verifies ({verdict['entries']:,} entries, head "
        f"{verdict['head']['row_hash'][:16]}…)": verdict["valid"],
        "every ingest, report and document is in the log": all(
            counts.get(a, 0) > 0
            for a in ("ingest.completed", "report.generated", "document.processed")
        ),
    }
    for label, passed in checks.items():
        console.print(f"[{'green' if passed else 'red'}]{'ok ' if passed else 'FAIL'}[/] {label}")
    return all(checks.values())


def _report_webhooks(
    client: httpx.Client, console: Console, inbox: Inbox, timeout: float = 120
) -> bool:
    """Wait until every event has reached the receiver, verified; then show what came."""
    deadline = time.monotonic() + timeout
    total = 0
    with console.status("waiting for webhook deliveries"):
        while time.monotonic() < deadline:
            total = _check(client.get("/v1/events", params={"limit": 1}))["pagination"]["total"]
            if inbox.total >= total:
                break
            time.sleep(1)
    table = Table(title="webhooks received by the demo's receiver (Standard Webhooks, verified)")
    table.add_column("event")
    table.add_column("received", justify="right")
    for event, count in sorted(inbox.verified.items()):
        table.add_row(event, f"{count:,}")
    console.print(table)
    checks = {
        f"every event delivered once and verified ({inbox.total:,} of {total:,})": inbox.total
        == total,
        "no request failed verification": inbox.rejected == 0,
    }
    for label, passed in checks.items():
        console.print(f"[{'green' if passed else 'red'}]{'ok ' if passed else 'FAIL'}[/] {label}")
    return all(checks.values())


def _all_pages(client: httpx.Client, path: str, params: dict[str, str]) -> list[dict]:
    out: list[dict] = []
    page = 1
    while True:
        body = _check(client.get(path, params={**params, "limit": 1000, "page": page}))
        out += body["data"]
        if page * 1000 >= body["pagination"]["total"]:
            return out
        page += 1


def _z(stamp: pd.Timestamp) -> str:
    return stamp.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _send_all(
    client: httpx.Client, console: Console, frame: pd.DataFrame, facility_id: str
) -> tuple[list[Sent], tuple[str, bytes, int]]:
    sent: list[Sent] = []
    month = frame["timestamp"].dt.tz_convert(DEMO_TZ).dt.strftime("%Y-%m")
    files = [
        (f"{m}.csv", to_csv_bytes(frame[month == m], facility_id=facility_id), n)
        for m, n in month.value_counts(sort=False).items()
    ]
    with Progress(
        TextColumn("uploading {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("CSV files", total=len(files) + 2)
        for name, content, n in files:
            body = _check(
                client.post("/v1/data-points/import", files={"file": (name, content, "text/csv")})
            )
            sent.append(Sent(name, body["job_id"], int(n)))
            progress.advance(task)
        # Late lab readings pushed as a JSON batch.
        late = [
            {
                "facility_id": facility_id,
                "tag": "lab_methane_pct",
                "timestamp": t,
                "value": v,
                "unit": "%",
                "quality": "good",
            }
            for t, v in LAB_READINGS
        ]
        body = _check(client.post("/v1/data-points", json={"data": late}))
        sent.append(Sent("lab.json", body["job_id"], len(late)))
        progress.advance(task)
        bad = (
            "facility_id,tag,timestamp,value,unit\n"
            f"{facility_id},methane_pct,2025-10-02T00:00:00,58.1,%\n"
            f"{facility_id},methane_pct,2025-10-02T00:01:00Z,fifty,%\n"
            f"{facility_id},methane_pct,2025-10-02T00:02:00Z,NaN,%\n"
            f"{facility_id},methane_pct,2025-10-02T00:03:00Z,58.2,ppm\n"
            f"fac_nope,methane_pct,2025-10-02T00:04:00Z,58.2,%\n"
        ).encode()
        body = _check(
            client.post("/v1/data-points/import", files={"file": ("bad_rows.csv", bad, "text/csv")})
        )
        sent.append(Sent("bad_rows.csv", body["job_id"], 5))
        progress.advance(task)
    return sent, files[0]


def _wait_all(
    client: httpx.Client, console: Console, sent: list[Sent], timeout: float = 1800
) -> None:
    deadline = time.monotonic() + timeout
    with Progress(
        TextColumn("worker: {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("jobs finished", total=len(sent))
        while any(s.view is None for s in sent):
            for s in sent:
                if s.view is None:
                    view = _check(client.get(f"/v1/jobs/{s.job_id}"))
                    if view["status"] in ("succeeded", "failed"):
                        s.view = view
                        progress.advance(task)
            if time.monotonic() > deadline:
                raise TimeoutError("jobs did not finish; see worker.log in the demo directory")
            time.sleep(0.5)


def _summarise(console: Console, sent: list[Sent], stored: dict, *, expected: int) -> bool:
    table = Table(
        title="ingest jobs (CSV: POST /v1/data-points/import, JSON: POST /v1/data-points)"
    )
    for column in (
        "upload",
        "status",
        "rows",
        "accepted",
        "new",
        "dup",
        "rejected",
        "secs",
        "rows/s",
    ):
        left = column in ("upload", "status")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    ok = True
    for s in sent:
        view = s.view or {}
        result = view.get("result") or {}
        seconds = (view.get("duration_ms") or 0) / 1000
        rate = f"{result.get('rows', 0) / seconds:,.0f}" if seconds else "-"
        status = {"succeeded": "ok"}.get(view.get("status", "?"), view.get("status", "?"))
        table.add_row(
            s.label,
            status,
            f"{result.get('rows', 0):,}",
            f"{result.get('accepted', 0):,}",
            f"{result.get('inserted', 0):,}",
            f"{result.get('duplicates', 0):,}",
            f"{result.get('rejected', 0):,}",
            f"{seconds:.1f}",
            rate,
        )
        ok &= view.get("status") == "succeeded"
    console.print(table)
    total = stored["pagination"]["total"]
    again = next(s for s in sent if s.label.endswith("again")).view or {}
    checks = {
        f"points stored = points generated + lab readings ({expected:,})": total == expected,
        "re-uploading a file inserted nothing": (again.get("result") or {}).get("inserted") == 0,
        "bad_rows.csv: 5 rows, 5 rejected with reasons": (
            (next(s for s in sent if s.label == "bad_rows.csv").view or {}).get("result") or {}
        ).get("rejected")
        == 5,
    }
    for label, passed in checks.items():
        console.print(f"[{'green' if passed else 'red'}]{'ok ' if passed else 'FAIL'}[/] {label}")
        ok &= passed
    console.print(f"points stored for the facility: {total:,}")
    return ok


def _check(response: httpx.Response) -> dict:
    if response.status_code >= 400:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} -> "
            f"{response.status_code}: {response.text}"
        )
    return response.json()
