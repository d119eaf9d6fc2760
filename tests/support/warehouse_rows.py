"""Writing a video's stage partitions as a run would have left them, for tests of what reads them (the
planner, the sensors, the API's status)."""

from collections.abc import Iterable

from wandr_pipeline.lib.outcomes import FAILED, OK
from wandr_pipeline.lib.schemas import TABLES, status_row, to_table
from wandr_pipeline.lib.stages import STAGE_ASSET_NAMES
from wandr_pipeline.lib.storage import Storage


def write_row(storage: Storage, table: str, key: str, status: str, error: str | None = None, **values) -> None:
    """One placeholder row (`status_row`) as `key`'s partition of `table`; `retryable=True` marks a
    passing failure."""
    schema = TABLES[table]
    storage.write_partition(table, key, to_table(schema, [status_row(schema, status, error, **values)]))


def write_finished(storage: Storage, key: str, failed: Iterable[str] = ()) -> None:
    """A video with its `videos` row and its document, whose `stage_statuses` say the stage assets in
    `failed` failed (their own partitions are the caller's)."""
    failed = set(failed)
    write_row(storage, "videos", key, OK, source_url=f"https://example.com/{key}.mp4")
    statuses = [(stage, FAILED if stage in failed else OK) for stage in STAGE_ASSET_NAMES[:-1]]
    write_row(storage, "video_documents", key, OK, source_url="x", stage_statuses=statuses)
