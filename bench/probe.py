"""Outside probe: every operation of /openapi.json with boundary values, against a real server.

Run from the project root::

    .venv/bin/python bench/probe.py                        # SQLite + embedded Redis, temp dir
    .venv/bin/python bench/probe.py --database-url postgresql+psycopg://postgres@127.0.0.1/db
    .venv/bin/python bench/probe.py --url http://127.0.0.1:8000 --key tw_... --foreign-key tw_...

Without ``--url`` it creates a database and two tenants with write keys, starts ``tickwork api``
on a free port of 127.0.0.1 (rate limits raised for the run) and stops it afterwards; no worker
runs, so queued jobs stay queued. Each tenant builds a small world through the API (facility,
tag, CSV import, JSON batch, webhook endpoint and test message, fuel mapping, report,
document). Then every operation is sent, with tenant A's key:

- its real ids, tenant B's ids (must be 404) and bad ids (empty, NUL, 1000 characters, ``..``);
- each query parameter with boundary values: far dates (year 1, 9999, 0 and 10000, offsets that
  leave the calendar), negative, zero and huge numbers, ``NaN``, empty strings, NUL, control
  characters, long strings; an unknown parameter and array spellings;
- JSON bodies with each field set to the same kinds of values; CSV and document uploads with
  out-of-range timestamps, NUL bytes and a ZIP named ``.pdf``.

Prints one JSON object: requests sent, counts by status, and the lists that must stay empty:
``server_errors`` (any status >= 500), ``leaks`` (a traceback or SQL text in a body),
``malformed_errors`` (an error body not in the ``{"error": {"type", "code", "message"}}``
format) and ``missing_rate_limit_headers`` (an answer to a keyed /v1 request without
``X-RateLimit-*``), and ``foreign_not_404`` (an operation that answered tenant B's ids with
anything but 404). ``foreign_unchecked`` lists operations whose body the probe does not know, so
their 400 could not tell; add the body to ``_body``. Exits 1 when a list that must stay empty
is not.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FAR_DATES = [
    "9999-12-31",
    "0001-01-01",
    "0000-01-01",
    "10000-01-01",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59.999999Z",
    "2025-02-30",
    "2025-01-01T24:00:00Z",
    "2025-01-01T00:00:00",
    "1970-01-01T00:00:00Z",
]
NUMBERS = [
    -1,
    0,
    1,
    2**31,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**30,
    "1e309",
    "NaN",
    "-0",
    "1.5",
    "0x10",
]
STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\n",
    "\x1b[31m",
    "x" * 5000,
    "null",
    "-1",
    "é漢🚀",
    "' OR 1=1 --",
    "%00",
    "../../etc/passwd",
]
BAD_IDS = ["", "x", "a\x00b", "x" * 1000, "..", "%2e%2e", "null", "-1", "9" * 40, "🚀"]
BODY_VALUES = [
    None,
    "",
    "\x00",
    "a\x00b",
    "x" * 5000,
    -1,
    0,
    2**64,
    1e308,
    -1e308,
    True,
    [],
    {},
    "9999-12-31",
    "0000-01-01",
    "9999-12-31T23:59:59-14:00",
]
LEAK = re.compile(r"Traceback|File \"/|sqlalchemy|psycopg|SELECT |INSERT INTO|UPDATE \w+ SET")
HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
ERROR_FIELDS = ("type", "code", "message")

MAPPING = {
    "tag": "flow",
    "fuel_pathway_code": "CNG-RNG-001",
    "fuel_type": "rng",
    "ci": 40.0,
    "unit": "m3",
    "kind": "rate",
    "rate_per": "h",
}
TRANSACTION = {
    "fuel_pathway_code": "CNG-RNG-001",
    "fuel_type": "rng",
    "quantity": 10.0,
    "unit": "scf",
    "ci": 40.0,
    "transaction_type": "Sold with Obligation",
    "date": "2025-11-01",
}


@dataclass
class Report:
    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    malformed_errors: list[str] = field(default_factory=list)
    missing_rate_limit_headers: list[str] = field(default_factory=list)
    foreign_not_404: list[str] = field(default_factory=list)
    foreign_unchecked: list[str] = field(default_factory=list)  # informational

    def failures(self) -> int:
        lists = (
            self.server_errors,
            self.leaks,
            self.malformed_errors,
            self.missing_rate_limit_headers,
            self.foreign_not_404,
        )
        return sum(len(x) for x in lists)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "server_errors": self.server_errors[:50],
            "leaks": self.leaks[:50],
            "malformed_errors": self.malformed_errors[:50],
            "missing_rate_limit_headers": self.missing_rate_limit_headers[:50],
            "foreign_not_404": self.foreign_not_404[:50],
            "foreign_unchecked": self.foreign_unchecked,
        }


class Prober:
    def __init__(self, client: httpx.Client, key: str, report: Report) -> None:
        self.client, self.key, self.report = client, key, report

    def send(
        self, method: str, url: str, *, what: str, keyed: bool = True, **kwargs: Any
    ) -> httpx.Response | None:
        headers = {"Authorization": f"Bearer {self.key}"} if keyed else {}
        headers.update(kwargs.pop("headers", {}))
        try:
            response = self.client.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:  # the server hung up: as bad as a 500
            self.report.requests += 1
            self.report.by_status[0] += 1
            self.report.server_errors.append(f"{what}: no answer ({type(exc).__name__})")
            return None
        self.check(response, what=what, keyed=keyed)
        return response

    def check(self, response: httpx.Response, *, what: str, keyed: bool) -> None:
        report = self.report
        report.requests += 1
        report.by_status[response.status_code] += 1
        line = f"{what} -> {response.status_code} {response.text[:160]!r}"
        # 503 is the documented "database unavailable, retry" answer; any other 5xx is a bug.
        unavailable = response.status_code == 503 and "database_unavailable" in response.text
        if response.status_code >= 500 and not unavailable:
            report.server_errors.append(line)
        if LEAK.search(response.text):
            report.leaks.append(line)
        path = response.request.url.path
        if response.status_code >= 400 and path.startswith("/v1/"):
            try:
                error = response.json()["error"]
                assert all(isinstance(error[k], str) and error[k] for k in ERROR_FIELDS)
            except (ValueError, KeyError, TypeError, AssertionError):
                report.malformed_errors.append(line)
        counted = keyed and path.startswith("/v1/") and response.status_code != 401
        if counted and not all(h in response.headers for h in HEADERS):
            report.missing_rate_limit_headers.append(line)


# --- the worlds ---------------------------------------------------------------------------------


def build_world(prober: Prober, name: str) -> dict[str, str]:
    """A tenant's objects, made through the API; ids that could not be made stay fake."""
    ids = {
        "facility_id": "fac_missing",
        "name": "flow",
        "job_id": "job_missing",
        "endpoint_id": "whe_missing",
        "message_id": "msg_missing",
        "report_id": "rpt_missing",
        "document_id": "doc_missing",
        "entry_id": "aud_missing",
    }

    def made(response: httpx.Response | None, key: str, *path: str) -> None:
        if response is not None and response.status_code < 300:
            value: Any = response.json()
            for step in path:
                value = value[step]
            ids[key] = str(value)

    send = prober.send
    made(
        send("POST", "/v1/facilities", what="world", json={"name": f"{name} plant"}),
        "facility_id",
        "id",
    )
    fac = ids["facility_id"]
    send("POST", f"/v1/facilities/{fac}/tags", what="world", json={"name": "flow", "unit": "m3"})
    csv = f"facility_id,tag,timestamp,value\n{fac},flow,2025-01-01T00:00:00Z,1\n".encode()
    made(
        send(
            "POST",
            "/v1/data-points/import",
            what="world",
            files={"file": ("p.csv", csv, "text/csv")},
        ),
        "job_id",
        "job_id",
    )
    made(
        send(
            "POST",
            "/v1/webhook-endpoints",
            what="world",
            json={"url": "https://hooks.example.com/in"},
        ),
        "endpoint_id",
        "id",
    )
    made(
        send("POST", f"/v1/webhook-endpoints/{ids['endpoint_id']}/test", what="world"),
        "message_id",
        "message_id",
    )
    send("PUT", f"/v1/facilities/{fac}/fuel-mappings", what="world", json={"data": [MAPPING]})
    report = {"report_type": "lcfs_quarterly", "facility_id": fac, "quarter": "Q4", "year": 2025}
    made(send("POST", "/v1/reports", what="world", json=report), "report_id", "id")
    made(
        send(
            "POST",
            "/v1/documents",
            what="world",
            files={"file": ("d.pdf", b"%PDF-1.4 x", "application/pdf")},
        ),
        "document_id",
        "document_id",
    )
    entries = send("GET", "/v1/audit-log", what="world")
    if entries is not None and entries.status_code == 200 and entries.json()["data"]:
        ids["entry_id"] = entries.json()["data"][0]["id"]
    return ids


