"""`lake_sync_sensor` and the `analyst_lake` asset (defs/lake/): new documents become one sync run,
and a run that fails midway leaves its videos for the next tick.

Fast: the sensor is evaluated with `build_sensor_context`, materialisations are reported without
running the stages, and the sync job runs in process over partitions written by the test.
"""

from __future__ import annotations

import pytest

deltalake = pytest.importorskip("deltalake")

from dagster import (  # noqa: E402
    AssetKey,
    AssetMaterialization,
    DefaultSensorStatus,
    RunRequest,
    SkipReason,
    build_sensor_context,
    instance_for_test,
)

from tests.lib.test_lake import write_video  # noqa: E402
from wandr_pipeline.definitions import build_definitions  # noqa: E402
from wandr_pipeline.defs.lake import LAKE_ASSET, LAKE_JOB, LAKE_SENSOR, record_lake_sync  # noqa: E402
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME  # noqa: E402
from wandr_pipeline.lib.lake import Lake  # noqa: E402
from wandr_pipeline.lib.stages import LAST_STAGE  # noqa: E402
from wandr_pipeline.lib.storage import Storage  # noqa: E402
from wandr_pipeline.settings import Settings  # noqa: E402


def document(instance, keys):
    for key in keys:
        instance.report_runless_asset_event(AssetMaterialization(AssetKey(LAST_STAGE.asset), partition=key))


def test_the_lake_sensor_runs_without_being_switched_on(tmp_path):
    """A daemon starts it with the other sensors: a `make dev` user never has to find it in the UI."""
    sensor = build_definitions(Settings(storage_uri=str(tmp_path))).get_sensor_def(LAKE_SENSOR)
    assert sensor.default_status == DefaultSensorStatus.RUNNING


def test_the_lake_asset_lists_its_columns_and_a_cli_sync_materialises_it(tmp_path):
    definitions = build_definitions(Settings(storage_uri=str(tmp_path)))
    node = definitions.resolve_asset_graph().get(AssetKey(LAKE_ASSET))
    columns = {column.name: column for column in node.metadata["dagster/column_schema"].columns}
    assert {"video_key", "transcript_text", "onscreen_text", "status"} <= columns.keys()
    assert columns["transcript_text"].description and not columns["video_key"].constraints.nullable
    assert {c.name for c in node.metadata["transcript_segments columns"].columns} >= {"video_key", "text"}

    storage = Storage(tmp_path)
    write_video(storage, "tiktok-1", segments=2)
    with instance_for_test() as instance:
        record_lake_sync(instance, Lake(storage).sync(["tiktok-1"]), 1, launched_by="cli")
        event = instance.get_latest_materialization_event(AssetKey(LAKE_ASSET))
        metadata = event.asset_materialization.metadata
        assert metadata["videos"].value == 1 and metadata["launched_by"].value == "cli"
        assert metadata["transcript_segments_rows_written"].value == 2


