"""What the CLI prints at the end of a run."""

import subprocess

from tests.lib.test_lake import write_video
from wandr_pipeline.cli.runner import FAILURES_LISTED_MAX, PipelineOutcome
from wandr_pipeline.cli.summary import print_next_steps, print_summary
from wandr_pipeline.lib.lake import Lake
from wandr_pipeline.lib.storage import Storage


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


def test_a_run_ends_with_where_the_tables_and_the_lake_are_and_a_query_that_works(tmp_path, capsys, monkeypatch):
    storage = Storage(tmp_path / "root")
    write_video(storage, "tiktok-1", segments=1)
    Lake(storage).sync(["tiktok-1"])
    monkeypatch.chdir(tmp_path)
    print_next_steps("root", lake_synced=True, dagster_home="/somewhere/dagster_home")
    lines = capsys.readouterr().out.splitlines()
    assert f"{tmp_path}/root/warehouse/" in lines[0] and lines[1].endswith(f"{tmp_path}/root/lake/")
    assert lines[3].startswith("  DAGSTER_HOME=/somewhere/dagster_home make dev") and "127.0.0.1:3000" in lines[3]
    assert "'\"'\"'" not in lines[4]  # one pair of quotes, no shell escapes
    # the printed query runs as printed, from anywhere, and shows the video
    query = subprocess.run(lines[4].strip(), shell=True, capture_output=True, text=True, cwd="/", timeout=120)
    assert query.returncode == 0, query.stderr[-2000:]
    assert "tiktok-1" in query.stdout and "g0 tacos" in query.stdout
