"""The local instance's SQLite event log: open connections, Dagster's files, other processes see every event."""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib

import dagster
from dagster import AssetKey, AssetMaterialization, DagsterInstance
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry

from tests.support.paths import REPO
from wandr_pipeline.instance import sqlite_event_log
from wandr_pipeline.instance.sqlite_event_log import OpenSqliteEventLogStorage


def _materialize(instance: DagsterInstance, run_id: str, partition: str) -> None:
    data = StepMaterializationData(AssetMaterialization(AssetKey("clip"), partition=partition, metadata={"rows": 1}))
    event = DagsterEvent(DagsterEventType.ASSET_MATERIALIZATION.value, "job", event_specific_data=data)
    instance.handle_new_event(
        EventLogEntry(
            user_message="",
            level=20,
            job_name="job",
            run_id=run_id,
            error_info=None,
            timestamp=time.time(),
            step_key="ingest_stages",
            dagster_event=event,
        )
    )


def test_the_project_instance_uses_it_in_dagsters_own_folder(home):
    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, OpenSqliteEventLogStorage)
        _materialize(instance, "run-a", "v1")
        with storage.run_connection("run-a") as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert (home / "history" / "runs" / "run-a.db").is_file()  # where the stock storage keeps it
    assert (home / "history" / "runs" / "index.db").is_file()


def test_another_process_reads_what_it_wrote_while_its_connections_stay_open(home):
    with DagsterInstance.get() as writer:
        for i in range(5):
            _materialize(writer, "run-a", f"v{i}")
        reader = (
            "import sys\n"
            f"sys.path.insert(0, {str(REPO)!r})\n"
            "from dagster import AssetKey, DagsterInstance\n"
            "from tests.instance.test_sqlite_event_log import _materialize\n"
            "instance = DagsterInstance.get()\n"
            "print(len(instance.fetch_materializations(AssetKey('clip'), limit=100).records))\n"
            "_materialize(instance, 'run-b', 'v9')\n"
        )
        out = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True, cwd=REPO, check=True)
        assert out.stdout.strip().splitlines()[-1] == "5"
        records = writer.fetch_materializations(AssetKey("clip"), limit=100).records
        assert sorted(r.event_log_entry.dagster_event.partition for r in records) == [
            "v0",
            "v1",
            "v2",
            "v3",
            "v4",
            "v9",
        ]


def test_it_keeps_a_bounded_number_of_databases_open(home, monkeypatch):
    monkeypatch.setattr(sqlite_event_log, "MAX_OPEN_DATABASES", 3)
    with DagsterInstance.get() as instance:
        for i in range(6):
            _materialize(instance, f"run-{i}", "v1")
        storage = instance.event_log_storage
        assert len(storage._engines) == 3
        assert [r.event_log_entry.run_id for r in instance.fetch_materializations(AssetKey("clip"), limit=10).records]


def test_wipe_closes_the_files_it_deletes_and_writing_goes_on(home):
    with DagsterInstance.get() as instance:
        _materialize(instance, "run-a", "v1")
        instance.event_log_storage.wipe()
        assert not (home / "history" / "runs" / "run-a.db").exists()
        _materialize(instance, "run-b", "v2")
        records = instance.fetch_materializations(AssetKey("clip"), limit=10).records
        assert [r.event_log_entry.run_id for r in records] == ["run-b"]


def test_a_table_found_once_is_not_looked_up_again(home, monkeypatch):
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    lookups: list[str] = []
    stock = SqliteEventLogStorage.has_table
    monkeypatch.setattr(
        SqliteEventLogStorage, "has_table", lambda self, name: lookups.append(name) or stock(self, name)
    )
    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert storage.has_table("asset_event_tags") and storage.has_table("asset_event_tags")
        assert not storage.has_table("no_such_table") and not storage.has_table("no_such_table")
    assert lookups.count("asset_event_tags") == 1
    assert lookups.count("no_such_table") == 2  # a missing table may be made later: asked each time


def test_it_runs_only_on_the_dagster_minor_it_was_written_for():
    """It overrides private parts of Dagster's SqliteEventLogStorage, which another minor may change silently."""
    written_for = sqlite_event_log.WRITTEN_FOR_DAGSTER
    installed = ".".join(dagster.__version__.split(".")[:2])
    assert installed == written_for, (
        f"dagster {dagster.__version__} is installed, but OpenSqliteEventLogStorage "
        f"(wandr_pipeline/instance/sqlite_event_log.py) overrides private parts of dagster {written_for}'s "
        "SqliteEventLogStorage. Check _connect, _initdb, _initialized_dbs, _db_lock and has_table in the new "
        "version and re-measure it against the stock storage (docs/BENCHMARKS.md, 'Event storage') before "
        "moving WRITTEN_FOR_DAGSTER and pyproject.toml's dagster pins together, or drop the class "
        "(dagster_home/dagster.yaml, cli/main.py) and use Dagster's own."
    )
    major, minor = (int(part) for part in written_for.split("."))
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"dagster>={written_for},<{major}.{minor + 1}" in dependencies, "pyproject.toml must pin dagster to it"
