"""The code location loads the way `dagster dev` loads it, with the expected shape."""

import subprocess

from tests.support.paths import REPO
from wandr_pipeline.definitions import build_definitions, defs_folder_definitions
from wandr_pipeline.settings import Settings


def test_definitions_shape():
    defs = build_definitions(Settings.from_env())

    graph = defs.resolve_asset_graph()
    names = {key.to_user_string() for key in graph.get_all_asset_keys()}
    # url_lists: the ingested URL lists, an unpartitioned record asset (docs/INGESTION.md)
    assert names == {
        "raw_video",
        "audio",
        "transcript",
        "sampled_frames",
        "ocr_text",
        "caption_spans",
        "video_documents",
        "url_lists",
        "video_requests",  # requests for registered_videos_sensor, partitioned by video (docs/API.md)
        "analyst_lake",  # the analysts' Delta tables, unpartitioned (docs/WAREHOUSE.md)
    }
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.group_name != "videos":
            continue
        assert node.partitions_def.name == "videos"
        assert node.backfill_policy.policy_type.value == "MULTI_RUN"
        assert node.backfill_policy.max_partitions_per_run >= 10
    assert defs.resolve_job_def("process_videos") is not None
    assert defs.resolve_job_def("sync_lake") is not None


def test_dagsters_defs_folder_loader_finds_what_sits_in_defs_at_module_level():
    """The `dg` way (`[tool.dg]`, load_from_defs_folder) finds the module-level specs; the factories the rest."""
    found = defs_folder_definitions().resolve_asset_graph().get_all_asset_keys()
    assert {key.to_user_string() for key in found} == {"url_lists", "video_requests"}


def test_workspace_yaml_validates(dagster_home):
    completed = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "dagster") if (REPO / ".venv" / "bin" / "dagster").exists() else "dagster",
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]


def test_settings_read_environment(monkeypatch):
    from wandr_pipeline.settings import Settings

    monkeypatch.setenv("WHISPER_MODEL", "base.en")
    monkeypatch.setenv("FRAME_SAMPLE_RATE", "15")  # the original service's name still works
    monkeypatch.setenv("GCS_BUCKET", "my-bucket")
    monkeypatch.delenv("WANDR_STORAGE_URI", raising=False)
    monkeypatch.delenv("WANDR_FRAME_EVERY_N", raising=False)
    settings = Settings.from_env()
    assert (settings.whisper_model, settings.frame_every_n, settings.storage_uri) == (
        "base.en",
        15,
        "gs://my-bucket/wandr",
    )


def test_readme_documents_every_table_column():
    from wandr_pipeline.lib.schemas import SIDE_TABLES, TABLES

    readme = (REPO / "README.md").read_text()
    for table, schema in {**TABLES, **SIDE_TABLES}.items():
        section = readme.split(f"**`{table}`**", 1)
        assert len(section) == 2, f"README has no section for table {table}"
        body = section[1].split("\n\n", 1)[0]
        missing = [name for name in schema.names if f"`{name}`" not in body]
        assert not missing, f"README section of {table} misses {missing}"


def test_an_instance_collected_on_another_thread_breaks_a_later_definitions_load(tmp_path):
    """The failure tests/conftest.py's defs-state fixtures keep from spreading to later tests: a DagsterInstance
    entered and never exited resets its defs-state storage when it is collected, but in the context of the
    thread the garbage collector happens to run on; the entering thread keeps a dead one. If Dagster stops
    doing this, this test fails and those fixtures can go."""
    import gc
    import threading

    import pytest
    from dagster import DagsterInstance
    from dagster._core.errors import DagsterInvariantViolationError

    instance = DagsterInstance.local_temp(str(tmp_path))
    instance.__enter__()  # never exited
    cycle = [instance]
    cycle.append(cycle)  # only the cyclic collector frees it
    del instance, cycle
    collector = threading.Thread(target=gc.collect)
    collector.start()
    collector.join()
    with pytest.raises(DagsterInvariantViolationError, match="undefined DagsterInstance weakref"):
        defs_folder_definitions()


def test_a_later_test_loads_definitions_after_that():
    assert defs_folder_definitions().resolve_asset_graph().get_all_asset_keys()
