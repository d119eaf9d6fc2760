"""`downstream_batch_sensor`: follows up on ingestion. It groups partitions whose upstream stages are done
into `gpu_stages` runs (transcript, OCR, documents) of up to N videos, and re-runs `extract_media` /
`refresh_documents` for videos whose inputs changed since (a backfill of an upstream stage).

Which runs follow which stage is the registry's (`FOLLOW_UP_GROUPS` in lib/stages.py); how ready videos
are batched is `lib/batching.py` (no Dagster there). This module reads the instance's state and turns
the decisions into a `SensorResult`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from wandr_pipeline.defs.instance_state import StageOutcomes, in_flight, load_cursor, run_key_digest, stage_outcomes
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME
from wandr_pipeline.lib.batching import plan_batches
from wandr_pipeline.lib.stages import FOLLOW_UP_GROUPS, STAGE_ASSET_NAMES, StageGroup
from wandr_pipeline.lib.tags import range_tags
from wandr_pipeline.settings import Settings

if TYPE_CHECKING:
    from wandr_pipeline.defs.jobs import Jobs


def ready_keys(group: StageGroup, order: Sequence[str], latest: StageOutcomes, exclude: set[str]) -> list[str]:
    """Keys whose `follows` assets have all run, one of them since the oldest of the group's assets ran,
    with a new product (a materialisation) or for a video the group never ran for. A stage that failed
    again (an observation, defs/videos/stage.py) leaves what follows it as it was: it recorded that
    failure already, and a retry that fails again starts no follow-up runs."""
    ready = []
    for key in order:
        if key in exclude:
            continue
        upstream_ids = [latest.outcomes[asset].get(key) for asset in group.follows]
        if any(i is None for i in upstream_ids):
            continue
        target_ids = [latest.outcomes[asset].get(key) for asset in group.assets]
        oldest_target = min(-1 if i is None else i for i in target_ids)
        if max(upstream_ids) <= oldest_target:
            continue
        newest_product = max(latest.products[asset].get(key, -1) for asset in group.follows)
        if newest_product > oldest_target or None in target_ids:
            ready.append(key)
    return ready


def evaluate_downstream(context: SensorEvaluationContext, settings: Settings) -> SensorResult | SkipReason:
    state = load_cursor(context.cursor)
    held_state: dict[str, dict[str, float]] = state.get("held", {})
    instance = context.instance
    order = list(instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME))
    if not order:
        return SkipReason("no videos registered yet")
    latest = stage_outcomes(instance, STAGE_ASSET_NAMES)
    flight = in_flight(instance, order)
    now = time.time()
    requests: list[RunRequest] = []
    new_held: dict[str, dict[str, float]] = {}
    requested: set[str] = set()
    for group in FOLLOW_UP_GROUPS:
        busy = flight.keys(group.assets) | requested
        upcoming = flight.keys(set(STAGE_ASSET_NAMES) - set(group.assets)) - busy
        # A video in flight upstream is never requested, only waited for: its run changes its inputs.
        ready = ready_keys(group, order, latest, busy | upcoming)
        plan = plan_batches(
            order,
            ready,
            upcoming,
            settings.partitions_per_run,
            first_ready_at=held_state.get(group.stage_tag, {}),
            now=now,
            max_wait_s=settings.batch_max_wait_s,
        )
        for batch in plan.batches:
            version = max(max(latest.outcomes[a].get(k, -1) for a in group.follows) for k in batch)
            requests.append(
                RunRequest(
                    job_name=group.job,
                    tags=range_tags(batch),
                    run_key=f"{group.stage_tag}:{batch[0]}..{batch[-1]}:{run_key_digest(*batch, version)}",
                )
            )
            requested.update(batch)
            context.log.info(
                f"{group.stage_tag}: requesting {group.job} for {len(batch)} video(s) {batch[0]}..{batch[-1]}"
            )
        if plan.held:
            new_held[group.stage_tag] = plan.held
            context.log.info(
                f"{group.stage_tag}: holding {len(plan.held)} ready video(s) next to videos still "
                f"in flight upstream, to batch them together (at most {settings.batch_max_wait_s:.0f} s)"
            )
    cursor = json.dumps({"held": new_held}, sort_keys=True)
    if not requests:
        held = sum(len(v) for v in new_held.values())
        reason = f"holding {held} video(s) for fuller batches" if held else "no videos ready for a downstream stage"
        return SensorResult(cursor=cursor, skip_reason=reason)
    return SensorResult(run_requests=requests, cursor=cursor)


def build_downstream_sensor(settings: Settings, jobs: Jobs) -> SensorDefinition:
    @sensor(
        name="downstream_batch_sensor",
        jobs=[jobs[group.job] for group in FOLLOW_UP_GROUPS],
        minimum_interval_seconds=max(1, settings.sensor_interval_s),
        default_status=DefaultSensorStatus.RUNNING,
        description="Groups videos whose upstream stages are done into gpu_stages (and extract_media / "
        "refresh_documents) runs "
        f"of up to {settings.partitions_per_run} videos.",
    )
    def downstream_batch_sensor(context: SensorEvaluationContext):
        return evaluate_downstream(context, settings)

    return downstream_batch_sensor
