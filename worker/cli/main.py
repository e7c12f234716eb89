"""The ``tickwork`` command: administration, ingest, the processes, and the demo."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from worker import kinds
from worker.cli.audit import audit_app
from worker.cli.documents import documents_app
from worker.cli.lcfs import lcfs_app
from worker.cli.points import points_app
from worker.settings import get_settings

app = typer.Typer(
    rich_markup_mode="markdown",
    help="Tickwork: fuel-compliance data pipeline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(rich_markup_mode="markdown", help="Database schema.", no_args_is_help=True)
tenants_app = typer.Typer(rich_markup_mode="markdown", help="Tenants.", no_args_is_help=True)
keys_app = typer.Typer(rich_markup_mode="markdown", help="API keys.", no_args_is_help=True)
facilities_app = typer.Typer(rich_markup_mode="markdown", help="Facilities.", no_args_is_help=True)
broker_app = typer.Typer(
    rich_markup_mode="markdown",
    help="The embedded Redis broker (when TICKWORK_BROKER_URL is unset).",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
app.add_typer(facilities_app, name="facilities")
app.add_typer(broker_app, name="broker")
report_app = typer.Typer(
    rich_markup_mode="markdown", help="Build reports from stored data.", no_args_is_help=True
)
app.add_typer(report_app, name="report")
app.add_typer(lcfs_app, name="lcfs")
app.add_typer(documents_app, name="documents")
app.add_typer(audit_app, name="audit")
app.add_typer(points_app, name="points")

console = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)  # one line, however long
    return typer.Exit(code)


@report_app.command("lcfs")
def report_lcfs(
    facility: str = typer.Option(..., help="Facility id"),
    quarter: str = typer.Option(..., help="Q1-Q4"),
    year: int = typer.Option(..., help="Calendar year"),
    fmt: str = typer.Option(
        "pdf", "--format", help="pdf, csv (LRT-CBTS upload), calculation_csv or json"
    ),
    out: Path = typer.Option(..., help="Where to write the file"),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON"),
    preparer: str = typer.Option("", help="Name printed in the PDF's sign-off block"),
    reviewer: str = typer.Option("", help="Name printed in the PDF's sign-off block"),
) -> None:
    """Build a facility's LCFS quarterly report from the database, here and now, into a file."""
    import dataclasses
    from datetime import UTC, datetime

    from pipelines import lcfs
    from pipelines.errors import PipelineError
    from worker.signing import render_signed
    from worker.storage import audit
    from worker.storage.db import session_scope
    from worker.storage.models import Facility
    from worker.storage.reports import lcfs_tables, load_lcfs_inputs

    number = quarter.strip().upper().removeprefix("Q")
    if number not in {"1", "2", "3", "4"}:
        raise fail(f"--quarter must be Q1, Q2, Q3 or Q4, got {quarter!r}", 2)
    if fmt not in ("pdf", "csv", "calculation_csv", "json"):
        raise fail(f"--format must be pdf, csv, calculation_csv or json, got {fmt!r}", 2)
    settings = get_settings()
    try:
        method = settings.lcfs_substitution_method
        with (
            err.status("loading meter data, transactions and documents"),
            session_scope(readonly=True) as s,
        ):
            row = s.get(Facility, facility)
            if row is None:
                raise fail(f"no facility {facility!r}; `tickwork facilities create` makes one", 2)
            inputs = load_lcfs_inputs(
                s,
                facility=row,
                year=year,
                quarter=int(number),
                tables=lcfs_tables(),
                substitution_method=method,
            )
            head = audit.head_of(s, tenant_id=row.tenant_id)[1]
        inputs = dataclasses.replace(
            inputs,
            preparer=preparer,
            reviewer=reviewer,
            audit_head=head,
            generated_at=datetime.now(UTC),
        )
        if not inputs.mappings and not inputs.transactions:
            raise fail(
                f"facility {facility!r} has no fuel mapping and no fuel transactions: "
                f"PUT /v1/facilities/{facility}/fuel-mappings first",
                2,
            )
        with err.status(f"computing {year} Q{number} and rendering {fmt}"):
            report = lcfs.compute_quarter(inputs)
            content = render_signed(report, fmt)
    except PipelineError as exc:
        raise fail(f"{exc.code}: {exc}", 2) from exc
    try:
        out.write_bytes(content)
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror}", 2) from exc
    summary = {
        "file": str(out),
        "bytes": len(content),
        "input_sha256": report.input_sha256,
        **lcfs.report_totals(report),
    }
    if as_json:
        console.print_json(json.dumps(summary))
        return
    console.print(f"wrote {out} ({len(content):,} bytes); input SHA-256 {report.input_sha256}")
    if report.totals is None:
        console.print(f"[yellow]{summary['message']}[/yellow]")
    else:
        shown = lcfs.display_totals(report)
        console.print(
            f"credits {shown['credits_mt']} MT, deficits {shown['deficits_mt']} MT, "
            f"net {shown['net_mt']} MT CO2e"
        )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest version (creating a missing PostgreSQL
    database when the configured role may)."""
    from sqlalchemy import make_url

    from worker.storage.db import DatabaseNotCreatedError, create_database_if_missing, upgrade

    url = get_settings().resolved_database_url
    try:
        if create_database_if_missing(url):
            err.print(f"created database {make_url(url).database}")
    except DatabaseNotCreatedError as exc:
        raise fail(str(exc)) from None
    upgrade()
    console.print(f"database at latest schema: {_redact(get_settings().resolved_database_url)}")


@tenants_app.command("create")
def tenants_create(name: str) -> None:
    """Create a tenant; prints its id."""
    from worker.storage.db import session_scope
    from worker.storage.tenants import create_tenant

    with session_scope() as s:
        tenant = create_tenant(s, name=name)
    console.print(tenant.id)


@tenants_app.command("organization")
def tenants_organization(
    tenant: Annotated[str, typer.Argument(help="Tenant id (ten_...)")],
    name: Annotated[str | None, typer.Option(help="Organization name as in LRT-CBTS")] = None,
    fein: Annotated[str | None, typer.Option(help="FEIN, NN-NNNNNNN ('' clears it)")] = None,
) -> None:
    """Show or set the reporting organization printed on the tenant's LCFS reports."""
    from worker.storage.db import session_scope
    from worker.storage.models import Tenant
    from worker.storage.tenants import organization_view, update_organization

    with session_scope() as s:
        row = s.get(Tenant, tenant)
        if row is None:
            raise fail(f"no tenant '{tenant}' (create one with: tickwork tenants create NAME)", 2)
        try:
            update_organization(s, tenant=row, organization_name=name, organization_fein=fein)
        except ValueError as exc:
            raise fail(f"--fein: {exc}", 2) from None
        view = organization_view(row)
    console.print(
        f"{view['id']}: {view['organization_name'] or '(organization name not set)'}, "
        f"FEIN {view['organization_fein'] or '(not set)'}"
    )


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant id (ten_...)")],
    name: Annotated[str, typer.Option(help="A label for the key")] = "",
    scope: Annotated[str, typer.Option(help="write or read")] = "write",
) -> None:
    """Create an API key. The key is printed once and cannot be shown again."""
    from worker.storage.db import session_scope
    from worker.storage.models import Tenant
    from worker.storage.tenants import SCOPES, create_api_key

    if scope not in SCOPES:
        raise fail(f"--scope must be one of: {', '.join(SCOPES)}", 2)
    with session_scope() as s:
        if s.get(Tenant, tenant) is None:
            raise fail(f"no tenant '{tenant}' (create one with: tickwork tenants create NAME)", 2)
        key, plaintext = create_api_key(s, tenant_id=tenant, name=name, scope=scope)
    err.print(f"key id {key.id} ({scope}); store the key now, it is not shown again:")
    console.print(plaintext)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key by its id (key_...)."""
    from worker.storage.db import session_scope
    from worker.storage.tenants import revoke_api_key

    with session_scope() as s:
        if not revoke_api_key(s, key_id=key_id):
            raise fail(f"no API key '{key_id}'", 2)
    console.print(f"revoked {key_id}")


@facilities_app.command("create")
def facilities_create(
    tenant: Annotated[str, typer.Option(help="Tenant id (ten_...)")],
    name: Annotated[str, typer.Option(help="Facility name")],
    timezone: Annotated[str, typer.Option(help="IANA time zone")] = "UTC",
    strict: Annotated[bool, typer.Option(help="Refuse points of tags not created first")] = False,
    carb_facility_id: Annotated[
        str, typer.Option(help="Facility / FSE id registered in LRT-CBTS")
    ] = "",
) -> None:
    """Create a facility; prints its id."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from worker.storage import facilities
    from worker.storage.db import session_scope
    from worker.storage.models import Tenant

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(f"unknown time zone '{timezone}' (use e.g. America/Los_Angeles)", 2) from None
    with session_scope() as s:
        if s.get(Tenant, tenant) is None:
            raise fail(f"no tenant '{tenant}' (create one with: tickwork tenants create NAME)", 2)
        facility = facilities.create_facility(
            s,
            tenant_id=tenant,
            name=name,
            timezone=timezone,
            strict_tags=strict,
            carb_facility_id=carb_facility_id,
        )
    console.print(facility.id)


