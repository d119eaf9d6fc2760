"""A post's items as one video: each picture a still read once, each video item its frames and its sound."""

from __future__ import annotations

import subprocess

import av
import cv2
import numpy as np
import pytest

from wandr_pipeline.lib.outcomes import PermanentError
from wandr_pipeline.media.frames import sample_frames
from wandr_pipeline.media.slideshow import PostItem, build_post_timeline, frames_to_read, slideshow_items


def _picture(path, colour: tuple[int, int, int], size=(300, 200)):
    image = np.zeros((size[1], size[0], 3), np.uint8)
    image[:] = colour
    cv2.imwrite(str(path), image)
    return path


def test_frames_to_read_takes_a_pictures_first_frame_and_a_videos_every_nth():
    items = [
        {"kind": "picture", "first_frame": 0, "frames": 25},
        {"kind": "video", "first_frame": 25, "frames": 70},
        {"kind": "picture", "first_frame": 95, "frames": 25},
    ]
    read = frames_to_read(items, every_n_frames=30)
    assert [(i, read(i)) for i in range(130) if read(i)] == [(0, 1), (25, 30), (55, 30), (85, 30), (95, 1)]
    assert [(i.first_frame, i.frames, i.start_s) for i in slideshow_items(2)] == [(0, 1, 0.0), (1, 1, 1.0)]


def test_a_picture_and_a_video_with_sound_become_one_timeline(tmp_path, ffmpeg):
    clip = tmp_path / "clip.mp4"
    subprocess.run(
        [ffmpeg, "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x240:rate=25:duration=2"]
        + ["-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:v", "libx264", "-c:a", "aac", "-shortest"]
        + [str(clip)],
        check=True,
    )
    red, blue = _picture(tmp_path / "red.png", (0, 0, 255)), _picture(tmp_path / "blue.jpg", (255, 0, 0))
    items = [PostItem("picture", red), PostItem("video", clip), PostItem("picture", blue)]
    output = tmp_path / "post.mp4"
    timeline = build_post_timeline(items, output)
    assert [(t.kind, t.first_frame, t.frames, t.start_s, t.end_s) for t in timeline] == [
        ("picture", 0, 25, 0.0, 1.0),  # a second at the video's 25 fps
        ("video", 25, 50, 1.0, 3.0),
        ("picture", 75, 25, 3.0, 4.0),
    ]
    with av.open(str(output)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.width, video.codec_context.height) == (300, 240)  # the largest of each side
        assert video.frames == 100
        assert float(audio.duration * audio.time_base) == pytest.approx(4.0, abs=0.1)
    read = frames_to_read([t.as_row() for t in timeline], every_n_frames=20)
    frames = [f for f in sample_frames(output, every_n_frames=1) if read(f.frame_index)]
    assert [f.frame_index for f in frames] == [0, 25, 45, 65, 75]
    centre = [tuple(int(c) for c in f.image[120, 150]) for f in frames]
    assert centre[0][2] > 200 and centre[0][0] < 60  # red, read once
    assert centre[-1][0] > 200 and centre[-1][2] < 60  # blue, read once


def test_a_video_item_that_is_not_media_is_named(tmp_path):
    page = tmp_path / "item.mp4"
    page.write_bytes(b"<!DOCTYPE html><html><body>login</body></html>")
    picture = _picture(tmp_path / "p.png", (0, 255, 0))
    with pytest.raises(PermanentError, match="video item 2 of 2"):
        build_post_timeline([PostItem("picture", picture), PostItem("video", page)], tmp_path / "post.mp4")
