"""Recorded errors say whether their failure was passing, so a re-run knows what to redo."""

import pytest

from wandr_pipeline.lib.outcomes import (
    PermanentError,
    TransientError,
    is_transient_error,
    is_transient_exception,
    short_error,
)


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
