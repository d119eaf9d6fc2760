"""The download deadline over TLS (issue 25), old against new, alternating rounds in one process.

The deadline's watchdog shuts the download's connections. Before issue 25 it shut only the socket
object the transport had been given, which a TLS transport wraps and detaches (`old`): shutting it
does nothing, and a server sending its headers slowly ran on past the deadline. Now it also tracks
the TLS socket (`new`, `GuardedYoutubeDL` wraps its TLS contexts' `wrap_socket`). The platform fake
(tests/support/platform_fake.py) sends the media response's headers at one byte every 3 ms, through
`YTDLP_PROXY`, over TLS; the deadline is 3 s.

Run: `PYTHONPATH=. .venv/bin/python benchmarks/download_deadline_tls.py`
"""

from __future__ import annotations

import ssl
import tempfile
import time
from pathlib import Path

from tests.support.paths import SAMPLES
from tests.support.platform_fake import PlatformFake
from wandr_pipeline.defs.resources import VideoDownloader
from wandr_pipeline.engines import ytdlp_egress


def _old_track(budget, sock) -> None:
    """The code before issue 25: TLS sockets were not tracked."""
    if not isinstance(sock, ssl.SSLSocket):
        _NEW_TRACK(budget, sock)


_NEW_TRACK = ytdlp_egress.DownloadBudget.track


def main(rounds: int = 2) -> None:
    fake = PlatformFake(SAMPLES, Path(tempfile.mkdtemp()))
    new_track = ytdlp_egress.DownloadBudget.track
    try:
        for round_ in range(rounds):
            for name, track in (("old", _old_track), ("new", new_track)):
                ytdlp_egress.DownloadBudget.track = track
                post = fake.add("tiktok", f"739000000000000{round_}{int(name == 'new')}", "slow_media_headers")
                post.drip_s = 0.003
                downloader = VideoDownloader(
                    proxy=fake.proxy_url, ca_bundle=str(fake.ca_file), attempts=1, socket_timeout_s=5.0, deadline_s=3.0
                )
                start = time.monotonic()
                try:
                    downloader.download(post.url, tempfile.mkdtemp())
                    outcome = "downloaded"
                except Exception as exc:  # noqa: BLE001 - the outcome is what is measured
                    outcome = str(exc)[:70]
                print(f"round {round_} {name}: {time.monotonic() - start:5.1f} s  {outcome}")
    finally:
        ytdlp_egress.DownloadBudget.track = new_track
        fake.close()


if __name__ == "__main__":
    main()
