"""Where production runs the GPU stage, offline: stock Dagster classes, configured by deploy/.

GKE (deploy/dagster.yaml = deploy/k8s/values.yaml): dagster-k8s's `K8sRunLauncher` starts one small
pod per run; the jobs' `k8s_job_executor` (WANDR_EXECUTOR=k8s, set for the code location in the Helm
values) starts a pod per step, and the `model_stages` step's `dagster-k8s/config` op tag puts its pod,
and only its, on an L4 node. The Kubernetes Jobs are built by dagster-k8s's own code; only the API
call (`create_namespaced_job`) is recorded instead of sent. Cloud Run: the stock `CloudRunRunLauncher`
sends every run to the L4 job (deploy/cloudrun/).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from dagster import AssetKey, DagsterInstance, instance_for_test
from dagster._config import process_config, resolve_to_config_type
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.execution.api import create_execution_plan
from dagster._core.execution.context.system import PlanData, PlanOrchestrationContext
from dagster._core.execution.context_creation_job import create_context_free_log_manager
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.in_process import InProcessExecutor
from dagster._core.executor.step_delegating.step_handler.base import StepHandlerContext
from dagster._core.launcher import LaunchRunContext
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._grpc.types import ExecuteStepArgs
from dagster_contrib_gcp.cloud_run.run_launcher import CloudRunRunLauncher
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.executor import K8sStepHandler

from tests.support.paths import REPO
from wandr_pipeline.lib.tags import COMPUTE_TAG, GKE_ACCELERATOR_LABEL, GPU, GPU_POOL, GPU_RESOURCE
from wandr_pipeline.settings import Settings

DEPLOY = REPO / "deploy"
IMAGE = "wandr-pipeline-gpu:test"  # what the code location's Helm deployment gives its runs


def _instance_yaml(path: Path = DEPLOY / "dagster.yaml") -> dict:
    return yaml.safe_load(path.read_text())


def _helm_values() -> dict:
    return yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())


@pytest.fixture(scope="module")
def code_location_env():
    """The environment deploy/k8s/values.yaml gives the code location (WANDR_EXECUTOR, WANDR_K8S_GPU_TAGS)."""
    [deployment] = _helm_values()["dagster-user-deployments"]["deployments"]
    with pytest.MonkeyPatch.context() as patch:
        for item in deployment["env"]:
            patch.setenv(item["name"], item["value"])
        yield {item["name"]: item["value"] for item in deployment["env"]}


@pytest.fixture(scope="module")
def repository(code_location_env):
    return ReconstructableRepository.for_module("wandr_pipeline.definitions", "defs", working_directory=str(REPO))


@pytest.fixture(scope="module")
def launcher_config(tmp_path_factory) -> dict:
    """deploy/dagster.yaml's run launcher config, pointed at a dummy kubeconfig instead of the cluster's."""
    kubeconfig = tmp_path_factory.mktemp("kube") / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "test",
                "clusters": [{"name": "test", "cluster": {"server": "https://127.0.0.1:1"}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
                "users": [{"name": "test", "user": {"token": "x"}}],
            }
        )
    )
    config = {**_instance_yaml()["run_launcher"]["config"], "job_image": IMAGE}
    return {**config, "load_incluster_config": False, "kubeconfig_file": str(kubeconfig)}


@pytest.fixture(scope="module")
def instance(launcher_config):
    section = _instance_yaml()["run_launcher"]
    launcher = {"module": section["module"], "class": section["class"], "config": launcher_config}
    with instance_for_test(overrides={"run_launcher": launcher}) as instance:
        yield instance


class _RecordingBatchApi:
    def __init__(self):
        self.jobs = []

    def create_namespaced_job(self, body, namespace, **kwargs):
        self.jobs.append(body)


def _make_run(instance: DagsterInstance, repository, job_name: str, asset_names: list[str] | None = None):
    job = repository.get_reconstructable_job(job_name)
    if asset_names:
        job = job.get_subset(asset_selection={AssetKey(name) for name in asset_names})
    job_def = job.get_definition()
    origin = job.get_python_origin()
    origin = origin._replace(repository_origin=origin.repository_origin._replace(container_image=IMAGE))
    run = instance.create_run_for_job(
        job_def=job_def,
        execution_plan=create_execution_plan(job),
        tags=job_def.tags,
        asset_selection=frozenset(AssetKey(name) for name in asset_names) if asset_names else None,
        job_code_origin=origin,
    )
    return job, run


def _run_pod(instance, launcher_config, run):
    processed = process_config(resolve_to_config_type(K8sRunLauncher.config_type()), launcher_config)
    assert processed.success, processed.errors
    batch = _RecordingBatchApi()
    launcher = K8sRunLauncher(**{**processed.value, "k8s_client_batch_api": batch})
    launcher.register_instance(instance)
    launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    [job] = batch.jobs
    return job.spec.template.spec


def _step_pods(instance, launcher_config, job, run) -> dict:
    """Step key -> the pod spec `k8s_job_executor`'s step handler asks Kubernetes for (default executor config)."""
    batch = _RecordingBatchApi()
    handler = K8sStepHandler(
        image=None,
        container_context=K8sContainerContext(),
        load_incluster_config=False,
        kubeconfig_file=launcher_config["kubeconfig_file"],
        k8s_client_batch_api=batch,
    )
    plan = create_execution_plan(job)
    plan_context = PlanOrchestrationContext(
        plan_data=PlanData(
            job=job,
            dagster_run=run,
            instance=instance,
            execution_plan=plan,
            raise_on_error=True,
            retry_mode=RetryMode.DISABLED,
        ),
        log_manager=create_context_free_log_manager(instance, run),
        executor=InProcessExecutor(retries=RetryMode.DISABLED),
        output_capture=None,
    )
    pods = {}
    for step in plan.steps:
        args = ExecuteStepArgs(run.job_code_origin, run.run_id, [step.key])
        list(handler.launch_step(StepHandlerContext(instance, plan_context, plan.steps, args, run)))
        pods[step.key] = batch.jobs[-1].spec.template.spec
    return pods


