"""Every run names its videos: the `wandr/videos` run tag (`3 videos: url-a, url-b, url-c`), whoever made the run.

The CLI, the sensors and the API set it when they request a run (lib/tags.py `range_tags`). Runs that
Dagster makes itself do not carry it: a backfill's runs (only `dagster/backfill` and the partition
range), a run launched from the Materialize dialog (`dagster/partition`), a `sync_lake` run (the
videos are in its config). For those the run's first step adds it, with the stock
`DagsterInstance.add_run_tags`, as soon as the run starts: the Runs list, its filters and the run page
then say which videos the run holds, not only a range of `url-<hash>` keys.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import AssetExecutionContext

from wandr_pipeline.lib.tags import VIDEOS_TAG, videos_tag


def name_the_run_videos(context: AssetExecutionContext, keys: Sequence[str]) -> None:
    """Tag the run with its videos unless it already says which (one write per run)."""
    if not keys or context.run.tags.get(VIDEOS_TAG):
        return
    try:
        context.instance.add_run_tags(context.run_id, {VIDEOS_TAG: videos_tag(keys)})
    except Exception as exc:  # noqa: BLE001 - a tag is a label: a storage that refuses it never fails the run
        context.log.debug(f"run not tagged with its videos: {type(exc).__name__}: {exc}")
