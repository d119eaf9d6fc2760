"""Retry transient failures with exponential backoff and full jitter, within an optional deadline.

A server's `Retry-After` (on the `TransientError`) is honoured: the wait is at least that long, and
when a wait would end past the deadline the error is final at once, as `RetryPastDeadline`."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from wandr_pipeline.lib import stopping
from wandr_pipeline.lib.outcomes import TransientError

T = TypeVar("T")


class RetryPastDeadline(TransientError):
    """The next try would start after the deadline (the server asked to wait that long, or tries took it)."""


def call_with_retries(
    fn: Callable[[], T],
    *,
    attempts: int = 3,
    base_delay_s: float = 1.0,
    max_delay_s: float = 30.0,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], None] = stopping.sleep,  # cut short (StopRequested) when the process stops
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call `fn`; on `TransientError` wait and try again, up to `attempts` calls in all.

    The last `TransientError` is re-raised when attempts run out; other exceptions pass at once.
    `deadline` (on `clock`): no try starts after it; a wait that would end past it is not made.
    """
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except TransientError as exc:
            if attempt >= attempts:
                raise
            delay = random.uniform(0, min(max_delay_s, base_delay_s * 2 ** (attempt - 1)))
            asked = exc.retry_after_s
            if asked is not None:
                delay = max(delay, asked)
            if deadline is not None and clock() + delay >= deadline:
                said = f"; the server asked to retry after {asked:g} s" if asked is not None and delay == asked else ""
                raise RetryPastDeadline(f"{exc}{said}") from exc
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)
    raise AssertionError("unreachable")
