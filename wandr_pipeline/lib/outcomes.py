"""How a video's stage ended: a small, documented set of statuses and the errors behind them.

- `ok`: the stage produced its output.
- `empty`: the stage ran but found nothing (no speech, no on-screen text); `error` says what.
- `skipped`: the stage did not apply (upstream failed, no audio stream); `error` says why.
- `failed`: the stage could not process this video; `error` is the readable reason.
- `suspect`: the stage produced output that is probably wrong (e.g. invented English for speech in a
  language the model does not know); the rows are kept for inspection, `error` says why, and
  downstream stages use them as they would use no output.
"""

from __future__ import annotations

import pyarrow as pa

OK = "ok"
EMPTY = "empty"
SKIPPED = "skipped"
FAILED = "failed"
SUSPECT = "suspect"
STATUSES = (OK, EMPTY, SKIPPED, FAILED, SUSPECT)


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


def upstream_status(table: pa.Table) -> tuple[str, str | None]:
    """The video-level status of an upstream partition (first row; all rows share it for non-ok)."""
    if table.num_rows == 0:
        return FAILED, "upstream produced no rows"
    statuses = table.column("status").to_pylist()
    errors = table.column("error").to_pylist()
    if OK in statuses:
        return OK, None
    return statuses[0], errors[0]
