"""A video's processing state, read from the Dagster instance's run and materialisation records.

Per stage (asset), the newest of two records decides: the latest *planned* materialisation of the
video's partition (written when a run that targets it is created, whatever created it: this API, the
UI, a sensor, a backfill) and the latest *outcome*: its materialisation, or the observation a stage
records instead for a video that failed in it (defs/videos/stage.py). A planned run newer than the last
outcome says what is happening now (queued, running, or failed with its step's error); otherwise the
stage is done. A done stage also carries the video-level outcome its table recorded
(ok, empty, skipped, failed) with the error, since one video's failure never fails a Dagster run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import AssetKey, AssetRecordsFilter, DagsterEventType, DagsterInstance, DagsterRunStatus

from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME
from wandr_pipeline.lib.outcomes import FAILED, upstream_status
from wandr_pipeline.lib.redaction import redact_value
from wandr_pipeline.lib.stages import STAGE_OPS_BY_ASSET, Stage
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.submissions import submission_path

# Overall states of a job (the contract of the original service).
QUEUED, RUNNING, DONE, JOB_FAILED = "queued", "running", "done", "failed"

IN_FLIGHT = {
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
}
NOT_YET_STARTED = {DagsterRunStatus.NOT_STARTED, DagsterRunStatus.QUEUED, DagsterRunStatus.STARTING}


@dataclass
class StageStatus:
    state: str  # pending | queued | waiting | running | done | failed | not_run
    run_id: str | None = None
    updated_at: str | None = None
    outcome: str | None = None  # the video's status in the stage's table: ok | empty | skipped | failed
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "outcome": self.outcome,
            "error": self.error,
            "run_id": self.run_id,
            "updated_at": self.updated_at,
        }


@dataclass
class JobStatus:
    job_id: str
    status: str  # queued | running | done | failed
    stages: dict[str, StageStatus] = field(default_factory=dict)
    error: str | None = None
    run_id: str | None = None
    run_status: str | None = None
    submission: dict[str, Any] | None = None
    detail: str | None = None  # what a job waits for, when that is not its run
    planned_storage_id: int | None = None  # the latest planned materialisation of any stage (not shown)

    @property
    def has_run(self) -> bool:
        return self.run_id is not None

    def as_dict(self) -> dict[str, Any]:
        """The response body; URLs, errors and credential-named fields go through the one redaction rule."""
        submission = self.submission or {}
        return redact_value(
            "",
            {
                "job_id": self.job_id,
                "status": self.status,
                "error": self.error,
                "detail": self.detail,
                "source_url": submission.get("source_url"),
                "submitted_at": submission.get("submitted_at"),
                "run_id": self.run_id,
                "run_status": self.run_status,
                "stages": {name: stage.as_dict() for name, stage in self.stages.items()},
            },
        )


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).isoformat()


def error_text(error_info: Any, limit: int = 500) -> str:
    """The innermost cause of a Dagster `SerializableErrorInfo`, as `Type: message` on one line."""
    while getattr(error_info, "cause", None) is not None:
        error_info = error_info.cause
    message = (getattr(error_info, "message", None) or str(error_info)).strip()
    first = message.splitlines()[0] if message else "error"
    return first[:limit]


class _RunFacts:
    """What one run says about its steps, fetched once per status call."""

    def __init__(self, instance: DagsterInstance, run_id: str):
        record = instance.get_run_record_by_id(run_id)
        self.run = record.dagster_run if record else None
        self.updated_at: str | None = None
        if record is not None:
            self.updated_at = _iso(record.end_time or record.start_time or record.update_timestamp.timestamp())
        self.step_errors: dict[str, str] = {}
        self.run_error: str | None = None
        self.step_states: dict[str, str] = {}
        if self.run is None:
            return
        if self.run.status == DagsterRunStatus.STARTED or self.run.is_finished:
            for stats in instance.get_run_step_stats(run_id):
                self.step_states[stats.step_key] = stats.status.value if stats.status else "IN_PROGRESS"
        if self.run.is_finished and self.run.status != DagsterRunStatus.SUCCESS:
            records = instance.get_records_for_run(
                run_id,
                of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE},
                limit=100,
            ).records
            for record in records:
                event = record.event_log_entry.dagster_event
                if event is None:
                    continue
                if event.event_type == DagsterEventType.STEP_FAILURE and event.step_key:
                    self.step_errors.setdefault(event.step_key, error_text(event.step_failure_data.error))
                elif event.event_type == DagsterEventType.RUN_FAILURE:
                    data = event.event_specific_data
                    info = getattr(data, "error", None)
                    self.run_error = error_text(info) if info else (event.message or "run failed")
            if self.run_error is None:
                self.run_error = f"run {self.run.status.value.lower()}"


def read_status(instance: DagsterInstance, storage: Storage, job_id: str, stages: Sequence[Stage]) -> JobStatus | None:
    """The job's state, or None when no video with this key was ever registered."""
    if not instance.has_dynamic_partition(VIDEOS_PARTITIONS_NAME, job_id):
        return None
    submission = storage.read_json(submission_path(job_id)) if storage.exists(submission_path(job_id)) else None
    runs: dict[str, _RunFacts] = {}

    def facts(run_id: str) -> _RunFacts:
        if run_id not in runs:
            runs[run_id] = _RunFacts(instance, run_id)
        return runs[run_id]

    result = JobStatus(job_id=job_id, status=QUEUED, submission=submission)
    latest_planned: tuple[int, str] | None = None
    for stage in stages:
        asset_key = AssetKey(stage.asset)
        planned = instance.get_latest_planned_materialization_info(asset_key, job_id)
        partition = AssetRecordsFilter(asset_key=asset_key, asset_partitions=[job_id])
        outcomes = [
            *instance.fetch_materializations(partition, limit=1).records,
            *instance.fetch_observations(partition, limit=1).records,
        ]
        mat = max(outcomes, key=lambda record: record.storage_id) if outcomes else None
        if planned and (latest_planned is None or planned.storage_id > latest_planned[0]):
            latest_planned = (planned.storage_id, planned.run_id)
        if planned and (mat is None or planned.storage_id > mat.storage_id):
            result.stages[stage.asset] = _planned_stage(stage, facts(planned.run_id), planned.run_id)
        elif mat is not None:
            entry = mat.event_log_entry
            status = StageStatus("done", run_id=entry.run_id, updated_at=_iso(entry.timestamp))
            status.outcome, status.error = _table_outcome(storage, stage, job_id)
            result.stages[stage.asset] = status
        else:
            result.stages[stage.asset] = StageStatus("pending")

    if latest_planned is not None:
        result.planned_storage_id, result.run_id = latest_planned
        run = facts(latest_planned[1]).run
        result.run_status = run.status.value if run else None
    _summarise(result)
    return result


