"""`K8sRunLauncher` that puts GPU runs on GPU nodes (see the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import Field, Permissive
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import UserDefinedDagsterK8sConfig

from wandr_pipeline.instance.launchers import GpuTagRouting


class GpuRoutingK8sRunLauncher(GpuTagRouting, K8sRunLauncher):
    """Every option of `K8sRunLauncher`, plus:

    - `gpu_run_k8s_config`: a `dagster-k8s/config`-shaped dict (container_config, pod_spec_config,
      ...) merged into the run pod of GPU runs: the `nvidia.com/gpu` request and the L4 node selector.
    - `gpu_tag_key` / `gpu_tag_value`: the tag that marks a GPU run or step (`wandr/compute=gpu`).
    """

    def __init__(self, gpu_run_k8s_config: Mapping[str, Any] | None = None, **kwargs: Any):
        self.gpu_run_k8s_config = dict(gpu_run_k8s_config or {})
        super().__init__(**kwargs)

    @classmethod
    def config_type(cls):
        config = dict(K8sRunLauncher.config_type())
        config["gpu_run_k8s_config"] = Field(
            Permissive(),
            is_required=False,
            default_value={},
            description="dagster-k8s config merged into GPU runs' pods (GPU request, node selector, tolerations).",
        )
        config.update(cls.gpu_tag_fields())
        return config

    def get_container_context_for_run(self, dagster_run) -> K8sContainerContext:
        context = super().get_container_context_for_run(dagster_run)
        if self.gpu_run_k8s_config and self.is_gpu_run(dagster_run):
            gpu = K8sContainerContext(run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(self.gpu_run_k8s_config))
            context = context.merge(gpu)
        return context
