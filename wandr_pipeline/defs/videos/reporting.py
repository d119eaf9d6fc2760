"""What a stage shows in Dagster: each partition's metadata, the per-video and per-run checks, the columns.

The outcomes come from the stage's `OutcomeRecord` (lib/video_outcomes.py); this module only turns
them into Dagster's metadata, check specs and check results (README "The Dagster UI"):
- each partition's materialisation carries that video's own metadata (status, error, rows, seconds,
  preview, source URL and title, the stage's parameters and its own extra values);
- the run-level roll-up (counts, seconds, a `MetadataValue.table` of every video) is the metadata of
  the run's `no_failed_videos` check, stored once per run;
- a video that failed gets a failed `video_not_failed` evaluation on its own partition (and a passing
  one once it no longer fails); videos that never failed get none, so a run stores no more events per
  video than before (docs/BENCHMARKS.md "Events per video").
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from typing import Any

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
    MetadataValue,
    Output,
    TableColumn,
    TableColumnConstraints,
    TableRecord,
    TableSchema,
)

# Dagster 1.13 exports neither name. The evaluation's target materialisation is what makes the UI count
# a partition's check result as current (`AssetCheckPartitionInfo.is_current`); the record status
# filters the check history in SQL. tests/defs/test_reporting.py fails when either name moves.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from wandr_pipeline.defs.partitions import videos_partitions
from wandr_pipeline.lib.column_docs import column_description
from wandr_pipeline.lib.outcomes import FAILED, short_error
from wandr_pipeline.lib.video_outcomes import OutcomeRecord, VideoOutcome

FAILED_VIDEOS_CHECK = "no_failed_videos"  # per run: did any video of the run fail? (+ the run's roll-up)
VIDEO_CHECK = "video_not_failed"  # per partition: did this video fail in this stage?
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


def partition_metadata(
    outcome: VideoOutcome, table_rows: int, parameters: Mapping[str, Any], extra: Mapping[str, Any]
) -> dict[str, Any]:
    """One partition's materialisation metadata; `table_rows`: what its table holds (placeholders included)."""
    metadata: dict[str, Any] = {"status": outcome.status, "dagster/row_count": table_rows}
    if outcome.error:
        metadata["error"] = MetadataValue.text(outcome.error)
    if outcome.seconds is not None:
        metadata["seconds"] = round(float(outcome.seconds), 3)
    if outcome.preview:
        metadata["preview"] = MetadataValue.text(outcome.preview)
    url = outcome.source_url
    if url:
        is_web = url.startswith(("http://", "https://"))
        metadata["source_url"] = MetadataValue.url(url) if is_web else MetadataValue.text(url)
    if outcome.title:
        metadata["title"] = MetadataValue.text(outcome.title)
    metadata.update({name: value for name, value in parameters.items() if value is not None})
    metadata.update(extra)
    return metadata


def run_check_result(
    asset_key: AssetKey, table_name: str, record: OutcomeRecord, metadata: Mapping[str, Any]
) -> AssetCheckResult:
    """The run's `no_failed_videos` result: warns when any video failed; `metadata` plus the failed list."""
    failed = record.failed()
    total = len(record.keys)
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=FAILED_VIDEOS_CHECK,
        passed=not failed,
        severity=AssetCheckSeverity.WARN,
        description=f"{len(failed)} of {total} video(s) of this run failed in {table_name}"
        if failed
        else f"none of the {total} video(s) of this run failed in {table_name}",
        metadata={
            **metadata,
            "failed_videos": len(failed),
            "failed": MetadataValue.json([{"video_key": o.video_key, "error": o.error} for o in failed[:SUMMARY_ROWS]]),
        },
    )


def run_metadata(record: OutcomeRecord, seconds: float, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The run's roll-up: counts, seconds, the stage's parameters and the summary table."""
    return {
        "videos": len(record.keys),
        "rows": record.total_rows(),
        "seconds": round(seconds, 2),
        **{f"status_{name}": count for name, count in record.counts().items()},
        **{f"parameter_{name}": value for name, value in parameters.items() if value is not None},
        "summary": summary_table(record),
    }


def partition_check_results(
    context: AssetExecutionContext, asset_key: AssetKey, table_name: str, record: OutcomeRecord
) -> Iterator[Output | AssetCheckEvaluation]:
    """A failed `video_not_failed` result on each failed video's partition, and a passing one on each
    video of the run that failed before and no longer does (its partition's check turns green)."""
    check_key = AssetCheckKey(asset_key, VIDEO_CHECK)
    if check_key not in context.selected_asset_check_keys:
        return
    # the check's output (Dagster requires one per selected check, as it makes for an AssetCheckResult)
    yield Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(check_key))
    failed = {o.video_key: o for o in record.failed()}
    outcomes = record.outcomes
    failed_before = _failed_before(context, check_key, record.keys) if len(failed) < len(outcomes) else set()
    recovered = [o for o in outcomes if o.status != FAILED and o.video_key in failed_before]
    for outcome in [*failed.values(), *recovered]:
        passed = outcome.video_key not in failed
        yield AssetCheckEvaluation(
            asset_key=asset_key,
            check_name=VIDEO_CHECK,
            passed=passed,
            severity=AssetCheckSeverity.ERROR,
            description=f"{table_name} {outcome.status}"
            + (f": {outcome.error}" if outcome.error and not passed else ""),
            metadata={
                "status": outcome.status,
                **({"error": MetadataValue.text(outcome.error)} if outcome.error else {}),
                **({"title": MetadataValue.text(outcome.title)} if outcome.title else {}),
            },
            target_materialization_data=_materialization(context, asset_key, outcome.video_key),
            blocking=False,
            partition=outcome.video_key,
        )


def _failed_before(context: AssetExecutionContext, check_key: AssetCheckKey, keys: list[str]) -> set[str]:
    """Videos of `keys` whose latest `video_not_failed` result so far is a failure (one query)."""
    done = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}
    try:
        history = context.instance.event_log_storage.get_asset_check_execution_history(
            check_key, limit=FAILED_HISTORY_LIMIT, status=done
        )
    except Exception as exc:  # noqa: BLE001 - a storage without check history: report failures only
        context.log.debug(f"check history not read: {short_error(exc)}")
        return set()
    wanted, latest = set(keys), {}
    for execution in history:  # newest first
        if execution.partition in wanted and execution.partition not in latest:
            latest[execution.partition] = execution.status == AssetCheckExecutionRecordStatus.FAILED
    return {key for key, failed in latest.items() if failed}


def _materialization(
    context: AssetExecutionContext, asset_key: AssetKey, key: str
) -> AssetCheckEvaluationTargetMaterializationData | None:
    """The partition's materialisation this run just stored: the check result refers to it."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=[key]), limit=1
    ).records
    if not records:
        return None
    record = records[0]
    return AssetCheckEvaluationTargetMaterializationData(
        run_id=record.run_id, storage_id=record.storage_id, timestamp=record.timestamp
    )


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


def summary_table(record: OutcomeRecord, limit: int = SUMMARY_ROWS) -> MetadataValue:
    """The run's videos as a sortable table (the UI shows `MetadataValue.table` as one)."""
    return MetadataValue.table([TableRecord(row) for row in record.summary_rows(limit)], schema=SUMMARY_SCHEMA)


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
