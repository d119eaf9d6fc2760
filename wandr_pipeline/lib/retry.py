"""Retry transient failures with exponential backoff and full jitter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from wandr_pipeline.lib.outcomes import TransientError

T = TypeVar("T")


def call_with_retries(
    fn: Callable[[], T],
    *,
    attempts: int = 3,
    base_delay_s: float = 1.0,
    max_delay_s: float = 30.0,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `fn`; on `TransientError` wait and try again, up to `attempts` calls in all.

    The last `TransientError` is re-raised when attempts run out; other exceptions pass at once.
    """
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except TransientError as exc:
            if attempt >= attempts:
                raise
            delay = random.uniform(0, min(max_delay_s, base_delay_s * 2 ** (attempt - 1)))
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)
    raise AssertionError("unreachable")
