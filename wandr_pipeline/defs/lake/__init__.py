"""The `analyst_lake` asset and the sensor that keeps it in step with the per-video partitions.

Every change to a video ends in a new `video_documents` materialisation (the downstream sensor
re-runs documents after any upstream backfill), so the sensor follows that asset's materialisations
from the lake's own watermark: the event-log storage id up to which every lake table has committed
(`Lake.watermark`, a Delta app transaction in each table's log). Each tick it collects the videos
documented after it and requests one `sync_lake` run for them (at most one such run at a time, so two
syncs never race for the same Delta commit), passing the newest storage id it covers; the run's
commits record it. A run that fails, at any table, leaves the watermark where it was, so the next
tick asks for the same videos again: nothing is lost until a full resync. Launched by hand with no
`video_keys`, the asset re-syncs every registered video (and moves the watermark to the newest
document it started from). `wandr-pipeline run` syncs the lake itself and records the same
materialisation (`record_lake_sync`), so the asset says when the lake last changed whoever changed it.

The catalog's column schema is the lake's `video_documents` table (where analysts start); each other
table's columns are a `<table> columns` table in the asset's definition metadata.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetRecordsFilter,
    AssetSelection,
    Config,
    DagsterRunStatus,
    DefaultSensorStatus,
    MaterializeResult,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
    asset,
    define_asset_job,
    in_process_executor,
    sensor,
)

from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME
from wandr_pipeline.defs.resources.storage import StorageResource
from wandr_pipeline.defs.run_videos_tag import name_the_run_videos
from wandr_pipeline.lib.column_docs import column_description
from wandr_pipeline.lib.lake import KEY_COLUMN, Lake, TableSync, lake_schema, lake_tables
from wandr_pipeline.lib.stages import LAST_STAGE, STAGES
from wandr_pipeline.lib.storage import storage_for
from wandr_pipeline.lib.tags import COMPUTE_TAG, CPU
from wandr_pipeline.settings import Settings

LAKE_ASSET = "analyst_lake"
LAKE_JOB = "sync_lake"
LAKE_SENSOR = "lake_sync_sensor"
# Materialisation records the sensor reads per tick; more wait for the next tick.
MAX_RECORDS_PER_TICK = 10_000
_ACTIVE = [DagsterRunStatus.QUEUED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


class LakeSyncConfig(Config):
    video_keys: list[str] = []  # empty: every registered video
    # the newest video_documents materialisation (event-log storage id) the keys cover; the sensor sets it
    through_storage_id: int | None = None


def latest_document_id(instance) -> int | None:
    """The storage id of the newest `video_documents` materialisation, if any."""
    records = instance.fetch_materializations(AssetKey(LAST_STAGE.asset), limit=1, ascending=False).records
    return records[0].storage_id if records else None


def lake_column_schema(table: str) -> TableSchema:
    """A lake table's columns (the per-video table's, then `video_key`), with their documented meaning."""
    return TableSchema(
        columns=[
            TableColumn(
                field.name,
                str(field.type).replace("timestamp[us, tz=UTC]", "timestamp (UTC)"),
                description="the video (the partition key of the per-video tables)"
                if field.name == KEY_COLUMN
                else column_description(table, field.name),
                constraints=TableColumnConstraints(nullable=field.nullable),
            )
            for field in lake_schema(table)
        ]
    )


def sync_metadata(synced: list[TableSync], videos: int, watermark: int | None) -> dict:
    """What one sync did, table by table: the `analyst_lake` materialisation's metadata."""
    by_table: dict[str, dict] = {}
    for item in synced:
        entry = by_table.setdefault(
            item.table, {"rows": 0, "seconds": 0.0, "compact_seconds": 0.0, "bytes": 0, "compacted": False}
        )
        entry.update(version=item.version, compacted=entry["compacted"] or item.compacted)
        entry["rows"] += item.rows
        entry["seconds"] += item.seconds
        entry["compact_seconds"] += item.compact_seconds
        entry["bytes"] += item.bytes_written
    return {
        "videos": videos,
        "watermark": watermark if watermark is not None else "unchanged",
        "seconds": round(sum(entry["seconds"] for entry in by_table.values()), 2),
        "compact_seconds": round(sum(entry["compact_seconds"] for entry in by_table.values()), 2),
        "bytes_written": sum(entry["bytes"] for entry in by_table.values()),
        **{f"{table}_version": entry["version"] for table, entry in by_table.items()},
        **{f"{table}_rows_written": entry["rows"] for table, entry in by_table.items()},
        "compacted": ", ".join(table for table, entry in by_table.items() if entry["compacted"]) or "none",
    }


