"""Registering videos: submissions first, then partitions in list order, without reading all partitions."""

from __future__ import annotations

from dagster import AssetKey, DagsterInstance

from tests.support.servers import LoopbackServer
from wandr_pipeline.definitions import build_definitions
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME, register_videos
from wandr_pipeline.lib.stages import PROCESS_VIDEOS
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.submissions import load_submission
from wandr_pipeline.lib.tags import range_tags
from wandr_pipeline.lib.urls import parse_video_url
from wandr_pipeline.settings import Settings


def test_registration_adds_new_keys_in_list_order_and_never_lists_the_instance(tmp_path, monkeypatch):
    storage = Storage(str(tmp_path / "root"))
    refs = [parse_video_url(f"https://example.com/v/{i}.mp4") for i in range(6)]
    with DagsterInstance.ephemeral() as instance:
        register_videos(instance, storage, refs[:3], source="first.txt")

        def listing(*args, **kwargs):
            raise AssertionError("register_videos read every partition of the instance")

        monkeypatch.setattr(instance, "get_dynamic_partitions", listing)
        register_videos(instance, storage, [refs[4], refs[1], refs[3], refs[4]], source="second.txt")
        monkeypatch.undo()
        keys = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
    assert keys == [refs[i].video_key for i in (0, 1, 2, 4, 3)]
    assert load_submission(storage, refs[1].video_key).download_url == refs[1].download_url
    assert (tmp_path / "root" / "submissions").is_dir() and len(
        list((tmp_path / "root" / "submissions").iterdir())
    ) == 5


def test_a_run_reads_the_partition_list_a_few_times_not_once_per_video_and_stage(tmp_path, monkeypatch):
    """Dagster resolves a run's partition range by reading every registered key, for each video's
    metadata of each stage: a stage op reads them once (`partition_keys_read_once`)."""
    server = LoopbackServer(tmp_path / "empty")  # every video a 404: fast, and every stage still reports
    (tmp_path / "empty").mkdir()
    settings = Settings.from_env(storage_uri=str(tmp_path / "root"), partitions_per_run=50)
    refs = [parse_video_url(server.url(f"v{i}.mp4")) for i in range(12)]
    job = build_definitions(settings).resolve_job_def(PROCESS_VIDEOS.job)
    try:
        with DagsterInstance.ephemeral() as instance:
            register_videos(instance, Storage(settings.storage_uri), refs, source="test")
            storage = instance.event_log_storage
            reads = []
            read = storage.get_dynamic_partitions
            monkeypatch.setattr(storage, "get_dynamic_partitions", lambda name: reads.append(name) or read(name))
            keys = [ref.video_key for ref in refs]
            result = job.execute_in_process(instance=instance, tags=range_tags(keys), raise_on_error=False)
            assert result.success
            materialized = instance.get_materialized_partitions(AssetKey("video_documents"))
    finally:
        server.close()
    assert materialized == set(keys)
    # one read per stage op, plus Dagster's own per asset when it plans and stores events (25 with
    # Dagster 1.13, whatever the run's size); without partition_keys_read_once: 120 (7 more per video)
    assert len(reads) <= 30, len(reads)
