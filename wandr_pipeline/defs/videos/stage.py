"""What every stage shares: its worker's interface, per-video isolation, per-video UI metadata and checks."""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import pyarrow as pa
from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    AssetSpec,
    MetadataValue,
    Output,
    TableColumn,
    TableColumnConstraints,
    TableRecord,
    TableSchema,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from wandr_pipeline.defs.partitions import videos_partitions
from wandr_pipeline.lib.column_docs import column_description
from wandr_pipeline.lib.outcomes import (
    EMPTY,
    FAILED,
    OK,
    SKIPPED,
    STATUSES,
    NotApplicable,
    short_error,
    upstream_status,
)
from wandr_pipeline.lib.schemas import TABLES, status_row, to_table
from wandr_pipeline.lib.stages import STAGES, Stage, stage
from wandr_pipeline.lib.storage import Storage, read_parquet_bytes

FAILED_VIDEOS_CHECK = "no_failed_videos"  # per run: did any video of the run fail? (+ the run's roll-up)
VIDEO_CHECK = "video_not_failed"  # per partition: did this video fail in this stage?
# Every log line is an event in Dagster's storage (~10-50 ms each on SQLite): a failed video is reported
# by its check result, not a log line (progress: stage_op.py).
SUMMARY_ROWS = 500  # videos listed in a run's summary table (a run holds WANDR_PARTITIONS_PER_RUN)
FAILED_HISTORY_LIMIT = 5000  # latest per-video check results read to find videos that failed before


def failed_videos_check(asset_name: str) -> AssetCheckSpec:
    return AssetCheckSpec(
        FAILED_VIDEOS_CHECK,
        asset=asset_name,
        description="Per run: warns when videos of the run ended with status 'failed' in this stage; its "
        "metadata is the run's summary (a table of every video of the run).",
    )


def video_check(asset_name: str) -> AssetCheckSpec:
    """The per-partition check: a failed video shows failed on its own partition, its neighbours stay green."""
    with warnings.catch_warnings():  # partitioned asset checks are a preview feature of Dagster 1.13
        warnings.simplefilter("ignore")
        return AssetCheckSpec(
            VIDEO_CHECK,
            asset=asset_name,
            partitions_def=videos_partitions,
            description="Per video: fails on the partition of a video whose status in this stage is 'failed' "
            "(the error is in its metadata), passes again once it no longer fails. Videos that never "
            "failed are not evaluated (no extra event per video).",
        )


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


def first_row(table: pa.Table) -> dict[str, Any]:
    return table.slice(0, 1).to_pylist()[0] if table.num_rows else {}


