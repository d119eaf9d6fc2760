"""A 200-post mixed list through the `raw_video` stage against the platform fake (issue 25).

TikTok and Instagram videos, photo posts, image posts and carousels, every refusal kind, a 429 storm
with `Retry-After`, and posts on a CDN that crawls to the deadline, downloaded by the project's
download stage (the same `RawVideoWorker` and pipeline scheduler `wandr-pipeline run` uses, without the
stages after it), once one download at a time and once with `WANDR_CONCURRENT_DOWNLOADS`=4. Prints the
wall time, the outcome per kind (status, error_kind, retryable: checked against what each post is) and
the requests per host per minute the fake saw.

Run: `PYTHONPATH=. .venv/bin/python benchmarks/platform_mixed_list.py`
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import imageio_ffmpeg

from tests.support.paths import REPO, SAMPLES
from tests.support.platform_fake import PlatformFake
from wandr_pipeline.defs.resources import VideoDownloader
from wandr_pipeline.defs.videos.raw_video import RawVideoWorker
from wandr_pipeline.defs.videos.stage import StageRun
from wandr_pipeline.lib.pipelining import PipelineStage, run_pipelined
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.submissions import record_submissions
from wandr_pipeline.lib.urls import parse_video_url

PICTURES = ("easyocr_english.jpg", "rapidocr_latin.jpg")
# (platform, scenario, count, expected (status, error_kind, retryable))
MIX = [
    ("tiktok", "video", 96, ("ok", None, False)),
    ("instagram", "video", 40, ("ok", None, False)),
    ("tiktok", "photo_post", 10, ("ok", None, False)),
    ("instagram", "image_post", 5, ("ok", None, False)),
    ("instagram", "carousel", 5, ("ok", None, False)),
    ("tiktok", "private", 2, ("failed", "private", False)),
    ("instagram", "private", 1, ("failed", "private", False)),
    ("tiktok", "removed", 2, ("failed", "removed", False)),
    ("instagram", "removed", 2, ("failed", "removed", False)),
    ("tiktok", "login_wall", 2, ("failed", "login_required", False)),
    ("instagram", "login_wall", 2, ("failed", "login_required", False)),
    ("tiktok", "age_restricted", 2, ("failed", "age_restricted", False)),
    ("instagram", "age_restricted", 2, ("failed", "age_restricted", False)),
    ("tiktok", "ip_blocked", 2, ("failed", "ip_blocked", False)),
    ("instagram", "empty_media", 2, ("failed", "empty_media_response", False)),
    ("tiktok", "page_403", 2, ("failed", "page_forbidden", False)),
    ("tiktok", "expired_always", 2, ("failed", "expired_media_url", False)),
    ("instagram", "expired_url", 3, ("ok", None, False)),
    ("tiktok", "rate_limited", 12, ("ok", None, False)),  # the storm: 429 + Retry-After 2, then the post
    ("tiktok", "slow_media_headers", 4, ("failed", "timeout", True)),  # a CDN crawling to the deadline
]


def _posts(fake: PlatformFake):
    posts = []
    for platform, scenario, count, expected in MIX:
        for _ in range(count):
            number = len(posts)
            if platform == "tiktok":
                post_id = f"7360{number:015d}"
            else:
                post_id = "C" + "q" * 40 + f"{number:03d}" if scenario == "private" else f"Cmix{number:05d}"
            extra = {}
            if scenario in ("photo_post", "image_post", "carousel"):
                extra = {"pictures": PICTURES, "soundtrack": "soundtrack.m4a" if platform == "tiktok" else None}
            if scenario == "rate_limited":
                extra = {"retry_after": 2}
            if scenario == "slow_media_headers":
                extra = {"drip_s": 0.2}
            posts.append((fake.add(platform, post_id, scenario, **extra), expected))
    return posts


def run(fake: PlatformFake, posts, concurrent: int, workdir: Path) -> None:
    fake.clear_log()
    for post, _ in posts:
        post.page_requests = 0
    downloader = VideoDownloader(
        proxy=fake.proxy_url,
        ca_bundle=str(fake.ca_file),
        attempts=2,
        backoff_s=0.2,
        socket_timeout_s=3.0,
        deadline_s=5.0,
        concurrent_downloads=concurrent,
    )
    store = Storage(str(workdir / f"store-{concurrent}"))
    refs = [parse_video_url(post.url) for post, _ in posts]
    record_submissions(store, refs, source="benchmark")
    keys = [ref.video_key for ref in refs]
    stage_run = StageRun(None, "raw_video", keys=keys, store=store, log=logging.getLogger("benchmark"))
    worker = RawVideoWorker(stage_run, SimpleNamespace(downloader=downloader))
    stage = PipelineStage("raw_video", lambda given: worker.process(given, {}), workers=worker.workers)
    start = time.monotonic()
    list(run_pipelined(keys, [stage], in_flight=max(4, concurrent), on_error=print))
    wall = time.monotonic() - start
    outcomes: Counter = Counter()
    wrong = []
    for key, (post, expected) in zip(keys, posts, strict=True):
        row = stage_run.tables[key].to_pylist()[0]
        got = (row["status"], row["error_kind"], row["retryable"])
        outcomes[(post.scenario, got)] += 1
        if got != expected:
            wrong.append((post.platform, post.scenario, got, row["error"]))
    print(f"\nconcurrent downloads {concurrent}: {len(keys)} posts in {wall:.1f} s; {len(wrong)} rows not as expected")
    for (scenario, got), count in sorted(outcomes.items(), key=str):
        print(f"  {count:4d} {scenario:20s} {got}")
    for item in wrong[:10]:
        print("  WRONG", item)
    minutes = max(wall / 60, 1e-9)
    hosts = Counter(host for _, host, _ in fake.requests)
    for host, count in hosts.most_common():
        print(f"  {host:32s} {count:5d} requests, {count / minutes:7.1f} per minute")


def main() -> None:
    workdir = Path(tempfile.mkdtemp())
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(SAMPLES / "lisbon_pasteis.mp4")]
        + ["-vn", "-c:a", "copy", str(workdir / "soundtrack.m4a")],
        check=True,
    )
    fake = PlatformFake([SAMPLES, REPO / "data" / "real" / "images", workdir], workdir)
    try:
        posts = _posts(fake)
        for concurrent in (1, 4):
            run(fake, posts, concurrent, workdir)
    finally:
        fake.close()


if __name__ == "__main__":
    main()
