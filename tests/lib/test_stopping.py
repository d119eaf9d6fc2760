"""A stop request reaches the threads that cannot be stopped from outside, and what killed runs leave goes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from wandr_pipeline.lib import stopping
from wandr_pipeline.lib.liveness import ProcessId, host_name, process_start_ticks
from wandr_pipeline.lib.outcomes import TransientError
from wandr_pipeline.lib.pipelining import PipelineStage, PipelineStopped, run_pipelined
from wandr_pipeline.lib.retry import call_with_retries
from wandr_pipeline.lib.scratch import folder_owner, remove_orphaned_scratch, remove_own_scratch, scratch_dir


@pytest.fixture(autouse=True)
def no_stop_left_behind():
    stopping.clear_stop()
    yield
    stopping.clear_stop()


def test_the_pipelining_loop_stops_without_waiting_for_a_worker_that_does_not_return():
    release = threading.Event()
    started = threading.Event()

    def stuck(keys):  # a stage in native code: it notices nothing
        started.set()
        release.wait(30)

    stages = [PipelineStage("download", stuck), PipelineStage("after", lambda keys: None, after=("download",))]
    threading.Timer(0.3, stopping.request_stop, args=("interrupted by SIGTERM",)).start()
    begun = time.monotonic()
    try:
        with pytest.raises(PipelineStopped, match="SIGTERM"):
            list(run_pipelined(["a", "b", "c"], stages, in_flight=2, on_error=lambda *a: None, tick_s=0.1))
        assert started.is_set() and time.monotonic() - begun < 5  # generous on a loaded machine
    finally:
        release.set()


def test_a_worker_that_sees_the_stop_first_ends_the_loop_and_is_not_recorded_as_a_failure():
    errors = []

    def download(keys):
        stopping.request_stop("interrupted by SIGINT")
        stopping.raise_if_stopping()

    with pytest.raises(PipelineStopped):
        list(run_pipelined(["a"], [PipelineStage("download", download)], in_flight=1, on_error=errors.append))
    assert errors == []


def test_a_backoff_sleep_between_download_tries_ends_at_the_stop():
    def flaky():
        raise TransientError("HTTP Error 503")

    threading.Timer(0.2, stopping.request_stop, args=("interrupted by SIGTERM",)).start()
    begun = time.monotonic()
    with pytest.raises(stopping.StopRequested):
        call_with_retries(flaky, attempts=3, base_delay_s=60, max_delay_s=60)
    assert time.monotonic() - begun < 30


def test_stop_callbacks_run_once_and_at_once_when_registered_late():
    calls = []
    forget = stopping.on_stop(lambda: calls.append("early"))
    assert stopping.request_stop("first") and not stopping.request_stop("second")
    stopping.on_stop(lambda: calls.append("late"))
    forget()
    assert calls == ["early", "late"] and stopping.stop_reason() == "first"


def test_scratch_folders_name_their_process_and_only_dead_processes_folders_are_removed(tmp_path):
    with scratch_dir("url-abc", parent=tmp_path) as mine:
        assert folder_owner(os.path.basename(mine)) == ProcessId.current()
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
        dead = ProcessId(host_name(), child.pid, process_start_ticks(child.pid))
        child.wait()
        orphan = tmp_path / f"wandr-url-abc-x1y2.owner-{dead.token()}"
        (orphan / "sub").mkdir(parents=True)
        (orphan / ".cookies.txt").write_text("secret")
        elsewhere = tmp_path / f"wandr-url-abc-x1y2.owner-{ProcessId('another-host', dead.pid).token()}"
        elsewhere.mkdir()
        unrelated = tmp_path / "wandr-dagster-home-abc"
        unrelated.mkdir()
        assert remove_orphaned_scratch(tmp_path) == [orphan]
        assert not orphan.exists() and os.path.isdir(mine) and elsewhere.exists() and unrelated.exists()
        assert remove_own_scratch() == 1 and not os.path.exists(mine)  # the last resort before os._exit
    assert not os.path.exists(mine)