def test_new_documents_become_one_sync_run_and_the_lake_follows(tmp_path):
    settings = Settings(storage_uri=str(tmp_path))
    definitions = build_definitions(settings)
    sensor = definitions.get_sensor_def(LAKE_SENSOR)
    storage = Storage(tmp_path)
    keys = ["tiktok-1", "tiktok-2", "tiktok-3"]
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(VIDEOS_PARTITIONS_NAME, keys)
        context = build_sensor_context(instance=instance, definitions=definitions)
        assert isinstance(sensor(context), SkipReason)  # nothing documented yet

        for key in keys:
            write_video(storage, key, segments=2)
        document(instance, keys[:2])
        document(instance, keys[:1])  # documented twice: synced once
        request = sensor(context)
        assert isinstance(request, RunRequest)
        assert request.run_config["ops"]["analyst_lake"]["config"]["video_keys"] == keys[:2]

        job = definitions.resolve_job_def(LAKE_JOB)
        result = job.execute_in_process(instance=instance, run_config=request.run_config)
        assert result.success
        assert instance.get_run_by_id(result.run_id).tags["wandr/videos"] == f"2 videos: {keys[0]}, {keys[1]}"
        lake = Lake(storage)
        assert lake.watermark() == request.run_config["ops"]["analyst_lake"]["config"]["through_storage_id"]
        assert isinstance(sensor(context), SkipReason)  # the lake's watermark has passed those documents
        assert sorted(set(lake.read_pandas("video_documents").video_key)) == keys[:2]
        metadata = instance.get_latest_materialization_event(AssetKey("analyst_lake")).asset_materialization.metadata
        assert metadata["videos"].value == 2

        # A backfill of tiktok-1 (3 segments now) and the new tiktok-3: the next tick syncs exactly those.
        write_video(storage, keys[0], segments=3, generation="g1")
        document(instance, [keys[0], keys[2]])
        request = sensor(context)
        assert request.run_config["ops"]["analyst_lake"]["config"]["video_keys"] == [keys[0], keys[2]]
        assert job.execute_in_process(instance=instance, run_config=request.run_config).success
        segments = lake.read_pandas("transcript_segments").groupby("video_key").size().to_dict()
        assert segments == {keys[0]: 3, keys[1]: 2, keys[2]: 2}

        # With no video_keys, the asset re-syncs every registered video.
        assert job.execute_in_process(instance=instance).success
        assert len(lake.read_pandas("video_documents")) == 3


def test_a_sync_that_fails_midway_leaves_its_videos_for_the_next_tick(tmp_path, monkeypatch):
    settings = Settings(storage_uri=str(tmp_path))
    definitions = build_definitions(settings)
    sensor = definitions.get_sensor_def(LAKE_SENSOR)
    job = definitions.resolve_job_def(LAKE_JOB)
    storage = Storage(tmp_path)
    lake = Lake(storage)
    keys = ["tiktok-1", "tiktok-2", "tiktok-3"]
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(VIDEOS_PARTITIONS_NAME, keys)
        context = build_sensor_context(instance=instance, definitions=definitions)
        for key in keys[:2]:
            write_video(storage, key, segments=2)
        document(instance, keys[:2])
        assert job.execute_in_process(instance=instance, run_config=sensor(context).run_config).success
        synced_through = lake.watermark()
        assert synced_through is not None

        # A backfill of tiktok-1 and the new tiktok-3, then a sync whose write fails at the fourth table.
        write_video(storage, keys[0], segments=4, generation="g1")
        write_video(storage, keys[2], segments=2)
        document(instance, [keys[0], keys[2]])
        request = sensor(context)
        write_deltalake = deltalake.write_deltalake

        def failing_write(table_or_uri, data, **kwargs):
            uri = table_or_uri.table_uri if isinstance(table_or_uri, deltalake.DeltaTable) else str(table_or_uri)
            if uri.rstrip("/").endswith("/caption_spans"):
                raise OSError("injected: the object store went away mid-sync")
            return write_deltalake(table_or_uri, data, **kwargs)

        monkeypatch.setattr(deltalake, "write_deltalake", failing_write)
        failed = job.execute_in_process(instance=instance, run_config=request.run_config, raise_on_error=False)
        assert not failed.success
        monkeypatch.undo()
        assert keys[2] in set(lake.read_pandas("ocr_text").video_key)  # tables before the failure committed
        assert keys[2] not in set(lake.read_pandas("caption_spans").video_key)
        assert keys[2] not in set(lake.read_pandas("video_documents").video_key)
        assert lake.watermark() == synced_through

        # The next tick asks for the same videos again (a new run key), and that run completes the lake.
        retry = sensor(context)
        assert isinstance(retry, RunRequest) and retry.run_key != request.run_key
        assert retry.run_config == request.run_config
        assert job.execute_in_process(instance=instance, run_config=retry.run_config).success
        for table in ("caption_spans", "video_documents", "transcript_segments"):
            frame = lake.read_pandas(table)
            assert sorted(set(frame.video_key)) == keys, table
        segments = lake.read_pandas("transcript_segments")
        assert set(segments[segments.video_key == keys[0]].text.str[:2]) == {"g1"}
        assert len(segments[segments.video_key == keys[0]]) == 4
        assert lake.watermark() > synced_through
        assert isinstance(sensor(context), SkipReason)
