"""GPU-stage runs go to an L4 GPU worker, CPU-stage runs do not: the real launchers' requests, offline.

The k8s launcher builds its Kubernetes Job through dagster-k8s's own code; only the final API call
(`create_namespaced_job`) is recorded instead of sent. The Cloud Run launcher's `RunJobRequest` is
recorded the same way, and the Cloud Run job it names is checked against deploy/cloudrun/.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from dagster import AssetKey, DagsterInstance, instance_for_test
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget

from tests.support.paths import REPO
from wandr_pipeline.definitions import build_definitions
from wandr_pipeline.lib.tags import COMPUTE_TAG, GKE_ACCELERATOR_LABEL, GPU, GPU_RESOURCE
from wandr_pipeline.settings import Settings

DEPLOY = REPO / "deploy"
LOCATION = "wandr_pipeline"


@pytest.fixture(scope="module")
def instance():
    with instance_for_test() as instance:
        yield instance


@pytest.fixture(scope="module")
def workspace(instance):
    origin = LoadableTargetOrigin(module_name="wandr_pipeline.definitions", working_directory=str(REPO))
    # Named as in workspace.yaml, so the Cloud Run launcher finds its job mapping.
    target = InProcessWorkspaceLoadTarget(InProcessCodeLocationOrigin(origin, location_name=LOCATION))
    with WorkspaceProcessContext(instance, target) as process_context:
        yield process_context.create_request_context().get_code_location(LOCATION)


def _make_run(
    instance: DagsterInstance,
    location,
    job_name: str,
    asset_names: list[str] | None = None,
    extra_tags: dict | None = None,
):
    defs = build_definitions(Settings.from_env())

    repo = location.get_repository("__repository__")
    remote_job = repo.get_full_job(job_name)
    job_def = defs.resolve_job_def(job_name)
    asset_selection = {AssetKey(name) for name in asset_names} if asset_names else None
    if asset_selection:
        job_def = job_def.get_subset(asset_selection=asset_selection)
    from dagster._core.execution.api import create_execution_plan

    plan = create_execution_plan(job_def, run_config={}, instance_ref=None)
    return instance.create_run_for_job(
        job_def=job_def,
        execution_plan=plan,
        tags={**job_def.tags, **(extra_tags or {})},
        asset_selection=asset_selection,
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
    )


# -- GKE: dagster-k8s ------------------------------------------------------------------------------------
class _RecordingBatchApi:
    def __init__(self):
        self.jobs = []

    def create_namespaced_job(self, body, namespace, **kwargs):
        self.jobs.append((namespace, body))


def _deploy_launcher_config(tmp_path: Path) -> dict:
    """The run launcher config of deploy/dagster.yaml, pointed at a dummy kubeconfig."""
    config = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())["run_launcher"]
    assert config["class"] == "GpuRoutingK8sRunLauncher"
    kubeconfig = tmp_path / "kubeconfig"
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
    values = dict(config["config"])
    values.update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    return values


@pytest.fixture()
def k8s_launcher(instance, tmp_path, monkeypatch):
    from dagster._config import process_config, resolve_to_config_type

    from wandr_pipeline.instance.launchers.k8s import GpuRoutingK8sRunLauncher

    for name in ("DAGSTER_PG_PASSWORD", "WANDR_IMAGE"):
        monkeypatch.setenv(name, "test-value")
    values = _deploy_launcher_config(tmp_path)
    processed = process_config(resolve_to_config_type(GpuRoutingK8sRunLauncher.config_type()), values)
    assert processed.success, processed.errors
    batch = _RecordingBatchApi()
    launcher = GpuRoutingK8sRunLauncher(**{**processed.value, "k8s_client_batch_api": batch})
    launcher.register_instance(instance)
    return launcher, batch


def _launch_k8s(launcher, batch, run):
    from dagster._core.launcher import LaunchRunContext

    launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    namespace, job = batch.jobs[-1]
    pod = job.spec.template.spec
    return pod, pod.containers[0]


def _gpu_request(container) -> str | None:
    limits = (container.resources.limits or {}) if container.resources else {}
    return limits.get(GPU_RESOURCE)


def test_k8s_gpu_job_run_gets_one_l4(instance, workspace, k8s_launcher):
    launcher, batch = k8s_launcher
    run = _make_run(instance, workspace, "gpu_stages")
    assert run.tags[COMPUTE_TAG] == GPU
    pod, container = _launch_k8s(launcher, batch, run)
    assert _gpu_request(container) == "1"
    assert pod.node_selector[GKE_ACCELERATOR_LABEL] == "nvidia-l4"
    assert any(t.key == GPU_RESOURCE for t in pod.tolerations or [])
    assert "dagster" in container.args and run.run_id in " ".join(container.args)


def test_k8s_whole_graph_run_is_a_gpu_run(instance, workspace, k8s_launcher):
    launcher, batch = k8s_launcher
    pod, container = _launch_k8s(launcher, batch, _make_run(instance, workspace, "process_videos"))
    assert _gpu_request(container) == "1"
    assert pod.node_selector[GKE_ACCELERATOR_LABEL] == "nvidia-l4"


def test_k8s_cpu_run_asks_for_no_gpu(instance, workspace, k8s_launcher):
    launcher, batch = k8s_launcher
    run = _make_run(instance, workspace, "ingest_videos")
    assert run.tags[COMPUTE_TAG] == "cpu"
    pod, container = _launch_k8s(launcher, batch, run)
    assert _gpu_request(container) is None
    assert GKE_ACCELERATOR_LABEL not in (pod.node_selector or {})
    assert (container.resources.requests or {}).get("cpu")  # the launcher's CPU defaults still apply


def test_k8s_untagged_asset_run_routed_by_its_steps(instance, workspace, k8s_launcher):
    """A backfill-style run of the implicit asset job has no job tags: its GPU steps decide."""
    launcher, batch = k8s_launcher
    defs = build_definitions(Settings.from_env())

    implicit = defs.resolve_implicit_global_asset_job_def().name
    gpu_run = _make_run(instance, workspace, implicit, ["transcript"])
    assert COMPUTE_TAG not in gpu_run.tags
    _, container = _launch_k8s(launcher, batch, gpu_run)
    assert _gpu_request(container) == "1"
    cpu_run = _make_run(instance, workspace, implicit, ["raw_video"])
    _, container = _launch_k8s(launcher, batch, cpu_run)
    assert _gpu_request(container) is None


def test_k8s_step_executor_gets_gpu_from_op_tags():
    """With the k8s_job_executor each step is a pod: the GPU stages' op tags ask for the L4 (deploy/ sets
    WANDR_K8S_GPU_TAGS; local definitions carry no k8s config)."""
    from dagster_k8s.job import get_user_defined_k8s_config

    defs = build_definitions(Settings.from_env(k8s_gpu_tags=True))

    job = defs.resolve_job_def("process_videos")
    assert sorted(node.name for node in job.graph.node_defs) == ["document_stage", "ingest_stages", "model_stages"]
    for node in job.graph.node_defs:
        config = get_user_defined_k8s_config(node.tags)
        limits = config.container_config.get("resources", {}).get("limits", {})
        if node.name == "model_stages":  # transcript, frames, OCR and caption spans, pipelined in one op
            assert limits.get(GPU_RESOURCE) == "1", node.name
            assert config.pod_spec_config["node_selector"][GKE_ACCELERATOR_LABEL] == "nvidia-l4"
        else:
            assert GPU_RESOURCE not in limits, node.name


# -- Cloud Run: dagster-contrib-gcp ----------------------------------------------------------------------
class _RecordingJobsClient:
    def __init__(self):
        self.requests = []

    def run_job(self, request):
        self.requests.append(request)
        name = f"{request.name}/executions/exec-{len(self.requests)}"
        return SimpleNamespace(metadata=SimpleNamespace(name=name))


@pytest.fixture()
def cloud_run_launcher(instance, monkeypatch):
    import google.auth
    from google.auth.credentials import AnonymousCredentials

    from wandr_pipeline.instance.launchers.cloud_run import GpuRoutingCloudRunRunLauncher

    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "test-project"))
    config = yaml.safe_load((DEPLOY / "cloudrun" / "dagster.yaml").read_text())["run_launcher"]
    assert config["class"] == "GpuRoutingCloudRunRunLauncher"
    values = {**config["config"], "project": "test-project", "region": "europe-west1"}
    from dagster._config import process_config, resolve_to_config_type

    processed = process_config(resolve_to_config_type(GpuRoutingCloudRunRunLauncher.config_type()), values)
    assert processed.success, processed.errors
    launcher = GpuRoutingCloudRunRunLauncher(**processed.value)
    launcher.jobs_client = _RecordingJobsClient()
    launcher.register_instance(instance)
    return launcher


def _cloud_run_job_spec(name: str) -> dict:
    for path in (DEPLOY / "cloudrun").glob("*-job.yaml"):
        spec = yaml.safe_load(path.read_text())
        if spec["metadata"]["name"] == name:
            return spec
    raise AssertionError(f"no deploy/cloudrun/*-job.yaml defines the Cloud Run job {name!r}")


def _launch_cloud_run(launcher, run):
    from dagster._core.launcher import LaunchRunContext

    launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    request = launcher.jobs_client.requests[-1]
    job_name = request.name.rsplit("/", 1)[-1]
    container = _cloud_run_job_spec(job_name)["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]
    template = _cloud_run_job_spec(job_name)["spec"]["template"]
    return request, container, template


def test_cloud_run_gpu_run_goes_to_the_l4_job(instance, workspace, cloud_run_launcher):
    run = _make_run(instance, workspace, "gpu_stages")
    request, container, template = _launch_cloud_run(cloud_run_launcher, run)
    assert request.name == "projects/test-project/locations/europe-west1/jobs/wandr-gpu-worker"
    assert run.run_id in " ".join(request.overrides.container_overrides[0].args)
    assert str(container["resources"]["limits"][GPU_RESOURCE]) == "1"
    task = template["spec"]["template"]["spec"]
    assert task["nodeSelector"]["run.googleapis.com/accelerator"] == "nvidia-l4"
    tags = instance.get_run_by_id(run.run_id).tags
    assert tags["cloud_run_job_execution_id"].startswith("exec-")
    assert tags["wandr/cloud_run_job"] == "wandr_pipeline@gpu"
    # terminate() must cancel the execution under the GPU job, where it lives.
    cancelled = []
    cloud_run_launcher.executions_client = SimpleNamespace(
        cancel_execution=lambda request: cancelled.append(request.name)
    )
    assert cloud_run_launcher.terminate(run.run_id)
    assert cancelled == [f"{request.name}/executions/{tags['cloud_run_job_execution_id']}"]


def test_cloud_run_cpu_run_goes_to_the_cpu_job(instance, workspace, cloud_run_launcher):
    request, container, template = _launch_cloud_run(
        cloud_run_launcher, _make_run(instance, workspace, "ingest_videos")
    )
    assert request.name.endswith("/jobs/wandr-worker")
    assert GPU_RESOURCE not in container["resources"].get("limits", {})
    assert "nodeSelector" not in template["spec"]["template"]["spec"]


def test_helm_values_render_the_same_instance_as_deploy_dagster_yaml():
    """deploy/k8s/values.yaml (Helm) and deploy/dagster.yaml must not drift apart."""
    instance = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    values = yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())
    custom = values["runLauncher"]["config"]["customRunLauncher"]
    assert (custom["module"], custom["class"]) == (
        instance["run_launcher"]["module"],
        instance["run_launcher"]["class"],
    )
    expected = {k: v for k, v in instance["run_launcher"]["config"].items() if k != "job_image"}
    assert custom["config"] == expected
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["type"] == "CustomRunCoordinator"
    custom_coordinator = coordinator["config"]["customRunCoordinator"]
    assert custom_coordinator == instance["run_coordinator"]
    assert values["postgresql"]["postgresqlScheme"] == instance["storage"]["postgres"]["postgres_db"]["scheme"]
