"""The `videos` dynamic partitions: one partition per video, keyed by `lib.urls.parse_video_url`.

A video becomes a partition only after its submission record (its URL) is written: `raw_video` reads
the URL from that record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

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


@contextlib.contextmanager
def partition_keys_read_once(instance: DagsterInstance) -> Iterator[None]:
    """While the block runs, this instance object answers `get_dynamic_partitions("videos")` from one read.

    Dagster reads every key of a dynamic partitions definition whenever it resolves a partition range
    (`add_asset_metadata(partition_key=...)` checks each video's key against the run's range, and the
    output and input contexts resolve it too): with 100,000 videos registered that is a 0.3 s query per
    video and stage, most of a run's time (docs/BENCHMARKS.md, "A long list"). A run's keys were added
    before it started, so one read at the start of a stage op holds them. Only this object's public
    method is shadowed, only for `videos`, and restored afterwards; should Dagster stop calling it, runs
    are slow again, not wrong (tests/defs/test_partitions.py counts the reads).
    """
    keys = list(instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME))
    shadowed = instance.__dict__.get("get_dynamic_partitions")
    read = instance.get_dynamic_partitions

    def get_dynamic_partitions(partitions_def_name: str) -> Sequence[str]:
        return keys if partitions_def_name == VIDEOS_PARTITIONS_NAME else read(partitions_def_name)

    instance.get_dynamic_partitions = get_dynamic_partitions
    try:
        yield
    finally:
        if shadowed is None:
            del instance.get_dynamic_partitions
        else:
            instance.get_dynamic_partitions = shadowed