@app.command()
def ingest(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with columns facility_id,tag,timestamp,value (unit, quality optional)"
        ),
    ],
    facility: Annotated[str, typer.Option(help="Facility id for rows without one")],
    wait: Annotated[bool, typer.Option(help="Wait for the worker to finish")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait")] = 3600,
) -> None:
    """Queue a CSV file for ingest (a worker must be running) and show the outcome."""
    from pipelines.errors import PipelineError
    from pipelines.ingest import check_header
    from worker.dispatch import dispatch
    from worker.storage.db import session_scope
    from worker.storage.jobs import create_job
    from worker.storage.models import Facility
    from worker.storage.uploads import save_upload

    if not file.is_file():
        raise fail(f"no such file: {file}", 2)
    content = _read_with_progress(file)
    try:
        check_header(content, facility_given=True)
    except PipelineError as exc:
        raise fail(f"{file}: {exc}", 2) from None
    with session_scope() as s:
        fac = s.get(Facility, facility)
        if fac is None:
            raise fail(f"no facility '{facility}' (see: tickwork facilities create --help)", 2)
        upload = save_upload(
            s, tenant_id=fac.tenant_id, content=content, content_type="text/csv", filename=file.name
        )
        job = create_job(
            s,
            tenant_id=fac.tenant_id,
            kind=kinds.INGEST,
            upload_id=upload.id,
            params={"facility_id": facility},
        )
    if not dispatch(job.id, job.kind):
        err.print("[yellow]broker unreachable: the job is saved and will be sent when it is back")
    console.print(f"job {job.id} queued (upload {upload.id})")
    if wait:
        _show_job(_wait_job(job.id, timeout=timeout))


