"""Shared fixtures: the sample clips, a loopback HTTP server, a temporary Dagster instance."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
# gcsfs reads this when first imported: its default subclass asks the Storage Control API (gRPC) for
# every bucket's type, which an emulator lacks (60 s stall per bucket); see tests/gcp_fakes.py.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


@pytest.fixture(scope="session")
def manifest() -> list[dict]:
    """The sample clips' scripts: spoken text and burned-in captions with their times."""
    return json.loads((SAMPLES / "manifest.json").read_text())


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """The ffmpeg 9 that imageio-ffmpeg ships: test media is made with one known build everywhere."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - keep test output clean
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # clients (yt-dlp probing, timeouts) hang up early
        pass


class BackgroundServer:
    """An HTTP server on 127.0.0.1 (a free port) answering with `handler` from a daemon thread.

    `server_attributes` are set on the server before it starts (handlers read them as `self.server.x`).
    """

    def __init__(self, handler, **server_attributes):
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        for name, value in server_attributes.items():
            setattr(self.httpd, name, value)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class LoopbackServer(BackgroundServer):
    """A static file server on 127.0.0.1 serving `root`; missing paths answer 404."""

    def __init__(self, root: Path):
        self.root = root
        super().__init__(functools.partial(_QuietHandler, directory=str(root)))

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"


@pytest.fixture(scope="session")
def media_root(tmp_path_factory, ffmpeg) -> Path:
    """The sample clips plus derived test media (a copy without its audio stream)."""
    root = tmp_path_factory.mktemp("media")
    for clip in SAMPLES.glob("*.mp4"):
        shutil.copy(clip, root / clip.name)
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(SAMPLES / "kyoto_temples.mp4"),
                    "-an", "-c:v", "copy", str(root / "no_audio.mp4")], check=True)
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


def download_options(**overrides):
    """`DownloadOptions` as the downloader resource's defaults make them (with yt-dlp's own retries on)."""
    from wandr_pipeline.engines.ytdlp import DownloadOptions
    from wandr_pipeline.lib.network_policy import AllowList

    values = dict(format="bv*[height<=1920]+ba/b[height<=1920]/bv*+ba/b", max_filesize_bytes=500 * 1024 * 1024,
                  max_duration_s=600.0, socket_timeout_s=30.0, http_retries=3, cookiefile=None, allow_file_urls=True,
                  local_roots=(), remote_only=False, allowed_networks=AllowList())
    return DownloadOptions(**{**values, **overrides})