class StageRun:
    """One stage's record of a run: a table per video, each video's failure that video's own.

    Its worker records into it from the stage's thread (`record`, `run_one`, `skip_unless_usable`);
    the stage op calls `results` from Dagster's thread once the stage has done the whole batch.

    What it reports (README "The Dagster UI"):
    - each partition's materialisation carries that video's own metadata (status, error, rows,
      seconds, preview, source URL and title, the stage's parameters and `extra` values), through
      `context.add_asset_metadata(..., partition_key=key)`: nothing is copied onto every partition;
    - the run-level roll-up (counts, seconds, a `MetadataValue.table` of every video) is the metadata
      of the run's `no_failed_videos` check, stored once per run;
    - a video that failed gets a failed `video_not_failed` evaluation on its own partition (and a
      passing one once it no longer fails); videos that never failed get none, so a run stores no
      more events per video than before (docs/BENCHMARKS.md "Events per video").
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
        self.row_values: dict[str, Any] = {}
        self.keys: list[str] = list(keys)
        self.tables: dict[str, pa.Table] = {}
        self.summary: list[dict[str, Any]] = []
        self.extra: dict[str, dict[str, Any]] = {}  # per-video metadata a stage adds (e.g. a contact sheet)
        self.started = time.perf_counter()
        self.finished: float | None = None

    def configure(self, *, parameters: Mapping[str, Any] | None = None, row_values: Mapping[str, Any] | None = None):
        """`parameters`: the stage's processing settings, shown on every partition; `row_values`: columns
        every row of this run carries (the settings recorded in the table itself)."""
        if parameters is not None:
            self.parameters = dict(parameters)
        if row_values is not None:
            self.row_values = {k: v for k, v in row_values.items() if k in self.schema.names}

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
        """Call `work()` for one video and record its rows, or its failure.

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
            self.record(key, [], status=FAILED, error=short_error(exc), seconds=time.perf_counter() - start, base=base)
            return
        if not rows and empty_reason:
            self.record(key, [], status=EMPTY, error=empty_reason, seconds=time.perf_counter() - start, base=base)
            return
        self.record(key, rows, seconds=time.perf_counter() - start, preview=preview(rows) if preview and rows else None)

    def record(
        self,
        key: str,
        rows: list[Mapping[str, Any]],
        *,
        status: str | None = None,
        error: str | None = None,
        seconds: float | None = None,
        preview: str | None = None,
        base: Mapping[str, Any] | None = None,
    ) -> None:
        if status is not None:
            rows = [status_row(self.schema, status, error, **(base or {}))]
        rows = [{**self.row_values, **row} for row in rows] if self.row_values else rows
        try:
            self.tables[key] = to_table(self.schema, rows)
        except Exception as exc:  # noqa: BLE001 - rows that cannot be stored fail this video, not the batch
            status, error = FAILED, f"could not store the results: {short_error(exc)}"
            rows = [status_row(self.schema, status, error, **{**self.row_values, **(base or {})})]
            self.tables[key] = to_table(self.schema, rows)
        statuses = Counter(r["status"] for r in rows)
        video_status = status or (OK if statuses.get(OK) else next(iter(statuses), EMPTY))
        video_error = error or next((r.get("error") for r in rows if r.get("error")), None)
        self.summary = [s for s in self.summary if s["video_key"] != key]  # recorded again: the last word counts
        self.summary.append(
            {
                "video_key": key,
                "status": video_status,
                "rows": len(rows) if status is None else 0,
                "seconds": seconds,
                "error": video_error,
                "preview": preview,
            }
        )

    def tally(self) -> str:
        counts = Counter(item["status"] for item in self.summary)
        return ", ".join(f"{name} {counts[name]}" for name in STATUSES if counts.get(name))

    def results(self, extra_metadata: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """The asset's output (one table per partition) with each partition's own metadata, the
        failed videos' per-partition check results, and the run's roll-up in its run-level check."""
        missing = [k for k in self.keys if k not in self.tables]
        for key in missing:  # a stage bug must still leave a row behind, not a hole
            self.record(key, [], status=FAILED, error="stage produced no result for this video")
        self.finished = self.finished or time.perf_counter()
        videos = self._video_info()
        for item in self.summary:
            item.update(videos.get(item["video_key"], {}))
            self.context.add_asset_metadata(
                self._partition_metadata(item), asset_key=self.asset_key, partition_key=item["video_key"]
            )
        yield Output(self.tables, output_name=self.context.assets_def.get_output_name_for_asset_key(self.asset_key))
        yield from self._partition_checks()
        counts = Counter(s["status"] for s in self.summary)
        failed = [s for s in self.summary if s["status"] == FAILED]
        metadata: dict[str, Any] = {
            "videos": len(self.keys),
            "rows": sum(t.num_rows for t in self.tables.values()),
            "seconds": round(self.finished - self.started, 2),
            **{f"status_{name}": counts.get(name, 0) for name in STATUSES},
            **{f"parameter_{name}": value for name, value in self.parameters.items() if value is not None},
            "summary": summary_table(self.summary),
        }
        if extra_metadata:
            metadata.update(extra_metadata)
        metadata["failed_videos"] = len(failed)
        metadata["failed"] = MetadataValue.json(
            [{"video_key": s["video_key"], "error": s["error"]} for s in failed[:SUMMARY_ROWS]]
        )
        yield AssetCheckResult(
            asset_key=self.asset_key,
            check_name=FAILED_VIDEOS_CHECK,
            passed=not failed,
            severity=AssetCheckSeverity.WARN,
            description=f"{len(failed)} of {len(self.keys)} video(s) of this run failed in {self.table_name}"
            if failed
            else f"none of the {len(self.keys)} video(s) of this run failed in {self.table_name}",
            metadata=metadata,
        )

    def _partition_metadata(self, item: Mapping[str, Any]) -> dict[str, Any]:
        key = item["video_key"]
        metadata: dict[str, Any] = {
            "status": item["status"],
            "dagster/row_count": self.tables[key].num_rows,  # placeholder rows included: what the table holds
        }
        if item.get("error"):
            metadata["error"] = MetadataValue.text(item["error"])
        if item.get("seconds") is not None:
            metadata["seconds"] = round(float(item["seconds"]), 3)
        if item.get("preview"):
            metadata["preview"] = MetadataValue.text(item["preview"])
        source_url = item.get("source_url")
        if source_url:
            is_web = source_url.startswith(("http://", "https://"))
            metadata["source_url"] = MetadataValue.url(source_url) if is_web else MetadataValue.text(source_url)
        if item.get("title"):
            metadata["title"] = MetadataValue.text(item["title"])
        metadata.update({name: value for name, value in self.parameters.items() if value is not None})
        metadata.update(self.extra.get(key, {}))
        return metadata

    def _video_info(self) -> dict[str, dict[str, Any]]:
        """Source URL and title per video: from this stage's own rows when its table has them, else
        from the `videos` table (one read per video, concurrent on GCS)."""
        info: dict[str, dict[str, Any]] = {}
        if {"source_url", "title"} <= set(self.schema.names):
            for key, table in self.tables.items():
                row = first_row(table)
                if row.get("source_url") or row.get("title"):
                    info[key] = {"source_url": row.get("source_url"), "title": row.get("title")}
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
            info[paths[path]] = {"source_url": row.get("source_url"), "title": row.get("title")}
        return info

    def _partition_checks(self) -> Iterator[Output | AssetCheckEvaluation]:
        """A failed `video_not_failed` result on each failed video's partition, and a passing one on each
        video of the run that failed before and no longer does (its partition's check turns green)."""
        asset_key = self.asset_key
        check_key = AssetCheckKey(asset_key, VIDEO_CHECK)
        if check_key not in self.context.selected_asset_check_keys:
            return
        # the check's output (Dagster requires one per selected check, as it makes for an AssetCheckResult)
        yield Output(None, output_name=self.context.assets_def.get_output_name_for_asset_check_key(check_key))
        failed = {s["video_key"]: s for s in self.summary if s["status"] == FAILED}
        failed_before = self._failed_before() if len(failed) < len(self.summary) else set()
        recovered = [s for s in self.summary if s["status"] != FAILED and s["video_key"] in failed_before]
        for item in [*failed.values(), *recovered]:
            key = item["video_key"]
            passed = key not in failed
            yield AssetCheckEvaluation(
                asset_key=asset_key,
                check_name=VIDEO_CHECK,
                passed=passed,
                severity=AssetCheckSeverity.ERROR,
                description=f"{self.table_name} {item['status']}"
                + (f": {item['error']}" if item.get("error") and not passed else ""),
                metadata={
                    "status": item["status"],
                    **({"error": MetadataValue.text(item["error"])} if item.get("error") else {}),
                    **({"title": MetadataValue.text(item["title"])} if item.get("title") else {}),
                },
                target_materialization_data=self._materialization(key),
                blocking=False,
                partition=key,
            )

    def _failed_before(self) -> set[str]:
        """Videos of this run whose latest `video_not_failed` result so far is a failure (one query)."""
        from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

        done = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}
        check_key = AssetCheckKey(self.asset_key, VIDEO_CHECK)
        try:
            history = self.context.instance.event_log_storage.get_asset_check_execution_history(
                check_key, limit=FAILED_HISTORY_LIMIT, status=done
            )
        except Exception as exc:  # noqa: BLE001 - a storage without check history: report failures only
            self.context.log.debug(f"check history not read: {short_error(exc)}")
            return set()
        keys, latest = set(self.keys), {}
        for record in history:  # newest first
            if record.partition in keys and record.partition not in latest:
                latest[record.partition] = record.status == AssetCheckExecutionRecordStatus.FAILED
        return {key for key, failed in latest.items() if failed}

    def _materialization(self, key: str) -> AssetCheckEvaluationTargetMaterializationData | None:
        """The partition's materialisation this run just stored: the check result refers to it."""
        records = self.context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=self.asset_key, asset_partitions=[key]), limit=1
        ).records
        if not records:
            return None
        record = records[0]
        return AssetCheckEvaluationTargetMaterializationData(
            run_id=record.run_id, storage_id=record.storage_id, timestamp=record.timestamp
        )


