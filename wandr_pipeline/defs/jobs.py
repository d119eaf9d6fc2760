"""Jobs: one per stage group of the registry (lib/stages.py), each over a batch of video partitions in one
process (models load once per run).

Jobs that hold a GPU stage carry the GPU run tags (lib/tags.py): `wandr/compute=gpu` for the run queue's
GPU limit, and the `dagster-k8s/config` that puts the run's pod on an L4 node. `ingest_videos`
(download + audio) is CPU only, so a deployment keeps the GPU for the model stages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from dagster import AssetSelection, define_asset_job, in_process_executor

from wandr_pipeline.defs.partitions import videos_partitions
from wandr_pipeline.lib.stages import STAGE_GROUPS, StageGroup
from wandr_pipeline.lib.tags import COMPUTE_TAG, CPU, GPU, STAGE_TAG, as_run_tags, gpu_tags_from_settings
from wandr_pipeline.settings import Settings

if TYPE_CHECKING:  # what define_asset_job returns; Dagster does not export the class
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

    Jobs = Mapping[str, UnresolvedAssetJobDefinition]


def run_tags(group: StageGroup, settings: Settings) -> dict[str, str]:
    tags = as_run_tags(gpu_tags_from_settings(settings)) if group.compute == GPU else {COMPUTE_TAG: CPU}
    return {**tags, STAGE_TAG: group.stage_tag} if group.stage_tag else tags


def build_jobs(settings: Settings) -> Jobs:
    """Job name -> job, for every stage group."""
    return {
        group.job: define_asset_job(
            group.job,
            selection=AssetSelection.assets(*group.assets),
            partitions_def=videos_partitions,
            executor_def=in_process_executor,
            tags=run_tags(group, settings),
            description=group.description,
        )
        for group in STAGE_GROUPS
    }
