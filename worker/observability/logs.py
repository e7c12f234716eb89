"""Process logging: one JSON object per line, or the usual text, and the task context of a line.

``TICKWORK_LOG_FORMAT=json`` (the default of ``tickwork worker/beat/api/serve``) writes every
record as one JSON object on stderr::

    {"timestamp": "2026-11-03T09:12:44.120Z", "level": "INFO", "logger": "celery.app.trace",
     "message": "Task ingest.process_upload[job_...] succeeded in 0.41s: None", "process": 4242,
     "task_name": "ingest.process_upload", "task_id": "job_...", "job_id": "job_...",
     "tenant_id": "ten_...", "duration_s": 0.41}

``text`` (the setting's default, so ``celery`` and ``uvicorn`` started by hand, the demo and the
tests read as usual) leaves Celery's and uvicorn's own formats alone.

Inside a task the context comes from Celery's ``task_prerun``/``task_postrun`` signals: the task
name and id, and for a job-backed task (its task id is the job id) the job id; the job's tenant
joins it as the attempt starts (``worker.tasks.base.job_attempt`` reads the job row anyway, so
no query is made for the logs). A ``contextvars.ContextVar`` holds it, so it is right under any
pool. Both formats pass through :class:`ContextFilter`, which also masks API keys, webhook
secrets, bearer tokens and URL passwords in messages and tracebacks: nothing we log may carry a
secret.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from celery import signals

from worker.settings import get_settings

log = logging.getLogger(__name__)

CONTEXT_FIELDS = ("task_name", "task_id", "job_id", "tenant_id")
_context: ContextVar[dict[str, Any] | None] = ContextVar("tickwork_log_context", default=None)

_SECRETS = (
    # API keys: tw_<public prefix>_<secret>; the prefix is an id and stays readable.
    (re.compile(r"\b(tw_[0-9a-f]{12}_)[A-Za-z0-9_\-]{8,}"), r"\1[redacted]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"), "whsec_[redacted]"),
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',]+"), r"\1[redacted]"),
    # A password in a URL (kombu already shows its own as "**").
    (re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^:/\s@]*:)(?!\*\*@)[^@\s/]+@"), r"\1[redacted]@"),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def current_context() -> dict[str, Any]:
    return dict(_context.get() or {})


def task_context() -> dict[str, Any]:
    """The running task's context itself, not a copy: fields added while the task runs
    (``add_job_context``) show in it. Empty outside a task."""
    context = _context.get()
    return context if context is not None else {}


def add_job_context(job_id: str, **fields: Any) -> None:
    """Add what the task running job ``job_id`` learnt of it (``tenant_id``; ``job_failed`` when
    this run failed the job) to the task's context, in place."""
    context = _context.get()
    if context is not None and context.get("job_id") == job_id:
        context.update(fields)


class ContextFilter(logging.Filter):
    """Adds the task context to each record and masks secrets in its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get() or {}
        for name in CONTEXT_FIELDS:
            if getattr(record, name, None) is None and context.get(name) is not None:
                setattr(record, name, context[name])
        args = record.args
        # Celery's own task lines ("Task x[id] received/succeeded ...") carry the task in a dict,
        # also in the worker's main process, outside any task context.
        task_id = args.get("id") if isinstance(args, Mapping) else None
        if isinstance(args, Mapping) and isinstance(task_id, str) and args.get("name"):
            if getattr(record, "task_id", None) is None:
                record.task_id, record.task_name = task_id, str(args["name"])
            if getattr(record, "job_id", None) is None and task_id.startswith("job_"):
                record.job_id = task_id
        data = getattr(record, "data", None)
        if isinstance(data, Mapping) and isinstance(data.get("runtime"), int | float):
            record.duration_s = round(float(data["runtime"]), 6)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: the handler reports it, not the caller
            return True
        cleaned = redact(message)
        if cleaned == message:
            return True
        if record.name == "uvicorn.access" and isinstance(args, tuple):  # its formatter reads args
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        else:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        entry: dict[str, Any] = {
            "timestamp": stamp.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for name in (*CONTEXT_FIELDS, "duration_s"):
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            # client, method, path, HTTP version, status
            entry.update(zip(("client", "method", "path"), args[:3], strict=True))
            entry["status"] = args[4]
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(*, fmt: str, level: int | str) -> None:
    """Send every record, of every logger, to one stderr handler in ``fmt`` (json or text)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
        logging.captureWarnings(True)  # warnings.warn() too, as records of "py.warnings"
    else:
        handler.setFormatter(logging.Formatter("[%(asctime)s: %(levelname)s/%(name)s] %(message)s"))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # uvicorn's loggers have handlers of their own; let their records reach ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


def install_redaction() -> None:
    """Text mode: keep the handlers Celery or uvicorn configured, but mask secrets on them."""
    loggers = [logging.getLogger(n) for n in ("", "uvicorn", "uvicorn.error", "uvicorn.access")]
    for handler in (h for lg in loggers for h in lg.handlers):
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())


def configure_served_api() -> None:
    """Logging of a process serving ``api.app:app`` under uvicorn; called when that module loads.

    uvicorn has configured its loggers by then (before importing the app), so their handlers
    tell a served API from a test importing ``api.app``, which is left alone.
    """
    if not logging.getLogger("uvicorn").handlers:
        return
    settings = get_settings()
    if settings.log_format == "json":
        configure_logging(fmt="json", level=settings.log_level.upper())
    else:
        install_redaction()


# --- Celery: worker and beat processes ---------------------------------------------------------


def _setup_celery_logging(loglevel: int | str | None = None, **_: object) -> None:
    configure_logging(fmt="json", level=loglevel or get_settings().log_level.upper())


def _early_worker_logging(instance: Any = None, options: Any = None, **_: object) -> None:
    """Before the worker's own start-up checks warn (it logs later): JSON from the first line,
    and no text banner (its gist is logged once the queues are known)."""
    level = (options or {}).get("loglevel") or get_settings().log_level
    configure_logging(fmt="json", level=str(level).upper() if isinstance(level, str) else level)
    if instance is not None:
        instance.quiet = True


def _log_worker_start(instance: Any = None, **_: object) -> None:
    if instance is None:
        return
    app = instance.app
    log.info(
        "celery worker %s starting: queues %s, concurrency %s, broker %s",
        instance.hostname,
        ",".join(sorted(q.name for q in app.amqp.queues.consume_from.values())),
        instance.concurrency,
        app.connection_for_read().as_uri(),  # masks the password
    )


def _after_setup_text(logger: logging.Logger | None = None, **_: object) -> None:
    install_redaction()


if get_settings().log_format == "json":
    # Connecting a setup_logging receiver tells Celery not to configure logging itself.
    signals.setup_logging.connect(_setup_celery_logging, weak=False)
    signals.celeryd_init.connect(_early_worker_logging, weak=False)
    signals.celeryd_after_setup.connect(_log_worker_start, weak=False)
else:
    signals.after_setup_logger.connect(_after_setup_text, weak=False)


@signals.task_prerun.connect(weak=False)
def _task_started(
    task_id: str | None = None, task: Any = None, args: Any = None, **_: object
) -> None:
    context: dict[str, Any] = {"task_name": getattr(task, "name", None), "task_id": task_id}
    if task_id and task_id.startswith("job_") and args and args[0] == task_id:
        context["job_id"] = task_id
    _context.set(context)


@signals.task_postrun.connect(weak=False)
def _task_finished(**_: object) -> None:
    _context.set(None)
