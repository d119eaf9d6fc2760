"""What a stage shows in Dagster: each partition's metadata, the per-video and per-run checks, the columns.

The outcomes come from the stage's `OutcomeRecord` (lib/video_outcomes.py); this module only turns
them into Dagster's metadata, check specs and check results (README "The Dagster UI"):
- each partition's materialisation carries that video's own metadata (status, error, rows, seconds,
  preview, source URL and title, the stage's parameters and its own extra values); a video that
  failed in the stage gets an observation with the same metadata instead, and its partition stays
  missing (defs/videos/stage.py `StageRun.results`);
- the run-level roll-up (counts, seconds, a `MetadataValue.table` of every video) is the metadata of
  the run's `no_failed_videos` check, stored once per run;
- every video of the run gets a `video_not_failed` evaluation on its own partition: passed, or failed
  with the error. Only evaluating the failed ones saved one event per video per stage, but the UI then
  showed every healthy video's check "Skipped" (orange) and each stage "1/2 Passed"
  (docs/BENCHMARKS.md "Failed videos as missing partitions ...").

Dagster OSS counts a partition as failed only when the run that planned it failed, and as
materialised as soon as it has one materialisation: a batch run that succeeds cannot say "this video
failed" through partition status. So the stage op stores the partitions' events itself: its output
carries `PARTITION_EVENTS_OUR_OWN`, the marker under which Dagster's step execution records no
materialisation per partition for an output (its own source-asset observations use it), and
`StageRun.results` yields one materialisation per partition that has a product and one observation per
video that failed. The output is still yielded, so the downstream stage ops of the run still run
(an output not yielded skips them). tests/defs/test_reporting.py fails when Dagster drops the marker.
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
    DagsterInstance,
    MetadataValue,
    Output,
    TableColumn,
    TableColumnConstraints,
    TableRecord,
    TableSchema,
)

# Dagster 1.13 exports neither name. The evaluation's target materialisation is what makes the UI count
# a partition's check result as current (`AssetCheckPartitionInfo.is_current`); the output metadata key
# stops Dagster from recording a materialisation for every partition of the output (module docstring).
# tests/defs/test_reporting.py fails when either name moves or changes meaning.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.definitions.source_asset import SYSTEM_METADATA_KEY_SOURCE_ASSET_OBSERVATION

from wandr_pipeline.defs.partitions import videos_partitions
from wandr_pipeline.lib.column_docs import column_description
from wandr_pipeline.lib.outcomes import FAILED
from wandr_pipeline.lib.video_outcomes import OutcomeRecord, VideoOutcome

FAILED_VIDEOS_CHECK = "no_failed_videos"  # per run: did any video of the run fail? (+ the run's roll-up)
VIDEO_CHECK = "video_not_failed"  # per partition: did this video fail in this stage?
SUMMARY_ROWS = 500  # videos listed in a run's summary table (a run holds WANDR_PARTITIONS_PER_RUN)
PARTITION_EVENTS_OUR_OWN = {SYSTEM_METADATA_KEY_SOURCE_ASSET_OBSERVATION: True}


def video_label(key: str, title: str | None) -> str:
    """How a log line or a check result names one video: its key, and its title (or source) when known."""
    return f"{key} ({title})" if title else key


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
            description="Per video: passes on each video the stage processed, fails on a video whose status "
            "in this stage is 'failed' (the error is in its metadata; the partition itself is left "
            "missing, so the Materialize dialog's 'Missing' selection retries it).",
        )


def partition_metadata(
    outcome: VideoOutcome, table_rows: int, parameters: Mapping[str, Any], extra: Mapping[str, Any]
) -> dict[str, Any]:
    """One partition's materialisation metadata; `table_rows`: what its table holds (placeholders included)."""
    # `rows`, not `dagster/row_count`: the catalog shows the latest partition's row count as the whole asset's
    metadata: dict[str, Any] = {"status": outcome.status, "rows": table_rows}
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
    context: AssetExecutionContext, asset_key: AssetKey, table_name: str, record: OutcomeRecord, after: int | None
) -> Iterator[Output | AssetCheckEvaluation]:
    """Each video's `video_not_failed` result on its own partition: passed, or failed with the error;
    `after`: the asset's latest storage id before this run's partition events (their results refer to
    them)."""
    check_key = AssetCheckKey(asset_key, VIDEO_CHECK)
    if check_key not in context.selected_asset_check_keys:
        return
    # the check's output (Dagster requires one per selected check, as it makes for an AssetCheckResult)
    yield Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(check_key))
    materialized = _materializations_after(context, asset_key, record.keys, after)
    for outcome in record.outcomes:
        passed = outcome.status != FAILED
        yield AssetCheckEvaluation(
            asset_key=asset_key,
            check_name=VIDEO_CHECK,
            passed=passed,
            severity=AssetCheckSeverity.ERROR,
            description=f"{video_label(outcome.video_key, outcome.title)}: {table_name} {outcome.status}"
            + (f": {outcome.error}" if outcome.error and not passed else ""),
            metadata={
                "status": outcome.status,
                **({"error": MetadataValue.text(outcome.error)} if outcome.error else {}),
                **({"title": MetadataValue.text(outcome.title)} if outcome.title else {}),
            },
            target_materialization_data=materialized.get(outcome.video_key),
            blocking=False,
            partition=outcome.video_key,
        )


def latest_storage_id(instance: DagsterInstance, asset_key: AssetKey) -> int | None:
    """The storage id of the asset's newest materialisation, any partition (None: never materialised)."""
    records = instance.fetch_materializations(asset_key, limit=1).records
    return records[0].storage_id if records else None


def _materializations_after(
    context: AssetExecutionContext, asset_key: AssetKey, keys: list[str], after: int | None
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """The partitions' materialisations this run just stored (one query): each check result refers to its own."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=keys, after_storage_id=after),
        limit=2 * len(keys),
    ).records
    found: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}
    for record in records:  # newest first
        if record.partition_key and record.partition_key not in found:
            found[record.partition_key] = AssetCheckEvaluationTargetMaterializationData(
                run_id=record.run_id, storage_id=record.storage_id, timestamp=record.timestamp
            )
    return found


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
