"""`url_list_schedule`: ingest one configured URL list (local path, `gs://` or `http(s)://`) on a cron.

Set `WANDR_URL_LIST_SCHEDULE_SOURCE` to turn it on (it then starts running by default) and
`WANDR_URL_LIST_SCHEDULE_CRON` for the cadence (default hourly). Each tick reads the list,
registers the videos that are not partitions yet (at most WANDR_INGEST_MAX_VIDEOS_PER_TICK, the
rest on the next tick) and requests runs of every stage for them (`defs/jobs.new_videos_job`), plus
for videos of the list that were registered earlier but never got their first stage (a crashed run).
A new list version also redoes its videos' failures worth retrying (the planner, as the URL-list
sensor does), as far as each tick's budget goes: downloads in its own runs, later stages through a
`video_requests` request that registered_videos_sensor carries out. A list that did not change
launches nothing else; its rejected lines are reported once per list version (a marker under
`ingestion/lists/` in the storage root remembers which versions were reported, and how far their
videos were checked). Schedules
cannot return dynamic-partition requests as sensors do, so the partitions are added here, after each
video's submission record is written.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from dagster import (
    DefaultScheduleStatus,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from wandr_pipeline.defs.ingestion import video_requests
from wandr_pipeline.defs.ingestion.registered_videos_sensor import SENSOR_NAME
from wandr_pipeline.defs.ingestion.tick import IngestionTick
from wandr_pipeline.defs.jobs import new_videos_job
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME
from wandr_pipeline.lib import ingestion
from wandr_pipeline.settings import Settings

if TYPE_CHECKING:
    from wandr_pipeline.defs.jobs import Jobs


def evaluate_scheduled_list(context: ScheduleEvaluationContext, settings: Settings):
    source = settings.url_list_schedule_source
    if not source:
        return SkipReason("WANDR_URL_LIST_SCHEDULE_SOURCE is not set: nothing to ingest")
    try:
        data = ingestion.read_list_bytes(source)
    except Exception as exc:  # noqa: BLE001 - an unreachable list is this tick's outcome, not a crash
        context.log.error(f"cannot read the scheduled URL list {source}: {exc}")
        return SkipReason(f"cannot read {source}: {exc}")
    sha = ingestion.content_sha256(data)
    parsed = ingestion.parse_list_bytes(
        source, data, allow_local_files=settings.accepts_local_files, local_roots=settings.local_input_roots
    )
    tick = IngestionTick(
        context.instance, settings, context.log, deadline=time.monotonic() + settings.ingest_tick_budget_s
    )
    marker = f"ingestion/lists/{ingestion.list_key(source, sha)}.json"
    first_time = not tick.storage.exists(marker)
    plan_from = 0 if first_time else tick.storage.read_json(marker).get("plan_from")
    progress = tick.ingest(source, parsed, sha, report=first_time, retry_unprocessed=True, plan_from=plan_from)
    if tick.new_keys:
        context.instance.add_dynamic_partitions(VIDEOS_PARTITIONS_NAME, tick.new_keys)
    for event in tick.list_events:
        context.instance.report_runless_asset_event(event)
    if first_time or progress.plan_from != plan_from:
        tick.storage.write_json(
            marker,
            {
                "source": source,
                "sha256": sha,
                "videos": len(parsed.accepted),
                "rejected_lines": len(parsed.rejected),
                "plan_from": progress.plan_from,
            },
        )
    # A schedule's runs are all of its job (`new_videos_job`): the stages to redo for known videos are asked of
    # registered_videos_sensor, which can run any job.
    later = [tick.verdicts[key] for run in tick.plan.runs if not run.every_stage for key in run.keys]
    for verdict in later:
        context.instance.report_runless_asset_event(
            video_requests.request(verdict.key, requested_by=source, verdict=verdict.state, redo_from=verdict.redo_from)
        )
    requests = tick.run_requests(f"schedule:{_tick_time(context)}", later_stages=False)
    if later:
        context.log.info(f"{source}: {len(later)} video(s) to redo after the download: asked of {SENSOR_NAME}")
    if not requests:
        return SkipReason(f"{source}: no new videos{' to download' if later else ' and nothing to redo'}")
    context.log.info(f"{source}: requesting {len(requests)} run(s) of {new_videos_job(settings)}")
    return requests


def _tick_time(context: ScheduleEvaluationContext) -> str:
    """The tick's scheduled time (one run key per tick: an interrupted tick is not run twice)."""
    try:
        return context.scheduled_execution_time.isoformat()
    except Exception:  # noqa: BLE001 - evaluated by hand, outside the daemon: no scheduled time
        return f"manual-{int(time.time())}"


def build_url_list_schedule(settings: Settings, jobs: Jobs) -> ScheduleDefinition:
    @schedule(
        name="url_list_schedule",
        job=jobs[new_videos_job(settings)],
        cron_schedule=settings.url_list_schedule_cron,
        default_status=DefaultScheduleStatus.RUNNING
        if settings.url_list_schedule_source
        else DefaultScheduleStatus.STOPPED,
        description="Ingests the URL list at WANDR_URL_LIST_SCHEDULE_SOURCE "
        f"({settings.url_list_schedule_source or 'not set'}) on {settings.url_list_schedule_cron}.",
    )
    def url_list_schedule(context: ScheduleEvaluationContext):
        return evaluate_scheduled_list(context, settings)

    return url_list_schedule