# --- the cases ----------------------------------------------------------------------------------


def _valid(name: str, ids: dict[str, str]) -> Any:
    if name in ids:
        return ids[name]
    if name in ("since",):
        return (datetime.now(UTC) - timedelta(days=1)).isoformat()
    if "date" in name or name in ("from", "to"):
        return "2025-01-01"
    return "1"


def _boundaries(schema: dict[str, Any]) -> list[Any]:
    kinds = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
    values: list[Any] = list(STRINGS) + FAR_DATES
    if kinds & {"integer", "number"}:
        values = [*NUMBERS, "", "\x00", "ten"]
    elif "boolean" in kinds:
        values = ["true", "false", "1", "yes", "", "\x00"]
    return values


def _body(method: str, path: str, ids: dict[str, str]) -> Any:
    fac = ids["facility_id"]
    point = {"facility_id": fac, "tag": "flow", "timestamp": "2025-01-01T00:00:00Z", "value": 1.0}
    known = {
        ("POST", "/v1/facilities"): {"name": "Probe", "timezone": "UTC"},
        ("PATCH", "/v1/facilities/{facility_id}"): {"name": "Probe"},
        ("POST", "/v1/facilities/{facility_id}/tags"): {"name": "probe", "unit": "m3"},
        ("PATCH", "/v1/facilities/{facility_id}/tags/{name}"): {"unit": "m3"},
        ("PUT", "/v1/facilities/{facility_id}/fuel-mappings"): {"data": [MAPPING]},
        ("POST", "/v1/facilities/{facility_id}/fuel-transactions"): {"data": [TRANSACTION]},
        ("POST", "/v1/reports"): {
            "report_type": "lcfs_quarterly",
            "facility_id": fac,
            "quarter": "Q4",
            "year": 2025,
            "format": "csv",
        },
        ("POST", "/v1/data-points"): {"data": [point]},
        ("POST", "/v1/webhook-endpoints"): {"url": "https://hooks.example.com/probe"},
        ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): {"description": "probe"},
        ("POST", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): {"grace_hours": 1},
        ("PATCH", "/v1/documents/{document_id}"): {"resolution_note": "probe"},
    }
    return known.get((method, path))