def summary_table(summary: list[dict[str, Any]], limit: int = SUMMARY_ROWS) -> MetadataValue:
    """The run's videos as a sortable table (the UI shows `MetadataValue.table` as one)."""
    records = []
    for item in summary[:limit]:
        detail = item["error"] if item["status"] != OK else (item.get("preview") or "")
        records.append(
            TableRecord(
                {
                    "video_key": item["video_key"],
                    "status": item["status"],
                    "rows": int(item["rows"]),
                    "seconds": round(float(item["seconds"]), 2) if item.get("seconds") is not None else None,
                    "title": item.get("title") or "",
                    "detail": (detail or "").replace("\n", " ")[:200],
                }
            )
        )
    return MetadataValue.table(records, schema=SUMMARY_SCHEMA)


SUMMARY_SCHEMA = TableSchema(
    columns=[
        TableColumn("video_key", "string", description="the video's partition key"),
        TableColumn("status", "string", description="ok, empty, skipped or failed"),
        TableColumn("rows", "int", description="rows written for the video"),
        TableColumn("seconds", "float", description="processing time of the video in this stage"),
        TableColumn("title", "string", description="the post's title"),
        TableColumn("detail", "string", description="the error, or a preview of the output"),
    ]
)


def column_schema(table: str, schema: pa.Schema) -> TableSchema:
    """`dagster/column_schema` of a warehouse table: its pyarrow columns, with the documented meaning."""
    return TableSchema(
        columns=[
            TableColumn(
                field.name,
                _column_type(field.type),
                description=column_description(table, field.name),
                constraints=TableColumnConstraints(nullable=field.nullable),
            )
            for field in schema
        ]
        + [TableColumn("video_key", "string", description="the video (hive partition folder, not in the files)")]
    )


def _column_type(data_type: pa.DataType) -> str:
    return str(data_type).replace("timestamp[us, tz=UTC]", "timestamp (UTC)")
