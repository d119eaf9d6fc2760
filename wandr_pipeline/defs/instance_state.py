"""What the Dagster instance knows that the sensors decide on: the partitions that runs in flight will
materialise, and each stage's latest outcome per partition. Also the sensors' shared small pieces:
cursor parsing and run keys.

A stage's outcome for a video is its materialisation, or, when the video failed in that stage, an
observation of the partition with the failure (defs/videos/stage.py: a failed video's partition is not
materialised, so the UI shows it missing and its Materialize dialog's "Missing" selection retries it).
Either one means the stage has run for the video.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from wandr_pipeline.lib.stages import GROUPS_BY_JOB, STAGE_ASSET_NAMES
from wandr_pipeline.lib.tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG, PARTITION_TAG

ACTIVE_STATUSES = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


@dataclass
class InFlight:
    """Partition keys covered by queued or running runs, by stage asset name."""

    keys_by_asset: dict[str, set[str]] = field(default_factory=dict)

    def keys(self, assets: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for asset in assets:
            found |= self.keys_by_asset.get(asset, set())
        return found


def _run_partition_keys(tags: Mapping[str, str], position: Mapping[str, int], order: Sequence[str]) -> list[str]:
    if tags.get(PARTITION_TAG):
        return [tags[PARTITION_TAG]]
    start, end = tags.get(PARTITION_RANGE_START_TAG), tags.get(PARTITION_RANGE_END_TAG)
    if start in position and end in position:
        return list(order[position[start] : position[end] + 1])
    return []


def in_flight(instance: DagsterInstance, order: Sequence[str]) -> InFlight:
    """Which partitions of which stages queued/running runs will materialise."""
    position = {key: i for i, key in enumerate(order)}
    result = InFlight()
    for run in instance.get_runs(filters=RunsFilter(statuses=ACTIVE_STATUSES)):
        keys = _run_partition_keys(run.tags, position, order)
        if not keys:
            continue
        if run.asset_selection:
            assets = [key.to_user_string() for key in run.asset_selection]
        else:
            # an unknown job counts as touching every stage
            group = GROUPS_BY_JOB.get(run.job_name)
            assets = list(group.assets if group else STAGE_ASSET_NAMES)
        for asset in assets:
            if asset in STAGE_ASSET_NAMES:
                result.keys_by_asset.setdefault(asset, set()).update(keys)
    return result


@dataclass
class StageOutcomes:
    """Per stage asset, {partition key: storage id} of the latest materialisation (`products`) and of the
    latest outcome, a materialisation or a failure observation (`outcomes`)."""

    products: dict[str, dict[str, int]] = field(default_factory=dict)
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)


def stage_outcomes(instance: DagsterInstance, assets: Iterable[str]) -> StageOutcomes:
    storage = instance.event_log_storage
    result = StageOutcomes()
    for asset in assets:
        key = AssetKey(asset)
        products = dict(storage.get_latest_storage_id_by_partition(key, DagsterEventType.ASSET_MATERIALIZATION))
        outcomes = dict(products)
        for partition, storage_id in storage.get_latest_storage_id_by_partition(
            key, DagsterEventType.ASSET_OBSERVATION
        ).items():
            outcomes[partition] = max(storage_id, outcomes.get(partition, 0))
        result.products[asset], result.outcomes[asset] = products, outcomes
    return result


def latest_outcomes(instance: DagsterInstance, assets: Iterable[str]) -> dict[str, Mapping[str, int]]:
    """asset -> {partition key: storage id of its latest outcome (materialisation or failure observation)}."""
    return dict(stage_outcomes(instance, assets).outcomes)


def partitions_with_outcome(instance: DagsterInstance, asset: str) -> set[str]:
    """Partitions `asset` has run for: materialised, or observed failed."""
    return set(latest_outcomes(instance, [asset])[asset])


def run_key_digest(*parts: object) -> str:
    """A short digest of what a run request covers, for its run key."""
    return hashlib.sha256("\n".join(str(p) for p in parts).encode()).hexdigest()[:12]


def load_cursor(cursor: str | None) -> dict:
    try:
        data = json.loads(cursor) if cursor else {}
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}
