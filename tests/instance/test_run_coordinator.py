"""OpTagRunCoordinator: runs get the `wandr/compute` tag of their steps, so the queue can limit them."""

from __future__ import annotations

from dagster import DagsterRunStatus, instance_for_test, job, op
from dagster._core.execution.api import create_execution_plan
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.run_coordinator import SubmitRunContext
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from wandr_pipeline.instance.run_coordinator import OpTagRunCoordinator, tags_from_steps

COORDINATOR = {
    "module": "wandr_pipeline.instance.run_coordinator",
    "class": "OpTagRunCoordinator",
    "config": {
        "max_concurrent_runs": 4,
        "tag_concurrency_limits": [{"key": "wandr/compute", "value": "gpu", "limit": 1}],
    },
}


@op(tags={"wandr/compute": "gpu"})
def transcribe():
    return 1


@op(tags={"wandr/compute": "cpu"})
def download():
    return 1


@op
def join(a, b):
    return a + b


@job
def mixed():
    join(download(), transcribe())


@job
def cpu_only():
    download()


def submit(instance, job_def, tags=None, step_keys=None):
    plan = create_execution_plan(job_def, step_keys_to_execute=step_keys) if step_keys else None
    origin = RemoteJobOrigin(
        RemoteRepositoryOrigin(
            InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=__file__)), "__repository__"
        ),
        job_def.name,
    )
    run = instance.create_run_for_job(job_def, execution_plan=plan, tags=tags or {}, remote_job_origin=origin)
    instance.run_coordinator.submit_run(SubmitRunContext(run, workspace=None))  # type: ignore[arg-type]
    return instance.get_run_by_id(run.run_id)


def test_runs_get_the_compute_tag_of_their_steps():
    with instance_for_test(overrides={"run_coordinator": COORDINATOR}) as instance:
        assert isinstance(instance.run_coordinator, OpTagRunCoordinator)
        gpu = submit(instance, mixed)
        assert gpu.status == DagsterRunStatus.QUEUED
        assert gpu.tags["wandr/compute"] == "gpu"  # gpu wins over cpu in a mixed run
        assert submit(instance, cpu_only).tags["wandr/compute"] == "cpu"
        # A subset run (re-execution of the CPU steps) is tagged from the steps it runs.
        assert submit(instance, mixed, step_keys=["download"]).tags["wandr/compute"] == "cpu"
        # Tags the launcher set are kept.
        assert submit(instance, mixed, tags={"wandr/compute": "cpu-override"}).tags["wandr/compute"] == "cpu-override"


def test_the_coordinator_keeps_the_queue_settings():
    with instance_for_test(
        overrides={
            "run_coordinator": {**COORDINATOR, "config": {**COORDINATOR["config"], "propagate_op_tags": ["team"]}}
        }
    ) as instance:
        coordinator = instance.run_coordinator
        assert coordinator.get_run_queue_config().max_concurrent_runs == 4
        assert coordinator.get_run_queue_config().tag_concurrency_limits == [
            {"key": "wandr/compute", "value": "gpu", "limit": 1}
        ]
        assert coordinator._propagate_op_tags == ("team",)


def test_tags_from_steps():
    assert tags_from_steps([{"wandr/compute": "cpu"}, None, {"wandr/compute": "gpu"}], ["wandr/compute"], {}) == {
        "wandr/compute": "gpu"
    }
    assert tags_from_steps([{"other": "x"}], ["wandr/compute"], {}) == {}
    assert tags_from_steps([{"wandr/compute": "gpu"}], ["wandr/compute"], {"wandr/compute": "cpu"}) == {}
