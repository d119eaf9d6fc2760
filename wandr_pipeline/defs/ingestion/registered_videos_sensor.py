"""`registered_videos_sensor`: the daemon makes the runs of the videos `POST /process` registered.

The API only records: a new video's submission record (`submitted_from: api`) and partition, or, for a
video it knew already, a request observation of `api_submissions` (`video_requests.py`). Each tick this
sensor reads what the API asked since its cursor (a storage id of the event log) and the API's videos
that no run ever planned, asks the planner (`lib/planner.py`) which of them need a run, leaves those a
queued or running run covers to that run, and requests `process_videos` runs over adjacent partitions
(a retry of later stages with an `asset_selection`). The sensor daemon evaluates one tick at a time, so
two API hosts posting one video still make one request, and the run key keeps a retried tick from
making a second run.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    DagsterEventType,
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from wandr_pipeline.defs.ingestion import video_requests
from wandr_pipeline.defs.ingestion.planned_runs import PLANNED_JOBS, run_requests
from wandr_pipeline.defs.instance_state import in_flight, load_cursor, partitions_with_outcome
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME
from wandr_pipeline.lib import ingestion
from wandr_pipeline.lib.planner import NEW, Assessment, assess_in_batches, plan_runs
from wandr_pipeline.lib.stages import FIRST_STAGE, PROCESS_VIDEOS, STAGE_ASSET_NAMES
from wandr_pipeline.lib.storage import storage_for
from wandr_pipeline.lib.submissions import API_SOURCE, submission_sources
from wandr_pipeline.settings import Settings

if TYPE_CHECKING:
    from wandr_pipeline.defs.jobs import Jobs

SENSOR_NAME = "registered_videos_sensor"
# Event-log rows read per tick (requests and answers); the rest wait for the next tick.
OBSERVATIONS_PER_TICK = 1000
# Never-planned partitions whose submission record is read per tick, newest first (the API's are new).
NEW_KEYS_PER_TICK = 1000


def evaluate_registered_videos(context: SensorEvaluationContext, settings: Settings) -> SensorResult | SkipReason:
    instance = context.instance
    deadline = time.monotonic() + settings.ingest_tick_budget_s
    state = load_cursor(context.cursor)
    after = state.get("after_storage_id")
    storage = storage_for(settings.storage_uri)
    order = list(instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME))
    known = set(order)
    busy = in_flight(instance, order).keys(STAGE_ASSET_NAMES)

    # What was asked for since the last tick: the video's latest request counts.
    requested: dict[str, int] = {}
    records = video_requests.observations_after(instance, after, OBSERVATIONS_PER_TICK)
    for record in records:
        if video_requests.kind_of(record) == video_requests.REQUEST and record.partition_key:
            requested[record.partition_key] = record.storage_id

    # The API's new videos: registered, and no run ever planned their first stage.
    planned = instance.get_latest_storage_id_by_partition(
        AssetKey(FIRST_STAGE.asset), DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    )
    ingested = partitions_with_outcome(instance, FIRST_STAGE.asset)
    unplanned = [key for key in reversed(order) if key not in planned and key not in ingested and key not in busy]
    sources = submission_sources(storage, unplanned[:NEW_KEYS_PER_TICK])
    new_keys = {key for key, source in sources.items() if source == API_SOURCE}

    verdicts: dict[str, Assessment] = {key: Assessment(key, NEW) for key in new_keys}
    answers = []
    to_assess = []
    for key in requested:
        if key not in known:
            answers.append(video_requests.answer(key, "not a registered video"))
        elif key not in busy and key not in new_keys:
            to_assess.append(key)
    assessed = assess_in_batches(storage, to_assess, batch_size=ingestion.ASSESS_BATCH, deadline=deadline)
    verdicts.update(assessed)
    # Requests not assessed in time are read again next tick: the cursor stops before the first of them.
    unassessed = set(to_assess) - set(assessed)
    cursor_id = records[-1].storage_id if records else after
    if unassessed:
        cursor_id = min(requested[key] for key in unassessed) - 1
    wanted = [key for key in order if key in new_keys or (key in requested and key not in unassessed)]
    plan = plan_runs(order, wanted, verdicts, in_flight=busy, max_per_run=settings.partitions_per_run)
    for key in plan.busy:
        if key in requested:
            answers.append(video_requests.answer(key, "covered by a queued or running run"))
    for key in plan.finished:
        answers.append(video_requests.answer(key, "finished: nothing to redo"))
    for key in plan.failed_for_good:
        answers.append(video_requests.answer(key, f"failed for good: {verdicts[key].error or 'no reason recorded'}"))

    version = ",".join(str(requested[key]) for key in plan.keys if key in requested)
    requests = run_requests(plan, every_stage_job=PROCESS_VIDEOS.job, run_key_prefix="api", version=version)
    for run in plan.runs:
        context.log.info(f"{run.reason}: requesting a run for {len(run.keys)} video(s) {run.keys[0]}..{run.keys[-1]}")
    cursor = json.dumps({"after_storage_id": cursor_id}, sort_keys=True)
    if not requests and not answers:
        if cursor != (context.cursor or ""):
            return SensorResult(cursor=cursor, skip_reason="no registered video waits for a run")
        return SkipReason("no registered video waits for a run")
    return SensorResult(run_requests=requests, asset_events=answers, cursor=cursor)


def build_registered_videos_sensor(settings: Settings, jobs: Jobs) -> SensorDefinition:
    @sensor(
        name=SENSOR_NAME,
        jobs=[jobs[job] for job in PLANNED_JOBS],
        minimum_interval_seconds=max(1, settings.sensor_interval_s),
        default_status=DefaultSensorStatus.RUNNING,
        description="Requests process_videos runs for the videos POST /process registered, and runs for "
        "those it is asked to run again (video_requests: a failure worth retrying), leaving videos in "
        "flight to their run.",
    )
    def registered_videos_sensor(context: SensorEvaluationContext):
        return evaluate_registered_videos(context, settings)

    return registered_videos_sensor