def _read_with_progress(path: Path) -> bytes:
    size = path.stat().st_size
    chunks: list[bytes] = []
    with Progress(
        TextColumn("reading {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(path.name, total=size)
        with path.open("rb") as fh:
            while chunk := fh.read(4 * 1024 * 1024):
                chunks.append(chunk)
                progress.advance(task, len(chunk))
    return b"".join(chunks)


def _wait_job(job_id: str, *, timeout: float) -> dict:
    from worker.storage.db import session_scope
    from worker.storage.jobs import get_job, job_view

    deadline = time.monotonic() + timeout
    with console.status(f"waiting for job {job_id}") as status:
        while True:
            with session_scope() as s:
                job = get_job(s, job_id=job_id)
                view = job_view(job) if job else None
            if view is None:
                raise fail(f"job {job_id} disappeared")
            if view["status"] in ("succeeded", "failed"):
                return view
            status.update(f"job {job_id}: {view['status']}")
            if time.monotonic() > deadline:
                raise fail(
                    f"job {job_id} still {view['status']} after {timeout:.0f} s; is a "
                    "worker running? (tickwork worker)"
                )
            time.sleep(0.25)


def _show_job(view: dict) -> None:
    result = view.get("result") or {}
    table = Table(title=f"job {view['id']}: {view['status']}")
    for column in ("rows", "accepted", "inserted", "updated", "duplicates", "rejected"):
        table.add_column(column, justify="right")
    table.add_row(
        *(
            str(result.get(c, "-"))
            for c in ("rows", "accepted", "inserted", "updated", "duplicates", "rejected")
        )
    )
    console.print(table)
    if view["status"] == "failed":
        raise fail(view.get("error") or "job failed")


OfflineFile = Annotated[
    Path,
    typer.Argument(
        help="CSV with columns tag,timestamp,value (facility_id, unit, quality optional)"
    ),
]
IntervalOption = Annotated[
    str | None, typer.Option(help="Expected spacing, e.g. 1min (default: median spacing per tag)")
]
StartOption = Annotated[str | None, typer.Option(help="Window start, ISO 8601 with offset")]
EndOption = Annotated[str | None, typer.Option(help="Window end (exclusive), ISO 8601 with offset")]


@app.command()
def gaps(
    file: OfflineFile,
    interval: IntervalOption = None,
    start: StartOption = None,
    end: EndOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Find the gaps in a CSV file, offline (nothing is stored)."""
    from worker.cli import offline

    offline.gaps(file, interval=interval, start=start, end=end, as_json=as_json, console=console)


@app.command()
def quality(
    file: OfflineFile,
    interval: IntervalOption = None,
    start: StartOption = None,
    end: EndOption = None,
    tz: Annotated[str, typer.Option(help="Time zone whose local days are scored")] = "UTC",
    daily: Annotated[
        bool, typer.Option(help="One row per local day (else one for the window)")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Score the data quality of a CSV file per tag and day, offline (nothing is stored)."""
    from worker.cli import offline

    offline.quality(
        file,
        interval=interval,
        start=start,
        end=end,
        tz=tz,
        daily=daily,
        as_json=as_json,
        console=console,
    )


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues")] = ",".join(
        ("ingest", "analysis", "reports", "documents", "webhooks")
    ),
    concurrency: Annotated[int, typer.Option(help="Worker processes")] = 0,
    name: Annotated[str, typer.Option(help="Node name")] = "worker",
) -> None:
    """Run a Celery worker (replaces this process)."""
    from worker.processes import worker_command

    settings = get_settings()
    cmd = worker_command(
        queues=queues.split(","),
        name=name,
        loglevel=settings.log_level,
        concurrency=concurrency or settings.worker_concurrency,
    )
    _json_logs_by_default()
    cmd = _quiet_if_json(cmd)
    os.execv(cmd[0], cmd)


@app.command()
def beat() -> None:
    """Run Celery beat, the scheduler (run exactly one; scheduled jobs also take a Redis lock)."""
    from worker.processes import beat_command

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    cmd = beat_command(
        schedule_file=settings.data_dir / "celerybeat-schedule", loglevel=settings.log_level
    )
    _json_logs_by_default()
    cmd = _quiet_if_json(cmd)
    os.execv(cmd[0], cmd)


SslCert = Annotated[
    Path | None,
    typer.Option(help="Serve HTTPS with this PEM certificate (default: TICKWORK_TLS_CERT_FILE)"),
]
SslKey = Annotated[
    Path | None,
    typer.Option(help="The certificate's PEM private key (default: TICKWORK_TLS_KEY_FILE)"),
]


def _tls(certfile: Path | None, keyfile: Path | None) -> dict[str, str]:
    """uvicorn's TLS arguments from the options, else the settings; both files or neither."""
    settings = get_settings()
    cert = str(certfile) if certfile else settings.tls_cert_file
    key = str(keyfile) if keyfile else settings.tls_key_file
    if not cert and not key:
        return {}
    if not cert or not key:
        raise typer.BadParameter("TLS needs both --ssl-certfile and --ssl-keyfile")
    for name, path in (("certificate", cert), ("key", key)):
        if not Path(path).is_file():
            raise typer.BadParameter(f"TLS {name} file not found: {path}")
    return {"ssl_certfile": cert, "ssl_keyfile": key}


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
    ssl_certfile: SslCert = None,
    ssl_keyfile: SslKey = None,
) -> None:
    """Run the HTTP API (replaces this process)."""
    from worker.processes import api_command

    settings = get_settings()
    cmd = api_command(
        host=host or settings.api_host,
        port=port or settings.api_port,
        loglevel=settings.log_level.lower(),
        **_tls(ssl_certfile, ssl_keyfile),
    )
    _json_logs_by_default()
    os.execv(cmd[0], cmd)


