"""deploy/*.yaml are valid Dagster instance configs, and the pipeline runs with its storage on a real PostgreSQL.

The server is Debian's PostgreSQL, installed by scripts/ensure_postgres.sh when missing (CI runs as
root with apt), started on a loopback port in a temporary folder and stopped afterwards.
"""

from __future__ import annotations

import importlib
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.support.paths import REPO

SCRIPT = REPO / "scripts" / "ensure_postgres.sh"
DEPLOY_CONFIGS = [REPO / "deploy" / "dagster.yaml", REPO / "deploy" / "cloudrun" / "dagster.yaml"]
PG_ENV = {
    "DAGSTER_PG_HOST": "127.0.0.1",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "",
    "DAGSTER_PG_DB": "dagster",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    installed = subprocess.run(["bash", str(SCRIPT), "install"], capture_output=True, text=True, timeout=900)
    if installed.returncode == 3:
        pytest.skip(f"no PostgreSQL server can be installed here: {installed.stderr.strip()}")
    assert installed.returncode == 0, installed.stderr
    folder = Path(tempfile.mkdtemp(prefix="wandr-pg-"))  # directly under /tmp: the server user must reach it
    folder.chmod(0o755)
    port = _free_port()
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", str(folder / "pg"), str(port)], capture_output=True, text=True, timeout=120
    )
    assert started.returncode == 0, started.stderr
    try:
        yield {**PG_ENV, "DAGSTER_PG_PORT": str(port), "url": started.stdout.strip()}
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder / "pg")], timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def _configurable(section: dict):
    module = importlib.import_module(section["module"])
    return getattr(module, section["class"])


@pytest.mark.parametrize("path", DEPLOY_CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_deploy_instance_config_is_valid(path, monkeypatch):
    """The file passes Dagster's instance schema, and each pluggable class accepts its config."""
    from dagster._config import process_config, resolve_to_config_type
    from dagster._core.instance.config import dagster_instance_config

    for name in (
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_USER",
        "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_DB",
        "WANDR_LOGS_BUCKET",
        "WANDR_IMAGE",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_REGION",
    ):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("DAGSTER_PG_PORT", "5432")
    config, _ = dagster_instance_config(str(path.parent), config_filename=path.name)
    raw = yaml.safe_load(path.read_text())
    assert raw["storage"]["postgres"]["postgres_db"]["hostname"] == {"env": "DAGSTER_PG_HOST"}

    checked = []
    for key in ("run_launcher", "compute_logs"):
        section = raw[key]
        klass = _configurable(section)
        result = process_config(resolve_to_config_type(klass.config_type()), section.get("config", {}))
        assert result.success, f"{key}: {result.errors}"
        checked.append(klass.__name__)
    from dagster_postgres import DagsterPostgresStorage

    result = process_config(resolve_to_config_type(DagsterPostgresStorage.config_type()), raw["storage"]["postgres"])
    assert result.success, result.errors
    # Dagster's default queue, and the model_stages op's `gpu` pool limited at op granularity
    assert "run_coordinator" not in raw
    pools = config["concurrency"]["pools"]
    assert pools["granularity"] == "op" and pools["default_limit"] >= 1
    assert checked[1] == "GCSComputeLogManager" and checked[0] in ("K8sRunLauncher", "CloudRunRunLauncher")


def _postgres_home(home: Path) -> None:
    """deploy/dagster.yaml with what needs GCP/Kubernetes (launcher, GCS logs) swapped for local ones."""
    config = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    for key in ("run_launcher", "compute_logs", "run_monitoring", "run_retries"):
        config.pop(key, None)
    config["compute_logs"] = {
        "module": "dagster._core.storage.noop_compute_log_manager",
        "class": "NoOpComputeLogManager",
    }
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))


@pytest.mark.slow
def test_pipeline_runs_on_postgres_storage(postgres, tmp_path, monkeypatch):
    import psycopg2
    from dagster import DagsterInstance, DagsterRunStatus

    from wandr_pipeline.cli.runner import run_url_list
    from wandr_pipeline.settings import Settings

    for name, value in postgres.items():
        if name.startswith("DAGSTER_PG_"):
            monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home"
    _postgres_home(home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("WANDR_STORAGE_URI", str(tmp_path / "store"))
    url_list = tmp_path / "one.txt"
    url_list.write_text(str(REPO / "data" / "samples" / "kyoto_temples.mp4") + "\n")

    with DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        outcome = run_url_list(url_list, Settings.from_env(), instance=instance)
        assert outcome.pipeline_ok, [run.error for run in outcome.runs]
        [key] = outcome.keys
        assert outcome.videos[0]["transcript"] == "ok"
        assert outcome.videos[0]["words"] > 5
        run = instance.get_run_by_id(outcome.runs[0].run_id)
        assert run.status == DagsterRunStatus.SUCCESS
        from dagster import AssetKey

        materialized = instance.get_materialized_partitions(AssetKey("video_documents"))
        assert key in materialized

    # The rows are in the server, not in a local SQLite file.
    assert not list(home.rglob("*.db"))
    with psycopg2.connect(postgres["url"]) as connection, connection.cursor() as cursor:
        cursor.execute("select count(*) from runs where status = 'SUCCESS'")
        assert cursor.fetchone()[0] >= 1
        cursor.execute(
            "select count(*) from event_logs where dagster_event_type = 'ASSET_MATERIALIZATION' and partition = %s",
            (key,),
        )
        assert cursor.fetchone()[0] >= 6
        cursor.execute("select count(*) from dynamic_partitions where partition = %s", (key,))
        assert cursor.fetchone()[0] == 1
