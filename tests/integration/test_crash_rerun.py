"""Crash safety (issue 7): `wandr-pipeline run` killed with SIGKILL in the middle of a batch, then re-run.

The slow test runs the real CLI as a subprocess against an on-disk SQLite Dagster instance and a
storage root in tmp, kills its whole process group once the second batch is half done, checks that
the state left behind is partial but consistent, re-runs the same command, and checks that every
video ends up in every table exactly once, that the batch finished before the kill was not redone,
and that the killed run is marked failed in the instance. The fast tests cover the pieces alone.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.paths import SAMPLES
from tests.support.servers import LoopbackServer
from wandr_pipeline.lib.liveness import ProcessId, host_name, pid_is_alive, process_start_ticks
from wandr_pipeline.lib.planner import FAILED_FOR_GOOD, FINISHED, NEW, RETRYABLE, assess_videos, plan_runs
from wandr_pipeline.lib.schemas import TABLES, VIDEO_DOCUMENTS, VIDEOS, status_row, to_table
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.urls import parse_video_url

PARTITIONS_PER_RUN = 3


def _dead_process() -> ProcessId:
    """The identity of a process of this host that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    start = process_start_ticks(child.pid)
    child.wait()
    return ProcessId(host_name(), child.pid, start)


def _temp_name(target: str, owner: ProcessId | None) -> str:
    suffix = f".{owner.token()}" if owner else ""
    return f".{target}.{uuid.uuid4().hex}{suffix}.tmp"


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


# -- fast: the pieces ------------------------------------------------------------------------------


def test_process_liveness():
    me = ProcessId.current()
    assert pid_is_alive(me.pid, me.start_ticks) and not me.is_dead()
    dead = _dead_process()
    assert not pid_is_alive(dead.pid, dead.start_ticks) and dead.is_dead()
    if me.start_ticks:  # Linux: a recycled pid (same number, other start time) is not the old process
        assert not pid_is_alive(me.pid, str(int(me.start_ticks) - 1))
    assert not ProcessId("some-other-host", dead.pid).is_dead()  # another host's process: cannot tell
    assert ProcessId.from_token(me.token()) == me
    assert ProcessId.from_token("no.dots_1_2") is None


def test_killed_write_leftovers_are_hidden_from_readers_and_removed_by_the_next_write(tmp_path):
    storage = Storage(str(tmp_path), stale_temp_age_s=600)
    row = lambda title: to_table(VIDEOS, [status_row(VIDEOS, "ok", None, source_url="http://x", title=title)])  # noqa: E731
    storage.write_partition("videos", "k1", row("first"))
    folder = tmp_path / "warehouse" / "videos" / "video_key=k1"
    half = _parquet_bytes(row("second"))[:200]  # what a write killed half-way leaves
    dead, alive = _dead_process(), ProcessId.current()
    left_by_dead = folder / _temp_name("part-0.parquet", dead)
    left_by_live = folder / _temp_name("part-0.parquet", alive)  # a concurrent writer: not to be touched
    old_unowned = folder / _temp_name("part-0.parquet", None)  # before owners were recorded
    other_target = folder / _temp_name("other.parquet", dead)
    for path in (left_by_dead, left_by_live, old_unowned, other_target):
        path.write_bytes(half)
    os.utime(old_unowned, (time.time() - 3600, time.time() - 3600))
    # a partition whose first write was killed: its folder holds only the temporary file
    (tmp_path / "warehouse" / "videos" / "video_key=k2").mkdir()
    (tmp_path / "warehouse" / "videos" / "video_key=k2" / _temp_name("part-0.parquet", dead)).write_bytes(half)

    frame = pd.read_parquet(tmp_path / "warehouse" / "videos")
    assert list(frame.title) == ["first"] and list(frame.video_key.astype(str)) == ["k1"]
    counted = duckdb.sql(
        f"select count(*) from read_parquet('{tmp_path}/warehouse/videos/*/*.parquet', hive_partitioning=true)"
    ).fetchall()[0][0]
    assert counted == 1

    storage.write_partition("videos", "k1", row("second"))
    assert sorted(p.name for p in folder.iterdir()) == sorted(["part-0.parquet", left_by_live.name, other_target.name])
    assert storage.read_partition("videos", "k1").column("title").to_pylist() == ["second"]
    storage.write_partition("videos", "k2", row("k2"))
    assert [p.name for p in (tmp_path / "warehouse" / "videos" / "video_key=k2").iterdir()] == ["part-0.parquet"]


