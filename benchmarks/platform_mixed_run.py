"""The 200-post mixed list of benchmarks/platform_mixed_list.py through ONE `wandr-pipeline run` (issue 25).

The real command (a subprocess: its own Dagster instance, the download, audio, speech, frames, OCR and
document stages), `YTDLP_PROXY` and `YTDLP_CA_BUNDLE` pointing at the platform fake, the download
settings at their defaults (`WANDR_CONCURRENT_DOWNLOADS`, `WANDR_DOWNLOADS_PER_SITE`) unless given.
Then every post's rows are checked against what the post is: `videos` status, error_kind and retryable;
a document for every good post; the pictures' text in the photo posts' and carousels' documents, the
carousels' video text and speech too. Prints the wall time, when the good posts' downloads finished
against the slow hosts' posts, and the requests per host per minute (over the run, and the busiest
minute).

Run: `PYTHONPATH=. .venv/bin/python benchmarks/platform_mixed_run.py [NAME=VALUE ...] [posts=N]`
(`check=<storage root>`: only check an earlier run's warehouse)
(e.g. `WANDR_CONCURRENT_DOWNLOADS=1`; `WHISPER_MODEL` is tiny.en unless given: base is ~4x slower on a CPU)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd

from benchmarks.platform_mixed_list import GOOD, Post, make_posts, start_fake
from tests.support.paths import REPO, SAMPLES
from tests.support.platform_fake import PlatformFake
from wandr_pipeline.lib.urls import parse_video_url

# what the pictures of the list say (lines RapidOCR reads well: tests/engines/test_unread_scripts.py)
PICTURE_WORDS = {
    "easyocr_english.jpg": {"reduce", "risk", "coronavirus", "infection"},
    "rapidocr_latin.jpg": {"alphabetum", "latinum"},
}


def _words(text: str | None) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", (text or "").casefold()) if len(w) > 2}


def check(posts: list[Post], fake: PlatformFake, root: Path) -> list[str]:
    """What is wrong in the warehouse, one line per post (none: every row as expected)."""
    manifest = {clip["file"]: clip for clip in json.loads((SAMPLES / "manifest.json").read_text())}
    videos = pd.read_parquet(root / "warehouse" / "videos").set_index("video_key")
    docs = pd.read_parquet(root / "warehouse" / "video_documents").set_index("video_key")
    wrong = []
    for post in posts:
        key = parse_video_url(post.url).video_key
        if key not in videos.index:
            wrong.append(f"{post.scenario} {key}: no videos row")
            continue
        row = videos.loc[key]
        got = (row["status"], row["error_kind"], bool(row["retryable"]))
        if got != post.expected:
            wrong.append(f"{post.scenario} {key}: {got} != {post.expected} ({row['error']})")
            continue
        if post.scenario not in GOOD:
            continue
        if key not in docs.index or docs.loc[key, "status"] != "ok":
            wrong.append(f"{post.scenario} {key}: no ok document")
            continue
        doc = docs.loc[key]
        onscreen, spoken = _words(doc["onscreen_text"]), _words(doc["transcript_text"])
        fake_post = fake.posts[(post.platform, key.split("-", 1)[1])]
        shown = {"photo_post": fake_post.pictures, "image_post": fake_post.pictures[:1], "carousel": fake_post.pictures}
        for picture in shown.get(post.scenario, ()):  # an image post is its first picture
            if not PICTURE_WORDS[picture] <= onscreen:
                wrong.append(f"{post.scenario} {key}: {picture}'s text missing: {sorted(PICTURE_WORDS[picture])}")
        if post.scenario in ("video", "carousel", "expired_url", "rate_limited"):
            clip = manifest[fake_post.media]
            said = _words(clip["speech"])
            if len(said & spoken) < len(said) // 2:
                wrong.append(f"{post.scenario} {key}: speech missing ({len(said & spoken)}/{len(said)} words)")
            if not any(_words(c["text"]) and _words(c["text"]) <= onscreen for c in clip["captions"]):
                wrong.append(f"{post.scenario} {key}: no caption of the clip in its on-screen text")
        if post.scenario == "carousel" and videos.loc[key, "media_type"] != "carousel":
            wrong.append(f"carousel {key}: media_type {videos.loc[key, 'media_type']}")
    return wrong


def timing(
    posts: list[Post], fake: PlatformFake, root: Path, started_at: dt.datetime, started: float, deadline_s: float
):
    """When the good posts' downloads finished against the slow hosts' crawl; requests per host and minute."""
    videos = pd.read_parquet(root / "warehouse" / "videos").set_index("video_key")
    keys = {post.url: parse_video_url(post.url).video_key for post in posts}
    good = sorted(
        (videos.loc[keys[p.url], "downloaded_at"].to_pydatetime() - started_at).total_seconds()
        for p in posts
        if p.scenario in GOOD
    )
    slow_hosts = {p.url.split("/")[2] for p in posts if p.platform == "web"}
    asked = sorted(t - started for key, stamps in fake.times.items() for t in stamps if key.split("/")[0] in slow_hosts)
    crawl = (asked[0], asked[-1] + deadline_s)  # the slow hosts' downloads end at their deadline at the latest
    during = sum(1 for t in good if crawl[0] <= t <= crawl[1])
    lines = [
        f"good posts' downloads finished {good[0]:.1f}-{good[-1]:.1f} s after the start "
        f"(median {good[len(good) // 2]:.1f} s)",
        f"the slow hosts crawled {crawl[0]:.1f}-{crawl[1]:.1f} s after the start ({len(asked)} requests); "
        f"{during} good posts finished their download meanwhile",
    ]
    by_minute: dict[str, Counter] = {}
    for key, stamps in fake.times.items():
        for stamp in stamps:
            by_minute.setdefault(key.split("/")[0], Counter())[int((stamp - started) // 60)] += 1
    return lines, by_minute


def main() -> None:
    workdir = Path(tempfile.mkdtemp())
    fake = start_fake(workdir)
    try:
        posts = make_posts(fake)
        checked = next((Path(a[6:]) for a in sys.argv[1:] if a.startswith("check=")), None)
        if checked is not None:  # check the warehouse of an earlier run of this list again
            wrong = check(posts, fake, checked)
            print(f"{len(posts)} posts checked in {checked}; {len(wrong)} not as expected")
            for line in wrong:
                print("  WRONG", line)
            return
        settings = [arg for arg in sys.argv[1:] if not arg.startswith(("posts=", "check="))]
        posts = posts[: int(next((a[6:] for a in sys.argv[1:] if a.startswith("posts=")), len(posts)))]
        listing = workdir / "list.txt"
        listing.write_text("".join(f"{post.url}\n" for post in posts))
        home = workdir / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "HF_HUB_OFFLINE": "1",
            "WHISPER_MODEL": "tiny.en",
            "YTDLP_PROXY": fake.proxy_url,
            "YTDLP_CA_BUNDLE": str(fake.ca_file),
            "WANDR_DOWNLOAD_ATTEMPTS": "2",
            "WANDR_DOWNLOAD_BACKOFF_S": "0.2",
            "WANDR_DOWNLOAD_TIMEOUT_S": "3",
            "WANDR_DOWNLOAD_DEADLINE_S": "5",
        }
        env.update(arg.split("=", 1) for arg in settings)
        root = workdir / "storage"
        command = [str(REPO / ".venv" / "bin" / "wandr-pipeline"), "run", str(listing), "--storage", str(root)]
        print(f"{len(posts)} posts; {' '.join(settings) or 'default download settings'}; load {os.getloadavg()}")
        started_at, started = dt.datetime.now(dt.UTC), time.monotonic()
        completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
        (workdir / "run.out").write_text(completed.stdout + completed.stderr)
        print(f"wandr-pipeline run: exit {completed.returncode} in {wall:.1f} s; load {os.getloadavg()}")
        print(f"its output: {workdir / 'run.out'}")
        wrong = check(posts, fake, root)
        print(f"{len(posts)} posts checked; {len(wrong)} not as expected")
        for line in wrong[:20]:
            print("  WRONG", line)
        deadline = float(env["WANDR_DOWNLOAD_DEADLINE_S"])
        lines, by_minute = timing(posts, fake, root, started_at, started, deadline)
        for line in lines:
            print("  " + line)
        hosts = Counter(host for _, host, _ in fake.requests)
        for host, count in hosts.most_common():
            busiest = max(by_minute.get(host, Counter()).values(), default=0)
            print(f"  {host:32s} {count:5d} requests, {count / (wall / 60):6.1f} per minute; busiest minute {busiest}")
    finally:
        fake.close()


if __name__ == "__main__":
    main()
