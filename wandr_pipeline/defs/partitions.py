"""The `videos` dynamic partitions: one partition per video, keyed by `lib.urls.parse_video_url`.

A video becomes a partition only after its submission record (its URL) is written: `raw_video` reads
the URL from that record.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import DagsterInstance, DynamicPartitionsDefinition

from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.submissions import record_submissions
from wandr_pipeline.lib.urls import VideoRef

VIDEOS_PARTITIONS_NAME = "videos"
videos_partitions = DynamicPartitionsDefinition(name=VIDEOS_PARTITIONS_NAME)


def register_videos(instance: DagsterInstance, storage: Storage, refs: Sequence[VideoRef], *, source: str) -> list[str]:
    """Record the submissions and add any new partitions; returns the keys that were new."""
    record_submissions(storage, refs, source=source)
    existing = set(instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME))
    new_keys = [ref.video_key for ref in refs if ref.video_key not in existing]
    if new_keys:
        instance.add_dynamic_partitions(VIDEOS_PARTITIONS_NAME, new_keys)
    return new_keys
