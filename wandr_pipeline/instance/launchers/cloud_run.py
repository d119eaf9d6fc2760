"""`CloudRunRunLauncher` that sends GPU runs of a code location to that location's GPU job.

`job_name_by_code_location` maps `wandr_pipeline` to the CPU Cloud Run Job and `wandr_pipeline@gpu`
to the job created with `--gpu 1 --gpu-type nvidia-l4` (deploy/cloudrun/). A location with no
`@gpu` entry runs everything on its one job, as the stock launcher does.
"""

from __future__ import annotations

import contextlib
import threading

from dagster import DagsterInstance
from dagster import _check as check
from dagster._core.events import EngineEventData
from dagster._grpc.types import ExecuteRunArgs
from dagster_contrib_gcp.cloud_run.run_launcher import CloudRunRunLauncher

from wandr_pipeline.instance.launchers import GPU_LOCATION_SUFFIX, GpuTagRouting
from wandr_pipeline.lib.tags import CLOUD_RUN_JOB_TAG


class GpuRoutingCloudRunRunLauncher(GpuTagRouting, CloudRunRunLauncher):
    def __init__(self, *args, **kwargs):
        self._routing = threading.local()
        super().__init__(*args, **kwargs)

    @classmethod
    def config_type(cls):
        config = dict(CloudRunRunLauncher.config_type())
        config.update(cls.gpu_tag_fields())
        return config

    def job_key_for_run(self, dagster_run) -> str:
        """The `job_name_by_code_location` entry this run goes to."""
        location = check.not_none(dagster_run.remote_job_origin).location_name
        gpu_key = f"{location}{GPU_LOCATION_SUFFIX}"
        if gpu_key in self.job_name_by_code_location and self.is_gpu_run(dagster_run):
            return gpu_key
        return location

    def launch_run(self, context) -> None:
        # The stock launch_run, with the job chosen per run instead of per code location.
        run = context.dagster_run
        job_origin = check.not_none(context.job_code_origin)
        repository_origin = job_origin.repository_origin._replace(container_context={})
        args = ExecuteRunArgs(
            job_origin=job_origin._replace(repository_origin=repository_origin),
            run_id=run.run_id,
            instance_ref=self._instance.get_ref(),
        )
        job_key = self.job_key_for_run(run)
        operation = self.create_execution(job_key, args.get_command_args())
        execution_id = operation.metadata.name.split("/")[-1]
        instance: DagsterInstance = self._instance
        instance.report_engine_event(
            message=f"Launched run in Cloud Run execution of {self.fully_qualified_job_name(job_key)}",
            dagster_run=run,
            engine_event_data=EngineEventData({"Execution ID": execution_id, "Cloud Run job": job_key}),
            cls=self.__class__,
        )
        instance.add_run_tags(run.run_id, {"cloud_run_job_execution_id": execution_id, CLOUD_RUN_JOB_TAG: job_key})

    # terminate() and check_run_worker_health() name the execution under the location's job: for a
    # GPU run it lives under the GPU job, recorded in the run's tags at launch.
    def fully_qualified_job_name(self, code_location_name: str) -> str:
        return super().fully_qualified_job_name(getattr(self._routing, "job_key", None) or code_location_name)

    @contextlib.contextmanager
    def _routed(self, run):
        self._routing.job_key = (run.tags or {}).get(CLOUD_RUN_JOB_TAG) if run else None
        try:
            yield
        finally:
            self._routing.job_key = None

    def terminate(self, run_id: str) -> bool:
        with self._routed(self._instance.get_run_by_id(run_id)):
            return super().terminate(run_id)

    def check_run_worker_health(self, run):
        with self._routed(run):
            return super().check_run_worker_health(run)
