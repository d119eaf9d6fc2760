"""yt-dlp's real TikTok and Instagram extractors, offline, through the project's download stage.

The platforms are played by tests/support/platform_fake.py: a proxy that answers `CONNECT` itself with
TLS from a throwaway authority, reached through `YTDLP_PROXY` and trusted through `YTDLP_CA_BUNDLE`.
When a yt-dlp upgrade changes what the extractors read, `test_the_extractors_still_read_what_the_fake_serves`
and the request-log assertions fail first.

Each test runs in both modes of `YTDLP_IMPERSONATE` (the `downloader` fixture): impersonating, where the
extractors' page requests go through curl_cffi (engines/ytdlp_impersonation.py), and plain; the fixture
checks from the fake's log that the pages came from a browser's client exactly in the first. Tests whose
requests take the same road in both (`ONE_MODE`) run once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import yt_dlp

from tests.support.paths import REPO
from tests.support.platform_fake import (
    INSTAGRAM,
    INSTAGRAM_CDN,
    RELIED_ON,
    TIKTOK,
    TIKTOK_CDN,
    serving_samples,
)
from wandr_pipeline.defs.resources import VideoDownloader
from wandr_pipeline.defs.videos.raw_video import RawVideoWorker
from wandr_pipeline.defs.videos.stage import StageRun
from wandr_pipeline.lib.outcomes import PermanentError
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.submissions import record_submissions
from wandr_pipeline.lib.urls import parse_video_url

TIKTOK_ID = "7301234567890123456"
REEL = "C1a2B3c4D5e"


@pytest.fixture(scope="module")
def fake(media_root, tmp_path_factory, ffmpeg):
    """The platforms, serving the sample clips, the real pictures of data/real/images and a soundtrack."""
    fake = serving_samples(media_root, tmp_path_factory.mktemp("fake"), ffmpeg)
    yield fake
    fake.close()


@pytest.fixture(params=["impersonating", "plain"])
def downloader(fake, request) -> Iterator[VideoDownloader]:
    """The downloader through the fake, with browser impersonation (curl_cffi, where the extractors ask
    for it) and without (`YTDLP_IMPERSONATE=false`): every test here runs in both modes."""
    fake.clear_log()
    impersonating = request.param == "impersonating"
    yield VideoDownloader(
        proxy=fake.proxy_url,
        ca_bundle=str(fake.ca_file),
        attempts=2,
        backoff_s=0.05,
        socket_timeout_s=3.0,
        deadline_s=20.0,
        impersonate=impersonating,
    )
    # Whatever the test, the platforms' pages came from a browser's client exactly when impersonating (the
    # extractors ask for it there), and the CDNs' media from yt-dlp's own transports.
    pages = {client for host in (TIKTOK, INSTAGRAM) for _, client in fake.clients(host)}
    assert pages <= {"browser" if impersonating else "yt-dlp"}, fake.clients()
    assert {client for host in (TIKTOK_CDN, INSTAGRAM_CDN) for _, client in fake.clients(host)} <= {"yt-dlp"}


# Tests whose requests take the same road in both modes (the media, OCR, scheduling) run once, impersonating.
ONE_MODE = pytest.mark.parametrize("downloader", ["impersonating"], indirect=True)


def run_stage(tmp_path: Path, downloader: VideoDownloader, url: str) -> dict:
    """The `raw_video` stage on one submitted URL: its `videos` row."""
    [row] = run_stage_on(tmp_path, downloader, [url])
    return row


def run_stage_on(tmp_path: Path, downloader: VideoDownloader, urls: list[str]) -> list[dict]:
    """One `raw_video` run over submitted URLs, one after another: their `videos` rows."""
    store = Storage(str(tmp_path / "store"))
    refs = [parse_video_url(url) for url in urls]
    record_submissions(store, refs, source="test")
    run = StageRun(None, "raw_video", keys=[r.video_key for r in refs], store=store, log=logging.getLogger("test"))
    worker = RawVideoWorker(run, SimpleNamespace(downloader=downloader))
    for ref in refs:
        worker.process_one(ref.video_key, {})
    return [run.tables[ref.video_key].to_pylist()[0] for ref in refs]


def test_the_extractors_still_read_what_the_fake_serves():
    folder = Path(yt_dlp.__file__).parent / "extractor"
    sources = {name: (folder / name).read_text() for name in RELIED_ON}
    missing = [f"{name}: {text}" for name, texts in RELIED_ON.items() for text in texts if text not in sources[name]]
    assert not missing, f"yt-dlp {yt_dlp.version.__version__} no longer reads these; update the fake: {missing}"


def test_a_tiktok_video_through_the_download_stage(tmp_path, fake, downloader):
    fake.add("tiktok", TIKTOK_ID)
    row = run_stage(tmp_path, downloader, f"https://{TIKTOK}/@wandr.travel/video/{TIKTOK_ID}")
    assert row["status"] == "ok", row["error"]
    assert row["platform"] == "tiktok" and row["post_id"] == TIKTOK_ID
    assert row["title"] == "Best #pasteis in #Lisbon 🇵🇹 with @wandr.friend"
    assert (row["uploader"], row["uploader_id"]) == ("wandr.travel", "6812345678901234567")
    assert row["description"].startswith("Best #pasteis") and row["hashtags"] == ["pasteis", "Lisbon"]
    assert row["upload_date"] == dt.date(2024, 1, 31)
    assert row["upload_time"] == dt.datetime(2024, 1, 31, tzinfo=dt.UTC)
    assert row["has_video"] and row["duration_s"] > 1  # the file's, probed
    assert (row["media_type"], row["post_items"]) == ("video", None)
    assert row["uploader_name"] == "Wandr Travel"
    assert (row["music_title"], row["music_artist"]) == ("original sound - wandr.travel", "Wandr Travel")
    counts = [row[c] for c in ("view_count", "like_count", "comment_count", "share_count")]
    assert counts == [12034, 3401, 25, 12]
    assert row["error_kind"] is None and row["retryable"] is False
    assert fake.asked() == [
        ("GET", f"{TIKTOK}/@wandr.travel/video/{TIKTOK_ID}"),
        ("GET", f"{TIKTOK_CDN}/video/tos/tiktok/{TIKTOK_ID}/lisbon_pasteis.mp4"),
    ]
    # The extractor asks for impersonation for the post page only; the media goes the usual way.
    page_client = "browser" if downloader.impersonate else "yt-dlp"
    assert [client for _, client in fake.clients()] == [page_client, "yt-dlp"]


def test_an_instagram_reel_through_the_download_stage(tmp_path, fake, downloader):
    fake.add("instagram", REEL, media="kyoto_temples.mp4", description="Kyoto at dawn #kyoto #temples")
    row = run_stage(tmp_path, downloader, f"https://{INSTAGRAM}/reel/{REEL}/")
    assert row["status"] == "ok", row["error"]
    assert row["platform"] == "instagram" and row["post_id"] == REEL
    assert (row["uploader"], row["uploader_name"]) == ("wandr.travel", "Wandr Travel")
    assert row["uploader_id"] == "6812345678901234567"
    assert [row["view_count"], row["like_count"], row["comment_count"]] == [12034, 3401, 25]
    assert row["description"] == "Kyoto at dawn #kyoto #temples" and row["hashtags"] == ["kyoto", "temples"]
    assert row["upload_date"] == dt.date(2024, 1, 31)
    assert row["has_video"] and row["duration_s"] > 1
    # Logged out: the session token, the ruling, the media's data, the media. The extractor takes the API
    # (`POST /api/graphql`) when it can impersonate a browser, the post page when it cannot.
    media = ("POST", f"{INSTAGRAM}/api/graphql") if downloader.impersonate else ("GET", f"{INSTAGRAM}/p/{REEL}")
    assert fake.asked() == [
        ("GET", f"{INSTAGRAM}/"),
        ("GET", f"{INSTAGRAM}/api/v1/web/get_ruling_for_content/"),
        media,
        ("GET", f"{INSTAGRAM_CDN}/o1/v/t16/instagram/{REEL}/kyoto_temples.mp4"),
    ]
    clients = [client for _, client in fake.clients(INSTAGRAM)]
    assert clients == ["browser" if downloader.impersonate else "yt-dlp"] * 3


def test_without_the_ca_bundle_the_fake_is_not_trusted(tmp_path, fake, downloader):
    fake.add("tiktok", "7301234567890123999")
    untrusting = dataclasses.replace(downloader.options(), ca_bundle=None)
    from wandr_pipeline.engines.ytdlp import download_post

    with pytest.raises(PermanentError, match=r"(?i)certificate"):
        download_post(f"https://{TIKTOK}/@wandr.travel/video/7301234567890123999", tmp_path, untrusting)


def test_the_proxy_password_is_never_in_a_row(tmp_path, fake, downloader):
    """A proxy that refuses the request: the error names neither the proxy's password nor its URL."""
    secret = "SENTINEL-PROXY-PW-81f3"
    refusing = downloader.model_copy(update={"proxy": f"http://user:{secret}@127.0.0.1:9/", "attempts": 1})
    row = run_stage(tmp_path, refusing, f"https://{TIKTOK}/@wandr.travel/video/{TIKTOK_ID}")
    assert row["status"] == "failed" and secret not in str(row)


