"""yt-dlp downloads from a loopback server and the classification of its failures."""

import datetime as dt

import pytest

from tests.support.options import download_options
from wandr_pipeline.engines.ytdlp import classify_download_error, download_post, post_metadata
from wandr_pipeline.lib.outcomes import PermanentError, TransientError


def test_download_from_loopback(tmp_path, http_server):
    post = download_post(http_server.url("lisbon_pasteis.mp4"), tmp_path, download_options())
    assert post.path.name == "video.mp4" and post.path.stat().st_size > 100_000
    assert post.info["title"] == "lisbon_pasteis"


def test_404_is_a_permanent_readable_failure(tmp_path, http_server):
    with pytest.raises(PermanentError, match="404"):
        download_post(http_server.url("missing.mp4"), tmp_path, download_options())


@pytest.mark.parametrize(
    "message, kind",
    [
        ("[generic] x: Unable to download webpage: HTTP Error 404: Not Found", PermanentError),
        ("[TikTok] 123: This post is private", PermanentError),
        ("[Instagram] abc: Requested content is not available, rate-limit reached or login required", TransientError),
        ("Unable to download webpage: HTTP Error 429: Too Many Requests", TransientError),
        ("Unable to download webpage: HTTP Error 503: Service Unavailable", TransientError),
        ("Unable to download webpage: The read operation timed out", TransientError),
        ("[TikTok] 123: Your IP address is blocked from accessing this post", PermanentError),
    ],
)
def test_classification(message, kind):
    assert classify_download_error(message) is kind


def test_post_metadata_from_info_dict():
    info = {
        "id": 7301234567890123456,
        "title": "Lisbon in 30s",
        "uploader": "travel.girl",
        "uploader_id": "123",
        "description": "Best #pasteis in #Lisbon 🇵🇹 #lisbon",
        "tags": ["travel"],
        "upload_date": "20240131",
        "duration": 31.5,
        "fps": 30,
    }
    meta = post_metadata(info)
    assert meta["post_id"] == "7301234567890123456"
    assert meta["hashtags"] == ["pasteis", "Lisbon", "travel"]
    assert meta["upload_date"] == dt.date(2024, 1, 31)
    assert meta["duration_s"] == 31.5


def test_ytdlps_bug_report_plea_is_not_stored_as_the_reason():
    from wandr_pipeline.engines.ytdlp import _clean_message

    message = _clean_message(
        "ERROR: [TikTok] 7301234567890123456: Unable to extract universal data for rehydration; please report "
        "this issue on  https://github.com/yt-dlp/yt-dlp/issues?q= , filling out the appropriate issue template. "
        "Confirm you are on the latest version using  yt-dlp -U"
    )
    assert message.startswith("[TikTok] 7301234567890123456: Unable to extract universal data for rehydration (")
    assert "report" not in message and "yt-dlp -U" not in message and "a newer yt-dlp may read it" in message
