"""A handful of mixed platform posts through one `wandr-pipeline run`, against the platform fake.

A carousel (a picture, then a video with speech and on-screen text), a TikTok photo post, a refusal, a
429 with `Retry-After` and a link to a host that crawls: every row's outcome, and the documents hold
the pictures' text, the carousel video's text and its speech. The larger list (200 posts, two slow
hosts) is benchmarks/platform_mixed_run.py.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tests.support.platform_fake import SLOW_HOSTS, serving_samples
from wandr_pipeline.cli.main import main
from wandr_pipeline.lib.urls import parse_video_url


@pytest.fixture(scope="module")
def fake(media_root, tmp_path_factory, ffmpeg):
    fake = serving_samples(media_root, tmp_path_factory.mktemp("fake"), ffmpeg)
    fake.slow_drip_s = 0.2
    yield fake
    fake.close()


def _words(text: str | None) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", (text or "").casefold()) if len(w) > 2}


def test_mixed_posts_through_one_cli_run(tmp_path, fake, monkeypatch, capsys):
    carousel = fake.add("instagram", "CcliCarousel1", "carousel", pictures=("easyocr_french.jpg",))
    photo = fake.add("tiktok", "7360000000000000901", "photo_post", pictures=("rapidocr_ch_en_num.jpg",))
    private = fake.add("tiktok", "7360000000000000902", "private")
    storm = fake.add("tiktok", "7360000000000000903", "rate_limited", retry_after=1, media="kyoto_temples.mp4")
    slow = f"https://{SLOW_HOSTS[0]}/clips/crawl.mp4"
    carousel_url = carousel.url.replace("/reel/", "/p/")
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join([carousel_url, photo.url, private.url, storm.url, slow]) + "\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    for name, value in {
        "DAGSTER_HOME": str(home),
        "YTDLP_PROXY": fake.proxy_url,
        "YTDLP_CA_BUNDLE": str(fake.ca_file),
        "WANDR_DOWNLOAD_DEADLINE_S": "3",
        "WANDR_DOWNLOAD_ATTEMPTS": "2",
        "WANDR_DOWNLOAD_BACKOFF_S": "0.1",
        "WANDR_DOWNLOAD_TIMEOUT_S": "2",
    }.items():
        monkeypatch.setenv(name, value)
    root = tmp_path / "root"
    assert main(["run", str(listing), "--storage", str(root)]) == 0, capsys.readouterr().err

    key = {url: parse_video_url(url).video_key for url in [carousel_url, photo.url, private.url, storm.url, slow]}
    videos = pd.read_parquet(root / "warehouse" / "videos").set_index("video_key")
    outcome = {url: tuple(videos.loc[k, ["status", "error_kind", "retryable"]]) for url, k in key.items()}
    assert outcome == {
        carousel_url: ("ok", None, False),
        photo.url: ("ok", None, False),
        private.url: ("failed", "private", False),
        storm.url: ("ok", None, False),  # after the Retry-After
        slow: ("failed", "timeout", True),
    }, videos[["status", "error_kind", "error"]]
    assert videos.loc[key[carousel_url], "media_type"] == "carousel"
    assert [i["kind"] for i in videos.loc[key[carousel_url], "post_items"]] == ["picture", "video"]

    docs = pd.read_parquet(root / "warehouse" / "video_documents").set_index("video_key")
    assert set(docs.index[docs["status"] == "ok"]) == {key[carousel_url], key[photo.url], key[storm.url]}
    doc = docs.loc[key[carousel_url]]
    assert {"palais", "louvre"} <= _words(doc["onscreen_text"]), doc["onscreen_text"]  # the picture
    assert {"pasteis", "belem"} <= _words(doc["onscreen_text"]), doc["onscreen_text"]  # the video item
    assert {"lisbon", "custard", "tarts"} <= _words(doc["transcript_text"]), doc["transcript_text"]  # its speech
    assert "惊喜福利不容错过" in docs.loc[key[photo.url], "onscreen_text"]  # the photo post's picture
    assert {"temple", "famous", "gates"} <= _words(docs.loc[key[storm.url], "transcript_text"])
