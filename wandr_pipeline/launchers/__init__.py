"""Production run launchers that send GPU-stage runs to an NVIDIA L4 worker.

- `k8s.GpuRoutingK8sRunLauncher` (primary, GKE): dagster-k8s's `K8sRunLauncher`, plus a GPU pod
  config merged into the run pod of every GPU run.
- `cloud_run.GpuRoutingCloudRunRunLauncher` (alternative): `dagster-contrib-gcp`'s
  `CloudRunRunLauncher`, which maps a code location to one Cloud Run Job; GPU runs of a location go
  to the job named under `<location>@gpu`.

A run is a GPU run when its tags say `wandr/compute=gpu` (jobs that hold a GPU stage set it), or
when one of the steps it executes carries that op tag (an asset backfill over `transcript`, say,
whose run has no job tags). Both modules need the `prod` extra.
"""

from __future__ import annotations

from typing import Any

from wandr_pipeline.compute import COMPUTE_TAG, GPU

GPU_LOCATION_SUFFIX = "@gpu"


def run_needs_gpu(instance: Any, run: Any, tag_key: str = COMPUTE_TAG, tag_value: str = GPU) -> bool:
    """True when the run, or a step it executes, is tagged `tag_key=tag_value`."""
    if (run.tags or {}).get(tag_key) == tag_value:
        return True
    snapshot_id = getattr(run, "execution_plan_snapshot_id", None)
    if not snapshot_id or instance is None:
        return False
    plan = instance.get_execution_plan_snapshot(snapshot_id)
    selected = set(plan.step_keys_to_execute or [step.key for step in plan.steps])
    return any((step.tags or {}).get(tag_key) == tag_value for step in plan.steps if step.key in selected)
