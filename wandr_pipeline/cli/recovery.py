"""After a crash: the Dagster runs a killed `wandr-pipeline run` left behind.

The CLI executes its runs in its own process (`execute_in_process`). Killed with SIGKILL (or by the
OOM killer, or a power cut), nothing reports the run's end, so the instance shows it STARTED for ever.
Each CLI run carries the host name, pid and process start time of the process that executes it
(`process_tags`); `mark_orphaned_runs` fails the runs whose process is gone on this host. It runs at
the start of every `wandr-pipeline run`. Runs of other hosts, or without those tags, are left alone:
whether their process lives cannot be told from here.
"""

from __future__ import annotations

import logging

from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

from wandr_pipeline.lib.liveness import ProcessId
from wandr_pipeline.lib.tags import (
    HOST_TAG,
    LAUNCHED_BY_TAG,
    PARTITION_RANGE_END_TAG,
    PARTITION_RANGE_START_TAG,
    PID_START_TAG,
    PID_TAG,
)

log = logging.getLogger(__name__)

# Statuses a run can be stuck in when its process died.
_UNFINISHED = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


def process_tags(process: ProcessId | None = None) -> dict[str, str]:
    """Run tags naming the process that executes the run."""
    process = process or ProcessId.current()
    tags = {HOST_TAG: process.host, PID_TAG: str(process.pid)}
    if process.start_ticks:
        tags[PID_START_TAG] = process.start_ticks
    return tags


def run_owner(tags: dict[str, str]) -> ProcessId | None:
    """The process named by a run's tags, or None for a run that does not say."""
    host, pid = tags.get(HOST_TAG), tags.get(PID_TAG, "")
    if not host or not pid.isdigit():
        return None
    return ProcessId(host, int(pid), tags.get(PID_START_TAG, ""))


def mark_orphaned_runs(instance: DagsterInstance, launched_by: str = "cli") -> list[DagsterRun]:
    """Fail the unfinished runs (tagged `wandr/launched_by=<launched_by>`) whose process on this host
    is gone; returns them."""
    runs = instance.get_runs(filters=RunsFilter(statuses=_UNFINISHED, tags={LAUNCHED_BY_TAG: launched_by}))
    marked = []
    for run in runs:
        owner = run_owner(run.tags)
        if owner is None or not owner.is_dead():
            continue
        message = (
            f"The process that executed this run (pid {owner.pid} on {owner.host}) is gone: it was killed or "
            f"crashed before the run ended. Marked failed by the next `wandr-pipeline run`; run the URL list "
            f"again to finish its videos."
        )
        instance.report_run_failed(run, message)
        # its GPU step's pool slot too: only a daemon's run monitoring would free it, and a CLI may have none
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        log.warning(
            "run %s (%s, partitions %s..%s) was left %s by pid %s, which is gone: marked failed",
            run.run_id,
            run.job_name,
            run.tags.get(PARTITION_RANGE_START_TAG, "?"),
            run.tags.get(PARTITION_RANGE_END_TAG, "?"),
            run.status.value,
            owner.pid,
        )
        marked.append(run)
    return marked