def _gpus(pod) -> str | None:
    resources = pod.containers[0].resources
    return ((resources.limits or {}) if resources else {}).get(GPU_RESOURCE)


def test_the_gke_instance_is_stock_dagster(instance):
    assert type(instance.run_launcher) is K8sRunLauncher
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    raw = _instance_yaml()
    assert "run_coordinator" not in raw  # Dagster's default: the queued coordinator
    assert raw["concurrency"]["pools"] == {"granularity": "op", "default_limit": 4}


def test_the_code_location_runs_every_job_with_the_k8s_executor(repository, code_location_env):
    assert code_location_env == {"WANDR_EXECUTOR": "k8s", "WANDR_K8S_GPU_TAGS": "true"}
    definitions = repository.get_definition()
    for job_name in ("process_videos", "gpu_stages", "ingest_videos", "__ASSET_JOB"):
        assert definitions.get_job(job_name).executor_def.name == "k8s", job_name
    model_stages = definitions.get_job("process_videos").graph.node_named("model_stages").definition
    assert model_stages.pool == GPU_POOL


def test_an_unknown_executor_fails_at_start_up_naming_its_variable(monkeypatch):
    monkeypatch.setenv("WANDR_EXECUTOR", "k8s_job")
    with pytest.raises(ValueError, match="WANDR_EXECUTOR"):
        Settings.from_env()


def test_a_gpu_job_run_pod_only_orchestrates_and_its_model_step_gets_one_l4(instance, repository, launcher_config):
    job, run = _make_run(instance, repository, "process_videos")
    assert run.tags[COMPUTE_TAG] == GPU
    run_pod = _run_pod(instance, launcher_config, run)
    assert _gpus(run_pod) is None
    assert GKE_ACCELERATOR_LABEL not in (run_pod.node_selector or {})
    assert run.run_id in " ".join(run_pod.containers[0].args)

    pods = _step_pods(instance, launcher_config, job, run)
    assert sorted(pods) == ["document_stage", "ingest_stages", "model_stages"]
    gpu_pod = pods["model_stages"]
    assert _gpus(gpu_pod) == "1"
    assert gpu_pod.containers[0].resources.requests["cpu"] == "6"
    assert gpu_pod.node_selector[GKE_ACCELERATOR_LABEL] == "nvidia-l4"
    assert any(t.key == GPU_RESOURCE for t in gpu_pod.tolerations or [])
    assert gpu_pod.containers[0].image == IMAGE
    for key in ("ingest_stages", "document_stage"):
        assert _gpus(pods[key]) is None, key
        assert GKE_ACCELERATOR_LABEL not in (pods[key].node_selector or {}), key
        assert pods[key].containers[0].resources.requests["cpu"] == "1", key  # the launcher's default


def test_a_ui_backfill_of_a_gpu_asset_gets_its_l4_from_the_step(instance, repository, launcher_config):
    """A backfill over `transcript` runs the asset job, with no job tags: the op tags still decide."""
    job, run = _make_run(instance, repository, "__ASSET_JOB", ["transcript"])
    assert COMPUTE_TAG not in run.tags
    pods = _step_pods(instance, launcher_config, job, run)
    assert list(pods) == ["model_stages"]
    assert _gpus(pods["model_stages"]) == "1"
    job, run = _make_run(instance, repository, "__ASSET_JOB", ["raw_video"])
    pods = _step_pods(instance, launcher_config, job, run)
    assert list(pods) == ["ingest_stages"] and _gpus(pods["ingest_stages"]) is None