def _mutations(body: Any) -> list[Any]:
    """The body with one field at a time (top level, then the first item of ``data``) set to
    each boundary value, then whole bodies of the wrong shape."""
    out: list[Any] = [None, {}, [], "text", 0]
    if not isinstance(body, dict):
        return out
    for key in body:
        out += [{**body, key: value} for value in BODY_VALUES]
    items = body.get("data")
    if isinstance(items, list) and items and isinstance(items[0], dict):
        for key in items[0]:
            out += [{**body, "data": [{**items[0], key: value}]} for value in BODY_VALUES]
    out.append({**body, "zzz_unknown": 1})
    return out


def _uploads(path: str, ids: dict[str, str]) -> list[dict[str, Any]]:
    fac = ids["facility_id"]
    if path == "/v1/data-points/import":
        rows = [f"{fac},flow,{t},1" for t in FAR_DATES] + [
            f"{fac},fl\x00ow,2025-01-01T00:00:00Z,1",
            f"{fac},flow,2025-01-01T00:00:00Z,1e309",
            f"{fac},flow\r,2025-01-01T00:00:00Z,1",
        ]
        csv = ("facility_id,tag,timestamp,value\n" + "\n".join(rows) + "\n").encode()
        return [
            {"files": {"file": ("far.csv", csv, "text/csv")}},
            {"files": {"file": ("n.csv", b"\x00" * 100, "text/csv")}},
            {"files": {"file": ("e.csv", b"", "text/csv")}},
            {"files": {"file": ("p.csv", csv, "text/csv")}, "data": {"facility_id": "a\x00"}},
            {"files": {"file": ("p\x00.csv", csv, "text/csv")}},
            {"files": {"other": ("p.csv", csv, "text/csv")}},
        ]
    if path == "/v1/documents":
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as z:
            z.writestr("inner.pdf", b"%PDF-1.4\n%%EOF\n")
        return [
            {"files": {"file": ("invoice.pdf", archive.getvalue(), "application/pdf")}},
            {"files": {"file": ("x.pdf", b"\x89PNG\r\n\x1a\n" + b"%PDF-1.4", "image/png")}},
            {"files": {"file": ("x.pdf", b"%PDF-1.7\n" + b"\x00" * 500, "application/pdf")}},
            {"files": {"file": ("x\x00.pdf", b"%PDF-1.4 y", "application/pdf")}},
            {
                "files": {"file": ("x.pdf", b"%PDF-1.4 z", "application/pdf")},
                "data": {"facility_id": "a\x00b", "document_type": "\x00"},
            },
            {
                "files": {"file": ("x.pdf", b"%PDF-1.4 w", "application/pdf")},
                "data": {"facility_id": "fac_nobody"},
            },
        ]
    return []


