"""Per-key fixed-window rate limits in Redis: per minute, hour and day."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import redis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int  # of the window reported in the headers (the tightest one)
    remaining: int
    reset: int  # Unix time when that window resets
    retry_after: int  # seconds, when not allowed


def check(
    client: redis.Redis, key_id: str, limits: dict[int, int], now: float | None = None
) -> Verdict | None:
    """Count one request of ``key_id`` against each ``{window_seconds: limit}``.

    Returns None when Redis cannot be reached: the API then serves without limits rather than
    refusing every request (logged as a warning).
    """
    now = time.time() if now is None else now
    windows = sorted(limits.items())
    try:
        pipe = client.pipeline(transaction=False)
        for seconds, _ in windows:
            bucket = int(now // seconds)
            name = f"tickwork:rl:{key_id}:{seconds}:{bucket}"
            pipe.incr(name)
            # Each window has its own key, so refreshing the expiry on every request is harmless;
            # EXPIRE ... NX would need Redis 7, newer than the embedded server.
            pipe.expire(name, seconds + 5)
        counts = pipe.execute()[::2]
    except redis.RedisError as exc:
        log.warning("rate limiting skipped, Redis unavailable: %s", exc)
        return None
    verdicts = []
    for (seconds, limit), used in zip(windows, counts, strict=True):
        reset = (int(now // seconds) + 1) * seconds
        verdicts.append(
            Verdict(
                allowed=used <= limit,
                limit=limit,
                remaining=max(0, limit - used),
                reset=reset,
                # Rounded up: a client that waits exactly this long is in the next window.
                retry_after=max(1, math.ceil(reset - now)),
            )
        )
    blocked = [v for v in verdicts if not v.allowed]
    if blocked:
        return max(blocked, key=lambda v: v.retry_after)
    return min(verdicts, key=lambda v: v.remaining)


def headers(verdict: Verdict) -> dict[str, str]:
    out = {
        "X-RateLimit-Limit": str(verdict.limit),
        "X-RateLimit-Remaining": str(verdict.remaining),
        "X-RateLimit-Reset": str(verdict.reset),
    }
    if not verdict.allowed:
        out["Retry-After"] = str(verdict.retry_after)
    return out