@app.command()
def serve(
    log_file: Annotated[
        Path | None,
        typer.Option(help="Append the processes' output (prefixed by process) here, not to stdout"),
    ] = None,
    ssl_certfile: SslCert = None,
    ssl_keyfile: SslKey = None,
) -> None:
    """Run the API, a worker for every queue and beat together until Ctrl-C or SIGTERM: their
    output prefixed by process, any that exits restarted after a backoff, all stopped at the end."""
    import threading

    from worker.processes import Supervisor, api_command, beat_command, worker_command
    from worker.storage.db import upgrade

    settings = get_settings()
    tls = _tls(ssl_certfile, ssl_keyfile)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade()
    _json_logs_by_default()
    env = _child_env()
    level, host, port = settings.log_level, settings.api_host, settings.api_port
    schedule = settings.data_dir / "celerybeat-schedule"
    children = [
        ("api", api_command(host=host, port=port, loglevel=level.lower(), **tls)),
        (
            "worker",
            _quiet_if_json(worker_command(concurrency=settings.worker_concurrency, loglevel=level)),
        ),
        ("beat", _quiet_if_json(beat_command(schedule_file=schedule, loglevel=level))),
    ]
    out = log_file.open("a", encoding="utf-8") if log_file else sys.stdout
    supervisor = Supervisor(children, env=env, out=out)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        supervisor.start_all()
        scheme = "https" if tls else "http"
        console.print(
            f"API on {scheme}://{settings.api_host}:{settings.api_port} (docs at /docs); worker "
            f"and beat running{f', output in {log_file}' if log_file else ''}. Ctrl-C stops."
        )
        supervisor.run(stopping)
    finally:
        supervisor.stop_all()
        if settings.broker_url is None:  # the embedded broker was started for this session
            from worker.broker import stop_embedded_redis

            stop_embedded_redis(settings.data_dir)
        if log_file:
            out.close()
    sys.exit(0)