def _url(path: str, values: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: quote(values.get(m.group(1), "x"), safe=""), path)


def probe(client: httpx.Client, *, key: str, foreign_key: str) -> Report:
    """Probe every operation of the server's /openapi.json; ``key`` and ``foreign_key`` are write
    keys of two different tenants."""
    report = Report()
    mine, theirs = Prober(client, key, report), Prober(client, foreign_key, report)
    ids = build_world(mine, "A")
    foreign = build_world(theirs, "B")
    spec = client.get("/openapi.json").json()
    operations = [
        (path, method.upper(), op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    ]
    operations.sort(key=lambda o: o[1] == "DELETE")  # deletions last
    for path, method, op in operations:
        _probe_operation(mine, path, method, op, ids=ids, foreign=foreign)
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc"):
        mine.send("GET", path, what=f"GET {path}", keyed=False, params={"v": "1"})
    return report


def _probe_operation(
    mine: Prober,
    path: str,
    method: str,
    op: dict[str, Any],
    *,
    ids: dict[str, str],
    foreign: dict[str, str],
) -> None:
    report = mine.report
    parameters = op.get("parameters", [])
    query = [p for p in parameters if p["in"] == "query"]
    names = [p["name"] for p in parameters if p["in"] == "path"]
    required = {p["name"]: _valid(p["name"], ids) for p in query if p.get("required")}
    body = _body(method, path, ids)
    real = method != "DELETE"  # deleting A's world would leave nothing to probe
    keyed = bool(op.get("security"))
    what = f"{method} {path}"

    def send(url: str, params: dict[str, Any], note: str, **kwargs: Any) -> None:
        kwargs.setdefault("json", body)
        if kwargs["json"] is None:
            kwargs.pop("json")
        mine.send(method, url, what=f"{what} {note}", keyed=keyed, params=params, **kwargs)

    if real:
        send(_url(path, ids), required, "real ids")
        send(_url(path, ids), {**required, "zzz_unknown": "1"}, "unknown parameter")
        for name, value in required.items():
            send(_url(path, ids), {**required, f"{name}[]": value}, f"{name}[]")
    if names:
        swapped = {**required, **{k: foreign[k] for k in required if k in foreign}}
        response = mine.send(
            method,
            _url(path, foreign),
            what=f"{what} foreign ids",
            keyed=keyed,
            params=swapped,
            json=body,
        )
        needs_body = (op.get("requestBody") or {}).get("required") and body is None
        if response is not None and response.status_code != 404:
            if needs_body and response.status_code == 400:  # no valid body known to the probe
                report.foreign_unchecked.append(what)
            else:
                report.foreign_not_404.append(f"{what} -> {response.status_code}")
        for bad in BAD_IDS:
            send(_url(path, dict.fromkeys(names, bad)), required, f"id {bad[:20]!r}")
    if not real:
        return
    for parameter in query:
        for value in _boundaries(parameter.get("schema", {})):
            note = f"{parameter['name']}={str(value)[:30]!r}"
            send(_url(path, ids), {**required, parameter["name"]: value}, note)
    for variant in _uploads(path, ids):
        send(_url(path, ids), required, "upload", json=None, **variant)
    content = (op.get("requestBody") or {}).get("content", {})
    if "application/json" in content:
        for mutated in _mutations(body):
            send(_url(path, ids), required, f"body {json.dumps(mutated)[:60]}", json=mutated)
    if "text/csv" in content:
        lines = ["fuel_pathway_code,fuel_type,quantity,unit,ci,transaction_type,date"]
        lines += [
            f"CNG-RNG-001,rng,{q},scf,40,Sold with Obligation,{d}"
            for q, d in (
                ("1", "9999-12-31"),
                ("1e309", "2025-01-01"),
                ("-1", "0000-01-01"),
                ("1", "2025-01-01\x00"),
            )
        ]
        send(
            _url(path, ids),
            required,
            "csv body",
            json=None,
            content="\n".join(lines).encode(),
            headers={"Content-Type": "text/csv"},
        )


# --- a server of its own ------------------------------------------------------------------------


def _tickwork() -> list[str]:
    script = Path(sys.executable).with_name("tickwork")
    return [str(script)] if script.exists() else [sys.executable, "-m", "worker.cli.main"]


def run_server(database_url: str | None) -> dict[str, Any]:
    from worker.broker import ensure_embedded_redis, free_port, stop_embedded_redis
    from worker.storage.db import session_scope, upgrade
    from worker.storage.tenants import create_api_key, create_tenant

    with tempfile.TemporaryDirectory(prefix="tickwork-probe-") as tmp:
        data_dir = Path(tmp)
        url = database_url or f"sqlite:///{data_dir / 'tickwork.db'}"
        broker = ensure_embedded_redis(data_dir)
        port = free_port()
        env = {
            **os.environ,
            "TICKWORK_DATA_DIR": str(data_dir),
            "TICKWORK_DATABASE_URL": url,
            "TICKWORK_BROKER_URL": broker,
            "TICKWORK_REDIS_URL": broker,
            "TICKWORK_RATE_LIMIT_PER_MINUTE": "10000000",
            "TICKWORK_RATE_LIMIT_PER_HOUR": "10000000",
            "TICKWORK_RATE_LIMIT_PER_DAY": "10000000",
            "TICKWORK_LOG_FORMAT": "text",
            "TICKWORK_LOG_LEVEL": "WARNING",
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("TICKWORK_")})
        upgrade(url)
        keys = []
        with session_scope(url) as s:
            for name in ("Probe A", "Probe B"):
                tenant = create_tenant(s, name=name)
                keys.append(create_api_key(s, tenant_id=tenant.id, scope="write")[1])
        log = (data_dir / "api.log").open("wb")
        server = subprocess.Popen(
            [*_tickwork(), "api", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait(base, server)
            started = time.perf_counter()
            with httpx.Client(base_url=base, timeout=30) as client:
                report = probe(client, key=keys[0], foreign_key=keys[1])
            seconds = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=20)
            log.close()
            stop_embedded_redis(data_dir)
        api_log = (data_dir / "api.log").read_text(errors="replace")
        tracebacks = api_log.count("Traceback")
    database = "postgresql" if url.startswith("postgresql") else "sqlite"
    return {
        "server": "tickwork api",
        "database": database,
        "seconds": round(seconds, 1),
        "tracebacks_in_server_log": tracebacks,
        **report.to_dict(),
        "_failures": report.failures() + tracebacks,
    }


def _wait(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"tickwork api exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("tickwork api did not answer /healthz within 60 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="probe this running API instead of starting one")
    parser.add_argument("--key", help="with --url: a write key of tenant A")
    parser.add_argument("--foreign-key", help="with --url: a write key of another tenant")
    parser.add_argument("--database-url", help="without --url: the database (default SQLite)")
    args = parser.parse_args()
    if args.url:
        if not (args.key and args.foreign_key):
            parser.error("--url needs --key and --foreign-key")
        with httpx.Client(base_url=args.url, timeout=30) as client:
            report = probe(client, key=args.key, foreign_key=args.foreign_key)
        result = {"server": args.url, **report.to_dict(), "_failures": report.failures()}
    else:
        result = run_server(args.database_url)
    failures = result.pop("_failures")
    print(json.dumps(result, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
