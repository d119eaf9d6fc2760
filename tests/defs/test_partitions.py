"""Registering videos: submissions first, then partitions in list order, without reading all partitions."""

from __future__ import annotations

from dagster import DagsterInstance

from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME, register_videos
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.submissions import load_submission
from wandr_pipeline.lib.urls import parse_video_url


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
