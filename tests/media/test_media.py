"""Pure media functions on real files made with ffmpeg."""

import subprocess

import numpy as np
import pytest

from tests.support.paths import SAMPLES
from wandr_pipeline.lib.outcomes import PermanentError
from wandr_pipeline.media.audio import extract_audio
from wandr_pipeline.media.frames import resize_long_side, sample_frames
from wandr_pipeline.media.probe import probe_media
from wandr_pipeline.media.text import distinct_lines


def _ffmpeg(ffmpeg, *args):
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def test_probe_sample_clip():
    info = probe_media(SAMPLES / "lisbon_pasteis.mp4")
    assert info.has_video and info.has_audio
    assert (info.width, info.height) == (720, 1280)
    assert info.fps == pytest.approx(30, abs=0.01)
    assert 12 < info.duration_s < 14


def test_probe_refuses_empty_and_garbage(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(PermanentError, match="empty file"):
        probe_media(empty)
    html = tmp_path / "page.mp4"
    html.write_text("<html><body>Log in to continue</body></html>")
    with pytest.raises(PermanentError, match="the server sent an HTML page"):
        probe_media(html)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(PermanentError, match=r"^not a readable media file \(Invalid data found"):
        probe_media(garbage)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes((SAMPLES / "kyoto_temples.mp4").read_bytes()[:200_000])  # faststart: index first, data cut
    with pytest.raises(PermanentError, match=r"^MP4 file is cut short: 200000 bytes of at least 439170$"):
        probe_media(cut)  # the index is whole and the file opens, but half the video would pass for all of it


def test_extract_audio_is_16k_mono(tmp_path):
    info = extract_audio(SAMPLES / "kyoto_temples.mp4", tmp_path / "a.wav")
    assert (info.sample_rate, info.channels) == (16000, 1)
    assert 11 < info.duration_s < 13


def test_frame_timestamps_follow_presentation_time_on_variable_frame_rate(tmp_path, ffmpeg):
    # 1 s at 10 fps then 1 s at 30 fps, concatenated: index / fps would be wrong for the second part.
    slow, fast, vfr = tmp_path / "slow.mp4", tmp_path / "fast.mp4", tmp_path / "vfr.mp4"
    _ffmpeg(
        ffmpeg,
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x284:r=10:d=1",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-video_track_timescale",
        "90000",
        str(slow),
    )
    _ffmpeg(
        ffmpeg,
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x284:r=30:d=1",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-video_track_timescale",
        "90000",
        str(fast),
    )
    listing = tmp_path / "list.txt"
    listing.write_text(f"file '{slow}'\nfile '{fast}'\n")
    _ffmpeg(ffmpeg, "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(vfr))
    frames = list(sample_frames(vfr, every_n_frames=5))
    stamps = {f.frame_index: f.timestamp_s for f in frames}
    assert stamps[0] == pytest.approx(0.0, abs=0.01)
    assert stamps[5] == pytest.approx(0.5, abs=0.02)  # 10 fps part
    assert stamps[15] == pytest.approx(1.0 + 5 / 30, abs=0.02)  # 30 fps part: not 15/10
    assert stamps[35] == pytest.approx(1.0 + 25 / 30, abs=0.02)


def test_every_nth_frame_and_resize():
    frames = list(sample_frames(SAMPLES / "mexico_city_tacos.mp4", every_n_frames=30, max_long_side=640))
    assert [f.frame_index for f in frames[:4]] == [0, 30, 60, 90]
    assert [round(f.timestamp_s, 2) for f in frames[:4]] == [0.0, 1.0, 2.0, 3.0]
    assert frames[0].image.shape == (640, 360, 3)


def test_rotated_video_frames_come_out_upright(tmp_path, ffmpeg):
    # A landscape picture stored with a 90° display matrix plays as portrait.
    flat, rotated = tmp_path / "flat.mp4", tmp_path / "rotated.mp4"
    _ffmpeg(
        ffmpeg,
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=320x180:r=10:d=1",
        "-vf",
        "drawbox=x=0:y=0:w=80:h=180:color=white:t=fill",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(flat),
    )
    _ffmpeg(ffmpeg, "-display_rotation", "90", "-i", str(flat), "-c", "copy", str(rotated))
    assert (probe_media(rotated).width, probe_media(rotated).height) == (180, 320)
    frame = next(sample_frames(rotated, every_n_frames=1)).image
    assert frame.shape[:2] == (320, 180)
    # the white stripe was on the left of the stored picture; after a 90° counter-clockwise turn it is at the bottom
    assert frame[-40:, :, :].mean() > 200 and frame[:200, :, :].mean() < 30


def test_resize_never_enlarges():
    image = np.zeros((100, 50, 3), np.uint8)
    assert resize_long_side(image, 960).shape == (100, 50, 3)
    assert resize_long_side(np.zeros((1920, 1080, 3), np.uint8), 960).shape == (960, 540, 3)


def test_distinct_lines_keep_first_spelling_and_order():
    assert distinct_lines(["PASTEIS DE BELEM", "Pasteis de Belem!", " 2  EUROS EACH", "x", "2 euros each"]) == [
        "PASTEIS DE BELEM",
        "2 EUROS EACH",
    ]
