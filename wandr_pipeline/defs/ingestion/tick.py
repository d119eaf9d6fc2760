"""One evaluation's ingestion, shared by the URL-list sensor (many files) and the schedule (one list):
which videos to register, which keys to run, which rejected lines to report, and the `url_lists` asset
those reports materialise.
"""

from __future__ import annotations

import time

from dagster import AssetKey, AssetMaterialization, AssetSpec, DagsterInstance, MetadataValue, RunRequest

from wandr_pipeline.defs.instance_state import in_flight, run_key_digest
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME
from wandr_pipeline.lib import ingestion
from wandr_pipeline.lib.batching import contiguous_batches
from wandr_pipeline.lib.stages import FIRST_STAGE, INGEST_VIDEOS
from wandr_pipeline.lib.storage import storage_for
from wandr_pipeline.lib.tags import range_tags
from wandr_pipeline.lib.url_lists import ParsedUrlList
from wandr_pipeline.settings import Settings

# The lists themselves, as an asset the UI shows: each materialisation is one list version,
# with its counts and its rejected lines (line number, reason).
URL_LISTS_ASSET = AssetSpec(
    "url_lists",
    group_name="ingestion",
    description="URL list files ingested by url_list_sensor / url_list_schedule. Each materialization is "
    "one version of one list: counts of accepted, new and duplicate videos, and the rejected "
    "lines with their reasons (also in the url_list_rejections table).",
    kinds={"text"},
)


class IngestionTick:
    """One evaluation's ingestion: videos to register, keys to run, rejections to report."""

    def __init__(self, instance: DagsterInstance, settings: Settings, log, *, deadline: float):
        self.instance = instance
        self.settings = settings
        self.log = log
        self.deadline = deadline
        self.storage = storage_for(settings.storage_uri)
        self.order = list(instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME))
        self.existing = set(self.order)
        self.ingested = instance.get_materialized_partitions(AssetKey(FIRST_STAGE.asset))
        self.busy = in_flight(instance, self.order).keys([FIRST_STAGE.asset])
        self.new_keys: list[str] = []
        self.request_keys: list[str] = []
        self.budget = max(0, settings.ingest_max_videos_per_tick)
        self.list_events: list[AssetMaterialization] = []
        self.versions: list[str] = []

    @property
    def out_of_time(self) -> bool:
        return time.monotonic() >= self.deadline or self.budget <= 0

    def ingest(self, uri: str, parsed: ParsedUrlList, sha256: str, *, report: bool, retry_unprocessed: bool) -> bool:
        """Register (part of) one parsed list; returns True when every new video of it is registered.

        `report`: log and record the rejected lines (once per list version); `retry_unprocessed`:
        also request keys of the list that are registered but never got their first stage.
        """
        self.versions.append(sha256)
        if report:
            self.report(uri, parsed, sha256)
        selection = ingestion.select_videos(
            parsed.accepted,
            existing=self.existing,
            ingested=self.ingested,
            busy=self.busy,
            retry_unprocessed=retry_unprocessed,
            max_new=self.budget,
        )
        written = ingestion.record_within_budget(
            self.storage, selection.to_register, source=uri, deadline=self.deadline
        )
        new = [ref.video_key for ref in written]
        left = selection.remaining + len(selection.to_register) - len(written)
        retried = [key for key in selection.to_request if key in self.existing]
        self.existing.update(new)
        self.new_keys += new
        self.busy.update(retried)
        self.request_keys += [key for key in retried if key not in self.request_keys] + new
        self.budget -= len(new)
        summary = (
            f"{uri}: {len(parsed.accepted)} video(s), {len(new)} new registered"
            f"{f', {left} left for the next tick' if left else ''}, {selection.already_known} already known"
            f"{f' ({len(retried)} never ingested: requested again)' if retried else ''}, "
            f"{parsed.duplicates} duplicate line(s), {len(parsed.rejected)} rejected line(s)"
        )
        self.log.info(summary)
        return left == 0

    def report(self, uri: str, parsed: ParsedUrlList, sha256: str) -> None:
        """Rejected lines go to the tick log, the url_list_rejections table and the url_lists asset."""
        for line in ingestion.describe_rejections(parsed.rejected):
            self.log.warning(f"{uri}: rejected {line}")
        table_path = None
        try:
            table_path = ingestion.write_rejections(self.storage, uri, sha256, parsed.rejected)
        except Exception as exc:  # noqa: BLE001 - the tick log above still has them
            self.log.error(f"{uri}: could not write the url_list_rejections table: {exc}")
        rows = ["| line | text | reason |", "|---|---|---|"] + [
            f"| {r.line_number} | {r.text[:80].replace('|', '/')} | {r.reason.replace('|', '/')} |"
            for r in parsed.rejected[:100]
        ]
        metadata = {
            "source": uri,
            "list_sha256": sha256,
            "videos": len(parsed.accepted),
            "duplicate_lines": parsed.duplicates,
            "rejected_lines": len(parsed.rejected),
        }
        if parsed.rejected:
            metadata["rejected"] = MetadataValue.md("\n".join(rows))
        if table_path:
            metadata["rejections_table"] = MetadataValue.path(table_path)
        self.list_events.append(AssetMaterialization(asset_key=URL_LISTS_ASSET.key, metadata=metadata))

    def run_requests(self, run_key_prefix: str) -> list[RunRequest]:
        """`ingest_videos` runs over adjacent keys, at most WANDR_PARTITIONS_PER_RUN each."""
        order = self.order + self.new_keys
        batches = contiguous_batches(order, self.request_keys, max(1, self.settings.partitions_per_run))
        versions = ",".join(sorted(set(self.versions)))
        return [
            RunRequest(
                job_name=INGEST_VIDEOS.job,
                tags=range_tags(batch),
                run_key=f"{run_key_prefix}:{batch[0]}..{batch[-1]}:{run_key_digest(*batch, versions)}",
            )
            for batch in batches
        ]
