import pytest

from wandr_pipeline.lib.outcomes import PermanentError, TransientError
from wandr_pipeline.lib.retry import call_with_retries


def test_retries_transient_then_succeeds_and_gives_up_on_permanent():
    calls, delays = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("HTTP Error 503")
        return "ok"

    assert call_with_retries(flaky, attempts=3, base_delay_s=0.5, sleep=delays.append) == "ok"
    assert len(calls) == 3 and len(delays) == 2 and all(0 <= d <= 1.0 for d in delays)

    def permanent():
        calls.append(1)
        raise PermanentError("HTTP Error 404")

    calls.clear()
    with pytest.raises(PermanentError):
        call_with_retries(permanent, attempts=5, sleep=delays.append)
    assert len(calls) == 1

    def always_transient():
        calls.append(1)
        raise TransientError("timed out")

    calls.clear()
    with pytest.raises(TransientError):
        call_with_retries(always_transient, attempts=2, sleep=lambda s: None)
    assert len(calls) == 2


def test_retry_after_sets_the_wait_and_a_wait_past_the_deadline_is_not_made():
    from wandr_pipeline.lib.retry import RetryPastDeadline

    now = [0.0]
    delays = []

    def sleep(seconds):
        delays.append(seconds)
        now[0] += seconds

    def throttled(after):
        def fn():
            exc = TransientError("HTTP Error 429: Too Many Requests")
            exc.retry_after_s = after
            raise exc

        return fn

    with pytest.raises(TransientError):
        call_with_retries(throttled(5.0), attempts=2, base_delay_s=0.1, sleep=sleep, clock=lambda: now[0], deadline=60)
    assert delays == [5.0]  # the server's 5 s, not the 0.1 s backoff
    delays.clear()
    with pytest.raises(RetryPastDeadline, match="asked to retry after 3600 s"):
        call_with_retries(throttled(3600), attempts=5, sleep=sleep, clock=lambda: now[0], deadline=now[0] + 60)
    assert delays == []
