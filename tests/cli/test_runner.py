"""What a plain re-run redoes: the stage that failed for a passing reason and what depends on it."""

from __future__ import annotations

import pyarrow as pa

from wandr_pipeline.cli.runner import downstream_of, transient_failures
from wandr_pipeline.lib.stages import STAGES
from wandr_pipeline.lib.storage import Storage


def _write(storage: Storage, table: str, key: str, status: str, error: str | None = None) -> None:
    schema = next(stage.schema for stage in STAGES if stage.table == table)
    row = {field.name: None if field.nullable else _blank(field.type) for field in schema}
    row.update(video_key=key, status=status, error=error)
    storage.write_partition(table, key, pa.Table.from_pylist([row], schema=schema))


def _blank(kind: pa.DataType):
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return ""
    if pa.types.is_list(kind):
        return []
    if pa.types.is_boolean(kind):
        return False
    if pa.types.is_timestamp(kind):
        return None
    return 0


def test_downstream_of_follows_the_graph():
    # transcript reads caption_spans, which reads ocr_text: an OCR redo redoes the transcript too.
    assert set(downstream_of("ocr_text")) == {"ocr_text", "caption_spans", "transcript", "video_documents"}
    assert set(downstream_of("transcript")) == {"transcript", "video_documents"}
    assert downstream_of("video_documents") == ["video_documents"]
    assert "raw_video" not in downstream_of("audio")


def test_only_passing_failures_after_the_download_are_redone(tmp_path):
    storage = Storage(str(tmp_path))
    for key in ("vision-503", "ocr-404", "all-ok", "skipped-after-503"):
        for stage in STAGES:
            _write(storage, stage.table, key, "ok")
    _write(storage, "ocr_text", "vision-503", "failed", "Vision request failed: ServiceUnavailable: 503 (transient)")
    _write(storage, "ocr_text", "ocr-404", "failed", "Vision request failed: NotFound: 404")
    # Only a stage's own failure counts: a skip that quotes an upstream passing failure is not the stage to redo.
    _write(storage, "transcript_segments", "skipped-after-503", "skipped", "audio failed: GCS 503 (transient)")
    _write(storage, "audio", "skipped-after-503", "failed", "OSError: GCS 503 (transient)")
    redo = transient_failures(storage, ["vision-503", "ocr-404", "all-ok", "skipped-after-503"])
    assert redo == {"vision-503": "ocr_text", "skipped-after-503": "audio"}


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
    import os
    import subprocess
    import sys

    from tests.support.paths import REPO

    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, root, *keys],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert child.stdout.readline().startswith("([")  # it holds them now
    return child


def test_a_video_locked_by_another_process_is_not_taken_until_that_process_is_gone(tmp_path):
    from wandr_pipeline.lib.video_locks import VideoLocks

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
    import uuid

    from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

    from tests.support.paths import SAMPLES
    from wandr_pipeline.cli.runner import print_summary, run_url_list
    from wandr_pipeline.lib.tags import PARTITION_TAG
    from wandr_pipeline.lib.urls import parse_video_url
    from wandr_pipeline.settings import Settings

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
