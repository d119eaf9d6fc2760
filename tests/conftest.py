"""Shared fixtures: the sample clips, a loopback HTTP server, a temporary Dagster instance."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import SAMPLES
from tests.support.servers import LoopbackServer

# The GCS emulator and bucket fixtures (tests/support/gcp_fakes.py), for every test that asks for them.
pytest_plugins = ["tests.support.gcp_fakes"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The tests of everything but speech run the English-only tiny.en (about 4x faster on a CPU than the default
# multilingual base, which tests/engines/test_whisper_models.py and tests/integration/test_multilingual_pipeline.py
# run by name); the sample clips are English.
os.environ.setdefault("WHISPER_MODEL", "tiny.en")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
# gcsfs reads this when first imported: its default subclass asks the Storage Control API (gRPC) for
# every bucket's type, which an emulator lacks (60 s stall per bucket); see tests/support/gcp_fakes.py.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


def _without_an_earlier_instances_defs_state():
    """Dagster 1.13 keeps the defs-state storage of the last *entered* DagsterInstance in a context variable,
    holding that instance by a weak reference. An instance entered and never exited resets it when collected,
    but in the context of whichever thread the garbage collector runs on: the entering thread keeps a dead
    storage, and every later definitions load there (the defs folder's ComponentTree) fails with "Attempted
    to resolve undefined DagsterInstance weakref". A pipeline process loads its definitions once and never
    meets this; a test worker, with many instances and threads, did (a fresh-clone CI run, 2026-12-06;
    reproduced in tests/defs/test_definitions.py). Private API, pinned with dagster 1.13.x in constraints.txt."""
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    return set_defs_state_storage(None)


@pytest.fixture(scope="module", autouse=True)
def _no_defs_state_from_an_earlier_module():
    with _without_an_earlier_instances_defs_state():
        yield


@pytest.fixture(autouse=True)
def _no_defs_state_from_an_earlier_test():
    with _without_an_earlier_instances_defs_state():
        yield


@pytest.fixture(scope="session")
def manifest() -> list[dict]:
    """The sample clips' scripts: spoken text and burned-in captions with their times."""
    return json.loads((SAMPLES / "manifest.json").read_text())


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """The ffmpeg 9 that imageio-ffmpeg ships: test media is made with one known build everywhere."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@pytest.fixture(scope="session")
def media_root(tmp_path_factory, ffmpeg) -> Path:
    """The sample clips plus derived test media (a copy without its audio stream)."""
    root = tmp_path_factory.mktemp("media")
    for clip in SAMPLES.glob("*.mp4"):
        shutil.copy(clip, root / clip.name)
    subprocess.run(
        [
            ffmpeg,
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(SAMPLES / "kyoto_temples.mp4"),
            "-an",
            "-c:v",
            "copy",
            str(root / "no_audio.mp4"),
        ],
        check=True,
    )
    return root


@pytest.fixture(scope="session")
def http_server(media_root):
    server = LoopbackServer(media_root)
    yield server
    server.close()


@pytest.fixture()
def dagster_home(tmp_path, monkeypatch) -> Path:
    """An empty DAGSTER_HOME (SQLite) for one test."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home
