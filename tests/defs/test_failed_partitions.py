"""A video that failed a stage is not a materialised partition of that stage, and nothing else changes.

Two local sources in one run of `raw_video`, `audio` and `video_documents` (two stage ops, so the
second op runs only if the first yielded its outputs): a sample clip, and a file that is not a video
(its download fails for good). The failed video's `raw_video` partition is left missing, with an
observation that says why; its failure row is in the warehouse; every later stage still has a
partition for it; the per-video check passes on the good video and fails on the other; and the
sensors' view of the instance (`partitions_with_outcome`) counts the failed download as ingested, so
no road requests it again as new. The run, made without the `wandr/videos` tag (as a backfill's are),
gets it from its first step, and the stage's log line names the failed video.
"""

from __future__ import annotations

import shutil

from dagster import AssetCheckKey, AssetKey, AssetRecordsFilter, DagsterInstance

from tests.support.paths import SAMPLES
from wandr_pipeline.definitions import build_definitions
from wandr_pipeline.defs.automation.downstream_batch_sensor import ready_keys
from wandr_pipeline.defs.instance_state import StageOutcomes, latest_outcomes, partitions_with_outcome
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME
from wandr_pipeline.defs.videos.reporting import VIDEO_CHECK
from wandr_pipeline.lib.planner import FAILED_FOR_GOOD, assess_videos
from wandr_pipeline.lib.stages import EXTRACT_MEDIA, PROCESS_VIDEOS
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.submissions import record_submissions
from wandr_pipeline.lib.tags import BACKFILL_TAG, VIDEOS_TAG, range_tags
from wandr_pipeline.lib.urls import parse_video_url
from wandr_pipeline.settings import Settings

SELECTED = ("raw_video", "audio", "video_documents")


def test_a_failed_download_leaves_its_partition_missing_and_observed(tmp_path, dagster_home, monkeypatch):
    clip = tmp_path / "kyoto_temples.mp4"
    shutil.copy(SAMPLES / "kyoto_temples.mp4", clip)
    (tmp_path / "gone.mp4").write_bytes(b"this is not a video")
    good, gone = parse_video_url(str(clip)), parse_video_url(str(tmp_path / "gone.mp4"))
    monkeypatch.setenv("WANDR_STORAGE_URI", str(tmp_path / "storage"))
    settings = Settings.from_env()
    storage = Storage(settings.storage_uri)
    record_submissions(storage, [good, gone], source="test")
    keys = sorted([good.video_key, gone.video_key])
    instance = DagsterInstance.get()
    instance.add_dynamic_partitions(VIDEOS_PARTITIONS_NAME, keys)
    job = build_definitions(settings).resolve_job_def(PROCESS_VIDEOS.job)
    job = job.get_subset(asset_selection={AssetKey(a) for a in SELECTED})

    # as a backfill or the Materialize dialog makes it: a partition range, no `wandr/videos` tag
    untagged = {k: v for k, v in range_tags(keys).items() if k != VIDEOS_TAG} | {BACKFILL_TAG: "bkfl"}
    result = job.execute_in_process(instance=instance, tags=untagged, raise_on_error=False)

    assert result.success
    assert instance.get_run_by_id(result.run_id).tags[VIDEOS_TAG] == f"2 videos: {keys[0]}, {keys[1]}"
    # the stage's end-of-batch line names the failed video: key, source (no title yet) and reason
    lines = [entry.user_message for entry in instance.all_logs(result.run_id)]
    [line] = [m for m in lines if m.startswith("videos: 2/2 videos done")]
    assert f"failed: {gone.video_key} ({tmp_path / 'gone.mp4'}): not a readable media file" in line, line
    raw_video = AssetKey("raw_video")
    assert instance.get_materialized_partitions(raw_video) == {good.video_key}
    for asset in ("audio", "video_documents"):  # the next op ran; a failed download's document is its record
        assert instance.get_materialized_partitions(AssetKey(asset)) == set(keys), asset
    [made] = instance.fetch_materializations(raw_video, limit=5).records
    assert made.asset_materialization.tags == {BACKFILL_TAG: "bkfl"}  # as Dagster tags a backfill's events
    [observed] = instance.fetch_observations(AssetRecordsFilter(asset_key=raw_video), limit=5).records
    metadata = observed.asset_observation.metadata
    assert observed.partition_key == gone.video_key and metadata["status"].value == "failed"
    assert metadata["error"].value and metadata["source_url"].value.endswith("gone.mp4")
    # the failure row stays in the warehouse, and the planner reads it as before
    assert storage.read_partition("videos", gone.video_key).column("status").to_pylist() == ["failed"]
    assert assess_videos(storage, [gone.video_key])[gone.video_key].state == FAILED_FOR_GOOD
    # each video's own check result: green on the good one, red on the failed one
    history = instance.event_log_storage.get_asset_check_execution_history(AssetCheckKey(raw_video, VIDEO_CHECK), 10)
    results = {h.partition: h.status.value for h in history if h.status.value != "PLANNED"}
    assert results == {good.video_key: "SUCCEEDED", gone.video_key: "FAILED"}
    # what the sensors read: the failed download has run, and its latest outcome is the observation
    assert partitions_with_outcome(instance, "raw_video") == set(keys)
    assert latest_outcomes(instance, ["raw_video"])["raw_video"][gone.video_key] == observed.storage_id


def test_a_stage_that_failed_again_starts_no_follow_up_but_a_first_failure_does():
    # extract_media (audio) follows raw_video; ids are event storage ids, higher is newer
    group = EXTRACT_MEDIA
    latest = StageOutcomes(
        products={"raw_video": {"new": 5, "again": 1}, "audio": {"new": 2, "again": 2}},
        outcomes={
            "raw_video": {"new": 5, "again": 9, "first": 7},  # again: a retried download that failed again
            "audio": {"new": 2, "again": 2},  # first: never got to audio (its run stopped before it)
        },
    )
    assert ready_keys(group, ["new", "again", "first"], latest, exclude=set()) == ["new", "first"]
    assert ready_keys(group, ["new", "again", "first"], latest, exclude={"new"}) == ["first"]
