"""One video asked for on every road at once is covered by exactly one run.

The CLI (`wandr-pipeline run`, a subprocess), the API (`POST /process`, its service in this process) and
a URL list dropped for the daemon's sensor (evaluated here as the daemon would) all ask for the same
video while the CLI's run is downloading it (the server holds the download until the test lets it go).
Each road asks the same planner, which leaves a video a queued or running run covers to that run; once
the run has finished the video, no road asks again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter, SensorResult, build_sensor_context

from tests.support.fault_server import FaultServer
from wandr_pipeline.api.service import JobService
from wandr_pipeline.defs.ingestion.registered_videos_sensor import evaluate_registered_videos
from wandr_pipeline.defs.ingestion.url_list_sensor import evaluate_url_lists
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from wandr_pipeline.lib.urls import parse_video_url
from wandr_pipeline.settings import Settings


class Sensors:
    """The two sensors that make runs from lists and API posts, ticking with their cursors."""

    def __init__(self, instance: DagsterInstance, settings: Settings):
        self.instance, self.settings = instance, settings
        self.cursors: dict[str, str | None] = {"lists": None, "api": None}

    def requests_covering(self, key: str) -> list:
        requests = []
        for name, evaluate in (("lists", evaluate_url_lists), ("api", evaluate_registered_videos)):
            result = evaluate(build_sensor_context(instance=self.instance, cursor=self.cursors[name]), self.settings)
            if not isinstance(result, SensorResult):
                continue
            self.cursors[name] = result.cursor or self.cursors[name]
            for request in result.dynamic_partitions_requests or []:
                self.instance.add_dynamic_partitions(VIDEOS_PARTITIONS_NAME, list(request.partition_keys))
            for event in result.asset_events or []:
                self.instance.report_runless_asset_event(event)
            requests += [r for r in result.run_requests or [] if _covers(self.instance, r.tags, key)]
        return requests


def _covers(instance: DagsterInstance, tags, key: str) -> bool:
    order = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
    start, end = tags.get(PARTITION_RANGE_START_TAG), tags.get(PARTITION_RANGE_END_TAG)
    if start not in order or end not in order:
        return False
    return order.index(start) <= order.index(key) <= order.index(end)


def _runs_covering(instance: DagsterInstance, key: str) -> list:
    return [run for run in instance.get_runs() if _covers(instance, run.tags, key)]


def test_one_video_from_the_cli_the_api_and_a_list_at_once_gets_exactly_one_run(tmp_path, media_root, monkeypatch):
    server = FaultServer(media_root)
    url = server.url("gate/kyoto_temples.mp4")
    key = parse_video_url(url).video_key
    home, storage_root, lists = tmp_path / "dagster_home", tmp_path / "storage", tmp_path / "lists"
    home.mkdir()
    lists.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    cli_list = tmp_path / "cli.txt"
    cli_list.write_text(f"{url}\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "WANDR_STORAGE_URI": str(storage_root),
        "WANDR_DOWNLOAD_TIMEOUT_S": "300",
    }
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    settings = Settings.from_env(
        storage_uri=str(storage_root), url_list_dirs=(str(lists),), api_allowed_networks="127.0.0.1"
    )
    log = open(tmp_path / "cli.log", "w")  # noqa: SIM115 - closed in finally
    cli = subprocess.Popen(
        [sys.executable, "-m", "wandr_pipeline.cli", "run", str(cli_list)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    service = None
    try:
        with DagsterInstance.get() as instance:
            # the CLI's run is downloading the video: its request waits at the gate
            deadline = time.monotonic() + 180
            while not (server.hits["/gate/kyoto_temples.mp4"] and _runs_covering(instance, key)):
                assert cli.poll() is None, (tmp_path / "cli.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the CLI's run did not start downloading in 180 s"
                time.sleep(0.2)
            [cli_run] = _runs_covering(instance, key)
            assert cli_run.status == DagsterRunStatus.STARTED

            # the API and a dropped list ask for the same video meanwhile: the run in flight is the answer
            service = JobService(settings, instance_factory=lambda: instance)
            posted = service.submit(service.validate(url))
            assert not posted.created and posted.status.run_id == cli_run.run_id
            dropped = lists / "same.txt"
            dropped.write_text(f"{url}?utm_source=share\n")
            os.utime(dropped, (time.time() - 60, time.time() - 60))  # settled: not still being written
            sensors = Sensors(instance, settings)
            assert sensors.requests_covering(key) == []

            server.open_gate()
            assert cli.wait(timeout=300) == 0, (tmp_path / "cli.log").read_text()[-3000:]
            assert Storage(str(storage_root)).has_partition("video_documents", key)

            # finished: posted again and listed again, nobody asks for another run
            assert not service.submit(service.validate(url)).created
            (lists / "again.txt").write_text(f"{url}\n")
            os.utime(lists / "again.txt", (time.time() - 60, time.time() - 60))
            assert sensors.requests_covering(key) == []
            runs = _runs_covering(instance, key)
            assert [run.run_id for run in runs] == [cli_run.run_id]
            assert instance.get_run_by_id(cli_run.run_id).status == DagsterRunStatus.SUCCESS
            assert instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.QUEUED])) == 0
    finally:
        if service is not None:
            service.close()
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        log.close()
        server.close()