def test_remote_only_allows_the_operators_proxy_and_judges_each_url(tmp_path, fake, downloader):
    """The proxy is loopback, the platform's names do not resolve here: allowed. A media URL naming a
    loopback address is refused although the proxy would fetch it."""
    fake.add("tiktok", TIKTOK_ID)
    remote = downloader.model_copy(update={"remote_only": True, "allow_local_files": False})
    row = run_stage(tmp_path, remote, f"https://{TIKTOK}/@wandr.travel/video/{TIKTOK_ID}")
    assert row["status"] == "ok", row["error"]
    fake.add("tiktok", "7301234567890120001", cdn_host="127.0.0.1")
    row = run_stage(tmp_path / "inward", remote, f"https://{TIKTOK}/@wandr.travel/video/7301234567890120001")
    assert row["status"] == "failed" and "refusing to connect to 127.0.0.1" in row["error"]
    assert not [path for _, path in fake.asked() if path.startswith("127.0.0.1")]


# --- every refusal named ------------------------------------------------------------------------

COOKIES = r"\(YTDLP_COOKIES_FILE"
REFUSALS = [
    # platform, scenario, error_kind, retryable, reason
    ("tiktok", "private", "private", False, rf"^TikTok: the post is private {COOKIES}"),
    ("instagram", "private", "private", False, rf"^Instagram: the post is private {COOKIES}"),
    ("tiktok", "removed", "removed", False, r"^TikTok: the post is not available \(removed .*status 10217\)$"),
    ("instagram", "removed", "removed", False, r"^Instagram: the post page is gone \(HTTP 404"),
    (
        "tiktok",
        "login_wall",
        "login_required",
        False,
        rf"^TikTok shows this post only to a logged-in account {COOKIES}",
    ),
    ("instagram", "login_wall", "login_required", False, r"^Instagram sent the request to its login page: its limit"),
    ("tiktok", "age_restricted", "age_restricted", False, rf"^TikTok: the post is age-restricted {COOKIES}"),
    ("instagram", "age_restricted", "age_restricted", False, rf"^Instagram: the post is age-restricted {COOKIES}"),
    ("tiktok", "ip_blocked", "ip_blocked", False, r"^TikTok blocks this server's IP address for this post"),
    ("instagram", "empty_media", "empty_media_response", False, r"^Instagram sent an empty media response: "),
    ("tiktok", "page_403", "page_forbidden", False, r"^TikTok refused the post page \(HTTP 403\)"),
    ("instagram", "page_403", "page_forbidden", False, r"^Instagram refused the post page \(HTTP 403\)"),
    ("tiktok", "expired_always", "expired_media_url", False, r"HTTP 403\).*\(also after extracting the post again\)$"),
    ("instagram", "expired_always", "expired_media_url", False, r"\(also after extracting the post again\)$"),
    (
        "tiktok",
        "rate_limited",
        "rate_limited",
        True,
        r"^TikTok is rate-limiting requests \(HTTP 429, asked to wait 1 s\)",
    ),
    ("instagram", "rate_limited", "rate_limited", True, r"^Instagram is rate-limiting requests \(HTTP 429"),
    ("tiktok", "pdf_as_video", "not_media", False, r"^not a media file: the server sent a PDF document$"),
]


