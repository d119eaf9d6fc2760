"""The length of media as it plays, not as its container claims (concatenated TS, raw H.264)."""

from __future__ import annotations

import pytest

from tests.support.corpus_media import build_duration_liars
from tests.support.paths import SAMPLES
from wandr_pipeline.media.probe import measured_duration_s, probe_media


@pytest.fixture(scope="module")
def liars(tmp_path_factory, ffmpeg):
    return build_duration_liars(tmp_path_factory.mktemp("liars"), ffmpeg)


def test_concatenated_ts_segments_are_measured_whole(liars):
    claimed = probe_media(liars / "concatenated.ts").duration_s
    assert claimed == pytest.approx(10, abs=1)  # what the container says: one segment
    assert measured_duration_s(liars / "concatenated.ts") == pytest.approx(30, abs=0.5)


def test_raw_h264_without_a_length_is_measured(liars):
    assert probe_media(liars / "raw.h264").duration_s is None
    assert measured_duration_s(liars / "raw.h264") == pytest.approx(24, abs=0.5)


def test_measuring_stops_past_the_limit_and_agrees_with_honest_files(liars):
    assert 20 < measured_duration_s(liars / "concatenated.ts", stop_after_s=20) < 21
    clip = SAMPLES / "kyoto_temples.mp4"
    assert measured_duration_s(clip) == pytest.approx(probe_media(clip).duration_s, abs=0.2)


def test_a_still_image_served_as_a_video_is_refused(tmp_path, ffmpeg):
    import subprocess

    from wandr_pipeline.lib.outcomes import PermanentError

    still = tmp_path / "video.mp4"  # a JPEG under a video's name (and served as video/mp4)
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:d=1", "-frames:v", "1",
         "-f", "image2", "-c:v", "mjpeg", str(still)],
        check=True,
    )  # fmt: skip
    with pytest.raises(PermanentError, match=r"not a video: the server sent a still image \(JPEG\)"):
        probe_media(still)
