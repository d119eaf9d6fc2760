"""`url_list_sensor`: watches `data/url_lists/` (and `<bucket root>/url_lists/` on GCS) for new or changed
list files, registers their videos as partitions and requests the planner's runs for the list's videos:
every stage for new ones (`process_videos`, one run per batch: `defs/jobs.py`), the stages to redo for
failures worth retrying (docs/INGESTION.md).

The work is in `wandr_pipeline.lib.ingestion` (no Dagster there); this module keeps the cursor of which
file versions were ingested and turns the decisions into a `SensorResult`.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from dagster import (
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from wandr_pipeline.defs.ingestion.planned_runs import PLANNED_JOBS
from wandr_pipeline.defs.ingestion.tick import IngestionTick
from wandr_pipeline.defs.instance_state import load_cursor
from wandr_pipeline.defs.partitions import videos_partitions
from wandr_pipeline.lib import ingestion
from wandr_pipeline.settings import Settings

if TYPE_CHECKING:
    from wandr_pipeline.defs.jobs import Jobs

# A local list file modified this recently may still be being written: it waits a tick.
SETTLE_SECONDS = 2.0


def evaluate_url_lists(context: SensorEvaluationContext, settings: Settings) -> SensorResult | SkipReason:
    state = load_cursor(context.cursor)
    files_state: dict[str, dict] = state.setdefault("files", {})
    tick = IngestionTick(
        context.instance, settings, context.log, deadline=time.monotonic() + settings.ingest_tick_budget_s
    )
    candidates: list[ingestion.ListFile] = []
    for location in settings.url_list_dirs:
        try:
            candidates += ingestion.find_list_files(location, settings.url_list_suffixes)
        except Exception as exc:  # noqa: BLE001 - one unreachable location must not stop the others
            context.log.error(f"cannot list {location}: {exc}")
    candidates.sort(key=lambda f: (f.modified or 0.0, f.uri))
    now = time.time()
    pending_files = 0
    for listed in candidates:
        known = files_state.get(listed.uri)
        if known and known.get("sig") == listed.signature and known.get("done"):
            continue
        if tick.out_of_time and tick.versions:  # every tick makes some progress
            pending_files += 1
            continue
        if listed.modified is not None and now - listed.modified < SETTLE_SECONDS:
            pending_files += 1  # still being written: next tick
            continue
        try:
            pending_files += _ingest_file(context, settings, tick, listed, known, files_state)
        except Exception as exc:  # noqa: BLE001 - one file that cannot be read or ingested never stops the others
            context.log.error(f"cannot ingest {listed.uri}: {type(exc).__name__}: {exc}")
    seen = {f.uri for f in candidates}
    state["files"] = {uri: value for uri, value in files_state.items() if uri in seen}
    cursor = json.dumps(state, sort_keys=True)
    if not tick.new_keys and not tick.plan.runs and not tick.list_events:
        if cursor != (context.cursor or ""):
            return SensorResult(cursor=cursor, skip_reason="no new videos in the URL lists")
        return SkipReason(f"no new or changed URL lists in {', '.join(settings.url_list_dirs)}")
    requests = tick.run_requests("url_list")
    context.log.info(
        f"registered {len(tick.new_keys)} new video(s); requesting {len(requests)} run(s) "
        f"for {len(tick.plan.keys)} video(s)"
        f"{f'; {len(tick.plan.busy)} left to their queued or running run' if tick.plan.busy else ''}"
        f"{f'; {pending_files} list(s) continue on the next tick' if pending_files else ''}"
    )
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[videos_partitions.build_add_request(tick.new_keys)] if tick.new_keys else [],
        asset_events=tick.list_events,
        cursor=cursor,
    )


def _ingest_file(context, settings: Settings, tick: IngestionTick, listed, known: dict | None, files_state) -> int:
    """Read, parse and register one list file; returns 1 when it has videos left for a later tick."""
    data = ingestion.read_list_bytes(listed.uri)
    sha = ingestion.content_sha256(data)
    if known and known.get("sha") == sha and known.get("done"):
        files_state[listed.uri] = {**known, "sig": listed.signature}  # touched, not changed
        return 0
    first_time = not (known and known.get("sha") == sha)
    parsed = ingestion.parse_list_bytes(
        listed.uri, data, allow_local_files=settings.accepts_local_files, local_roots=settings.local_input_roots
    )
    plan_from = 0 if first_time else known.get("plan_from")
    progress = tick.ingest(
        listed.uri, parsed, sha, report=first_time, retry_unprocessed=first_time, plan_from=plan_from
    )
    files_state[listed.uri] = {
        "sig": listed.signature,
        "sha": sha,
        "done": progress.done,
        "plan_from": progress.plan_from,
    }
    return 0 if progress.done else 1


def build_url_list_sensor(settings: Settings, jobs: Jobs) -> SensorDefinition:
    @sensor(
        name="url_list_sensor",
        jobs=[jobs[job] for job in PLANNED_JOBS],
        minimum_interval_seconds=max(1, settings.sensor_interval_s),
        default_status=DefaultSensorStatus.RUNNING,
        description="Registers the videos of new or changed URL list files in "
        f"{', '.join(settings.url_list_dirs)} and requests runs for them: ingest runs for new videos, "
        "the stages to redo for failures worth retrying when a list is dropped again.",
    )
    def url_list_sensor(context: SensorEvaluationContext):
        return evaluate_url_lists(context, settings)

    return url_list_sensor
