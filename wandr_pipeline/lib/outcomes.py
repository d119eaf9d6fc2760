"""How a video's stage ended: a small, documented set of statuses and the errors behind them.

- `ok`: the stage produced its output.
- `empty`: the stage ran but found nothing (no speech, no on-screen text); `error` says what.
- `skipped`: the stage did not apply (upstream failed, no audio stream); `error` says why.
- `failed`: the stage could not process this video; `error` is the readable reason.
"""

from __future__ import annotations

OK = "ok"
EMPTY = "empty"
SKIPPED = "skipped"
FAILED = "failed"


class StageError(Exception):
    """A video-level failure with a readable reason; it never fails the batch."""

    transient = False


class PermanentError(StageError):
    """Retrying will not help (404, private video, corrupt file, over a limit)."""


class TransientError(StageError):
    """Worth retrying with backoff (timeouts, HTTP 429/5xx, connection resets)."""

    transient = True


class NotApplicable(StageError):
    """The stage does not apply to this video (e.g. no audio stream): recorded as `skipped`."""


def short_error(exc: BaseException, limit: int = 500) -> str:
    """A one-line, bounded description of `exc` for the `error` column."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if not isinstance(exc, StageError):
        text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 1] + "…"
