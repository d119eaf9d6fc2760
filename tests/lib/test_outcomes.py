"""Recorded outcomes say whether their failure was passing (the `retryable` column; the error text for
people and for rows written before the column), so a re-run knows what to redo."""

import pyarrow as pa
import pytest

from wandr_pipeline.lib.outcomes import (
    FAILED,
    OK,
    RETRYABLE,
    SKIPPED,
    PermanentError,
    TransientError,
    failure_is_retryable,
    is_transient_error,
    is_transient_exception,
    short_error,
)
from wandr_pipeline.lib.schemas import AUDIO, status_row, to_table


class ServiceUnavailable(Exception):  # the name google.api_core gives a 503
    pass


class OutOfMemoryError(RuntimeError):  # torch.cuda.OutOfMemoryError's name
    pass


@pytest.mark.parametrize(
    "exc",
    [
        TransientError("HTTP Error 503"),
        ServiceUnavailable("503 The service is currently unavailable"),
        OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB"),
        RuntimeError("CUDA error: out of memory"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError("timed out"),
    ],
)
def test_passing_failures_are_marked_transient(exc):
    assert is_transient_exception(exc)
    text = short_error(exc)
    assert is_transient_error(text) and text.count("(transient") == 1


@pytest.mark.parametrize("exc", [PermanentError("HTTP Error 404"), ValueError("bad frame"), KeyError("x")])
def test_permanent_failures_are_not(exc):
    assert not is_transient_exception(exc) and not is_transient_error(short_error(exc))


def test_the_mark_survives_truncation_and_is_not_doubled():
    text = short_error(TransientError("x" * 2000), limit=100)
    assert len(text) == 100 and text.endswith("(transient)")
    assert short_error(TransientError("gave up (transient; gave up after 3 tries)")).count("transient") == 1


def _partition(rows: list[dict]) -> pa.Table:
    return to_table(AUDIO, rows)


def test_a_partition_says_whether_its_failure_is_retryable_in_its_column():
    passing = _partition([status_row(AUDIO, FAILED, "OSError: GCS 503", retryable=True)])
    final = _partition([status_row(AUDIO, FAILED, "corrupt file (transient)", retryable=False)])
    assert failure_is_retryable(passing)
    assert not failure_is_retryable(final)  # the column decides, not the words of the error


def test_only_failed_rows_are_retryable():
    assert status_row(AUDIO, SKIPPED, "raw_video failed", retryable=True)["retryable"] is False
    assert status_row(AUDIO, OK, None)["retryable"] is False
    assert not failure_is_retryable(_partition([{"status": OK, "retryable": True}]))


def test_rows_written_before_the_column_fall_back_to_the_error_text():
    old_schema = pa.schema([field for field in AUDIO if field.name != RETRYABLE])
    assert failure_is_retryable(pa.Table.from_pylist([{"status": FAILED, "error": "503 (transient)"}], old_schema))
    assert not failure_is_retryable(pa.Table.from_pylist([{"status": FAILED, "error": "HTTP 404"}], old_schema))
    nulls = _partition([{"status": FAILED, "error": "GCS 503 (transient)", "retryable": None}])
    assert failure_is_retryable(nulls)
