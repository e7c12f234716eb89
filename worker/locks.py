"""Redis locks for scheduled jobs: SET NX PX with a token, released only by its owner."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache

import redis

from worker.broker import broker_url
from worker.settings import get_settings

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def redis_url() -> str:
    """The Redis that holds locks and rate limits: TICKWORK_REDIS_URL, or a Redis broker."""
    settings = get_settings()
    url = settings.resolved_redis_url
    if url is None:
        url = broker_url(settings)
        if not url.startswith("redis"):
            raise RuntimeError(
                "TICKWORK_REDIS_URL is required when the broker is not Redis "
                "(rate limits and locks live in Redis)"
            )
    return url


# The wall clock that decides which period a scheduled job's run belongs to. A module attribute
# so a test can hold it still across processes (tests/fault/frozen_clock.py) instead of hoping
# that no period boundary falls inside the test.
clock: Callable[[], float] = time.time


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(redis_url(), socket_timeout=5, socket_connect_timeout=2)


@contextmanager
def beat_lock(name: str, *, ttl_seconds: int, client: redis.Redis | None = None) -> Iterator[bool]:
    """Yield True if this process holds ``name`` for up to ``ttl_seconds``, else False."""
    client = client or redis_client()
    key = f"tickwork:lock:{name}"
    token = secrets.token_hex(16)
    held = bool(client.set(key, token, nx=True, px=ttl_seconds * 1000))
    try:
        yield held
    finally:
        if held:
            client.eval(_RELEASE, 1, key, token)


@contextmanager
def once_per_period(
    name: str, *, seconds: int, client: redis.Redis | None = None, now: float | None = None
) -> Iterator[bool]:
    """Yield True for the first caller in each ``seconds``-long period, False for the rest.

    The key is never released early: a second beat (or a redelivered message) in the same period
    finds it taken. It expires with the period.
    """
    client = client or redis_client()
    bucket = int((clock() if now is None else now) // seconds)
    key = f"tickwork:once:{name}:{bucket}"
    yield bool(client.set(key, "1", nx=True, ex=seconds + 60))
