"""A 200-post mixed list through the `raw_video` stage against the platform fake (issue 25).

TikTok and Instagram videos, photo posts, image posts and carousels (a picture and a video each), every
refusal kind, a 429 storm with `Retry-After`, posts on a CDN that crawls to the deadline and links to
two web hosts that crawl, downloaded by the project's download stage (the same `RawVideoWorker` and
pipeline scheduler `wandr-pipeline run` uses, without the stages after it), with each of `CONFIGS`
(downloads at once, per site). Prints the wall time, the outcome per kind (status, error_kind,
retryable: checked against what each post is), when the good videos finished against the slow hosts'
posts, and the requests per host per minute the fake saw. The same list through one whole
`wandr-pipeline run`: benchmarks/platform_mixed_run.py.

Run: `PYTHONPATH=. .venv/bin/python benchmarks/platform_mixed_list.py [at-once/per-site ...] [rounds=N]`
(default 1/1 4/2 8/2, one round; rounds alternate the configurations)
"""

from __future__ import annotations

import logging
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import imageio_ffmpeg

from tests.support.paths import SAMPLES
from tests.support.platform_fake import SLOW_HOSTS, PlatformFake, serving_samples
from wandr_pipeline.defs.resources import VideoDownloader
from wandr_pipeline.defs.videos.raw_video import RawVideoWorker
from wandr_pipeline.defs.videos.stage import StageRun
from wandr_pipeline.lib.pipelining import PipelineStage, run_pipelined
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.submissions import record_submissions
from wandr_pipeline.lib.urls import parse_video_url

PICTURES = ("easyocr_english.jpg", "rapidocr_latin.jpg")
CLIPS = ("lisbon_pasteis.mp4", "kyoto_temples.mp4", "mexico_city_tacos.mp4")
CONFIGS = [(1, 1), (4, 2), (8, 2)]  # (WANDR_CONCURRENT_DOWNLOADS, WANDR_DOWNLOADS_PER_SITE)
# (platform, scenario, count, expected (status, error_kind, retryable)); `web` posts are links to SLOW_HOSTS
MIX = [
    ("tiktok", "video", 96, ("ok", None, False)),
    ("instagram", "video", 40, ("ok", None, False)),
    ("tiktok", "photo_post", 10, ("ok", None, False)),
    ("instagram", "image_post", 5, ("ok", None, False)),
    ("instagram", "carousel", 5, ("ok", None, False)),  # a picture, then a video with speech
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
    ("tiktok", "slow_media_headers", 2, ("failed", "timeout", True)),  # a CDN crawling to the deadline
    ("web", SLOW_HOSTS[0], 2, ("failed", "timeout", True)),  # two web hosts crawling to the deadline
    ("web", SLOW_HOSTS[1], 2, ("failed", "timeout", True)),
]
SLOW_AT = (0, 2, 5, 9, 14, 20)  # where the 6 slow posts go in the list
GOOD = ("video", "photo_post", "image_post", "carousel", "expired_url", "rate_limited")


@dataclass
class Post:
    url: str
    platform: str
    scenario: str
    expected: tuple


def make_posts(fake: PlatformFake) -> list[Post]:
    """The list, registered with the fake: the slow hosts' links spread through it."""
    posts: list[Post] = []
    for platform, scenario, count, expected in MIX:
        for _ in range(count):
            number = len(posts)
            if platform == "web":
                posts.append(Post(f"https://{scenario}/clips/{number}.mp4", platform, scenario, expected))
                continue
            if platform == "tiktok":
                post_id = f"7360{number:015d}"
            else:
                post_id = "C" + "q" * 40 + f"{number:03d}" if scenario == "private" else f"Cmix{number:05d}"
            extra = {"media": CLIPS[number % len(CLIPS)]}
            if scenario in ("photo_post", "image_post", "carousel"):
                extra["pictures"] = PICTURES[:1] if scenario == "carousel" else PICTURES
                extra["soundtrack"] = "soundtrack.m4a" if platform == "tiktok" else None
            if scenario == "rate_limited":
                extra["retry_after"] = 2
            if scenario == "slow_media_headers":
                extra["drip_s"] = 0.2
            post = fake.add(platform, post_id, scenario, **extra)
            url = post.url.replace("/reel/", "/p/") if scenario in ("image_post", "carousel") else post.url
            posts.append(Post(url, platform, scenario, expected))
    # a list as people send them, platforms and kinds mixed; the slow ones among the first posts (the
    # first run of `wandr-pipeline run`), where one download at a time makes the whole list wait for them
    slow = [post for post in posts if post.platform == "web" or post.scenario == "slow_media_headers"]
    rest = [post for post in posts if post not in slow]
    random.Random(25).shuffle(rest)
    for position, post in zip(SLOW_AT, slow, strict=True):
        rest.insert(position, post)
    return rest