def _post_id(platform: str, scenario: str) -> str:
    number = sorted(s for s in {r[1] for r in REFUSALS} | {"video", "expired_url", "slow_media_headers"}).index(
        scenario
    )
    if platform == "tiktok":
        return f"73{number:017d}"
    return "C" + "p" * 40 if scenario == "private" else f"Cref{number:02d}"


@pytest.mark.parametrize("platform, scenario, kind, retryable, reason", REFUSALS)
def test_every_refusal_is_named(tmp_path, fake, downloader, platform, scenario, kind, retryable, reason):
    post = fake.add(platform, _post_id(platform, scenario), scenario)
    once = downloader.model_copy(update={"attempts": 1})
    row = run_stage(tmp_path, once, post.url)
    assert (row["status"], row["error_kind"], row["retryable"]) == ("failed", kind, retryable), row["error"]
    assert re.search(reason, row["error"]), row["error"]
    assert "report this issue" not in row["error"] and "--cookies" not in row["error"]


def test_an_expired_media_url_is_extracted_again_once(tmp_path, fake, downloader):
    post = fake.add("tiktok", _post_id("tiktok", "expired_url"), "expired_url")
    row = run_stage(tmp_path, downloader, post.url)
    assert row["status"] == "ok", row["error"]
    pages = [p for m, p in fake.asked(TIKTOK) if p.endswith(post.post_id)]
    media = [p for m, p in fake.asked(TIKTOK_CDN)]
    assert len(pages) == 2 and len(media) == 2  # the refused URL, then the fresh one


