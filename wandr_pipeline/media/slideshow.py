"""A post made of pictures (and videos) as one video, so that one post stays one partition.

The stages after the download read videos. A TikTok photo post or an Instagram image post or carousel
of pictures becomes an MP4 whose frame `i` is picture `i` (shown from second `i`), letterboxed to one
size, with the post's soundtrack when it has one (the audio then runs past the last picture).

A carousel with video items becomes one timeline (`build_post_timeline`): each picture a one-second
still, each video item its own frames and sound, in the post's order, at the videos' frame rate, the
pictures silent. Every picture post records where each item lies (`videos.post_items`: kind, first
frame, frame count, start and end second): `sampled_frames` reads one frame of each picture (each
picture exactly once, with its index and time) and samples the video items as it samples any video;
audio and transcript read the timeline's sound (the video items' speech) as they read any video's.
"""

from __future__ import annotations

import bisect
import math
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from wandr_pipeline.lib.outcomes import PermanentError
from wandr_pipeline.media.ffmpeg_binary import ffmpeg_executable
from wandr_pipeline.media.probe import MediaInfo, MediaLimits, probe_media

MAX_LONG_SIDE = 1920
# `videos.media_type`: what a post is; the picture posts are the ones made into a slideshow here
VIDEO, PHOTO_POST, CAROUSEL = "video", "photo_post", "carousel"
PICTURE_POSTS = (PHOTO_POST, CAROUSEL)
# the kinds of a post's items (`videos.post_items.kind`)
PICTURE_ITEM, VIDEO_ITEM = "picture", "video"
PICTURE_S = 1.0  # how long a picture of a timeline shows
TIMELINE_FPS = 30  # a timeline's frame rate when its videos name none
MAX_TIMELINE_FPS = 60
_AUDIO_RATE = 44100


@dataclass(frozen=True)
class PostItem:
    """One item of a post as downloaded: a picture file or a video file."""

    kind: str  # PICTURE_ITEM | VIDEO_ITEM
    path: Path


@dataclass(frozen=True)
class TimelineItem:
    """Where one item of a post lies in the post's video (a `videos.post_items` entry)."""

    kind: str
    first_frame: int
    frames: int
    start_s: float
    end_s: float

    def as_row(self) -> dict:
        return {
            "kind": self.kind,
            "first_frame": self.first_frame,
            "frames": self.frames,
            "start_s": round(self.start_s, 4),
            "end_s": round(self.end_s, 4),
        }


def slideshow_items(count: int) -> list[TimelineItem]:
    """The items of `build_slideshow`'s video: picture `i` is frame `i`, second `i`."""
    return [TimelineItem(PICTURE_ITEM, i, 1, float(i), float(i + 1)) for i in range(count)]


def frames_to_read(items: list[dict], every_n_frames: int) -> Callable[[int], int | None]:
    """For a post's video with `items` (`videos.post_items`): frame index -> the sampling interval it
    is read under (1: a picture, read once, at its first frame; `every_n_frames`: a video item's frame
    `0, N, 2N, ...` counted from the item's start), or None when the frame is not read."""
    spans = sorted((int(item["first_frame"]), int(item["frames"]), item["kind"]) for item in items)
    starts = [first for first, _, _ in spans]

    def interval(index: int) -> int | None:
        position = bisect.bisect_right(starts, index) - 1
        if position < 0:
            return None
        first, frames, kind = spans[position]
        offset = index - first
        if offset >= frames:
            return None
        if kind == PICTURE_ITEM:
            return 1 if offset == 0 else None
        return every_n_frames if offset % every_n_frames == 0 else None

    return interval


def _canvas_size(sizes: list[tuple[int, int]]) -> tuple[int, int]:
    """(width, height): the largest of `sizes` (width, height), within MAX_LONG_SIDE, even (H.264 wants even sides)."""
    width = max(w for w, _ in sizes)
    height = max(h for _, h in sizes)
    scale = min(1.0, MAX_LONG_SIDE / max(width, height))
    return int(width * scale) // 2 * 2 or 2, int(height * scale) // 2 * 2 or 2


def _letterbox(image: np.ndarray, width: int, height: int) -> np.ndarray:
    scale = min(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))))
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return canvas


def _read_pictures(pictures: list[Path]) -> list[np.ndarray]:
    images = []
    for index, path in enumerate(pictures):
        image = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise PermanentError(f"picture {index + 1} of {len(pictures)} is not a readable image")
        images.append(image)
    return images


