"""When to retry a request and how long to wait first (pure functions, shared by both clients)."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` retries after the first attempt, on 408/429/5xx answers and on connection
    errors. The wait is the answer's ``Retry-After`` when it has one, else exponential backoff
    with full jitter: a random time up to ``backoff_base * 2**retry``, at most ``backoff_max``. A
    ``Retry-After`` longer than ``max_retry_after`` is not waited for: the error is raised then,
    with its ``retry_after``, for the caller to decide."""

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 120.0

    def should_retry_status(self, status_code: int, retries_done: int) -> bool:
        return retries_done < self.max_retries and (
            status_code in RETRY_STATUSES or status_code >= 500
        )

    def should_retry_error(self, retries_done: int) -> bool:
        return retries_done < self.max_retries

    def wait(
        self, retries_done: int, retry_after: str | None = None, *, rng: random.Random | None = None
    ) -> float | None:
        """Seconds to wait before retry number ``retries_done + 1``; None when the server asked
        for longer than ``max_retry_after`` (do not retry)."""
        asked = parse_retry_after(retry_after)
        if asked is not None:
            return asked if asked <= self.max_retry_after else None
        ceiling = min(self.backoff_max, self.backoff_base * 2**retries_done)
        return (rng or random).uniform(0, ceiling)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        parsed = None
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if parsed is None or parsed.tzinfo is None:
            return None
        seconds = parsed.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)
