"""Readiness: can this process reach its database and its broker right now?

Each check runs in a daemon thread with a deadline, so a server that does not answer (a dropped
packet rather than a refused connection) costs the caller ``timeout`` seconds, never more. A
check reports ``ok``, ``unavailable`` or ``timeout``; the reason goes to the log, not to the
unauthenticated caller.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kombu import Connection
from sqlalchemy import text

from worker.broker import broker_url
from worker.settings import get_settings

log = logging.getLogger(__name__)

TIMEOUT_S = 2.0


def check_database(timeout: float = TIMEOUT_S) -> None:
    from worker.storage.db import get_engine

    with get_engine().connect() as conn:
        conn.execute(text("SELECT 1"))


def check_broker(timeout: float = TIMEOUT_S) -> None:
    options = {"socket_timeout": timeout, "socket_connect_timeout": timeout, "max_retries": 0}
    with Connection(
        broker_url(get_settings()), connect_timeout=timeout, transport_options=options
    ) as conn:
        conn.ensure_connection(max_retries=0, timeout=timeout)
        conn.default_channel  # noqa: B018 - opening a channel is the round trip that proves it


def readiness(timeout: float = TIMEOUT_S) -> dict[str, str]:
    """``{"database": ..., "broker": ...}``, each ``ok``, ``unavailable`` or ``timeout``;
    the checks run at once, so the whole takes at most about ``timeout`` seconds."""
    checks: dict[str, Callable[[float], None]] = {
        "database": check_database,
        "broker": check_broker,
    }
    results: dict[str, str] = {}
    threads = []
    for name, check in checks.items():
        thread = threading.Thread(
            target=_run, args=(name, check, timeout, results), name=f"readyz-{name}", daemon=True
        )
        thread.start()
        threads.append((name, thread))
    deadline = time.monotonic() + timeout
    for name, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        results.setdefault(name, "timeout")  # a hung check keeps running; its answer is ignored
    return {name: results[name] for name in checks}


def _run(name: str, check: Callable[[float], None], timeout: float, out: dict[str, str]) -> None:
    try:
        check(timeout)
    except Exception as exc:
        log.warning("readiness: %s unavailable: %s: %s", name, type(exc).__name__, exc)
        out.setdefault(name, "unavailable")
    else:
        out.setdefault(name, "ok")
