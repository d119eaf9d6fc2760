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


# Keys per `add_dynamic_partitions` call: it checks them with one SQL `IN (...)` query.
ADD_PARTITIONS_CHUNK = 5000


def register_videos(instance: DagsterInstance, storage: Storage, refs: Sequence[VideoRef], *, source: str) -> None:
    """Record the submissions, then add the partitions that are new, in list order.

    Adding keys that exist already is a no-op in Dagster (it skips them), so the instance's whole
    partition list is never read here: registering stays proportional to the list, not to the
    instance.
    """
    record_submissions(storage, refs, source=source)
    keys = list(dict.fromkeys(ref.video_key for ref in refs))
    for start in range(0, len(keys), ADD_PARTITIONS_CHUNK):
        instance.add_dynamic_partitions(VIDEOS_PARTITIONS_NAME, keys[start : start + ADD_PARTITIONS_CHUNK])
