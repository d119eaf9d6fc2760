"""A stage's run turns each video's exception into its outcome row: passing failures are `retryable`."""

from __future__ import annotations

import pytest

from wandr_pipeline.defs.videos.stage import StageRun
from wandr_pipeline.lib.outcomes import FAILED, OK, SKIPPED, NotApplicable, PermanentError, TransientError


class ServiceUnavailable(Exception):  # the name google.api_core gives a 503
    pass


def _raise(exc: BaseException):
    def work():
        raise exc

    return work


@pytest.mark.parametrize(
    "exc, status, retryable",
    [
        (TransientError("HTTP Error 429 (transient; gave up after 3 tries)"), FAILED, True),
        (ServiceUnavailable("503"), FAILED, True),
        (TimeoutError("timed out"), FAILED, True),
        (PermanentError("HTTP Error 404"), FAILED, False),
        (ValueError("bad frame"), FAILED, False),
        (NotApplicable("no audio stream"), SKIPPED, False),
    ],
)
def test_run_one_records_whether_a_failure_is_worth_retrying(exc, status, retryable):
    run = StageRun(None, "audio", keys=["v"], store=None, log=None)
    run.run_one("v", _raise(exc))
    [row] = run.tables["v"].to_pylist()
    assert (row["status"], row["retryable"]) == (status, retryable)
    assert run.outcomes.outcome("v").retryable is retryable


def test_an_ok_video_is_not_retryable_and_a_stage_error_keeps_its_cause():
    run = StageRun(None, "audio", keys=["ok", "crashed"], store=None, log=None)
    run.run_one("ok", lambda: [{"audio_uri": "x.wav", "status": OK}])
    run.record_failure("crashed", RuntimeError("CUDA out of memory"), prefix="stage error: ")
    assert run.tables["ok"].column("retryable").to_pylist() == [False]
    crashed = run.outcomes.outcome("crashed")
    assert crashed.retryable and crashed.error.startswith("stage error: RuntimeError: CUDA out of memory")
