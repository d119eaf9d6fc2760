"""What every stage shares: its worker's interface, and its run: per-video isolation and the record of outcomes.

A worker (`StageWorker`) does one stage's work; it records each video into the stage's `StageRun`,
which turns exceptions into outcome rows (lib/video_outcomes.py) and, once the batch is done, hands the
tables to Dagster with the metadata and checks of defs/videos/reporting.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import pyarrow as pa
from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    AssetSpec,
    Output,
)

from wandr_pipeline.defs.videos.reporting import (
    PARTITION_EVENTS_OUR_OWN,
    column_schema,
    failed_videos_check,
    latest_storage_id,
    partition_check_results,
    partition_metadata,
    run_check_result,
    run_metadata,
    video_check,
    video_label,
)
from wandr_pipeline.lib.outcomes import (
    EMPTY,
    ERROR_KIND,
    FAILED,
    OK,
    SKIPPED,
    NotApplicable,
    is_transient_exception,
    short_error,
    upstream_status,
)
from wandr_pipeline.lib.schemas import TABLES
from wandr_pipeline.lib.stages import STAGES, Stage, stage
from wandr_pipeline.lib.storage import Storage, read_parquet_bytes
from wandr_pipeline.lib.tags import BACKFILL_TAG
from wandr_pipeline.lib.video_outcomes import OutcomeRecord, VideoOutcome


class StageWorker:
    """One stage's work over the videos of a run, in the stage's own thread (`lib/pipelining.py`).

    A subclass names its stage (`asset`, a registered stage of lib/stages.py), what the UI shows of it
    (`kinds`, `description`) and the resources it uses. The stage op builds one worker per run, so
    models load once (lazily, in the worker's thread, on the first video); `process` gets videos
    whose upstream stages are done, `inputs[stage][key]` holds each upstream stage's table of a video.
    """

    asset: ClassVar[str]
    kinds: ClassVar[frozenset[str]]
    description: ClassVar[str]
    resources: ClassVar[frozenset[str]] = frozenset({"storage"})
    batch: ClassVar[int] = 1  # most videos one `process` call gets (more: those waiting at that moment)
    workers: int = 1  # `process` calls at once (lib/pipelining.py); more only where `process` is thread-safe
    per_group: int = 0  # a first stage: videos of one `group_of` at once (lib/pipelining.py); 0: no limit

    def group_of(self, key: str) -> str:
        """The group a video belongs to for `per_group` (a download's site)."""
        return ""

    # True: a video's `failed` row is still this stage's product and its partition is materialised
    # (StageRun.results); False: the partition is left missing, its failure observed.
    materializes_failed_videos: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        stage(cls.asset)  # fails at import for a class whose stage is not registered

    def __init__(self, run: StageRun, resources: Any):
        """`resources`: the op's Dagster resources; a subclass takes the ones it named."""
        self.run = run
        self.store = run.store

    @classmethod
    def stage(cls) -> Stage:
        return stage(cls.asset)

    @classmethod
    def spec(cls) -> AssetSpec:
        """The stage's asset: `videos` partitions, its table written by the warehouse IO manager (its
        columns as `dagster/column_schema`), lineage from its inputs."""
        spec = cls.stage()
        return AssetSpec(
            spec.asset,
            deps=list(spec.inputs),
            description=cls.description,
            metadata={"table": spec.table, "dagster/column_schema": column_schema(spec.table, spec.schema)},
            group_name="videos",
            kinds=set(cls.kinds),
        ).with_io_manager_key("warehouse_io_manager")

    @classmethod
    def check_specs(cls) -> list[AssetCheckSpec]:
        return [failed_videos_check(cls.asset), video_check(cls.asset)]

    def process(self, keys: list[str], inputs: Mapping[str, Mapping[str, pa.Table]]) -> None:
        for key in keys:
            self.process_one(key, inputs)

    def process_one(self, key: str, inputs: Mapping[str, Mapping[str, pa.Table]]) -> None:
        raise NotImplementedError

    def run_metadata(self) -> dict[str, Any]:
        """The run-level values the stage adds to its roll-up, once every video is done."""
        return {}


FAILURES_NAMED = 5  # failed videos named in a stage's end-of-batch log line


def first_row(table: pa.Table) -> dict[str, Any]:
    return table.slice(0, 1).to_pylist()[0] if table.num_rows else {}


class StageRun:
    """One stage's record of a run: a table per video, each video's failure that video's own.

    Its worker records into it from the stage's thread (`record`, `run_one`, `skip_unless_usable`);
    the stage op calls `results` from Dagster's thread once the stage has done the whole batch.
    """

    def __init__(self, context: AssetExecutionContext, asset: str, *, keys: Sequence[str], store: Storage, log: Any):
        """`asset`: the stage (one of the op's assets); `keys`: the run's videos; `store`: where its files
        go and where each video's source URL and title are looked up (the `videos` table) for its
        metadata; `log`: where the stage's lines go from its worker thread (the op passes them on to
        Dagster from its own thread). The worker sets the stage's parameters with `configure`."""
        self.context = context
        spec = stage(asset)
        self.asset_key = AssetKey(spec.asset)
        self.table_name = spec.table
        self.schema = spec.schema
        self.store = store
        self.log = log
        self.parameters: dict[str, Any] = {}
        self.outcomes = OutcomeRecord(spec.schema, keys)
        self.extra: dict[str, dict[str, Any]] = {}  # per-video metadata a stage adds (e.g. a contact sheet)
        self.started = time.perf_counter()
        self.finished: float | None = None
        self._videos: dict[str, tuple[str | None, str | None]] | None = None

    @property
    def keys(self) -> list[str]:
        return self.outcomes.keys

    @property
    def tables(self) -> dict[str, pa.Table]:
        """Each recorded video's table (what the stage op hands to the next stage and to Dagster)."""
        return self.outcomes.tables

    def configure(self, *, parameters: Mapping[str, Any] | None = None, row_values: Mapping[str, Any] | None = None):
        """`parameters`: the stage's processing settings, shown on every partition; `row_values`: columns
        every row of this run carries (the settings recorded in the table itself)."""
        if parameters is not None:
            self.parameters = dict(parameters)
        if row_values is not None:
            self.outcomes.set_row_values(row_values)

    def skip_unless_usable(self, key: str, upstream: pa.Table, stage: str, usable=(OK,)) -> bool:
        """Record a `skipped` row and return True when the upstream stage has nothing to work on."""
        status, error = upstream_status(upstream)
        if status in usable:
            return False
        self.record(key, [], status=SKIPPED, error=f"{stage} {status}: {error}" if error else f"{stage} {status}")
        return True

    def run_one(
        self,
        key: str,
        work: Callable[[], list[Mapping[str, Any]]],
        *,
        empty_reason: str | None = None,
        preview: Callable[[list[Mapping[str, Any]]], str] | None = None,
        base: Mapping[str, Any] | None = None,
        elapsed_s: float | None = None,
    ) -> None:
        """Call `work()` for one video and record its rows, or its failure (`retryable` when passing).

        `base` holds values that a failure's placeholder row still carries (e.g. the source URL);
        `elapsed_s` is the video's processing time when the work happened before this call.
        """
        start = time.perf_counter() - (elapsed_s or 0.0)
        try:
            rows = work()
        except NotApplicable as exc:
            self.record(key, [], status=SKIPPED, error=short_error(exc), seconds=time.perf_counter() - start, base=base)
            return
        except Exception as exc:  # noqa: BLE001 - one bad video never fails the batch
            self.record_failure(key, exc, seconds=time.perf_counter() - start, base=base)
            return
        if not rows and empty_reason:
            self.record(key, [], status=EMPTY, error=empty_reason, seconds=time.perf_counter() - start, base=base)
            return
        self.record(key, rows, seconds=time.perf_counter() - start, preview=preview(rows) if preview and rows else None)

    def record_failure(
        self,
        key: str,
        exc: BaseException,
        *,
        prefix: str = "",
        seconds: float | None = None,
        base: Mapping[str, Any] | None = None,
    ) -> VideoOutcome:
        """Record that `exc` failed the video; the row says whether the failure was passing (and, in a
        table with `error_kind`, the failure's name)."""
        if ERROR_KIND in self.schema.names:
            base = {**(base or {}), ERROR_KIND: getattr(exc, "kind", None)}
        return self.record(
            key,
            [],
            status=FAILED,
            error=prefix + short_error(exc),
            retryable=is_transient_exception(exc),
            seconds=seconds,
            base=base,
        )

    def record(self, key: str, rows: list[Mapping[str, Any]], **outcome: Any) -> VideoOutcome:
        """A video's rows, or with `status=` its placeholder row: `OutcomeRecord.record`, whose keywords it takes."""
        return self.outcomes.record(key, rows, **outcome)

    def tally(self) -> str:
        """The counts, then each failed video by key, title and reason (the first FAILURES_NAMED)."""
        failed = self.outcomes.failed()
        if not failed:
            return self.outcomes.tally()
        self._name_videos()
        named = "; ".join(
            f"{video_label(o.video_key, o.title or o.source_url)}: {o.error}" for o in failed[:FAILURES_NAMED]
        )
        more = f"; and {len(failed) - FAILURES_NAMED} more" if len(failed) > FAILURES_NAMED else ""
        return f"{self.outcomes.tally()}; failed: {named}{more}"

    def results(
        self, extra_metadata: Mapping[str, Any] | None = None, *, materialize_failed: bool = False
    ) -> Iterator[Any]:
        """The asset's output (every video's table, failure rows included, written by the IO manager),
        then each partition's own event: a materialisation with its metadata, or, for a video that
        failed in this stage, an observation with the failure, so that its partition stays missing
        (not a green "materialised" one) and the Materialize dialog's "Missing" selection retries it;
        `materialize_failed`: a stage whose failed rows are still its product (the document of a failed
        download). Then each video's `video_not_failed` result and the run's roll-up."""
        self.outcomes.fill_missing()
        self.finished = self.finished or time.perf_counter()
        self._name_videos()
        backfill = self.context.run.tags.get(BACKFILL_TAG)
        tags = {BACKFILL_TAG: backfill} if backfill else None  # as Dagster tags the events it records
        events = []
        for outcome in self.outcomes.outcomes:
            key = outcome.video_key
            metadata = partition_metadata(outcome, self.tables[key].num_rows, self.parameters, self.extra.get(key, {}))
            if outcome.status == FAILED and not materialize_failed:
                events.append(AssetObservation(self.asset_key, partition=key, metadata=metadata, tags=tags))
            else:
                events.append(AssetMaterialization(self.asset_key, partition=key, metadata=metadata, tags=tags))
        output_name = self.context.assets_def.get_output_name_for_asset_key(self.asset_key)
        after = latest_storage_id(self.context.instance, self.asset_key)
        yield Output(self.tables, output_name=output_name, metadata=PARTITION_EVENTS_OUR_OWN)
        yield from events
        yield from partition_check_results(self.context, self.asset_key, self.table_name, self.outcomes, after)
        metadata = run_metadata(self.outcomes, self.finished - self.started, self.parameters)
        yield run_check_result(self.asset_key, self.table_name, self.outcomes, {**metadata, **(extra_metadata or {})})

    def _name_videos(self) -> None:
        """Give each recorded video its source URL and title (read once per run)."""
        if self._videos is None:
            self._videos = self._video_info()
        videos = self._videos
        for outcome in self.outcomes.outcomes:
            outcome.source_url, outcome.title = videos.get(outcome.video_key, (outcome.source_url, outcome.title))

    def _video_info(self) -> dict[str, tuple[str | None, str | None]]:
        """Source URL and title per video: from this stage's own rows when its table has them, else
        from the `videos` table (one read per video, concurrent on GCS)."""
        info: dict[str, tuple[str | None, str | None]] = {}
        if {"source_url", "title"} <= set(self.schema.names):
            for key, table in self.tables.items():
                row = first_row(table)
                if row.get("source_url") or row.get("title"):
                    info[key] = (row.get("source_url"), row.get("title"))
        wanted = [key for key in self.keys if key not in info]
        if not wanted:
            return info
        videos_table = STAGES[0].table
        paths = {self.store.partition_path(videos_table, key): key for key in wanted}
        try:
            found = self.store.read_existing(list(paths))
        except Exception as exc:  # noqa: BLE001 - metadata is a view: it never fails the run
            self.context.log.debug(f"video titles not read: {short_error(exc)}")
            return info
        for path, data in found.items():
            try:
                row = first_row(read_parquet_bytes(data, TABLES[videos_table]))
            except Exception:  # noqa: BLE001 - an unreadable row only loses its title
                continue
            info[paths[path]] = (row.get("source_url"), row.get("title"))
        return info