def test_a_rerun_redoes_what_a_kill_left_unfinished_and_a_passing_download_failure(tmp_path):
    """The planner's verdicts (lib/planner.py) on what a killed run leaves: a video with its download
    but no document is new again; a download that failed for a passing reason is retried, one that
    failed for good (404) or was skipped (over a limit) is not."""
    storage = Storage(str(tmp_path))
    errors = {"failed-503": "HTTP Error 503 (transient; gave up after 3 tries)", "failed-404": "HTTP Error 404"}

    def write(key, video_status, document):
        error = errors.get(key) if video_status != "ok" else None
        storage.write_partition(
            "videos",
            key,
            to_table(
                VIDEOS,
                [status_row(VIDEOS, video_status, error, retryable=key == "failed-503", source_url="http://x")],
            ),
        )
        if document:
            status = "ok" if video_status == "ok" else "failed"
            row = status_row(VIDEO_DOCUMENTS, status, None, source_url="http://x")
            storage.write_partition("video_documents", key, to_table(VIDEO_DOCUMENTS, [row]))

    write("done", "ok", True)
    write("killed-mid-batch", "ok", False)  # downloaded, but the run died before its document
    write("failed-503", "failed", True)
    write("failed-404", "failed", True)
    write("skipped-download", "skipped", True)  # e.g. over the length limit: no point retrying
    keys = ["done", "killed-mid-batch", "failed-503", "failed-404", "skipped-download", "never-seen"]
    verdicts = assess_videos(storage, keys)
    assert {key: verdict.state for key, verdict in verdicts.items()} == {
        "done": FINISHED,
        "killed-mid-batch": NEW,
        "failed-503": RETRYABLE,
        "failed-404": FAILED_FOR_GOOD,
        "skipped-download": FINISHED,
        "never-seen": NEW,
    }
    plan = plan_runs(keys, keys, verdicts, max_per_run=50)
    assert sorted(plan.keys) == ["failed-503", "killed-mid-batch", "never-seen"]
    assert assess_videos(storage, []) == {}


def test_runs_left_started_by_a_dead_cli_process_are_marked_failed(dagster_home):
    from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus

    from wandr_pipeline.cli.recovery import mark_orphaned_runs, process_tags

    instance = DagsterInstance.get()
    dead = _dead_process()

    def add(status, tags):
        return instance.add_run(
            DagsterRun(job_name="process_videos", run_id=str(uuid.uuid4()), status=status, tags=tags)
        ).run_id

    orphan = add(DagsterRunStatus.STARTED, {"wandr/launched_by": "cli", **process_tags(dead)})
    orphan_not_started = add(DagsterRunStatus.NOT_STARTED, {"wandr/launched_by": "cli", **process_tags(dead)})
    running = add(DagsterRunStatus.STARTED, {"wandr/launched_by": "cli", **process_tags()})
    elsewhere = add(
        DagsterRunStatus.STARTED, {"wandr/launched_by": "cli", **process_tags(ProcessId("another-host", dead.pid))}
    )
    untagged = add(DagsterRunStatus.STARTED, {"wandr/launched_by": "cli"})
    via_api = add(DagsterRunStatus.STARTED, {"wandr/launched_by": "api", **process_tags(dead)})
    finished = add(DagsterRunStatus.SUCCESS, {"wandr/launched_by": "cli", **process_tags(dead)})

    slots = instance.event_log_storage
    slots.set_concurrency_slots("gpu", 1)  # the killed run held the one GPU slot; a live run waits for it
    slots.claim_concurrency_slot("gpu", orphan, "model_stages")
    assert slots.claim_concurrency_slot("gpu", running, "model_stages").is_claimed is False

    marked = mark_orphaned_runs(instance)
    assert sorted(run.run_id for run in marked) == sorted([orphan, orphan_not_started])
    assert slots.get_concurrency_info("gpu").claimed_slots == []  # freed with the run
    assert slots.claim_concurrency_slot("gpu", running, "model_stages").is_claimed
    status = {
        run_id: instance.get_run_by_id(run_id).status
        for run_id in (orphan, orphan_not_started, running, elsewhere, untagged, via_api, finished)
    }
    assert status == {
        orphan: DagsterRunStatus.FAILURE,
        orphan_not_started: DagsterRunStatus.FAILURE,
        running: DagsterRunStatus.STARTED,
        elsewhere: DagsterRunStatus.STARTED,
        untagged: DagsterRunStatus.STARTED,
        via_api: DagsterRunStatus.STARTED,
        finished: DagsterRunStatus.SUCCESS,
    }
    [event] = instance.all_logs(orphan, of_type=DagsterEventType.RUN_FAILURE)
    assert f"pid {dead.pid}" in event.message and "killed or crashed" in event.message
    assert mark_orphaned_runs(instance) == []  # idempotent


