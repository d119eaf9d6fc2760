"""Frame sampling that leaves unsampled non-reference frames undecoded gives the frames a plain decode gives.

The reference here is the sampling loop as it was before skipping: decode every frame with PyAV,
count them in output order, convert to BGR, rotate upright, shrink with OpenCV.
"""

import subprocess

import av
import cv2
import numpy as np
import pytest

from tests.support.paths import SAMPLES
from wandr_pipeline.media import frames as frames_module
from wandr_pipeline.media.frames import h264_nonref, resize_long_side, sample_frames


def _ffmpeg(ffmpeg, *args):
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def _every_frame(path, every_n_frames, max_long_side=0):
    """(frame_index, timestamp_s, image) of every Nth frame, every frame decoded."""
    out = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        for index, frame in enumerate(container.decode(stream)):
            if index % every_n_frames:
                continue
            image = frames_module._upright(frame.to_ndarray(format="bgr24"), int(frame.rotation or 0))
            if max_long_side:
                image = resize_long_side(image, max_long_side)
            out.append((index, max(0.0, float(frame.time) - start), image))
    return out


def _grey(image):
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.int16)


def _psnr(a, b) -> float:
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def _assert_same_frames(path, every_n_frames, max_long_side, *, exact, min_psnr=0.0):
    expected = _every_frame(path, every_n_frames, max_long_side)
    got = list(sample_frames(path, every_n_frames=every_n_frames, max_long_side=max_long_side))
    assert [(f.frame_index, f.timestamp_s) for f in got] == [(i, t) for i, t, _ in expected]
    for frame, (_, _, image) in zip(got, expected):
        assert frame.image.shape == image.shape
        difference = np.abs(frame.image.astype(np.int16) - image.astype(np.int16))
        if exact:
            assert difference.max() == 0
        else:  # one swscale pass (area) against swscale + OpenCV area: rounding and chroma edges only
            grey = np.abs(_grey(frame.image) - _grey(image))
            assert grey.mean() < 2 and np.percentile(grey, 99) <= 10
            assert _psnr(frame.image, image) >= min_psnr


@pytest.fixture
def dropped(monkeypatch):
    """Counts the packets the sampler leaves out of decoding."""
    count = [0]
    real = frames_module.h264_nonref

    def counting(data, nal_length_size=4):
        result = real(data, nal_length_size)
        count[0] += result
        return result

    monkeypatch.setattr(frames_module, "h264_nonref", counting)
    return count


def test_sample_clip_frames_match_a_plain_decode_with_unsampled_b_frames_left_out(dropped):
    clip = SAMPLES / "mexico_city_tacos.mp4"
    _assert_same_frames(clip, 7, 0, exact=True)  # no scaling: the very same pixels
    assert dropped[0] > 50  # the clip's x264 B-frames that are not sampled were never decoded
    _assert_same_frames(clip, 30, 640, exact=False, min_psnr=40)  # (JPEG at quality 90 loses more)


def test_variable_frame_rate_and_rotated_frames_match_a_plain_decode(tmp_path, ffmpeg, dropped):
    slow, fast, vfr, rotated = (tmp_path / f"{n}.mp4" for n in ("slow", "fast", "vfr", "rotated"))
    for target, rate in ((slow, 10), (fast, 30)):
        _ffmpeg(
            ffmpeg,
            *("-f", "lavfi", "-i", f"testsrc2=s=160x284:r={rate}:d=2", "-c:v", "libx264", "-bf", "3"),
            *("-pix_fmt", "yuv420p", "-video_track_timescale", "90000", str(target)),
        )
    listing = tmp_path / "list.txt"
    listing.write_text(f"file '{slow}'\nfile '{fast}'\n")
    _ffmpeg(ffmpeg, "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(vfr))
    _ffmpeg(ffmpeg, "-display_rotation", "90", "-i", str(fast), "-c", "copy", str(rotated))
    for every_n in (2, 5):
        _assert_same_frames(vfr, every_n, 0, exact=True)
        _assert_same_frames(rotated, every_n, 0, exact=True)
    _assert_same_frames(rotated, 5, 200, exact=False)
    assert dropped[0] > 0


def test_a_stream_the_skipping_path_cannot_vouch_for_midway_is_finished_by_a_plain_decode(
    monkeypatch, tmp_path, ffmpeg
):
    # A packet whose PTS the table lacks (as if the demuxer disagreed between the two passes) stops the
    # skipping path midway; the plain decode then yields the frames after the last one given.
    clip = tmp_path / "clip.mp4"
    _ffmpeg(ffmpeg, "-f", "lavfi", "-i", "testsrc2=s=160x284:r=30:d=3", "-c:v", "libx264", "-bf", "3", str(clip))
    real_plan = frames_module._skip_plan
    stopped = []

    def plan_missing_one(path, every_n_frames):
        plan = real_plan(path, every_n_frames)
        ranks = {pts: rank for pts, rank in plan.ranks.items() if rank != 45}
        return frames_module._SkipPlan(ranks, plan.nal_length_size)

    real_every = frames_module._sample_every

    def plain(path, every_n_frames, max_long_side):
        stopped.append(True)
        return real_every(path, every_n_frames, max_long_side)

    monkeypatch.setattr(frames_module, "_skip_plan", plan_missing_one)
    monkeypatch.setattr(frames_module, "_sample_every", plain)
    _assert_same_frames(clip, 4, 0, exact=True)
    assert stopped == [True]
    got = list(sample_frames(clip, every_n_frames=4, max_frames=5))
    assert [f.frame_index for f in got] == [0, 4, 8, 12, 16]


def test_other_codecs_and_annex_b_streams_are_decoded_whole(tmp_path, ffmpeg):
    mpeg4, transport = tmp_path / "clip.avi", tmp_path / "clip.ts"
    _ffmpeg(ffmpeg, "-f", "lavfi", "-i", "testsrc2=s=160x284:r=30:d=2", "-c:v", "mpeg4", "-bf", "2", str(mpeg4))
    _ffmpeg(ffmpeg, "-f", "lavfi", "-i", "testsrc2=s=160x284:r=30:d=2", "-c:v", "libx264", str(transport))
    for clip in (mpeg4, transport):
        assert frames_module._skip_plan(clip, 5) is None
        _assert_same_frames(clip, 5, 0, exact=True)


def test_h264_nonref_reads_only_clean_non_reference_slices():
    def nal(header: int, payload: bytes = b"\x88\x84") -> bytes:
        body = bytes([header]) + payload
        return len(body).to_bytes(4, "big") + body

    assert h264_nonref(nal(0x01))  # non-IDR slice, nal_ref_idc 0
    assert h264_nonref(nal(0x09, b"\x10") + nal(0x06) + nal(0x01))  # AUD + SEI + non-reference slice
    assert not h264_nonref(nal(0x41))  # nal_ref_idc 2: other frames predict from it
    assert not h264_nonref(nal(0x65))  # IDR
    assert not h264_nonref(nal(0x67) + nal(0x68) + nal(0x01))  # parameter sets ride along: keep
    assert not h264_nonref(nal(0x06))  # no slice at all
    assert not h264_nonref(nal(0x01)[:-1])  # truncated
    assert not h264_nonref(b"\x00\x00\x00\x01\x01\x88")  # Annex B start code, not a length prefix
