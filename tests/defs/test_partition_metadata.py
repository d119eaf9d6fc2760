"""Each video is its own partition in Dagster: its own metadata, its own check result, its own skip.

The `video_documents` stage runs here on upstream partitions written by hand (no models): one video
whose inputs are all there, one whose download failed, and one that has a partition but no upstream
partitions at all (a cancelled ingest run, or a key added in the UI).
"""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance

from wandr_pipeline.definitions import build_definitions
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME
from wandr_pipeline.defs.videos.reporting import FAILED_VIDEOS_CHECK, VIDEO_CHECK
from wandr_pipeline.lib.schemas import TABLES, status_row, to_table
from wandr_pipeline.lib.stages import PROCESS_VIDEOS
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.tags import range_tags
from wandr_pipeline.settings import Settings

GOOD, BROKEN, ORPHAN = "url-00good", "url-01broken", "url-02orphan"
DOCUMENTS = AssetKey("video_documents")


def _write_upstream(storage: Storage, key: str, *, download_ok: bool) -> None:
    video = {
        "source_url": f"https://example.com/{key}",
        "platform": "web",
        "title": f"Title of {key}",
        "duration_s": 2.0,
        "status": "ok" if download_ok else "failed",
        "error": None if download_ok else "HTTP Error 404: Not Found",
        "downloaded_at": dt.datetime.now(dt.UTC),
    }
    rows = {
        "videos": [video],
        "audio": [status_row(TABLES["audio"], "ok", None, audio_uri="x.wav")],
        "transcript_segments": [
            {"segment_index": 0, "start_s": 0.0, "end_s": 1.5, "text": "hello there", "model": "tiny.en"}
            | {"language": "en", "status": "ok", "error": None}
        ],
        "frames": [status_row(TABLES["frames"], "ok", None, frame_index=0, timestamp_s=0.0, width=9, height=16)],
        "ocr_text": [status_row(TABLES["ocr_text"], "empty", "no on-screen text found")],
        "caption_spans": [status_row(TABLES["caption_spans"], "skipped", "ocr_text empty")],
    }
    if not download_ok:  # what the stages between write for a failed download
        for table in ("audio", "transcript_segments", "frames", "ocr_text", "caption_spans"):
            rows[table] = [status_row(TABLES[table], "skipped", "raw_video failed")]
    for table, table_rows in rows.items():
        storage.write_partition(table, key, to_table(TABLES[table], table_rows))


@pytest.fixture
def world(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("WANDR_STORAGE_URI", str(tmp_path / "storage"))
    settings = Settings.from_env()
    instance = DagsterInstance.get()
    instance.add_dynamic_partitions(VIDEOS_PARTITIONS_NAME, [GOOD, BROKEN, ORPHAN])
    storage = Storage(settings.storage_uri)
    _write_upstream(storage, GOOD, download_ok=True)
    _write_upstream(storage, BROKEN, download_ok=False)
    job = build_definitions(settings).resolve_job_def(PROCESS_VIDEOS.job).get_subset(asset_selection={DOCUMENTS})

    def run():
        result = job.execute_in_process(instance=instance, tags=range_tags([GOOD, ORPHAN]), raise_on_error=False)
        assert result.success  # one video without upstream partitions never fails the batch
        return result

    return {"instance": instance, "storage": storage, "run": run}


def _latest_metadata(instance, key: str) -> dict:
    records = instance.fetch_materializations(DOCUMENTS, limit=10).records
    record = next(r for r in records if r.partition_key == key)
    return {name: value.value for name, value in record.event_log_entry.asset_materialization.metadata.items()}


def _check_results(result) -> list:
    return [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]


def test_each_partition_carries_its_own_video_metadata(world):
    world["run"]()
    instance = world["instance"]
    good = _latest_metadata(instance, GOOD)
    assert good["status"] == "ok" and good["title"] == f"Title of {GOOD}"
    assert good["source_url"] == f"https://example.com/{GOOD}"
    assert good["rows"] == 1 and "dagster/row_count" not in good and good["preview"].startswith("hello there")
    broken = _latest_metadata(instance, BROKEN)
    assert broken["status"] == "failed" and "404" in broken["error"]
    orphan = _latest_metadata(instance, ORPHAN)
    assert orphan["status"] == "skipped" and "no raw_video partition" in orphan["error"]
    for metadata in (good, broken, orphan):  # the run's roll-up is not copied onto every partition
        assert not {"summary", "videos", "status_ok", "failed_videos"} & set(metadata)
    # the orphan video has a recorded row with the reason, like any other
    row = world["storage"].read_partition("video_documents", ORPHAN).to_pylist()[0]
    assert row["status"] == "skipped" and "never ran for it" in row["error"]


def test_the_run_roll_up_is_a_table_once_per_run_and_columns_are_declared(world):
    result = world["run"]()
    run_level = [c for c in _check_results(result) if c.check_name == FAILED_VIDEOS_CHECK]
    assert len(run_level) == 1 and run_level[0].passed is False
    summary = run_level[0].metadata["summary"]
    assert [r.data["video_key"] for r in summary.records] == [GOOD, BROKEN, ORPHAN]
    assert [r.data["status"] for r in summary.records] == ["ok", "failed", "skipped"]
    assert {c.name for c in summary.schema.columns} >= {"video_key", "status", "rows", "seconds", "detail"}
    node = build_definitions(Settings.from_env()).resolve_asset_graph().get(DOCUMENTS)
    columns = {c.name: c for c in node.metadata["dagster/column_schema"].columns}
    assert set(columns) == set(TABLES["video_documents"].names) | {"video_key"}
    assert columns["clean_text"].description and columns["stage_statuses"].type.startswith("map")


def test_every_video_gets_its_partition_check_result_failed_only_where_it_failed(world):
    result = world["run"]()
    per_video = [c for c in _check_results(result) if c.check_name == VIDEO_CHECK]
    # every video evaluated: a healthy video's check is green, not "Skipped" in the UI
    assert [(c.partition, c.passed) for c in per_video] == [(GOOD, True), (BROKEN, False), (ORPHAN, True)]
    assert "404" in per_video[1].metadata["error"].value
    # each result refers to its partition's materialisation of this run (the UI counts it current)
    targets = {c.partition: c.target_materialization_data for c in per_video}
    assert {t.run_id for t in targets.values()} == {result.run_id}
    assert len({t.storage_id for t in targets.values()}) == 3
    check_key = AssetCheckKey(DOCUMENTS, VIDEO_CHECK)
    storage = world["instance"].event_log_storage
    history = storage.get_asset_check_execution_history(check_key, limit=10)
    assert {(h.partition, h.status.value) for h in history if h.status.value != "PLANNED"} == {
        (GOOD, "SUCCEEDED"),
        (BROKEN, "FAILED"),
        (ORPHAN, "SUCCEEDED"),
    }
    # the download is repaired (a raw_video re-run): the next run clears that partition's check
    _write_upstream(world["storage"], BROKEN, download_ok=True)
    again = [c for c in _check_results(world["run"]()) if c.check_name == VIDEO_CHECK]
    assert [(c.partition, c.passed) for c in again] == [(GOOD, True), (BROKEN, True), (ORPHAN, True)]
