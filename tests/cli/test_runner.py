"""`wandr-pipeline run` on the shared planner (lib/planner.py): what a re-run redoes, what it leaves.

A download that failed for a passing reason (HTTP 5xx) is tried again by the next run; one that failed
for good (404) is not, unless `--reprocess`; videos another process or run holds are left to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

from tests.support.fault_server import FaultServer
from tests.support.paths import REPO, SAMPLES
from wandr_pipeline.cli.runner import run_url_list
from wandr_pipeline.cli.summary import print_summary
from wandr_pipeline.lib.planner import FAILED_FOR_GOOD, FINISHED, RETRYABLE, assess_videos
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.tags import PARTITION_TAG
from wandr_pipeline.lib.urls import parse_video_url
from wandr_pipeline.lib.video_locks import VideoLocks
from wandr_pipeline.settings import Settings


@pytest.fixture()
def fault_server(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "clip.mp4").write_bytes((SAMPLES / "kyoto_temples.mp4").read_bytes())
    server = FaultServer(clips)
    yield server
    server.close()


@pytest.mark.slow
def test_a_plain_rerun_retries_a_passing_failure_and_not_a_404(tmp_path, fault_server, capsys):
    """Run 1: a 503-like failure (HTTP 500 once) and a 404. Run 2: the first is downloaded and processed,
    the 404 is not asked for again. Run 3 with --reprocess asks for the 404 again."""
    listing = tmp_path / "list.txt"
    flaky, gone = fault_server.url("flaky/1/clip.mp4"), fault_server.url("media/gone.mp4")
    listing.write_text(f"{flaky}\n{gone}\n")
    flaky_key, gone_key = (parse_video_url(url).video_key for url in (flaky, gone))
    settings = Settings.from_env(storage_uri=str(tmp_path / "root"), download_attempts=1, download_backoff_s=0.1)
    storage = Storage(settings.storage_uri)
    instance = DagsterInstance.ephemeral()

    first = run_url_list(listing, settings, instance)
    verdicts = assess_videos(storage, [flaky_key, gone_key])
    assert (verdicts[flaky_key].state, verdicts[gone_key].state) == (RETRYABLE, FAILED_FOR_GOOD), verdicts
    assert sorted(first.failed) == sorted([flaky_key, gone_key])
    gone_hits = fault_server.hits["/media/gone.mp4"]

    second = run_url_list(listing, settings, instance)
    assert [run.keys for run in second.runs] == [[flaky_key]]
    assert second.failed_before == [gone_key] and second.finished == [flaky_key]
    assert fault_server.hits["/media/gone.mp4"] == gone_hits  # not asked for again
    assert assess_videos(storage, [flaky_key])[flaky_key].state == FINISHED
    print_summary(second)
    out = capsys.readouterr().out
    assert "1 of them had failed for good in an earlier run" in out and "1/2 video(s) processed" in out

    third = run_url_list(listing, settings, instance, reprocess=True)
    assert [run.keys for run in third.runs] == [[flaky_key, gone_key]]
    assert fault_server.hits["/media/gone.mp4"] > gone_hits


# -- one writer per video -------------------------------------------------------------------------

HOLD = """
import sys, time
from wandr_pipeline.lib.video_locks import VideoLocks
locks = VideoLocks(sys.argv[1])
print(locks.acquire(sys.argv[2:]), flush=True)
time.sleep(60)
"""


def _holder(root: str, *keys: str):
    """Another process holding the locks of `keys` (killed by the caller)."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, root, *keys],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert child.stdout.readline().startswith("([")  # it holds them now
    return child


def test_a_video_locked_by_another_process_is_not_taken_until_that_process_is_gone(tmp_path):
    child = _holder(str(tmp_path), "url-aaaa")
    try:
        locks = VideoLocks(str(tmp_path))
        assert locks.acquire(["url-aaaa", "url-bbbb"]) == (["url-bbbb"], ["url-aaaa"])
        assert locks.acquire(["url-bbbb"]) == (["url-bbbb"], [])  # this process holds it: nested use
    finally:
        child.kill()
        child.wait()
    assert locks.acquire(["url-aaaa"]) == (["url-aaaa"], [])  # the kernel released the dead process's lock
    locks.release()
    assert (tmp_path / ".locks" / "url-aaaa.lock").exists()  # hidden in the storage root


def test_the_cli_leaves_videos_another_run_holds_to_it(tmp_path, capsys):
    """A second `wandr-pipeline run` over the same videos: the one another process has locked and the one
    a STARTED run of the instance covers are not processed (nothing downloaded, no run), and say why."""
    clips = [SAMPLES / "kyoto_temples.mp4", SAMPLES / "lisbon_pasteis.mp4"]
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{clip}\n" for clip in clips))
    keys = [parse_video_url(str(clip)).video_key for clip in clips]
    settings = Settings.from_env(storage_uri=str(tmp_path / "root"), local_input_roots=(), allow_local_files=True)
    instance = DagsterInstance.ephemeral()
    instance.add_run(
        DagsterRun(
            job_name="process_videos",
            run_id=str(uuid.uuid4()),
            status=DagsterRunStatus.STARTED,
            tags={PARTITION_TAG: keys[1]},
        )
    )
    child = _holder(settings.storage_uri, keys[0])
    try:
        outcome = run_url_list(listing, settings, instance)
    finally:
        child.kill()
        child.wait()
    assert outcome.busy == keys and outcome.runs == []
    assert not (tmp_path / "root" / "warehouse").exists()  # nothing written for either
    print_summary(outcome)
    assert capsys.readouterr().out.count("(being processed by another run: left to it)") == 2
