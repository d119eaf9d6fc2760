"""What the CLI prints at the end of a run."""

from wandr_pipeline.cli.runner import FAILURES_LISTED_MAX, PipelineOutcome
from wandr_pipeline.cli.summary import print_summary


def test_a_long_list_gets_counts_and_the_first_failures_not_a_line_per_video(capsys):
    keys = [f"url-{i:04x}" for i in range(200)]
    outcome = PipelineOutcome(keys=keys, finished=keys[:20], failed=keys[20:], already_done=[])
    outcome.failures = [
        (key, "failed for good: HTTP Error 404: Not Found") for key in keys[20 : 20 + FAILURES_LISTED_MAX]
    ]
    print_summary(outcome)
    out = capsys.readouterr().out
    assert len(out.splitlines()) < FAILURES_LISTED_MAX + 15
    assert "finished now" in out and "180" in out
    assert f"... and {180 - FAILURES_LISTED_MAX} more; all in the videos table" in out
    assert "20/200 video(s) finished" in out
