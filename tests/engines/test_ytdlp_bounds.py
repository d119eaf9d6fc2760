"""Downloads are bounded in bytes and time whatever the server says (tests/support/fault_server.py):
a body without Content-Length, an endless body, a drip-feed, headers at 1 byte a second, Retry-After."""

from __future__ import annotations

import re
import time

import pytest

from tests.support.fault_server import FaultServer
from tests.support.options import download_options
from wandr_pipeline.defs.resources import VideoDownloader
from wandr_pipeline.engines.ytdlp import DeadlineReached, download_post
from wandr_pipeline.lib.outcomes import PermanentError, TransientError

MB = 2**20


@pytest.fixture(scope="module")
def server(media_root):
    server = FaultServer(media_root)
    yield server
    server.close()


@pytest.fixture(scope="module")
def big_clip(media_root) -> str:
    """The largest sample clip (a few MB) and its size."""
    return max(media_root.glob("*.mp4"), key=lambda p: p.stat().st_size).name


def _downloader(**values) -> VideoDownloader:
    defaults = {"attempts": 2, "backoff_s": 0.2, "socket_timeout_s": 2.0, "deadline_s": 30.0}
    return VideoDownloader(**{**defaults, **values})


def test_the_size_limit_holds_without_content_length(tmp_path, server, media_root, big_clip):
    size = (media_root / big_clip).stat().st_size
    limit = size / MB / 2  # half the file
    with pytest.raises(PermanentError, match=r"over the [\d.]+ MB limit \(WANDR_MAX_VIDEO_MB\): stopped after"):
        _downloader(max_filesize_mb=limit).download(server.url(f"nolength/{big_clip}"), tmp_path)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.stat().st_size > limit * MB + 2 * MB]
    # Without the limit the same body downloads whole (the route works).
    post = _downloader(max_filesize_mb=0).download(server.url(f"nolength/{big_clip}"), tmp_path / "whole")
    assert post.path.stat().st_size == size


def test_an_endless_body_stops_at_the_limit(tmp_path, server):
    with pytest.raises(PermanentError, match=r"over the 2 MB limit") as stopped:
        _downloader(max_filesize_mb=2).download(server.url("endless/forever.mp4"), tmp_path)
    received = float(re.search(r"stopped after receiving ([\d.]+) MB", str(stopped.value)).group(1))
    assert 2 < received <= 2 + 4  # one yt-dlp read block past the limit at most (its blocks grow to 4 MB)
    # The server saw the hang-up before the end of its 256 MB. What it counts as sent includes the
    # kernel's socket buffers, which loopback autotuning grows to tens of MB on some machines.
    deadline = time.monotonic() + 5
    while "/endless/forever.mp4" not in server.hung_up and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "/endless/forever.mp4" in server.hung_up
    assert server.sent["/endless/forever.mp4"] < 256 * MB


def test_a_drip_feed_ends_at_the_deadline_across_resumes(tmp_path, server, big_clip):
    start = time.monotonic()
    with pytest.raises(
        TransientError,
        match=r"stopped at the 3 s deadline( after [^(]+)? \(WANDR_DOWNLOAD_DEADLINE_S\).*\(transient\)$",
    ):
        _downloader(deadline_s=3.0).download(server.url(f"drip/{big_clip}"), tmp_path)
    assert time.monotonic() - start < 6


def test_headers_at_one_byte_a_second_end_at_the_deadline(tmp_path, server):
    start = time.monotonic()
    with pytest.raises(TransientError, match=r"download stopped at the 3 s deadline"):
        _downloader(deadline_s=3.0).download(server.url("slowheaders/clip.mp4"), tmp_path)
    assert time.monotonic() - start < 6


def test_the_engine_stops_at_its_deadline_without_the_retry_loop(tmp_path, server, big_clip):
    options = download_options(deadline_s=2.0, socket_timeout_s=5.0)
    with pytest.raises(DeadlineReached):
        download_post(server.url(f"drip/{big_clip}?e"), tmp_path, options, deadline=time.monotonic() + 2.0)


def test_retry_after_is_honoured(tmp_path, server):
    post = _downloader(backoff_s=0.01).download(server.url("retry-after/1/lisbon_pasteis.mp4"), tmp_path)
    assert post.path.stat().st_size > 100_000
    first, second = server.times["/retry-after/1/lisbon_pasteis.mp4"][:2]
    assert second - first >= 1.0  # the server's 1 s, not the 0.01 s backoff


def test_a_retry_after_past_the_deadline_ends_at_once(tmp_path, server):
    start = time.monotonic()
    with pytest.raises(TransientError, match=r"asked to retry after 3600 s.*no time for another try"):
        _downloader(deadline_s=20.0).download(server.url("always-429/3600/clip.mp4"), tmp_path)
    assert time.monotonic() - start < 5 and server.hits["/always-429/3600/clip.mp4"] == 1
