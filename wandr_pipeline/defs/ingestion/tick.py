"""One evaluation's ingestion, shared by the URL-list sensor (many files) and the schedule (one list):
which videos to register, which runs the planner (`lib/planner.py`) makes of the list's videos, which
rejected lines to report, and the `url_lists` asset those reports materialise.

New videos run every stage; a list dropped again also redoes its videos' failures worth retrying (a
download that gave up on HTTP 429, a stage that failed for a passing reason), reading the warehouse
only for that list's videos and only as far as the tick's budget (`WANDR_INGEST_TICK_BUDGET_S`) goes;
a video a queued or running run covers is never requested.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from dagster import AssetMaterialization, AssetSpec, DagsterInstance, MetadataValue, RunRequest

from wandr_pipeline.defs.ingestion import planned_runs
from wandr_pipeline.defs.instance_state import in_flight, partitions_with_outcome
from wandr_pipeline.defs.jobs import new_videos_job
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME
from wandr_pipeline.lib import ingestion
from wandr_pipeline.lib.planner import NEW, RETRYABLE, Assessment, Plan, assess_in_batches, plan_runs
from wandr_pipeline.lib.stages import FIRST_STAGE, STAGE_ASSET_NAMES
from wandr_pipeline.lib.storage import storage_for
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


@dataclass(frozen=True)
class ListProgress:
    """How far one tick got with one list: all its new videos registered, and the position of its
    accepted videos from which the next tick goes on asking the warehouse (None: nothing left)."""

    registered_all: bool
    plan_from: int | None

    @property
    def done(self) -> bool:
        return self.registered_all and self.plan_from is None


class IngestionTick:
    """One evaluation's ingestion: videos to register, the planner's runs, rejections to report."""

    def __init__(self, instance: DagsterInstance, settings: Settings, log, *, deadline: float):
        self.instance = instance
        self.settings = settings
        self.log = log
        self.deadline = deadline
        self.storage = storage_for(settings.storage_uri)
        self.order = list(instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME))
        self.existing = set(self.order)
        self.ingested = partitions_with_outcome(instance, FIRST_STAGE.asset)
        # A video that a queued or running run covers, for any stage, is left to that run.
        self.busy = in_flight(instance, self.order).keys(STAGE_ASSET_NAMES)
        self.new_keys: list[str] = []
        self.verdicts: dict[str, Assessment] = {}  # every video this tick plans, in the order met
        self.budget = max(0, settings.ingest_max_videos_per_tick)
        self.list_events: list[AssetMaterialization] = []
        self.versions: list[str] = []
        self._plan: Plan | None = None

    @property
    def out_of_time(self) -> bool:
        return time.monotonic() >= self.deadline or self.budget <= 0

    def ingest(
        self,
        uri: str,
        parsed: ParsedUrlList,
        sha256: str,
        *,
        report: bool,
        retry_unprocessed: bool,
        plan_from: int | None,
    ) -> ListProgress:
        """Register (part of) one parsed list and choose which of its videos to plan.

        `report`: log and record the rejected lines (once per list version); `retry_unprocessed`: also
        plan keys of the list that are registered but never got their first stage (a crashed run: no
        warehouse read needed); `plan_from`: ask the warehouse about the list's ingested videos from
        this position of its accepted videos on, as far as the tick's budget goes (a re-dropped list
        redoes the failures worth retrying); None: not at all.
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
        plan_from, assessed = self._assess_known(parsed, plan_from)
        unprocessed = [key for key in selection.to_request if key in self.existing]
        self.existing.update(new)
        self.new_keys += new
        for key in [*unprocessed, *new]:
            self.verdicts.setdefault(key, Assessment(key, NEW))
        for key, verdict in assessed.items():
            self.verdicts.setdefault(key, verdict)
        self.budget -= len(new)
        self._plan = None
        redo = [v for v in assessed.values() if v.state == RETRYABLE]
        summary = (
            f"{uri}: {len(parsed.accepted)} video(s), {len(new)} new registered"
            f"{f', {left} left for the next tick' if left else ''}, {selection.already_known} already known"
            f"{f' ({len(unprocessed)} never ingested: requested again)' if unprocessed else ''}"
            f"{f', {len(assessed)} checked in the warehouse ({len(redo)} to redo)' if assessed else ''}"
            f"{', the rest checked on the next tick' if plan_from is not None else ''}, "
            f"{parsed.duplicates} duplicate line(s), {len(parsed.rejected)} rejected line(s)"
        )
        self.log.info(summary)
        return ListProgress(registered_all=left == 0, plan_from=plan_from)

    def _assess_known(self, parsed: ParsedUrlList, start: int | None) -> tuple[int | None, dict[str, Assessment]]:
        """The position to go on from next tick (None: the list is through) and the verdicts on the list's
        ingested videos from `start` on, as many as the budget allows. Videos in flight or planned
        already this tick are not read."""
        if start is None:
            return None, {}
        refs = parsed.accepted
        candidates = [
            (position, ref.video_key)
            for position, ref in enumerate(refs[start:], start)
            if ref.video_key in self.ingested and ref.video_key not in self.busy and ref.video_key not in self.verdicts
        ]
        verdicts = assess_in_batches(
            self.storage,
            [key for _, key in candidates],
            batch_size=ingestion.ASSESS_BATCH,
            deadline=self.deadline,
        )
        first_left = next((position for position, key in candidates if key not in verdicts), None)
        # Ingested without a document yet (NEW to the planner): the downstream sensor follows it up.
        return first_left, {key: verdict for key, verdict in verdicts.items() if verdict.state != NEW}

    @property
    def plan(self) -> Plan:
        """The planner's runs for every video this tick chose (a video in flight left to its run)."""
        if self._plan is None:
            self._plan = plan_runs(
                self.order + self.new_keys,
                list(self.verdicts),
                self.verdicts,
                in_flight=self.busy,
                max_per_run=self.settings.partitions_per_run,
            )
        return self._plan

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

    def run_requests(self, run_key_prefix: str, *, later_stages: bool = True) -> list[RunRequest]:
        """Runs of every stage (`new_videos_job`: `process_videos`, or `ingest_videos` where whole runs go
        to GPU nodes) over adjacent keys for the videos to process from the start and, with
        `later_stages`, runs of the stages to redo for the others (`planned_runs.py`), at most
        WANDR_PARTITIONS_PER_RUN videos each."""
        plan = self.plan if later_stages else Plan(runs=[run for run in self.plan.runs if run.every_stage])
        return planned_runs.run_requests(
            plan,
            every_stage_job=new_videos_job(self.settings),
            run_key_prefix=run_key_prefix,
            version=",".join(sorted(set(self.versions))),
        )
