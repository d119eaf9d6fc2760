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

from wandr_pipeline.lib.tags import COMPUTE_TAG, GPU

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


class GpuTagRouting:
    """What both GPU-routing launchers share: the tag that marks a GPU run or step, as config.

    Listed before the stock launcher in the bases; `__init__` takes `gpu_tag_key`/`gpu_tag_value`
    and hands the rest of the config to the stock launcher.
    """

    def __init__(self, *args: Any, gpu_tag_key: str = COMPUTE_TAG, gpu_tag_value: str = GPU, **kwargs: Any):
        self.gpu_tag_key = gpu_tag_key
        self.gpu_tag_value = gpu_tag_value
        super().__init__(*args, **kwargs)

    @staticmethod
    def gpu_tag_fields() -> dict[str, Any]:
        """The config fields to add to the stock launcher's `config_type()`."""
        from dagster import Field, StringSource

        return {
            "gpu_tag_key": Field(StringSource, is_required=False, default_value=COMPUTE_TAG),
            "gpu_tag_value": Field(StringSource, is_required=False, default_value=GPU),
        }

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def is_gpu_run(self, dagster_run) -> bool:
        return run_needs_gpu(self._instance, dagster_run, self.gpu_tag_key, self.gpu_tag_value)