@ONE_MODE
def test_retry_after_is_honoured_across_the_run(tmp_path, fake, downloader):
    """A 429 with Retry-After on one post holds the platform's next post of the run back too, not only its
    own retry; another run (a worker of its own) is not held back."""
    limited = fake.add("tiktok", _post_id("tiktok", "rate_limited"), "rate_limited", retry_after=1)
    fine = fake.add("tiktok", _post_id("tiktok", "video"))
    rows = run_stage_on(tmp_path, downloader.model_copy(update={"attempts": 1}), [limited.url, fine.url])
    assert (rows[0]["error_kind"], rows[1]["status"]) == ("rate_limited", "ok"), rows
    [refused] = fake.times[f"{TIKTOK}/@wandr.travel/video/{limited.post_id}"]
    [asked] = fake.times[f"{TIKTOK}/@wandr.travel/video/{fine.post_id}"]
    assert asked - refused >= 1.0
    # and the post itself succeeds on its next try, after the wait
    fake.clear_log()
    limited.page_requests = 0
    assert run_stage(tmp_path / "c", downloader, limited.url)["status"] == "ok"


def test_another_runs_retry_after_does_not_hold_this_run(tmp_path, fake, downloader):
    limited = fake.add("tiktok", _post_id("tiktok", "rate_limited"), "rate_limited", retry_after=3600)
    fine = fake.add("tiktok", _post_id("tiktok", "video"))
    once = downloader.model_copy(update={"attempts": 1})
    assert run_stage(tmp_path / "a", once, limited.url)["error_kind"] == "rate_limited"
    start = time.monotonic()
    assert run_stage(tmp_path / "b", once, fine.url)["status"] == "ok"
    assert time.monotonic() - start < 30


