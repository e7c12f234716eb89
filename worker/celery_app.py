"""The Celery application: queues, reliability settings and routing.

Settings follow the project's Celery reliability notes: late acks plus requeue-on-worker-loss for
every state-changing task (all of ours are idempotent), soft < hard time limit < visibility
timeout (checked when settings load), prefetch of one, bounded retries with backoff and jitter,
and no result backend: job state lives in the database, where the API reads it.
"""

from __future__ import annotations

import redis
from celery import Celery
from kombu import Exchange, Queue
from kombu.transport import redis as kombu_redis

from schedules.beat import BEAT_SCHEDULE
from worker.broker import broker_url, is_amqp
from worker.kinds import QUEUES, route_for
from worker.settings import Settings, get_settings


def _route(
    name: str, args: object, kwargs: object, options: object, task: object = None, **kw: object
) -> dict[str, str]:
    return {"queue": route_for(name)}


class RedisChannel(kombu_redis.Channel):
    """kombu's Redis channel, failing like a lost connection once its connection is closed.

    When the broker connection drops, the worker closes the connection, which detaches the
    transport from it (``transport.client = None``), and reconnects with a new one. A task that
    was running then still holds its message on the old channel, and when it ends, its ack (or
    reject) asks that channel for a fresh connection pool. kombu builds one from
    ``transport.client`` and raises ``AttributeError`` on ``None``; that is no connection error,
    so it escapes the worker's "couldn't ack" handling and the worker's main process exits
    ("Unrecoverable error"). Raised as a connection error instead, the ack is logged as failed
    and the worker carries on with its new connection: the message was either lost with the
    broker's memory (``jobs.requeue_stale`` re-sends its job) or comes back after the visibility
    timeout, and a finished job is not run twice.
    """

    def _connparams(self, asynchronous: bool = False) -> dict[str, object]:
        if self.connection.client is None:
            raise redis.ConnectionError("the broker connection of this channel was closed")
        return super()._connparams(asynchronous=asynchronous)


class RedisTransport(kombu_redis.Transport):
    Channel = RedisChannel


def use_redis_transport() -> None:
    """Make ``redis://`` and ``rediss://`` broker URLs use ``RedisTransport`` in this process
    (kombu picks a transport class by the URL's scheme; other schemes are left alone, so a
    RabbitMQ broker is unaffected even when Redis holds the locks)."""
    from kombu import transport as kombu_transport

    for scheme in ("redis", "rediss"):
        kombu_transport.TRANSPORT_ALIASES[scheme] = f"{__name__}:RedisTransport"
        kombu_transport._transport_cache.pop(scheme, None)  # resolved again, to ours


def transport_options(settings: Settings) -> dict[str, object]:
    """Broker transport options, which differ per broker.

    Redis: the visibility timeout (an unacknowledged message is redelivered after it) and a
    redelivery sweep well under it. RabbitMQ has no visibility timeout: it redelivers an
    unacknowledged message when its consumer's connection closes, or when the server's own
    ``consumer_timeout`` (rabbitmq.conf, 30 min by default) expires; that must exceed the hard
    time limit plus the longest retry backoff (docs/operations.md, "On RabbitMQ"). Publisher
    confirms make a publish return only once RabbitMQ has taken the (persistent) message, so a
    job is marked enqueued only when its message is really in the durable queue.
    """
    if is_amqp(settings.broker_url):
        return {"confirm_publish": True}
    return {
        "visibility_timeout": settings.visibility_timeout,
        # Redis redelivery sweep: by default ~every 100 s; keep it well under the timeout.
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 3,
    }


def make_app(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    use_redis_transport()
    transport = transport_options(settings)
    app = Celery(
        "tickwork",
        include=[
            "worker.tasks.ingest",
            "worker.tasks.jobs",
            "worker.tasks.analysis",
            "worker.tasks.webhooks",
            "worker.tasks.documents",
            "worker.tasks.reports",
            "worker.tasks.points",
        ],
    )

    # A promise, resolved when the configuration is first used rather than at import: the
    # embedded broker is only started by a process that actually talks to it.
    app.add_defaults(lambda: {"broker_url": broker_url(settings)})

    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        visibility_timeout=settings.visibility_timeout,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_max_tasks_per_child=500,
        worker_max_memory_per_child=2_000_000,  # KiB: recycle a child that grew past ~2 GB
        # Durable queues and exchanges (persistent messages are Celery's default): on RabbitMQ
        # a queued job survives a broker restart.
        task_queues=[
            Queue(q, Exchange(q, type="direct", durable=True), routing_key=q, durable=True)
            for q in QUEUES
        ],
        task_default_queue="analysis",
        task_routes=(_route,),
        task_create_missing_queues=False,
        worker_hijack_root_logger=False,
        beat_schedule=BEAT_SCHEDULE,
        timezone="UTC",
        enable_utc=True,
    )
    return app


app = make_app()

# Celery signal receivers: log format and task context, worker metrics (docs/operations.md).
from worker.observability import logs, metrics  # noqa: E402, F401