def record_lake_sync(instance, synced: list[TableSync], videos: int, launched_by: str) -> None:
    """A sync made outside a run (the CLI's) as an `analyst_lake` materialisation, as a `sync_lake` run records it."""
    metadata = {**sync_metadata(synced, videos, watermark=None), "launched_by": launched_by}
    instance.report_runless_asset_event(AssetMaterialization(asset_key=LAKE_ASSET, metadata=metadata))


def build_lake_asset(settings: Settings):
    deps = [AssetKey(stage.asset) for stage in STAGES if stage.table in lake_tables()]

    @asset(
        name=LAKE_ASSET,
        group_name="lake",
        kinds={"deltalake"},
        deps=deps,
        description="Every analyst table as one Delta table under <root>/lake/, same columns plus video_key, "
        "rows replaced per video (docs/WAREHOUSE.md).",
        metadata={
            "tables": ", ".join(lake_tables()),
            "location": "lake/<table>",
            "dagster/column_schema": lake_column_schema(LAST_STAGE.table),
            **{f"{table} columns": lake_column_schema(table) for table in lake_tables() if table != LAST_STAGE.table},
        },
    )
    def analyst_lake(context: AssetExecutionContext, config: LakeSyncConfig, storage: StorageResource):
        watermark = config.through_storage_id
        if config.video_keys:
            keys = config.video_keys
        else:  # a full resync: every partition now holds at least what the newest document recorded
            watermark = latest_document_id(context.instance)
            keys = context.instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
        name_the_run_videos(context, keys)
        lake = Lake.from_settings(storage.get(), settings.lake)
        synced = lake.sync(keys, watermark=watermark)
        context.log.info(f"lake: {len(keys)} video(s) synced into {len({item.table for item in synced})} table(s)")
        return MaterializeResult(metadata=sync_metadata(synced, len(keys), watermark))

    return analyst_lake


def build_lake_job():
    return define_asset_job(
        LAKE_JOB,
        selection=AssetSelection.assets(LAKE_ASSET),
        executor_def=in_process_executor,
        tags={COMPUTE_TAG: CPU},
        description="Replace the lake rows of the given videos (all when none given) with their partitions' rows.",
    )


def build_lake_sensor(settings: Settings, job):
    @sensor(
        name=LAKE_SENSOR,
        job=job,
        minimum_interval_seconds=max(1, settings.lake_sync_interval_s),
        # On wherever a daemon runs, as the ingestion sensors are: the analysts' tables must not stop at
        # whatever the last `wandr-pipeline run` wrote. WANDR_LAKE_SYNC=false turns it into a no-op.
        default_status=DefaultSensorStatus.RUNNING,
        description="Syncs the videos documented after the lake's watermark into the analyst lake, one run at a time.",
    )
    def lake_sync_sensor(context: SensorEvaluationContext):
        if not settings.lake_sync:
            return SkipReason("WANDR_LAKE_SYNC is off")
        if context.instance.get_runs_count(RunsFilter(job_name=LAKE_JOB, statuses=_ACTIVE)):
            return SkipReason("a sync_lake run is in flight")
        # The lake's watermark, not a sensor cursor: a failed run must not move it (docstring above).
        after = Lake.from_settings(storage_for(settings.storage_uri), settings.lake).watermark()
        records = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(LAST_STAGE.asset), after_storage_id=after),
            limit=MAX_RECORDS_PER_TICK,
            ascending=True,
        ).records
        keys = list(dict.fromkeys(record.partition_key for record in records if record.partition_key))
        if not keys:
            return SkipReason(f"no {LAST_STAGE.asset} materialisation after the lake's watermark ({after})")
        last = max(record.storage_id for record in records)
        return RunRequest(  # a retry after a failed run asks for the same range: its run key must differ
            run_key=f"lake-{after}-{last}-{context.instance.get_runs_count(RunsFilter(job_name=LAKE_JOB))}",
            run_config={"ops": {LAKE_ASSET: {"config": {"video_keys": keys, "through_storage_id": last}}}},
        )

    return lake_sync_sensor
