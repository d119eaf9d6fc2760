"""Jobs: one per stage group of the registry (lib/stages.py), each over a batch of video partitions,
and the executor every job of the code location runs with (`job_executor`, set on the Definitions, so
the asset job of a UI backfill runs the same way).

Locally (`WANDR_EXECUTOR=in_process`) every step of a run runs in the run's process, so models load
once per run. On Kubernetes (`WANDR_EXECUTOR=k8s`) dagster-k8s's `k8s_job_executor` gives each step
its own pod: the GPU stage op's `dagster-k8s/config` op tag puts that step, and only it, on an L4 node
(lib/tags.py), and its concurrency pool (`gpu`) caps how many GPU steps run at once.

A URL list's new videos run every stage in one run (`process_videos`, `new_videos_job`): a dropped list
waits for one sensor tick, not for a second sensor to pick up its downloaded videos. Only where whole
runs go to a GPU node (`WANDR_K8S_GPU_TAGS` with the in-process executor) does that hold an L4 while
videos download: there the list's runs are `ingest_videos` on CPU and the downstream sensor follows
with `gpu_stages`.

Jobs that hold a GPU stage carry `wandr/compute=gpu` as a run tag (`ingest_videos`, download + audio,
`wandr/compute=cpu`). With the in-process executor they also carry the `dagster-k8s/config` GPU tag,
so that a `K8sRunLauncher` puts the whole run's pod on an L4; with the k8s executor the run pod only
orchestrates, and asks for no GPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetSelection, ExecutorDefinition, define_asset_job, in_process_executor

from wandr_pipeline.defs.partitions import videos_partitions
from wandr_pipeline.lib.stages import INGEST_VIDEOS, PROCESS_VIDEOS, STAGE_GROUPS, StageGroup
from wandr_pipeline.lib.tags import COMPUTE_TAG, CPU, GPU, STAGE_TAG, as_run_tags, gpu_tags_from_settings
from wandr_pipeline.settings import Settings

K8S = "k8s"

# Job name -> what `define_asset_job` returns (a job resolved when Definitions load; Dagster exports
# no name for its class).
Jobs = Mapping[str, Any]


def job_executor(settings: Settings) -> ExecutorDefinition:
    """The executor `WANDR_EXECUTOR` names. `execute_in_process` (the CLI) ignores it: in process always."""
    if settings.executor == K8S:
        # dagster-k8s comes with the `prod` extra: only an install that selects this executor needs it
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return in_process_executor


def new_videos_job(settings: Settings) -> str:
    """The job a URL list's new videos run (module docstring): every stage at once unless that would put
    downloads on a GPU node."""
    whole_runs_on_gpu_nodes = settings.k8s_gpu_tags and settings.executor != K8S
    return INGEST_VIDEOS.job if whole_runs_on_gpu_nodes else PROCESS_VIDEOS.job


def run_tags(group: StageGroup, settings: Settings) -> dict[str, str]:
    if group.compute != GPU:
        tags = {COMPUTE_TAG: CPU}
    elif settings.executor == K8S:  # the GPU goes to the GPU step's pod, from its op tags
        tags = {COMPUTE_TAG: GPU}
    else:
        tags = as_run_tags(gpu_tags_from_settings(settings))
    return {**tags, STAGE_TAG: group.stage_tag} if group.stage_tag else tags


def build_jobs(settings: Settings) -> Jobs:
    """Job name -> job, for every stage group; each runs with the Definitions' executor."""
    return {
        group.job: define_asset_job(
            group.job,
            selection=AssetSelection.assets(*group.assets),
            partitions_def=videos_partitions,
            tags=run_tags(group, settings),
            description=group.description,
        )
        for group in STAGE_GROUPS
    }