@ONE_MODE
def test_media_headers_at_a_crawl_over_tls_end_at_the_deadline(tmp_path, fake, downloader):
    """The deadline's watchdog shuts TLS connections too (it tracks the TLS socket the transport wraps)."""
    post = fake.add("tiktok", _post_id("tiktok", "slow_media_headers"), "slow_media_headers", drip_s=0.2)
    slow = downloader.model_copy(update={"deadline_s": 2.0, "socket_timeout_s": 5.0})
    start = time.monotonic()
    row = run_stage(tmp_path, slow, post.url)
    assert time.monotonic() - start < 4.5
    assert (row["error_kind"], row["retryable"]) == ("timeout", True)
    assert row["error"].startswith("download stopped at the 2 s deadline") and "empty file" not in row["error"]


# --- the egress limits on the transport that fetches the post page ---------------------------------
# With impersonation, TikTok's post page is what libcurl (engines/ytdlp_impersonation.py) fetches.


def _page_client(downloader: VideoDownloader) -> str:
    return "browser" if downloader.impersonate else "yt-dlp"


def test_a_post_page_at_a_crawl_ends_at_the_deadline(tmp_path, fake, downloader):
    post = fake.add("tiktok", "7350000000000000050", "slow_page", drip_s=0.2)
    slow = downloader.model_copy(update={"deadline_s": 2.0, "socket_timeout_s": 10.0})
    start = time.monotonic()
    row = run_stage(tmp_path, slow, post.url)
    assert time.monotonic() - start < 4.5
    assert (row["status"], row["error_kind"], row["retryable"]) == ("failed", "timeout", True), row["error"]
    assert row["error"].startswith("download stopped at the 2 s deadline")
    assert fake.clients(TIKTOK)[0][1] == _page_client(downloader)


def test_a_post_page_redirecting_inward_is_refused_under_remote_only(tmp_path, fake, downloader):
    """Behind the proxy each redirect is judged before the proxy is asked for it, by either transport."""
    post = fake.add("tiktok", "7350000000000000051", "redirect_inward")
    remote = downloader.model_copy(update={"remote_only": True, "allow_local_files": False, "attempts": 1})
    row = run_stage(tmp_path, remote, post.url)
    assert (row["status"], row["error_kind"], row["retryable"]) == ("failed", "address_refused", False), row["error"]
    assert row["error"].startswith("refusing to connect to 127.0.0.1: a loopback address")
    assert fake.clients(TIKTOK) == [(f"/@wandr.travel/video/{post.post_id}", _page_client(downloader))]
    assert not [host for host in fake.refused_hosts if host.startswith("127.0.0.1")]


def test_a_huge_post_page_is_refused_at_the_byte_limit(tmp_path, fake, downloader):
    """Pages, which no progress hook sees, are bounded too: the announced size is refused at the headers."""
    post = fake.add("tiktok", "7350000000000000052", "huge_page")
    small = downloader.model_copy(update={"max_filesize_mb": 1.0, "attempts": 1})
    row = run_stage(tmp_path, small, post.url)
    assert (row["status"], row["error_kind"], row["retryable"]) == ("failed", "too_large", False), row["error"]
    assert row["error"] == "file is 10.0 MB, over the 1 MB limit (WANDR_MAX_VIDEO_MB)"
    assert fake.clients(TIKTOK)[0][1] == _page_client(downloader)


# --- posts made of pictures -----------------------------------------------------------------------

PICTURES = ("easyocr_english.jpg", "rapidocr_latin.jpg", "easyocr_french.jpg")


def _frames_of(tmp_path: Path, row: dict) -> list[dict]:
    from wandr_pipeline.defs.resources import FrameSamplingResource
    from wandr_pipeline.defs.videos.sampled_frames import _sample_one

    store = Storage(str(tmp_path / "store"))
    return _sample_one(store, FrameSamplingResource(), row_key(row), row)


def row_key(row: dict) -> str:
    return parse_video_url(row["source_url"]).video_key