def _planned_stage(stage: Stage, run: _RunFacts, run_id: str) -> StageStatus:
    if run.run is None:
        return StageStatus("failed", run_id=run_id, error="the run that planned this stage was deleted")
    status = run.run.status
    updated = run.updated_at
    if status in NOT_YET_STARTED:
        return StageStatus("queued", run_id=run_id, updated_at=updated)
    step = STAGE_OPS_BY_ASSET[stage.asset].name  # the stage op computing the stage is the run's step
    step_state = run.step_states.get(step)
    if status in IN_FLIGHT:
        if step_state == "IN_PROGRESS":
            return StageStatus("running", run_id=run_id, updated_at=updated)
        if step_state == "FAILURE":
            return StageStatus(
                "failed", run_id=run_id, updated_at=updated, error=run.step_errors.get(step) or "step failed"
            )
        return StageStatus("waiting", run_id=run_id, updated_at=updated)
    if step in run.step_errors or step_state == "FAILURE":
        return StageStatus(
            "failed",
            run_id=run_id,
            updated_at=updated,
            error=run.step_errors.get(step) or run.run_error or "step failed",
        )
    return StageStatus(
        "not_run",
        run_id=run_id,
        updated_at=updated,
        error=f"run {run_id[:8]} ended ({status.value.lower()}) before this stage: {run.run_error}"
        if run.run_error
        else f"run {run_id[:8]} ended ({status.value.lower()}) before this stage",
    )


def _table_outcome(storage: Storage, stage: Stage, job_id: str) -> tuple[str | None, str | None]:
    try:
        if not storage.has_partition(stage.table, job_id):
            return None, f"no {stage.table} partition in the storage root"
        return upstream_status(storage.read_partition(stage.table, job_id))
    except Exception as exc:  # noqa: BLE001 - a storage hiccup shows in the answer, not as a 500
        return None, f"could not read {stage.table}: {type(exc).__name__}: {exc}"[:300]


def _summarise(result: JobStatus) -> None:
    states = {name: s.state for name, s in result.stages.items()}
    values = set(states.values())
    if values & {"running", "waiting"}:
        result.status = RUNNING
    elif "queued" in values:
        result.status = QUEUED
    elif values == {"done"}:
        final = list(result.stages.values())[-1]
        if final.outcome == FAILED:
            result.status, result.error = JOB_FAILED, final.error or "the video could not be processed"
        else:
            # done with what the other stages made, but a stage that failed is said at the top too
            result.status = DONE
            failed = [
                f"{name} failed: {s.error or 'no reason recorded'}"
                for name, s in result.stages.items()
                if s.outcome == FAILED
            ]
            result.error = "; ".join(failed) or None
    elif values & {"failed", "not_run"}:
        result.status = JOB_FAILED
        first = next(name for name, s in result.stages.items() if s.state in ("failed", "not_run"))
        failed = next((name for name, s in result.stages.items() if s.state == "failed"), first)
        result.error = f"{failed}: {result.stages[failed].error}"
    elif values == {"pending"}:
        result.status = QUEUED  # registered; no run has picked it up yet
    else:
        result.status = JOB_FAILED
        never = [name for name, s in result.stages.items() if s.state == "pending"]
        result.error = f"stages never run: {', '.join(never)}"