def reset(fake: PlatformFake) -> None:
    fake.clear_log()
    for post in fake.posts.values():
        post.page_requests = 0


def requests_per_minute(fake: PlatformFake, wall_s: float) -> list[tuple[str, int, float]]:
    hosts = Counter(host for _, host, _ in fake.requests)
    return [(host, count, count / max(wall_s / 60, 1e-9)) for host, count in hosts.most_common()]


def good_vs_slow(posts: list[Post], spans: dict[str, tuple[float, float]]) -> str:
    """How many good posts finished their download while a slow host's post was downloading."""
    keys = {post.url: parse_video_url(post.url).video_key for post in posts}
    good = sorted(spans[keys[p.url]][1] for p in posts if p.scenario in GOOD)
    slow = [spans[keys[p.url]] for p in posts if p.platform == "web" or p.scenario == "slow_media_headers"]
    during = sum(1 for t in good if any(start <= t <= end for start, end in slow))
    return (
        f"good posts finished {good[0]:.1f}-{good[-1]:.1f} s (median {good[len(good) // 2]:.1f}); the slow posts "
        f"downloaded {min(b for b, _ in slow):.1f}-{max(e for _, e in slow):.1f} s; {during} good ones meanwhile"
    )


def run(fake: PlatformFake, posts: list[Post], concurrent: int, per_site: int, workdir: Path) -> None:
    reset(fake)
    downloader = VideoDownloader(
        proxy=fake.proxy_url,
        ca_bundle=str(fake.ca_file),
        attempts=2,
        backoff_s=0.2,
        socket_timeout_s=3.0,
        deadline_s=5.0,
        concurrent_downloads=concurrent,
        downloads_per_site=per_site,
    )
    store = Storage(str(workdir / f"store-{concurrent}-{per_site}"))
    refs = [parse_video_url(post.url) for post in posts]
    record_submissions(store, refs, source="benchmark")
    keys = [ref.video_key for ref in refs]
    stage_run = StageRun(None, "raw_video", keys=keys, store=store, log=logging.getLogger("benchmark"))
    worker = RawVideoWorker(stage_run, SimpleNamespace(downloader=downloader))
    start = time.monotonic()
    spans: dict[str, tuple[float, float]] = {}

    def process(given: list[str]) -> None:
        began = time.monotonic() - start
        worker.process(given, {})
        spans.update({key: (began, time.monotonic() - start) for key in given})

    group_of = worker.group_of if worker.per_group else None
    stage = PipelineStage("raw_video", process, workers=worker.workers, group_of=group_of, per_group=worker.per_group)
    list(run_pipelined(keys, [stage], in_flight=4, on_error=print))  # WANDR_VIDEOS_IN_FLIGHT's default
    wall = time.monotonic() - start
    outcomes: Counter = Counter()
    wrong = []
    for key, post in zip(keys, posts, strict=True):
        row = stage_run.tables[key].to_pylist()[0]
        got = (row["status"], row["error_kind"], row["retryable"])
        outcomes[(post.scenario, got)] += 1
        if got != post.expected:
            wrong.append((post.platform, post.scenario, got, row["error"]))
    print(
        f"\n{concurrent} at once, {per_site} per site: {len(keys)} posts in {wall:.1f} s; "
        f"{len(wrong)} rows not as expected"
    )
    print("  " + good_vs_slow(posts, spans))
    for (scenario, got), count in sorted(outcomes.items(), key=str):
        print(f"  {count:4d} {scenario:26s} {got}")
    for item in wrong[:10]:
        print("  WRONG", item)
    for host, count, per_minute in requests_per_minute(fake, wall):
        print(f"  {host:32s} {count:5d} requests, {per_minute:7.1f} per minute")


def start_fake(workdir: Path) -> PlatformFake:
    return serving_samples(SAMPLES, workdir, imageio_ffmpeg.get_ffmpeg_exe())


def main() -> None:
    configs = [tuple(int(n) for n in arg.split("/")) for arg in sys.argv[1:] if "/" in arg] or CONFIGS
    rounds = int(next((arg.split("=")[1] for arg in sys.argv[1:] if arg.startswith("rounds=")), "1"))
    workdir = Path(tempfile.mkdtemp())
    fake = start_fake(workdir)
    logging.getLogger("benchmark").setLevel(logging.ERROR)  # the retries' warnings: the table says it
    try:
        posts = make_posts(fake)
        for round_ in range(rounds):
            for concurrent, per_site in configs:
                print(f"\nround {round_}, load {os.getloadavg()[0]:.1f}", end="")
                run(fake, posts, concurrent, per_site, workdir / f"round{round_}")
    finally:
        fake.close()


if __name__ == "__main__":
    main()