def build_slideshow(pictures: list[Path], soundtrack: Path | None, output: Path, timeout_s: float = 300.0) -> Path:
    """Write `output` (MP4, H.264 at 1 frame per second, AAC) from `pictures` and the optional `soundtrack`.

    Raises `PermanentError` when a picture cannot be decoded or ffmpeg fails."""
    images = _read_pictures(pictures)
    if not images:
        raise PermanentError("the post has no pictures")
    width, height = _canvas_size([(img.shape[1], img.shape[0]) for img in images])
    with tempfile.TemporaryDirectory(dir=output.parent) as folder:
        for index, image in enumerate(images):
            cv2.imwrite(str(Path(folder) / f"{index:04d}.png"), _letterbox(image, width, height))
        args = [ffmpeg_executable(), "-nostdin", "-loglevel", "error", "-y"]
        args += ["-framerate", "1", "-i", str(Path(folder) / "%04d.png")]
        if soundtrack is not None:
            args += ["-i", str(soundtrack), "-map", "0:v", "-map", "1:a:0?", "-c:a", "aac"]
        args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-r", "1", "-movflags", "+faststart", str(output)]
        completed = subprocess.run(args, capture_output=True, timeout=timeout_s, check=False)
    _raise_unless_done(completed, "could not make the pictures into a video")
    return output


def _raise_unless_done(completed: subprocess.CompletedProcess, what: str) -> None:
    if completed.returncode != 0:
        reason = completed.stderr.decode(errors="replace").strip().splitlines()
        raise PermanentError(f"{what}: {reason[-1] if reason else 'ffmpeg failed'}")


def build_post_timeline(
    items: list[PostItem], output: Path, limits: MediaLimits | None = None, timeout_s: float = 600.0
) -> list[TimelineItem]:
    """Write `output` (MP4, H.264 and AAC) playing `items` one after another; returns where each lies.

    Pictures are letterboxed onto one canvas (the largest item's size, within MAX_LONG_SIDE) and shown
    PICTURE_S each, silent; video items keep their frames (at the timeline's rate: the fastest item's,
    within MAX_TIMELINE_FPS) and their sound (silence when they have none). Each item's frame count is
    exact (`trim`), so `TimelineItem.first_frame` is the index `sampled_frames` decodes. Video items are
    checked against `limits` before ffmpeg decodes them. Raises `PermanentError` when an item is not
    readable media or ffmpeg fails."""
    if not items:
        raise PermanentError("the post has no items")
    pictures = _read_pictures([item.path for item in items if item.kind == PICTURE_ITEM])
    videos: list[MediaInfo] = []
    for index, item in enumerate(items):
        if item.kind != VIDEO_ITEM:
            continue
        try:
            info = probe_media(item.path, limits)
        except PermanentError as exc:
            raise PermanentError(f"video item {index + 1} of {len(items)}: {exc}") from None
        if not info.has_video or not info.duration_s:
            raise PermanentError(f"video item {index + 1} of {len(items)} has no video stream or no length")
        videos.append(info)
    sizes = [(img.shape[1], img.shape[0]) for img in pictures] + [(v.width or 2, v.height or 2) for v in videos]
    width, height = _canvas_size(sizes)
    rate = max([round(v.fps) for v in videos if v.fps] or [TIMELINE_FPS])
    rate = min(max(rate, 1), MAX_TIMELINE_FPS)
    still_frames = max(1, round(PICTURE_S * rate))
    args = [ffmpeg_executable(), "-nostdin", "-loglevel", "error", "-y"]
    filters, timeline, first_frame = [], [], 0
    picture_images, video_infos = iter(pictures), iter(videos)
    with tempfile.TemporaryDirectory(dir=output.parent) as folder:
        for index, item in enumerate(items):  # ffmpeg's input `index` is item `index`
            if item.kind == PICTURE_ITEM:
                still = Path(folder) / f"{index:04d}.png"
                cv2.imwrite(str(still), _letterbox(next(picture_images), width, height))
                args += ["-loop", "1", "-framerate", str(rate), "-i", str(still)]
                frames, sound = still_frames, None
                shape = "setsar=1"
            else:
                info = next(video_infos)
                args += ["-i", str(item.path)]
                frames = max(1, math.floor(info.duration_s * rate))
                sound = f"[{index}:a:0]" if info.has_audio else None
                # the video's own frames at the timeline's rate, a last one repeated if the stream ends early
                shape = (
                    f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
                    f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={rate},tpad=stop_mode=clone:stop={rate}"
                )
            filters.append(f"[{index}:v:0]{shape},trim=end_frame={frames},setpts=PTS-STARTPTS,format=yuv420p[v{index}]")
            seconds = frames / rate
            source = sound or f"anullsrc=r={_AUDIO_RATE}:cl=stereo,"
            filters.append(
                f"{source}aresample={_AUDIO_RATE},aformat=channel_layouts=stereo,apad,"
                f"atrim=end={seconds:.6f},asetpts=PTS-STARTPTS[a{index}]"
            )
            timeline.append(
                TimelineItem(item.kind, first_frame, frames, first_frame / rate, (first_frame + frames) / rate)
            )
            first_frame += frames
        joined = "".join(f"[v{i}][a{i}]" for i in range(len(items)))
        filters.append(f"{joined}concat=n={len(items)}:v=1:a=1[v][a]")
        args += ["-filter_complex", ";".join(filters), "-map", "[v]", "-map", "[a]"]
        args += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-r", str(rate), "-c:a", "aac"]
        args += ["-movflags", "+faststart", str(output)]
        completed = subprocess.run(args, capture_output=True, timeout=timeout_s, check=False)
    _raise_unless_done(completed, "could not make the post's items into one video")
    return timeline