@pytest.mark.parametrize("path", ["photo", "video"])
def test_a_tiktok_photo_post_keeps_its_pictures_and_soundtrack(tmp_path, fake, downloader, path):
    """By its /photo/ URL (which yt-dlp itself calls unsupported) and by its /video/ URL."""
    post_id = "7350000000000000010" if path == "photo" else "7350000000000000011"
    fake.add("tiktok", post_id, "photo_post", pictures=PICTURES, soundtrack="soundtrack.m4a")
    row = run_stage(tmp_path, downloader, f"https://{TIKTOK}/@wandr.travel/{path}/{post_id}")
    assert row["status"] == "ok", row["error"]
    assert (row["media_type"], row["has_video"], row["has_audio"]) == ("photo_post", True, True)
    assert row["post_id"] == post_id and row["music_title"] == "original sound - wandr.travel"
    frames = _frames_of(tmp_path, row)
    assert [(f["frame_index"], f["timestamp_s"], f["every_n_frames"]) for f in frames] == [
        (0, 0.0, 1),
        (1, 1.0, 1),
        (2, 2.0, 1),
    ]
    asked = [p for _, p in fake.asked(TIKTOK_CDN)]
    assert [p.rsplit("/", 1)[1] for p in asked] == ["soundtrack.m4a", *PICTURES]


def test_an_instagram_image_post_is_one_picture(tmp_path, fake, downloader):
    fake.add("instagram", "CimgPost01", "image_post", pictures=PICTURES[:1])
    row = run_stage(tmp_path, downloader, f"https://{INSTAGRAM}/p/CimgPost01/")
    assert row["status"] == "ok", row["error"]
    assert (row["media_type"], row["has_video"], row["has_audio"]) == ("photo_post", True, False)
    assert row["post_id"] == "CimgPost01" and row["uploader"] == "wandr.travel"
    assert len(_frames_of(tmp_path, row)) == 1


def test_an_instagram_carousel_plays_its_pictures_and_its_video_in_one_timeline(tmp_path, fake, downloader):
    """Pictures and a video mixed: one video of the post, each picture a still read once, the video item
    with its own frames (sampled as any video's) and its sound, in the post's order."""
    pictures = ("easyocr_french.jpg", "rapidocr_ch_en_num.jpg")  # within the clip's 720x1280: a small canvas
    fake.add("instagram", "CcarouselA", "carousel", pictures=pictures)
    row = run_stage(tmp_path, downloader, f"https://{INSTAGRAM}/p/CcarouselA/")
    assert row["status"] == "ok", row["error"]
    assert (row["media_type"], row["has_video"], row["has_audio"]) == ("carousel", True, True)
    assert (row["width"], row["height"]) == (720, 1280)
    # the video item itself is downloaded, not its cover picture
    assert [p.rsplit("/", 1)[1].split("?")[0] for _, p in fake.asked(INSTAGRAM_CDN)] == [
        pictures[0],
        "lisbon_pasteis.mp4",
        pictures[1],
    ]
    items = row["post_items"]
    assert [(i["kind"], i["first_frame"], i["frames"], i["start_s"], i["end_s"]) for i in items] == [
        ("picture", 0, 30, 0.0, 1.0),
        ("video", 30, 390, 1.0, 14.0),  # the 13 s clip at its 30 fps
        ("picture", 420, 30, 14.0, 15.0),
    ]
    assert row["duration_s"] == pytest.approx(15.0, abs=0.1)
    frames = _frames_of(tmp_path, row)
    assert [(f["frame_index"], f["every_n_frames"]) for f in frames] == [
        (0, 1),
        *[(30 + n, 30) for n in range(0, 390, 30)],
        (420, 1),
    ]
    assert [f["timestamp_s"] for f in frames][:2] == [0.0, 1.0] and frames[-1]["timestamp_s"] == 14.0


def test_a_photo_post_records_where_each_picture_lies(tmp_path, fake, downloader):
    fake.add("tiktok", "7350000000000000013", "photo_post", pictures=PICTURES[:2])
    row = run_stage(tmp_path, downloader, f"https://{TIKTOK}/@wandr.travel/photo/7350000000000000013")
    assert row["status"] == "ok", row["error"]
    assert [(i["kind"], i["first_frame"], i["frames"], i["start_s"]) for i in row["post_items"]] == [
        ("picture", 0, 1, 0.0),
        ("picture", 1, 1, 1.0),
    ]


