"""The GPU pool: at most the instance's limit of GPU steps run at once, however their runs were launched.

Two real in-process runs of the GPU stage op (`model_stages`, subset to `caption_spans` over a video
whose download failed, so no model loads) on the local instance of `make run` (a copy of
dagster_home/dagster.yaml: pool limit 1). The first run is held inside its GPU step; the second
run's GPU step must wait for the slot, not start, and start only once the first has let it go.
Runs executed in process are what the CLI starts (and execute_in_process ignores the jobs'
executor, so the k8s setting of deploy/ does not change that): they never pass the run queue, so
only a pool at `op` granularity limits them.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance

from wandr_pipeline.definitions import build_definitions
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME
from wandr_pipeline.defs.videos.caption_spans import CaptionSpansWorker
from wandr_pipeline.lib.schemas import TABLES, status_row, to_table
from wandr_pipeline.lib.stages import GPU_STAGES
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.tags import GPU_POOL
from wandr_pipeline.settings import Settings

FIRST, SECOND = "url-00first", "url-01second"
GPU_STEP = "model_stages"
WAIT_S = 60


def _write_failed_download(storage: Storage, key: str) -> None:
    """The upstream tables `caption_spans` reads, as the stages before write them for a failed download."""
    video = {"source_url": f"https://example.com/{key}", "platform": "web", "status": "failed"}
    video |= {"error": "HTTP Error 404: Not Found", "downloaded_at": dt.datetime.now(dt.UTC)}
    storage.write_partition("videos", key, to_table(TABLES["videos"], [video]))
    for table in ("frames", "ocr_text"):
        storage.write_partition(table, key, to_table(TABLES[table], [status_row(TABLES[table], "skipped", "failed")]))


def _wait_until(condition, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def instance(home, tmp_path, monkeypatch):  # `home`: tests/instance/conftest.py
    monkeypatch.setenv("WANDR_STORAGE_URI", str(tmp_path / "storage"))
    with DagsterInstance.get() as instance:
        yield instance


def test_the_local_instance_limits_the_gpu_pool_to_one_step_at_a_time(instance):
    config = instance.event_log_storage.get_pool_config()
    assert (config.pool_granularity.value, config.default_pool_limit) == ("op", 1)


def test_a_second_gpu_step_waits_until_the_first_has_finished(instance, monkeypatch):
    settings = Settings.from_env()
    instance.add_dynamic_partitions(VIDEOS_PARTITIONS_NAME, [FIRST, SECOND])
    storage = Storage(settings.storage_uri)
    for key in (FIRST, SECOND):
        _write_failed_download(storage, key)

    entered: dict[str, float] = {}
    left: dict[str, float] = {}
    release_first = threading.Event()
    process_one = CaptionSpansWorker.process_one

    def held_process_one(worker, key, inputs):  # inside the GPU step of the run over `key`
        entered[key] = time.monotonic()
        if key == FIRST:
            assert release_first.wait(WAIT_S)
        process_one(worker, key, inputs)
        left[key] = time.monotonic()

    monkeypatch.setattr(CaptionSpansWorker, "process_one", held_process_one)
    caption_spans = {AssetKey("caption_spans")}
    # The first run as the CLI starts it with deploy/'s settings, the second with the local ones.
    k8s_job = build_definitions(Settings.from_env(executor="k8s")).resolve_job_def(GPU_STAGES.job)
    assert k8s_job.executor_def.name == "k8s"
    local_job = build_definitions(settings).resolve_job_def(GPU_STAGES.job)
    run_ids = {FIRST: str(uuid.uuid4()), SECOND: str(uuid.uuid4())}
    results = {}

    def execute(job, key):
        results[key] = job.get_subset(asset_selection=caption_spans).execute_in_process(
            instance=instance, partition_key=key, run_id=run_ids[key], raise_on_error=False
        )

    first = threading.Thread(target=execute, args=(k8s_job, FIRST))
    second = threading.Thread(target=execute, args=(local_job, SECOND))
    first.start()
    try:
        _wait_until(lambda: FIRST in entered, "the first run's GPU step")
        info = instance.event_log_storage.get_concurrency_info(GPU_POOL)
        assert (info.slot_count, info.active_run_ids) == (1, {run_ids[FIRST]})

        second.start()
        waiting = _wait_until(
            lambda: instance.event_log_storage.get_concurrency_info(GPU_POOL).pending_run_ids == {run_ids[SECOND]},
            "the second run's GPU step to wait for the slot",
        )
        assert waiting
        time.sleep(1.5)  # longer than the first retry interval of a blocked claim
        assert SECOND not in entered
        started = instance.get_records_for_run(run_ids[SECOND], of_type=DagsterEventType.STEP_START).records
        assert started == []
    finally:
        release_first.set()
        first.join(WAIT_S)
        if second.ident:  # started
            second.join(WAIT_S)

    assert results[FIRST].success and results[SECOND].success
    assert entered[SECOND] >= left[FIRST]  # the second GPU step ran only once the first was done
    info = instance.event_log_storage.get_concurrency_info(GPU_POOL)
    assert (info.active_slot_count, info.pending_step_count) == (0, 0)  # finished runs free their slot