# -- slow: kill the real CLI and run it again ------------------------------------------------------


@pytest.fixture()
def six_videos(tmp_path):
    """Two copies of each sample clip under different names, served over loopback HTTP."""
    clips = tmp_path / "clips"
    clips.mkdir()
    names = [f"{clip.stem}_{copy}.mp4" for copy in range(2) for clip in sorted(SAMPLES.glob("*.mp4"))]
    for name in names:
        shutil.copy(SAMPLES / f"{name.rsplit('_', 1)[0]}.mp4", clips / name)
    server = LoopbackServer(clips)
    yield server, names
    server.close()


def _partition_file(warehouse: Path, table: str, key: str) -> Path:
    return warehouse / table / f"video_key={key}" / "part-0.parquet"


def _temp_files(root: Path) -> list[Path]:
    return [path for path in root.rglob(".*.tmp") if path.is_file()]


@pytest.mark.slow
def test_sigkill_mid_batch_then_rerun_processes_every_video_exactly_once(tmp_path, six_videos, monkeypatch):
    from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus

    server, names = six_videos
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    storage = tmp_path / "storage"
    warehouse = storage / "warehouse"
    url_list = tmp_path / "six.txt"
    url_list.write_text("".join(f"{server.url(name)}\n" for name in names))
    keys = [parse_video_url(server.url(name)).video_key for name in names]
    first_batch, second_batch = keys[:PARTITIONS_PER_RUN], keys[PARTITIONS_PER_RUN:]
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "WANDR_STORAGE_URI": str(storage),
        "WANDR_PARTITIONS_PER_RUN": str(PARTITIONS_PER_RUN),
        "HF_HUB_OFFLINE": "1",
        "ORT_DISABLE_TELEMETRY": "1",
    }
    command = [sys.executable, "-m", "wandr_pipeline.cli", "run", str(url_list)]
    have = lambda table, key: _partition_file(warehouse, table, key).exists()  # noqa: E731

    # 1. run, and SIGKILL the process group once the second batch is half done: its downloads and audio
    #    are written, its document is not (the first batch has finished by then: runs go in order)
    started = time.monotonic()
    with open(tmp_path / "killed_run.log", "w") as log:
        process = subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    killed_process = ProcessId(host_name(), process.pid, process_start_ticks(process.pid))
    try:
        while not all(have("audio", key) for key in second_batch):
            assert process.poll() is None, (
                "the run ended before the kill point:\n" + (tmp_path / "killed_run.log").read_text()[-3000:]
            )
            assert time.monotonic() - started < 300, "kill point not reached in 300 s"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    killed_at = time.time()
    assert process.returncode == -signal.SIGKILL
    seconds_to_kill = time.monotonic() - started

    # the state the kill left: the first batch complete, the second genuinely partial...
    for table in TABLES:
        assert all(have(table, key) for key in first_batch), table
    assert all(have("videos", key) for key in second_batch)
    assert not any(have("video_documents", key) for key in second_batch), "killed too late: batch not partial"
    partial_tables = {table for table in TABLES if any(have(table, key) for key in second_batch)}
    assert {"videos", "audio"} <= partial_tables < set(TABLES)
    # ...and what a write killed half-way would leave (a SIGKILL rarely lands inside one: partitions are
    # written in a few ms at the end of each step), planted in a partition the rerun has to write
    real_leftovers = _temp_files(storage)
    half_written = _parquet_bytes(to_table(VIDEOS, [status_row(VIDEOS, "ok", None, source_url="x")]))[:100]
    planted_dir = warehouse / "video_documents" / f"video_key={second_batch[0]}"
    planted_dir.mkdir(parents=True)
    planted = planted_dir / _temp_name("part-0.parquet", killed_process)
    planted.write_bytes(half_written)
    # no reader sees anything half-written: every visible file is whole, every table reads
    for table in TABLES:
        for path in (warehouse / table).glob("*/*.parquet"):
            pq.read_table(path)
        assert len(pd.read_parquet(warehouse / table)) > 0

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:
        runs = {run.tags["dagster/asset_partition_range_start"]: run for run in instance.get_runs()}
        assert len(runs) == 2
        first_run, killed_run = runs[first_batch[0]], runs[second_batch[0]]
        assert (first_run.status, killed_run.status) == (DagsterRunStatus.SUCCESS, DagsterRunStatus.STARTED)
        assert killed_run.tags["wandr/pid"] == str(process.pid)
        assert killed_run.tags["wandr/host"] == host_name()
    first_batch_files = {
        (table, key): _partition_file(warehouse, table, key).stat().st_mtime_ns
        for table in TABLES
        for key in first_batch
    }

    # 2. the same command again, to the end
    rerun_started = time.monotonic()
    rerun = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    rerun_seconds = time.monotonic() - rerun_started
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert (
        f"run {killed_run.run_id[:8]}: left running by a process that is gone (killed?): marked failed" in rerun.stdout
    )
    assert "6/6 video(s) processed" in rerun.stdout
    assert "3 of them were finished by an earlier run" in rerun.stdout
    for key in keys:  # the summary still lists every video of the list
        line = next(line for line in rerun.stdout.splitlines() if line.startswith(key))
        assert ("(already done, not re-run)" in line) == (key in first_batch), line

    # every table: exactly one whole part-0.parquet per video, nothing else visible, no temporary file left
    assert _temp_files(storage) == [], "temporary files of killed writes were not cleaned up"
    for table in TABLES:
        assert sorted(p.name for p in (warehouse / table).iterdir()) == sorted(f"video_key={k}" for k in keys), table
        for key in keys:
            assert [p.name for p in _partition_file(warehouse, table, key).parent.iterdir()] == ["part-0.parquet"]
    # every video once: its rows are those of its one file, and each copy of a clip has as many rows in
    # every table as the other copy (batch 1 ran once, batch 2 was cut and redone)
    for table in TABLES:
        frame = pd.read_parquet(warehouse / table)
        frame["video_key"] = frame["video_key"].astype(str)
        per_video = frame.video_key.value_counts().to_dict()
        in_files = {key: pq.read_metadata(_partition_file(warehouse, table, key)).num_rows for key in keys}
        assert per_video == in_files, table
        for copy0, copy1 in zip(first_batch, second_batch):
            assert in_files[copy0] == in_files[copy1], (table, in_files)
        via_duckdb = dict(
            duckdb.sql(
                f"select video_key, count(*) from read_parquet('{warehouse}/{table}/*/*.parquet', "
                "hive_partitioning=true) group by video_key"
            ).fetchall()
        )
        assert {str(k): v for k, v in via_duckdb.items()} == in_files, table
    for table in ("videos", "video_documents"):
        frame = pd.read_parquet(warehouse / table)
        assert sorted(frame.video_key.astype(str)) == sorted(keys)
        assert set(frame.status) == {"ok"}, frame[["video_key", "status", "error"]]
    documents = pd.read_parquet(warehouse / "video_documents")
    assert documents.transcript_text.str.len().gt(20).all()

    # resumed, not redone: batch 1's files are untouched; every file of the killed batch is new
    for (table, key), mtime in first_batch_files.items():
        assert _partition_file(warehouse, table, key).stat().st_mtime_ns == mtime, (table, key)
    for table in TABLES:
        for key in second_batch:
            assert _partition_file(warehouse, table, key).stat().st_mtime > killed_at, (table, key)

    with DagsterInstance.get() as instance:
        runs = {run.run_id: run for run in instance.get_runs()}
        assert len(runs) == 3
        assert runs[first_run.run_id].status == DagsterRunStatus.SUCCESS
        assert runs[killed_run.run_id].status == DagsterRunStatus.FAILURE
        [failure] = instance.all_logs(killed_run.run_id, of_type=DagsterEventType.RUN_FAILURE)
        assert f"pid {process.pid}" in failure.message
        [resumed] = [run for run_id, run in runs.items() if run_id not in (first_run.run_id, killed_run.run_id)]
        assert resumed.status == DagsterRunStatus.SUCCESS
        assert (
            resumed.tags["dagster/asset_partition_range_start"],
            resumed.tags["dagster/asset_partition_range_end"],
        ) == (second_batch[0], second_batch[-1])
        records = instance.fetch_materializations(AssetKey("video_documents"), limit=100).records
        assert sorted((r.partition_key, r.run_id) for r in records) == sorted(
            [(key, first_run.run_id) for key in first_batch] + [(key, resumed.run_id) for key in second_batch]
        )
    print(
        f"\nkilled after {seconds_to_kill:.1f} s with {sorted(partial_tables)} of the second batch written "
        f"({len(real_leftovers)} temporary file(s) left by the kill itself); rerun took {rerun_seconds:.1f} s"
    )