@ONE_MODE
def test_ocr_reads_each_picture_of_a_photo_post_from_its_frame(tmp_path, fake, downloader):
    """What a picture says survives the slideshow: frame i reads as picture i does on its own."""
    import cv2

    from wandr_pipeline.engines.rapidocr import RapidOcrEngine

    fake.add("tiktok", "7350000000000000012", "photo_post", pictures=PICTURES[:2])
    row = run_stage(tmp_path, downloader, f"https://{TIKTOK}/@wandr.travel/photo/7350000000000000012")
    assert row["status"] == "ok", row["error"]
    store = Storage(str(tmp_path / "store"))
    frames = _frames_of(tmp_path, row)
    engine = RapidOcrEngine(min_confidence=0.5, use_cuda=False)
    for frame, picture in zip(frames, PICTURES[:2], strict=True):
        with store.local_copy(frame["image_uri"]) as local:
            from_frame, alone = engine.read(
                [cv2.imread(str(local)), cv2.imread(str(REPO / "data/real/images" / picture))]
            )
        words = lambda lines: {w.casefold() for line in lines for w in line.text.split() if len(w) > 2}  # noqa: E731
        assert words(alone) and len(words(from_frame) & words(alone)) >= len(words(alone)) // 2, (from_frame, alone)


# --- the cookies file -----------------------------------------------------------------------------


def test_the_cookies_file_is_read_once_while_unchanged_and_never_over_its_limit(
    tmp_path, fake, downloader, monkeypatch
):
    from wandr_pipeline.engines import ytdlp

    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n.tiktok.com\tTRUE\t/\tTRUE\t0\tsid_tt\tSENTINEL-SID-77aa\n")
    cookies.chmod(0o400)
    reads = []
    real_open = open
    monkeypatch.setattr(
        "builtins.open",
        lambda f, *a, **k: (reads.append(f) if str(f) == str(cookies) else None) or real_open(f, *a, **k),
    )
    fake.add("tiktok", TIKTOK_ID)
    with_cookies = downloader.model_copy(update={"cookies_file": str(cookies)})
    for attempt in ("a", "b"):
        row = run_stage(tmp_path / attempt, with_cookies, f"https://{TIKTOK}/@wandr.travel/video/{TIKTOK_ID}")
        assert row["status"] == "ok", row["error"]
        assert not list((tmp_path / attempt).rglob(".cookies.txt"))  # the private copy is gone
    assert len(reads) == 1
    assert ytdlp.read_cookies(str(cookies), None) is ytdlp.read_cookies(str(cookies), None)
    small = with_cookies.model_copy(update={"cookies_max_mb": 40 / 2**20})  # 40 bytes
    row = run_stage(tmp_path / "c", small, f"https://{TIKTOK}/@wandr.travel/video/{TIKTOK_ID}")
    assert (row["status"], row["error_kind"], row["retryable"]) == ("failed", "cookies_refused", False)
    assert "over the" in row["error"] and "YTDLP_COOKIES_MAX_MB" in row["error"] and str(cookies) not in row["error"]


@ONE_MODE
def test_requests_to_one_site_keep_the_configured_interval(tmp_path, fake, downloader):
    posts = [fake.add("tiktok", TIKTOK_ID), fake.add("tiktok", "7350000000000000040")]
    paced = downloader.model_copy(update={"request_interval_s": 0.25})
    rows = run_stage_on(tmp_path, paced, [post.url for post in posts])
    assert [row["status"] for row in rows] == ["ok", "ok"], rows
    times = sorted(t for key, stamps in fake.times.items() if key.split("/")[0].endswith("tiktok.com") for t in stamps)
    assert len(times) == 4  # two pages, two media files: one site, tiktok.com
    # spaced when asked; their arrival also includes each connection's set-up (CONNECT, TLS), which varies
    assert times[-1] - times[0] >= 3 * 0.25 - 0.05
    assert min(later - earlier for earlier, later in zip(times, times[1:])) >= 0.1