def _json_logs_by_default() -> None:
    """The long-running processes log JSON lines unless TICKWORK_LOG_FORMAT says otherwise."""
    os.environ.setdefault("TICKWORK_LOG_FORMAT", "json")


def _quiet_if_json(cmd: list[str]) -> list[str]:
    """Celery's start-up banner is text: keep it out of a JSON log (``celery --quiet``)."""
    if os.environ.get("TICKWORK_LOG_FORMAT") != "json" or "celery" not in cmd:
        return cmd
    at = cmd.index("celery") + 1
    return [*cmd[:at], "--quiet", *cmd[at:]]


def _child_env() -> dict[str, str]:
    """Environment for child processes: they must find the same database and broker."""
    from worker.broker import broker_url

    settings = get_settings()
    env = dict(os.environ)
    env["TICKWORK_DATA_DIR"] = str(settings.data_dir.resolve())
    env["TICKWORK_DATABASE_URL"] = settings.resolved_database_url
    env["TICKWORK_BROKER_URL"] = broker_url(settings)
    return env


@broker_app.command("start")
def broker_start() -> None:
    """Start the embedded Redis (if not running) and print its URL."""
    from worker.broker import ensure_embedded_redis

    settings = get_settings()
    if settings.broker_url:  # Redis or RabbitMQ run by the operator: nothing to start here
        raise fail(
            f"TICKWORK_BROKER_URL is set ({_redact(settings.broker_url)}): Tickwork uses that "
            "broker; the embedded one is only for when it is unset"
        )
    console.print(ensure_embedded_redis(settings.data_dir))


