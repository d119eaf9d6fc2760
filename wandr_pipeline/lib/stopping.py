"""A process-wide request to stop, for the threads that cannot be stopped from outside.

A `wandr-pipeline run` told to stop (SIGTERM from docker or Kubernetes, Ctrl-C) has work going on in
threads: a stage's worker (lib/pipelining.py) in the middle of a yt-dlp download, a backoff sleep
between download tries. Python cannot kill a thread, so each of them checks this one request at its
own safe points (the download's progress hook, the retry sleep, the pipelining loop) and unwinds
with `StopRequested`; callbacks registered with `on_stop` run at once (the download budget shuts the
connections of a download that is waiting for bytes that never come).

`StopRequested` is a `BaseException`, like `KeyboardInterrupt`: the `except Exception` that records a
video's failure must not catch it, or the interrupted video would be recorded as failed for good.
No Dagster here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_lock = threading.Lock()
_requested = threading.Event()
_reason: str | None = None
_callbacks: dict[int, Callable[[], None]] = {}
_next_id = 0


class StopRequested(BaseException):
    """Raised in a worker thread at a safe point once the process was asked to stop."""


def request_stop(reason: str) -> bool:
    """Ask every thread of this process to stop; True for the first request (later ones do nothing)."""
    global _reason
    with _lock:
        if _requested.is_set():
            return False
        _reason = reason
        _requested.set()
        callbacks = list(_callbacks.values())
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001, S110 - one callback's fault must not keep the others from running
            pass
    return True


def stop_requested() -> bool:
    return _requested.is_set()


def stop_reason() -> str | None:
    return _reason


def raise_if_stopping() -> None:
    if _requested.is_set():
        raise StopRequested(_reason or "stop requested")


def sleep(seconds: float) -> None:
    """`time.sleep`, cut short by a stop request (then `StopRequested`)."""
    if _requested.wait(max(0.0, seconds)):
        raise_if_stopping()


def on_stop(callback: Callable[[], None]) -> Callable[[], None]:
    """Run `callback` when a stop is requested (at once if it was already); returns its unregistering."""
    global _next_id
    with _lock:
        _next_id += 1
        handle = _next_id
        _callbacks[handle] = callback
        already = _requested.is_set()
    if already:
        callback()
    return lambda: _callbacks.pop(handle, None)


def clear_stop() -> None:
    """Forget a stop request (tests, and a long-lived process that handled one)."""
    global _reason
    with _lock:
        _requested.clear()
        _reason = None
