"""Settings: every knob is an environment variable with the ``TICKWORK_`` prefix.

Read them through :func:`get_settings` (cached). Pipelines never see this object; they get plain
arguments.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipelines.documents.model import MAX_DOCUMENT_BYTES


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TICKWORK_", extra="ignore")

    data_dir: Path = Field(
        default=Path(".tickwork"),
        description="Where the embedded mode keeps its SQLite file and Redis socket/pid files.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Unset: SQLite file in data_dir. Production: "
        "postgresql+psycopg://user@host/db.",
    )
    broker_url: str | None = Field(
        default=None,
        description="Celery broker: redis://host:6379/0 or amqp://user:pass@host:5672//. "
        "Unset: the embedded Redis started by `tickwork` (see `tickwork broker`).",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for rate limits and locks. Unset: the broker when it is Redis.",
    )

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    tls_cert_file: str | None = Field(
        default=None,
        description="PEM certificate (chain) for `tickwork api` / `serve` to serve HTTPS "
        "themselves; with tls_key_file. Production usually terminates TLS at a reverse proxy.",
    )
    tls_key_file: str | None = Field(default=None, description="PEM private key of tls_cert_file.")

    rate_limit_per_minute: int = 1000
    rate_limit_per_hour: int = 50_000
    rate_limit_per_day: int = 500_000

    max_upload_bytes: int = Field(default=256 * 1024 * 1024, description="Larger uploads get 413.")
    max_batch_points: int = Field(default=10_000, description="Points per JSON batch.")
    max_request_bytes: int = Field(
        default=16 * 1024 * 1024,
        description="Largest request body other than a file upload (JSON batches, fuel "
        "transactions); larger gets 413 before it is read. File uploads are bounded by "
        "max_upload_bytes and document_max_bytes instead.",
    )

    task_soft_time_limit: int = Field(default=1500, description="Seconds; raises inside a task.")
    task_time_limit: int = Field(default=1800, description="Seconds; the worker child is killed.")
    visibility_timeout: int = Field(
        default=3600, description="Seconds before an unacknowledged task is redelivered (Redis)."
    )
    task_max_retries: int = 5
    worker_concurrency: int = 2
    stale_job_seconds: int = Field(
        default=60, description="A queued job never handed to the broker is re-sent after this."
    )
    job_heartbeat_seconds: int = Field(
        default=10, description="How often a running job's worker records that it is alive."
    )
    job_silent_seconds: int = Field(
        default=45,
        description="A running job whose worker recorded no sign of life for this long is sent "
        "again (its worker is gone), long before the visibility timeout would bring it back.",
    )

    alert_gap_minutes: float = Field(
        default=60.0, description="Alert when a tag's gap lasts this long (per-tag override)."
    )
    alert_completeness: float = Field(
        default=0.95, description="Alert when a day's completeness is below this (0-1)."
    )
    alert_flatline_hours: float = Field(
        default=4.0, description="Alert when a tag is flat this long in a day."
    )
    retention_days: int = Field(
        default=90, description="Rejected-row details and events older than this are deleted."
    )
    points_archive_after_months: int | None = Field(
        default=None,
        ge=1,
        description="PostgreSQL: move each whole UTC month of data points that ended more than "
        "this many months before the current month to a Parquet file under data_dir/archive "
        "(recorded, audit-logged, restorable with `tickwork points restore`). Unset: keep every "
        "point in the database.",
    )
    points_partitions_ahead: int = Field(
        default=3,
        ge=0,
        le=120,
        description="PostgreSQL: months of data_point partitions created ahead of the current "
        "one by the daily `points.create_partitions` task.",
    )

    lcfs_tables_dir: str | None = Field(
        default=None,
        description="Directory of LCFS table CSVs (benchmarks.csv, eer.csv, energy_density.csv, "
        "...) that replace the packaged ones of the same name.",
    )
    report_signing_key: str | None = Field(
        default=None, description="Private key (PEM/DER file) that signs report PDFs (PAdES)."
    )
    report_signing_cert: str | None = Field(
        default=None, description="The signing certificate (PEM/DER file) for report PDFs."
    )
    report_signing_chain: list[str] = Field(
        default_factory=list, description="Intermediate certificates (files) sent with it."
    )
    report_signing_passphrase: SecretStr | None = Field(
        default=None, description="Passphrase of the signing key, if it has one."
    )
    dashboard_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs the dashboard's session cookies. Unset: a random key kept in "
        "data_dir/dashboard.secret (set it when several API processes share the sign-ins).",
    )
    dashboard_session_hours: float = Field(
        default=12, gt=0, description="How long a dashboard sign-in lasts."
    )
    lcfs_require_confirmed: bool = Field(
        default=False,
        description="Refuse LCFS table figures whose status is 'unconfirmed' (not yet compared "
        "with the regulation text they cite): a report needing one fails naming the row to add.",
    )
    lcfs_substitution_method: str = Field(
        default="before_after_mean",
        description="How LCFS reports fill meter gaps: before_after_mean, percentile_90, "
        "percentile_95, maximum or mean_plus_2sd.",
    )

    document_max_bytes: int = Field(
        default=MAX_DOCUMENT_BYTES,
        description="Largest document upload (bytes); larger files get 413 and are never read.",
    )
    document_timeout_s: float = Field(
        default=30.0, description="Seconds of extraction per document before it fails (timeout)."
    )

    webhook_allowed_networks: list[str] = Field(
        default_factory=list,
        description="Addresses/CIDRs webhooks may reach despite the SSRF guard, e.g. "
        '["127.0.0.1/32"] for a local receiver (JSON list).',
    )
    webhook_allow_http: bool = Field(default=False, description="Allow http:// endpoints.")
    webhook_connect_timeout: float = Field(default=3.0, description="Seconds to connect.")
    webhook_timeout: float = Field(default=10.0, description="Seconds for a whole attempt.")
    webhook_disable_after_days: float = Field(
        default=5.0, description="An endpoint failing this long is disabled."
    )
    webhook_batch_size: int = Field(default=500, description="Messages per delivery batch.")
    webhook_concurrency: int = Field(
        default=50,
        description="Requests in flight per delivery task (at most "
        "webhook_endpoint_concurrency per endpoint).",
    )
    webhook_endpoint_concurrency: int = Field(
        default=4,
        ge=1,
        description="Requests in flight per endpoint per delivery task. More lets a distant "
        "receiver get more per second (one 50 ms away gets at most ~80/s at 4), and makes the "
        "order in which it sees them looser.",
    )
    webhook_ca_file: str | None = Field(
        default=None,
        description="PEM file of CA certificates trusted for webhook receivers besides the "
        "public ones (a private CA).",
    )

    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="json: one JSON object per line (timestamp, level, logger, message, and the "
        "task, job and tenant ids inside a task); text: Celery's and uvicorn's usual lines. "
        "`tickwork worker/beat/api/serve` default to json.",
    )
    metrics_port: int = Field(
        default=0,
        description="Port on which each worker serves the Prometheus metrics of all its pool "
        "processes, from an exporter process beside it (0: off). One port per worker.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address the worker metrics port binds (0.0.0.0: all)."
    )

    @model_validator(mode="after")
    def _check_time_limits(self) -> Settings:
        if not self.task_soft_time_limit < self.task_time_limit < self.visibility_timeout:
            raise ValueError(
                "need TICKWORK_TASK_SOFT_TIME_LIMIT < TICKWORK_TASK_TIME_LIMIT < "
                f"TICKWORK_VISIBILITY_TIMEOUT, got {self.task_soft_time_limit} / "
                f"{self.task_time_limit} / {self.visibility_timeout}"
            )
        if not 0 < 2 * self.job_heartbeat_seconds < self.job_silent_seconds:
            raise ValueError(
                "need 0 < 2 x TICKWORK_JOB_HEARTBEAT_SECONDS < TICKWORK_JOB_SILENT_SECONDS, got "
                f"{self.job_heartbeat_seconds} / {self.job_silent_seconds}"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tickwork.db').resolve()}"

    @property
    def resolved_redis_url(self) -> str | None:
        if self.redis_url:
            return self.redis_url
        if self.broker_url and self.broker_url.startswith(
            ("redis://", "rediss://", "redis+socket")
        ):
            return self.broker_url
        return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
