"""How a video's stage ended: a small, documented set of statuses and the errors behind them.

- `ok`: the stage produced its output.
- `empty`: the stage ran but found nothing (no speech, no on-screen text); `error` says what.
- `skipped`: the stage did not apply (upstream failed, no audio stream); `error` says why.
- `failed`: the stage could not process this video; `error` is the readable reason.
- `suspect`: the stage produced output that is probably wrong (e.g. invented English for speech in a
  language the model does not know); the rows are kept for inspection, `error` says why, and
  downstream stages use them as they would use no output.

Whether a failure is worth retrying is data too: every stage row has a `retryable` column (True only
on a `failed` row whose failure was passing: a timeout, HTTP 429/5xx, CUDA out of memory), so a re-run
knows what to redo without reading the error text. `failure_is_retryable` is its one reader.
"""

from __future__ import annotations

import pyarrow as pa

from wandr_pipeline.lib.redaction import redact_text

OK = "ok"
EMPTY = "empty"
SKIPPED = "skipped"
FAILED = "failed"
SUSPECT = "suspect"
STATUSES = (OK, EMPTY, SKIPPED, FAILED, SUSPECT)


class StageError(Exception):
    """A video-level failure with a readable reason; it never fails the batch."""

    transient = False
    kind: str | None = None  # a stable name of the failure, where a stage names them (`videos.error_kind`)


class PermanentError(StageError):
    """Retrying will not help (404, private video, corrupt file, over a limit)."""


class TransientError(StageError):
    """Worth retrying with backoff (timeouts, HTTP 429/5xx, connection resets)."""

    transient = True
    retry_after_s: float | None = None  # what the server's Retry-After header asked for, if it sent one


class NotApplicable(StageError):
    """The stage does not apply to this video (e.g. no audio stream): recorded as `skipped`."""


# The column that says whether a row's failure was passing (lib/schemas.py `status_row`).
RETRYABLE = "retryable"
# The column (of `videos`) that names a failed download's kind (`StageError.kind`).
ERROR_KIND = "error_kind"
# For people, errors of passing failures end with this (the downloader's "(transient; gave up after N
# tries)", or " (transient)" that `short_error` adds). Code reads the `retryable` column instead; the
# mark is parsed only for rows written before that column existed (`is_transient_error`).
TRANSIENT_MARK = "(transient"
# Exceptions from libraries that are passing by nature: GCS/Vision hiccups, CUDA out of memory.
_TRANSIENT_NAMES = {
    "ServiceUnavailable",
    "TooManyRequests",
    "InternalServerError",
    "GatewayTimeout",
    "BadGateway",
    "DeadlineExceeded",
    "RetryError",
    "OutOfMemoryError",
    "TransportError",
    "ReadTimeout",
    "ConnectTimeout",
}


def is_transient_exception(exc: BaseException) -> bool:
    """True for a failure a later try may not have: a `TransientError`, a connection fault or timeout,
    a cloud API's 429/5xx, CUDA out of memory."""
    if isinstance(exc, StageError):
        return exc.transient
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__):
        return True
    return "CUDA out of memory" in str(exc) or "CUDA error: out of memory" in str(exc)


def is_transient_error(error: str | None) -> bool:
    """The fallback for rows written before the `retryable` column: True when a recorded `error` ends
    with the transient mark. Read a partition with `failure_is_retryable`, which uses the column."""
    return bool(error) and TRANSIENT_MARK in error


def failure_is_retryable(table: pa.Table) -> bool:
    """True when a stage partition (its table) says its video failed for a passing reason, so a re-run
    may succeed: the video-level status is `failed` and the first row's `retryable` is True.

    Partitions written before the column existed (no column, or null) fall back to the error text's
    transient mark (`is_transient_error`).
    """
    status, error = upstream_status(table)
    if status != FAILED or table.num_rows == 0:
        return False
    if RETRYABLE in table.column_names:
        flag = table.column(RETRYABLE)[0].as_py()
        if flag is not None:
            return bool(flag)
    return is_transient_error(error)


def short_error(exc: BaseException, limit: int = 500) -> str:
    """A one-line, bounded description of `exc` for the `error` column (URLs and credentials redacted);
    a passing failure ends in `(transient)` for the reader (the `retryable` column says it for code)."""
    text = redact_text(" ".join(str(exc).split())) or type(exc).__name__
    if not isinstance(exc, StageError):
        text = f"{type(exc).__name__}: {text}"
    mark = " (transient)" if is_transient_exception(exc) and TRANSIENT_MARK not in text else ""
    if len(text) + len(mark) > limit:
        text = text[: limit - 1 - len(mark)] + "…"
    return text + mark


def upstream_status(table: pa.Table) -> tuple[str, str | None]:
    """The video-level status of an upstream partition (first row; all rows share it for non-ok)."""
    if table.num_rows == 0:
        return FAILED, "upstream produced no rows"
    statuses = table.column("status").to_pylist()
    errors = table.column("error").to_pylist()
    if OK in statuses:
        return OK, None
    return statuses[0], errors[0]
