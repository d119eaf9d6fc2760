"""`wandr-pipeline run` stopped by SIGTERM/SIGINT (docker, Kubernetes, Ctrl-C) or killed by SIGKILL, mid-download.

As users hit it: the real CLI in a subprocess, its one video dripped 1 KB a second by a loopback
server (the download would take minutes), with a cookies file configured (the download keeps a private
copy of it in its temporary folder) and TMPDIR pointed at a folder of the test. A SIGTERM must end it
within seconds with 143 (SIGINT: 130), leave no temporary folder and no cookie copy, and the next run
must process the video. After a SIGKILL nothing can clean up: the next run removes what it left.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.fault_server import FaultServer
from tests.support.paths import SAMPLES
from wandr_pipeline.lib.planner import FINISHED, RETRYABLE, assess_videos
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.urls import parse_video_url

# What "within seconds" means here: the CLI's own last resort fires 6 s after the signal
# (cli/interrupts.py); the rest is headroom for a loaded machine.
EXIT_WITHIN_S = 10.0


@pytest.fixture()
def dripped(tmp_path):
    """A CLI set-up whose one video is served 1 KB/s until a download of it hangs up (then at once)."""
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(SAMPLES / "kyoto_temples.mp4", clips / "clip.mp4")
    server = FaultServer(clips)
    temp = tmp_path / "tmp"
    temp.mkdir()
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsessionid\tsecret-e4d1\n")
    url = server.url("drip-until-hangup/clip.mp4")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{url}\n")
    env = {
        **os.environ,
        "TMPDIR": str(temp),
        "DAGSTER_HOME": str(home),
        "WANDR_STORAGE_URI": str(tmp_path / "storage"),
        "YTDLP_COOKIES_FILE": str(cookies),
        "WANDR_DOWNLOAD_ATTEMPTS": "1",
        "HF_HUB_OFFLINE": "1",
        "ORT_DISABLE_TELEMETRY": "1",
    }
    yield {
        "server": server,
        "temp": temp,
        "env": env,
        "command": [sys.executable, "-m", "wandr_pipeline.cli", "run", str(listing)],
        "key": parse_video_url(url).video_key,
        "storage": Storage(str(tmp_path / "storage")),
        "log": tmp_path / "first_run.log",
    }
    server.close()


def _leftovers(temp: Path) -> list[Path]:
    """Temporary folders of the pipeline, and cookie copies anywhere under `temp`."""
    return sorted({*temp.glob("wandr-*"), *temp.rglob(".cookies.txt")})


def _start_and_wait_for_the_download(setup) -> subprocess.Popen:
    with open(setup["log"], "w") as log:
        process = subprocess.Popen(setup["command"], env=setup["env"], stdout=log, stderr=subprocess.STDOUT)
    started = time.monotonic()
    while not (setup["server"].hits["/drip-until-hangup/clip.mp4"] and list(setup["temp"].rglob(".cookies.txt"))):
        assert process.poll() is None, "ended before its download:\n" + setup["log"].read_text()[-3000:]
        assert time.monotonic() - started < 240, "no download in 240 s:\n" + setup["log"].read_text()[-3000:]
        time.sleep(0.1)
    time.sleep(1.0)  # a few KB in
    assert process.poll() is None
    return process


def _rerun_processes_the_video(setup) -> str:
    started = time.monotonic()  # the server serves the file at once after it saw the first download go
    while "/drip-until-hangup/clip.mp4" not in setup["server"].hung_up:
        assert time.monotonic() - started < 30, "the server never saw the killed download hang up"
        time.sleep(0.1)
    rerun = subprocess.run(setup["command"], env=setup["env"], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert assess_videos(setup["storage"], [setup["key"]])[setup["key"]].state == FINISHED
    assert "1/1 video(s) processed" in rerun.stdout, rerun.stdout
    assert _leftovers(setup["temp"]) == []
    return rerun.stdout


@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_download_stops_the_cli_within_seconds_and_cleans_up(dripped, signal_number):
    process = _start_and_wait_for_the_download(dripped)
    assert _leftovers(dripped["temp"]), "the download's folder and cookie copy should exist now"
    sent = time.monotonic()
    process.send_signal(signal_number)
    try:
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    seconds = time.monotonic() - sent
    output = dripped["log"].read_text()
    assert process.returncode == 128 + signal_number, output[-3000:]
    assert seconds < EXIT_WITHIN_S, f"{seconds:.1f} s after {signal_number.name}:\n{output[-3000:]}"
    assert _leftovers(dripped["temp"]) == [], output[-3000:]
    assert f"STOPPED (interrupted by {signal_number.name}): 1 video(s) interrupted" in output, output[-3000:]
    assert "exiting now" not in output  # it unwound on its own, not by the last resort
    # recorded as interrupted and worth another try: the next run redoes it
    assert not dripped["storage"].has_partition("video_documents", dripped["key"])
    [row] = dripped["storage"].read_partition("videos", dripped["key"]).to_pylist()
    assert row["status"] == "failed" and row["retryable"] is True, row
    assert row["error"].startswith(f"interrupted by {signal_number.name} before its download finished"), row
    assert assess_videos(dripped["storage"], [dripped["key"]])[dripped["key"]].state == RETRYABLE
    if signal_number == signal.SIGTERM:
        _rerun_processes_the_video(dripped)
    print(f"\nexited {seconds:.1f} s after {signal_number.name}")


@pytest.mark.slow
def test_after_a_sigkill_mid_download_the_next_run_removes_its_temporary_folder_and_cookie_copy(dripped):
    process = _start_and_wait_for_the_download(dripped)
    process.kill()
    process.wait(timeout=30)
    left = _leftovers(dripped["temp"])
    assert any(path.name == ".cookies.txt" for path in left), left  # what a kill leaves: a secret's copy
    assert all(".owner-" in path.name for path in left if path.name.startswith("wandr-")), left
    stdout = _rerun_processes_the_video(dripped)
    assert "removed 1 temporary folder(s) left by killed runs" in stdout, stdout
