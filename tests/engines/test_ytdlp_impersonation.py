"""The impersonating transport (curl_cffi, engines/ytdlp_impersonation.py) keeps the egress limits.

Each case runs twice on the fault server (tests/support/fault_server.py): through yt-dlp's plain
transports, and with every request impersonating a browser (yt-dlp's `impersonate` option, what
`--impersonate` does), so libcurl carries the page and the media. Both must end the same way.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import yt_dlp
from yt_dlp.networking.common import Request
from yt_dlp.networking.exceptions import TransportError
from yt_dlp.networking.impersonate import ImpersonateTarget

from tests.support.fault_server import FaultServer
from tests.support.options import download_options
from wandr_pipeline.engines import ytdlp_impersonation
from wandr_pipeline.engines.ytdlp import DeadlineReached, download_post
from wandr_pipeline.engines.ytdlp_egress import BYTE_LIMIT_MARGIN, GuardedYoutubeDL, download_budget
from wandr_pipeline.engines.ytdlp_impersonation import GuardedCurlCFFIRH
from wandr_pipeline.lib.network_policy import AllowList
from wandr_pipeline.lib.outcomes import PermanentError

MB = 2**20


@pytest.fixture(scope="module")
def server(media_root):
    server = FaultServer(media_root)
    yield server
    server.close()


@pytest.fixture(params=["plain", "impersonating"])
def transport(request, monkeypatch):
    """Options for the transport under test, and the requests libcurl sent (none for plain)."""
    sent: list[str] = []
    send = GuardedCurlCFFIRH._send

    def counting_send(self, req):
        sent.append(req.url)
        return send(self, req)

    monkeypatch.setattr(GuardedCurlCFFIRH, "_send", counting_send)
    extra = {"impersonate": ImpersonateTarget()} if request.param == "impersonating" else {}
    yield request.param, {"extra_options": extra, "http_retries": 1, "socket_timeout_s": 2.0}, sent
    assert bool(sent) == (request.param == "impersonating"), sent


def test_the_installed_versions_are_the_ones_it_was_written_for():
    """It overrides `_send` and `_create_instance` of yt-dlp's CurlCFFIRH (and ytdlp_egress wraps the
    requests handler's `_create_instance`): re-read them on an upgrade, then move `WRITTEN_FOR`."""
    import curl_cffi
    from yt_dlp.networking._curlcffi import CurlCFFIRH
    from yt_dlp.networking._requests import RequestsRH

    assert yt_dlp.version.__version__ == ytdlp_impersonation.WRITTEN_FOR["yt-dlp"]
    assert curl_cffi.__version__ == ytdlp_impersonation.WRITTEN_FOR["curl_cffi"]
    assert {"_send", "_create_instance"} <= set(vars(CurlCFFIRH)) and "_create_instance" in vars(RequestsRH)


def test_an_endless_body_stops_at_the_limit(tmp_path, server, transport):
    _, options, _ = transport
    with pytest.raises(PermanentError, match=r"over the 2 MB limit \(WANDR_MAX_VIDEO_MB\): stopped after") as stopped:
        download_post(
            server.url("endless/forever.mp4"), tmp_path, download_options(max_filesize_bytes=2 * MB, **options)
        )
    assert stopped.value.kind == "too_large"
    deadline = time.monotonic() + 5
    while "/endless/forever.mp4" not in server.hung_up and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "/endless/forever.mp4" in server.hung_up and server.sent["/endless/forever.mp4"] < 256 * MB
    server.hung_up.discard("/endless/forever.mp4")
    server.sent["/endless/forever.mp4"] = 0


def test_a_drip_ends_at_the_deadline(tmp_path, server, transport, media_root):
    _, options, _ = transport
    clip = max(media_root.glob("*.mp4"), key=lambda p: p.stat().st_size).name
    start = time.monotonic()
    with pytest.raises(DeadlineReached, match=r"^download stopped at the 2 s deadline"):
        download_post(
            server.url(f"drip/{clip}?{transport[0]}"),
            tmp_path,
            download_options(deadline_s=2.0, **options),
            deadline=time.monotonic() + 2.0,
        )
    assert time.monotonic() - start < 4.5


def test_headers_at_a_crawl_end_at_the_deadline(tmp_path, server, transport):
    _, options, _ = transport
    start = time.monotonic()
    with pytest.raises(DeadlineReached, match=r"^download stopped at the 2 s deadline"):
        download_post(
            server.url(f"slowheaders/{transport[0]}.mp4"),
            tmp_path,
            download_options(deadline_s=2.0, **{**options, "socket_timeout_s": 10.0}),
            deadline=time.monotonic() + 2.0,
        )
    assert time.monotonic() - start < 4.5


