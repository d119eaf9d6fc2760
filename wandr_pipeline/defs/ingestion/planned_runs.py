"""The planner's runs (`lib/planner.py`) as the daemon's run requests, for every sensor and schedule road.

A run of every stage goes to the road's own job: for the URL lists `defs.jobs.new_videos_job`
(`process_videos`, one run from list to documents; `ingest_videos` where whole runs go to GPU nodes, the
downstream sensor following with `gpu_stages`), and `process_videos` for the API. A retry of
later stages goes to the smallest stage group's job that holds them (`gpu_stages` for a transcript,
`refresh_documents` for a document, `process_videos` only when the stages span both), with an
`asset_selection` when it holds more: the UI shows the usual jobs, a CPU-only retry does not wait for
the GPU slot, and `in_flight` reads the selection back.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import AssetKey, RunRequest

from wandr_pipeline.defs.instance_state import run_key_digest
from wandr_pipeline.lib.planner import Plan, PlannedRun
from wandr_pipeline.lib.stages import STAGE_GROUPS, StageGroup
from wandr_pipeline.lib.tags import range_tags

# Every job a planned run can go to (sensors must name the jobs they request).
PLANNED_JOBS: tuple[str, ...] = tuple(group.job for group in STAGE_GROUPS)


def retry_group(assets: Sequence[str]) -> StageGroup:
    """The smallest stage group that holds every one of `assets` (process_videos holds them all)."""
    holding = [group for group in STAGE_GROUPS if set(assets) <= set(group.assets)]
    return min(holding, key=lambda group: len(group.assets))


def run_request(run: PlannedRun, *, every_stage_job: str, run_key: str) -> RunRequest:
    if run.every_stage:
        return RunRequest(job_name=every_stage_job, tags=range_tags(run.keys), run_key=run_key)
    group = retry_group(run.assets)
    selection = None if set(run.assets) == set(group.assets) else [AssetKey(asset) for asset in run.assets]
    return RunRequest(job_name=group.job, tags=range_tags(run.keys), run_key=run_key, asset_selection=selection)


def run_requests(plan: Plan, *, every_stage_job: str, run_key_prefix: str, version: str) -> list[RunRequest]:
    """One request per planned run, with the partition range tags every road sets; `version` goes into
    the run keys (what the road saw: list versions, request ids), so a new reason is a new run key."""
    return [
        run_request(
            run,
            every_stage_job=every_stage_job,
            run_key=f"{run_key_prefix}:{run.reason}:{run.keys[0]}..{run.keys[-1]}:"
            f"{run_key_digest(*run.keys, *run.assets, version)}",
        )
        for run in plan.runs
    ]