@ONE_MODE
def test_headers_at_a_crawl_then_nothing_is_a_timeout_not_an_empty_file(tmp_path, fake, downloader):
    post = fake.add("tiktok", "7350000000000000013", "slow_empty_media", drip_s=0.03)
    slow = downloader.model_copy(update={"socket_timeout_s": 1.0, "attempts": 1})
    row = run_stage(tmp_path, slow, post.url)
    assert (row["status"], row["error_kind"], row["retryable"]) == ("failed", "timeout", True), row["error"]
    assert row["error"].startswith("the server sent its response too slowly and then no data")


def test_downloads_from_one_site_hold_at_most_their_slots():
    import threading

    from wandr_pipeline.engines.ytdlp import SiteSlots

    slots, lock = SiteSlots(), threading.Lock()
    busy = {"now": 0, "most": 0}

    def download() -> None:
        with slots.hold("tiktok.com", 2):
            with lock:
                busy["now"] += 1
                busy["most"] = max(busy["most"], busy["now"])
            time.sleep(0.05)
            with lock:
                busy["now"] -= 1

    threads = [threading.Thread(target=download) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert busy["most"] == 2


@ONE_MODE
def test_a_slow_host_does_not_hold_the_runs_other_downloads(tmp_path, fake, downloader):
    """raw_video with 3 downloads at once, 2 per site: a CDN crawling to the deadline holds one slot."""
    from wandr_pipeline.lib.pipelining import PipelineStage, run_pipelined

    slow = fake.add("tiktok", "7350000000000000020", "slow_media_headers", drip_s=0.2)
    good = [fake.add("tiktok", f"735000000000000003{i}") for i in range(3)]
    parallel = downloader.model_copy(update={"concurrent_downloads": 3, "deadline_s": 3.0, "attempts": 1})
    store = Storage(str(tmp_path / "store"))
    refs = [parse_video_url(post.url) for post in [slow, *good]]
    record_submissions(store, refs, source="test")
    keys = [ref.video_key for ref in refs]
    run = StageRun(None, "raw_video", keys=keys, store=store, log=logging.getLogger("test"))
    worker = RawVideoWorker(run, SimpleNamespace(downloader=parallel))
    finished: dict[str, float] = {}

    def process(given: list[str]) -> None:
        worker.process(given, {})
        finished.update({key: time.monotonic() for key in given})

    start = time.monotonic()
    list(
        run_pipelined(keys, [PipelineStage("raw_video", process, workers=worker.workers)], in_flight=4, on_error=print)
    )
    statuses = {key: run.tables[key].column("status")[0].as_py() for key in keys}
    assert statuses == {keys[0]: "failed", **{key: "ok" for key in keys[1:]}}
    assert max(finished[key] for key in keys[1:]) < finished[keys[0]]
    assert time.monotonic() - start < 6


def test_a_post_the_platform_says_is_too_long_is_refused_before_its_media(tmp_path, fake, downloader):
    post = fake.add("tiktok", "7350000000000000040", duration_s=3600)
    row = run_stage(tmp_path, downloader.model_copy(update={"max_duration_s": 600}), post.url)
    assert (row["status"], row["error_kind"]) == ("failed", "too_long"), row["error"]
    assert row["error"].startswith("video is 3600 s long, over the 600 s limit")
    assert fake.asked(TIKTOK_CDN) == []


def test_a_picture_that_is_not_one_is_named(tmp_path, fake, downloader):
    from tests.support.platform_fake import PDF

    (fake.media_roots[-1] / "not-a-picture.jpg").write_bytes(PDF)
    post = fake.add("instagram", "CimgPdf001", "image_post", pictures=("not-a-picture.jpg",))
    row = run_stage(tmp_path, downloader, post.url)
    assert (row["status"], row["error_kind"], row["retryable"]) == ("failed", "not_media", False)
    assert row["error"] == "picture 1 of 1 is not a readable image"