def test_a_redirect_to_loopback_is_refused_under_remote_only(tmp_path, server, transport):
    """localhost is exempt, the 127.0.0.1 it redirects to is not: the redirect's target is never fetched."""
    _, options, _ = transport
    remote = download_options(remote_only=True, allowed_networks=AllowList.parse("localhost"), **options)
    before = len(server.requests)
    with pytest.raises(PermanentError, match=r"^refusing to connect to 127\.0\.0\.1: a loopback address") as refused:
        download_post(f"http://localhost:{server.port}/redirect/media/lisbon_pasteis.mp4", tmp_path, remote)
    assert refused.value.kind == "address_refused"
    assert [target for target, _ in server.requests[before:]] == ["/redirect/media/lisbon_pasteis.mp4"]
    # the exempt host itself is reached by either transport
    post = download_post(f"http://localhost:{server.port}/media/lisbon_pasteis.mp4", tmp_path / "ok", remote)
    assert post.path.stat().st_size > 100_000


def test_the_address_checked_is_the_address_connected(tmp_path, server, transport, monkeypatch):
    """A name is resolved once, by the guard, and the connection goes there: libcurl cannot resolve
    `.invalid` names itself, so this download works only through the pinned, checked address."""
    _, options, _ = transport
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        return real("127.0.0.1" if host == "media.wandr.invalid" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    remote = download_options(remote_only=True, allowed_networks=AllowList.parse("127.0.0.1/32"), **options)
    post = download_post(f"http://media.wandr.invalid:{server.port}/media/lisbon_pasteis.mp4", tmp_path, remote)
    assert post.path.stat().st_size > 100_000
    # and a name that resolves inward is refused before anything connects
    strict = download_options(remote_only=True, **options)
    with pytest.raises(PermanentError, match=r"refusing to (download from|connect to) media\.wandr\.invalid"):
        download_post(f"http://media.wandr.invalid:{server.port}/media/kyoto_temples.mp4", tmp_path / "b", strict)


def test_a_response_without_a_size_stops_at_the_byte_limit(server, transport):
    """The transports' own limit, under yt-dlp's checks: a body without a size (what a page is, which no
    progress hook sees) is cut off as it streams, a little past the download's limit."""
    mode, _, _ = transport
    ydl = GuardedYoutubeDL({"quiet": True}, impersonating_handler=GuardedCurlCFFIRH)
    extensions = {"impersonate": ImpersonateTarget()} if mode == "impersonating" else {}
    limit = 1 * MB
    with ydl, download_budget(None, max_bytes=limit) as budget:
        response = ydl.urlopen(Request(server.url(f"endless/{mode}.html"), extensions=extensions))
        with pytest.raises(TransportError):
            response.read()
        size, announced = budget.oversize
        assert limit + BYTE_LIMIT_MARGIN - MB <= size <= limit + BYTE_LIMIT_MARGIN + MB and not announced
    assert server.sent[f"/endless/{mode}.html"] < 64 * MB


def test_a_stopped_download_ends_its_response_at_the_next_block(server, transport):
    """The watchdog (deadline, SIGTERM) shuts the sockets it knows; libcurl's it does not know, so a read
    ends at the next block instead (here the drip's next kilobyte, a second apart)."""
    mode, _, _ = transport
    ydl = GuardedYoutubeDL({"quiet": True}, impersonating_handler=GuardedCurlCFFIRH)
    extensions = {"impersonate": ImpersonateTarget()} if mode == "impersonating" else {}
    with ydl, download_budget(None) as budget:
        response = ydl.urlopen(Request(server.url(f"drip/lisbon_pasteis.mp4?{mode}"), extensions=extensions))
        threading.Timer(0.3, budget.expire).start()
        start = time.monotonic()
        with pytest.raises(TransportError):
            while response.read(1024):
                assert time.monotonic() - start < 2.5, "still reading after the download was stopped"


def test_a_request_without_its_limits_is_refused():
    """If yt-dlp ever picked its curl_cffi session another way, the limits would be missing: fail loudly."""
    session = ytdlp_impersonation._PerRequestOptionsSession()
    with pytest.raises(TransportError, match="without its egress limits"):
        session.request("GET", "http://127.0.0.1:9/")
