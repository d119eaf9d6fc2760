"""Every run and op tag key the pipeline sets or reads, and the GPU tags that route stages to an L4.

One place, so that the jobs, sensors, CLI, API and launchers that write a tag and those that read it
back spell it the same way. No Dagster import here: these are plain strings and dicts.

- `wandr/compute=gpu` marks a GPU stage / GPU run, for people and filters in the UI. What caps the
  GPU work is the GPU stage op's Dagster concurrency pool `gpu` (`GPU_POOL`), limited in each
  instance's `dagster.yaml` (`concurrency: pools:`).
- `dagster-k8s/config` asks Kubernetes for the GPU: one `nvidia.com/gpu` and a node selector for the
  accelerator type (GKE's `cloud.google.com/gke-accelerator: nvidia-l4`). dagster-k8s reads it from
  op tags (step pods of the `k8s_job_executor`) and from run tags (the run pod of `K8sRunLauncher`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

# Dagster's own tags: a run over one partition, or over a range of partitions (what backfills set).
PARTITION_TAG = "dagster/partition"
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
BACKFILL_TAG = "dagster/backfill"  # on a backfill's runs, and on the materialisations they record

# The videos a run covers, readable in the runs list ("3 videos: url-a, url-b, url-c"); set with the range.
VIDEOS_TAG = "wandr/videos"
VIDEOS_TAG_KEYS = 4  # keys named in it; longer runs say "first, second, ... last"
# Which stage group a run belongs to (ingest, media, gpu, documents) and who launched it (cli, api).
STAGE_TAG = "wandr/stage"
LAUNCHED_BY_TAG = "wandr/launched_by"
# The process that executes a CLI run, so that the next CLI run can tell it died (cli/recovery.py).
HOST_TAG = "wandr/host"
PID_TAG = "wandr/pid"
PID_START_TAG = "wandr/pid_start"

COMPUTE_TAG = "wandr/compute"
# The Dagster concurrency pool of the GPU stage op: at most the pool's limit of GPU steps run at once.
GPU_POOL = "gpu"
GPU = "gpu"
CPU = "cpu"
K8S_CONFIG_TAG = "dagster-k8s/config"
GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
GPU_RESOURCE = "nvidia.com/gpu"


def gpu_k8s_config(
    accelerator: str = "nvidia-l4", gpu_count: int = 1, cpu: str = "6", memory: str = "24Gi"
) -> dict[str, Any]:
    """The `dagster-k8s/config` for a pod that needs `gpu_count` GPUs of type `accelerator`.

    An L4 node on GKE (g2-standard-8) has 8 vCPUs and 32 GB: the defaults leave room for the
    kubelet and keep CPU threads free for audio decoding and frame sampling next to the GPU.
    """
    if gpu_count < 1:
        raise ValueError("gpu_count must be >= 1 for a GPU pod")
    return {
        "container_config": {
            "resources": {
                "requests": {"cpu": cpu, "memory": memory, GPU_RESOURCE: str(gpu_count)},
                "limits": {"memory": memory, GPU_RESOURCE: str(gpu_count)},
            },
        },
        "pod_spec_config": {
            "node_selector": {GKE_ACCELERATOR_LABEL: accelerator},
            # GKE taints GPU nodes; it adds this toleration itself to GPU pods, saying it is harmless.
            "tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
        },
    }


def gpu_tags(
    accelerator: str = "nvidia-l4",
    gpu_count: int = 1,
    cpu: str = "6",
    memory: str = "24Gi",
) -> dict[str, Any]:
    """Op tags (and run tags) of a GPU stage."""
    return {COMPUTE_TAG: GPU, K8S_CONFIG_TAG: gpu_k8s_config(accelerator, gpu_count, cpu, memory)}


def gpu_tags_from_settings(settings) -> dict[str, Any]:
    """The GPU tags; the `dagster-k8s/config` part only where runs go to Kubernetes (`WANDR_K8S_GPU_TAGS`)."""
    if not settings.k8s_gpu_tags:
        return {COMPUTE_TAG: GPU}
    return gpu_tags(settings.gpu_accelerator, settings.gpu_count, settings.gpu_pod_cpu, settings.gpu_pod_memory)


def as_run_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """Run tags must be strings: nested config is JSON, as dagster-k8s expects."""
    return {key: value if isinstance(value, str) else json.dumps(value, sort_keys=True) for key, value in tags.items()}


def range_tags(keys: Sequence[str]) -> dict[str, str]:
    """Run tags for a run over the adjacent partitions `keys[0]..keys[-1]`, and which videos those are."""
    return {PARTITION_RANGE_START_TAG: keys[0], PARTITION_RANGE_END_TAG: keys[-1], VIDEOS_TAG: videos_tag(keys)}


def videos_tag(keys: Sequence[str]) -> str:
    """`1 video: url-a` / `3 videos: url-a, url-b, url-c` / `50 videos: url-a, url-b, ... url-z`."""
    keys = list(keys)
    named = keys if len(keys) <= VIDEOS_TAG_KEYS else [*keys[: VIDEOS_TAG_KEYS - 1], "...", keys[-1]]
    return f"{len(keys)} video{'s' if len(keys) != 1 else ''}: {', '.join(named).replace(', ...,', ', ...')}"
