"""Trying a remote call again: wait what the server asks for, back off when it stumbles.

Two kinds of failure may pass, and each has its own budget:

- *throttling* (HTTP 429, or 503 with ``Retry-After``): the server says how long to
  wait, and we wait exactly that long, as Microsoft's throttling guidance asks
  ("wait the number of seconds specified in the Retry-After header", then retry;
  without the header, back off exponentially). A wait longer than
  ``RetryPolicy.retry_after_max`` is not spent inside a call: the caller gives up
  at once and reports how long the server wants, so the cycle resumes from its
  checkpoint later instead of holding a worker asleep.
- *transient* failures (5xx, timeouts, connection resets): exponential backoff with
  jitter, so that many clients failing together do not come back together.

The protocol code raises :class:`Retry` from an attempt; :func:`call` either
succeeds or raises :class:`GaveUp` with the last failure, which the connector turns
into its own ``Throttled`` / ``Unavailable`` error.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one call tries before it reports failure."""

    attempts: int = 5
    """Tries in all when failures are transient (5xx, timeouts, resets)."""
    backoff_initial: float = 0.5
    """Seconds before the first retry of a transient failure; doubles each time."""
    backoff_max: float = 30.0
    """Longest wait between two tries of a transient failure."""
    throttle_retries: int = 6
    """Retries when throttled (429 / 503 with Retry-After) before reporting ``Throttled``."""
    retry_after_max: float = 300.0
    """Longest Retry-After honoured inside one call; a longer one is reported at once."""

    def backoff(self, failures: int) -> float:
        """The wait after the n-th consecutive failure: exponential, with "equal jitter"."""
        ceiling = min(self.backoff_max, self.backoff_initial * 2.0 ** max(failures - 1, 0))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class Retry(Exception):
    """An attempt failed in a way that may pass; ``reason`` says how, for the final report."""

    def __init__(self, reason: str, *, throttled: bool = False, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.throttled = throttled
        self.retry_after = retry_after


class GaveUp(Exception):
    """The policy's budget is spent (or the server asked for a longer wait than it allows)."""

    def __init__(self, last: Retry, attempts: int, retry_after: float) -> None:
        super().__init__(last.reason)
        self.last = last
        self.attempts = attempts
        self.retry_after = retry_after
        """How long the server (or our backoff) wants before the next try, in seconds."""


OnRetry = Callable[[Retry, float, int], None]


def call(
    attempt: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: OnRetry | None = None,
) -> T:
    """Run ``attempt`` until it returns, retrying on :class:`Retry` within ``policy``."""
    transient = throttled = 0
    while True:
        try:
            return attempt()
        except Retry as failure:
            if failure.throttled:
                throttled += 1
                delay = failure.retry_after
                if delay is None:
                    delay = policy.backoff(throttled)
                spent = throttled > policy.throttle_retries or delay > policy.retry_after_max
            else:
                transient += 1
                # A transient failure may still come with a minimum wait (Retry-After on
                # a 5xx, or a client library's own throttling window).
                delay = max(policy.backoff(transient), failure.retry_after or 0.0)
                spent = transient >= policy.attempts or delay > policy.retry_after_max
            if spent:
                raise GaveUp(failure, transient + throttled, delay) from failure
            if on_retry is not None:
                on_retry(failure, delay, transient + throttled)
            sleep(delay)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until(text, now)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _seconds_until(http_date: str, now: datetime | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