def test_helm_values_render_the_same_instance_as_deploy_dagster_yaml():
    """deploy/k8s/values.yaml is what the chart turns into the instance; it must say what deploy/dagster.yaml says."""
    instance, values = _instance_yaml(), _helm_values()
    assert values["dagsterDaemon"]["runCoordinator"] == {"enabled": True, "type": "QueuedRunCoordinator"}
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    chart = values["runLauncher"]["config"]["k8sRunLauncher"]
    # The fields the chart's run-launcher template renders from these values (the rest it fills itself).
    rendered = {
        "job_namespace": chart["jobNamespace"],
        "load_incluster_config": chart["loadInclusterConfig"],
        "image_pull_policy": chart["imagePullPolicy"],
        "env_config_maps": [item["name"] for item in chart["envConfigMaps"]],
        "env_secrets": [item["name"] for item in chart["envSecrets"]],
        "fail_pod_on_run_failure": chart["failPodOnRunFailure"],
        "labels": chart["labels"],
        "resources": chart["resources"],
        "service_account_name": values["global"]["serviceAccountName"],
    }
    launcher = instance["run_launcher"]["config"]
    assert rendered == {key: launcher[key] for key in rendered}
    concurrency = values["concurrency"]
    assert concurrency["enabled"] is True
    assert {
        "runs": {
            "max_concurrent_runs": concurrency["runs"]["maxConcurrentRuns"],
            "tag_concurrency_limits": concurrency["runs"]["tagConcurrencyLimits"],
        },
        "pools": {
            "granularity": concurrency["pools"]["granularity"],
            "default_limit": concurrency["pools"]["defaultLimit"],
        },
    } == instance["concurrency"]
    monitoring = values["dagsterDaemon"]["runMonitoring"]
    assert monitoring["freeSlotsAfterRunEndSeconds"] == instance["run_monitoring"]["free_slots_after_run_end_seconds"]
    assert values["postgresql"]["postgresqlScheme"] == instance["storage"]["postgres"]["postgres_db"]["scheme"]


# -- Cloud Run: dagster-contrib-gcp ----------------------------------------------------------------------
class _RecordingJobsClient:
    def __init__(self):
        self.requests = []

    def run_job(self, request):
        self.requests.append(request)
        return SimpleNamespace(metadata=SimpleNamespace(name=f"{request.name}/executions/exec-{len(self.requests)}"))


def _remote_origin(job_name: str) -> RemoteJobOrigin:
    """The origin a run launched from the UI or the daemon has: the code location named as in workspace.yaml."""
    target = LoadableTargetOrigin(module_name="wandr_pipeline.definitions", working_directory=str(REPO))
    location = InProcessCodeLocationOrigin(target, location_name="wandr_pipeline")
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), job_name)


def test_cloud_run_sends_every_run_to_the_l4_job(instance, repository, monkeypatch):
    import google.auth
    from google.auth.credentials import AnonymousCredentials

    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "test-project"))
    config = _instance_yaml(DEPLOY / "cloudrun" / "dagster.yaml")
    assert (config["run_launcher"]["module"], config["run_launcher"]["class"]) == (
        "dagster_contrib_gcp.cloud_run.run_launcher",
        "CloudRunRunLauncher",
    )
    assert "run_coordinator" not in config and config["concurrency"]["pools"]["granularity"] == "op"
    values = {**config["run_launcher"]["config"], "project": "test-project", "region": "europe-west1"}
    processed = process_config(resolve_to_config_type(CloudRunRunLauncher.config_type()), values)
    assert processed.success, processed.errors
    launcher = CloudRunRunLauncher(**processed.value)
    launcher.jobs_client = _RecordingJobsClient()
    launcher.register_instance(instance)

    for job_name in ("ingest_videos", "gpu_stages"):
        _, run = _make_run(instance, repository, job_name)
        run = run._replace(remote_job_origin=_remote_origin(job_name))
        launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
        request = launcher.jobs_client.requests[-1]
        assert request.name == "projects/test-project/locations/europe-west1/jobs/wandr-gpu-worker", job_name
    [spec] = [
        yaml.safe_load(path.read_text())
        for path in (DEPLOY / "cloudrun").glob("*-job.yaml")
        if yaml.safe_load(path.read_text())["metadata"]["name"] == "wandr-gpu-worker"
    ]
    task = spec["spec"]["template"]["spec"]["template"]["spec"]
    assert str(task["containers"][0]["resources"]["limits"][GPU_RESOURCE]) == "1"
    assert task["nodeSelector"]["run.googleapis.com/accelerator"] == "nvidia-l4"