@broker_app.command("stop")
def broker_stop() -> None:
    """Stop the embedded Redis."""
    from worker.broker import stop_embedded_redis

    stopped = stop_embedded_redis(get_settings().data_dir)
    console.print("stopped" if stopped else "not running")


@app.command()
def demo(
    days: Annotated[int, typer.Option(help="Days of 1-minute data from 2025-10-01")] = 92,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Afterwards, keep serving the API and the dashboard (it "
            "prints the address and a key to sign in with) until Ctrl-C.",
        ),
    ] = False,
) -> None:
    """The main job end to end on the embedded default: broker, worker, API, ingest, summary."""
    from worker.demo.main import run_demo

    raise typer.Exit(run_demo(console=console, days=days, serve=serve))


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url


def operational_error(exc: BaseException) -> str | None:
    """One line for an error of the environment rather than of Tickwork (a database or broker
    that cannot be reached, a bad URL, a missing file, an invalid setting); None for anything
    else, which keeps its traceback."""
    import kombu.exceptions
    import pydantic
    import redis
    import sqlalchemy.exc

    from worker.broker import EmbeddedBrokerError

    settings = None
    with suppress(Exception):
        settings = get_settings()
    db = _redact(settings.resolved_database_url) if settings else "the database"
    broker = _redact(settings.broker_url or "the embedded Redis") if settings else "the broker"
    first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    detail = first[0] if first else type(exc).__name__
    if isinstance(exc, sqlalchemy.exc.ArgumentError | sqlalchemy.exc.NoSuchModuleError):
        return f"TICKWORK_DATABASE_URL is not a usable database URL ({detail})"
    if isinstance(exc, sqlalchemy.exc.ProgrammingError | sqlalchemy.exc.OperationalError) and (
        "no such table" in detail or ("relation" in detail and "does not exist" in detail)
    ):
        return (
            f"the database at {db} lacks this version's tables ({detail}): "
            "run `tickwork db upgrade`"
        )
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return f"cannot use the database at {db}: {detail.removeprefix('connection failed: ')}"
    if isinstance(exc, ModuleNotFoundError) and exc.name in ("MySQLdb", "pymysql", "psycopg2"):
        return (
            f"TICKWORK_DATABASE_URL names a driver that is not installed ({exc.name}); use "
            "postgresql+psycopg://... or sqlite:///..."
        )
    if isinstance(exc, kombu.exceptions.OperationalError | redis.ConnectionError):
        return f"cannot reach the broker at {broker}: {detail}"
    if isinstance(exc, KeyError) and str(exc.args[0] if exc.args else "").startswith(
        "No such transport"
    ):
        return f"TICKWORK_BROKER_URL is not a usable broker URL ({exc.args[0]})"
    if isinstance(exc, EmbeddedBrokerError):
        return detail
    if isinstance(exc, pydantic.ValidationError):
        return "invalid settings: " + "; ".join(
            ":".join(filter(None, (".".join(map(str, e["loc"])), e["msg"]))) for e in exc.errors()
        )
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return None


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        message = operational_error(exc)
        if message is None:
            raise
        err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
