"""A picture post as a video: one frame per picture, one picture a second, with its soundtrack.

The stages after the download read videos. A TikTok photo post or an Instagram image post or carousel
becomes an MP4 whose frame `i` is picture `i` (shown from second `i`), letterboxed to one size, with the
post's soundtrack when it has one (the audio then runs past the last picture). `sampled_frames` reads
such a video's every frame (`videos.media_type` tells it), so OCR reads each picture exactly once,
with its index; audio and transcript read the soundtrack as they read any video's sound.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

from wandr_pipeline.lib.outcomes import PermanentError
from wandr_pipeline.media.ffmpeg_binary import ffmpeg_executable

MAX_LONG_SIDE = 1920
# `videos.media_type`: what a post is; the picture posts are the ones made into a slideshow here
VIDEO, PHOTO_POST, CAROUSEL = "video", "photo_post", "carousel"
PICTURE_POSTS = (PHOTO_POST, CAROUSEL)


def _canvas_size(images: list[np.ndarray]) -> tuple[int, int]:
    """(width, height): the largest picture's, within MAX_LONG_SIDE, even (H.264 wants even sides)."""
    height = max(img.shape[0] for img in images)
    width = max(img.shape[1] for img in images)
    scale = min(1.0, MAX_LONG_SIDE / max(width, height))
    return int(width * scale) // 2 * 2 or 2, int(height * scale) // 2 * 2 or 2


def _letterbox(image: np.ndarray, width: int, height: int) -> np.ndarray:
    scale = min(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))))
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return canvas


def build_slideshow(pictures: list[Path], soundtrack: Path | None, output: Path, timeout_s: float = 300.0) -> Path:
    """Write `output` (MP4, H.264 at 1 frame per second, AAC) from `pictures` and the optional `soundtrack`.

    Raises `PermanentError` when a picture cannot be decoded or ffmpeg fails."""
    images = []
    for index, path in enumerate(pictures):
        image = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise PermanentError(f"picture {index + 1} of {len(pictures)} is not a readable image")
        images.append(image)
    if not images:
        raise PermanentError("the post has no pictures")
    width, height = _canvas_size(images)
    with tempfile.TemporaryDirectory(dir=output.parent) as folder:
        for index, image in enumerate(images):
            cv2.imwrite(str(Path(folder) / f"{index:04d}.png"), _letterbox(image, width, height))
        args = [ffmpeg_executable(), "-nostdin", "-loglevel", "error", "-y"]
        args += ["-framerate", "1", "-i", str(Path(folder) / "%04d.png")]
        if soundtrack is not None:
            args += ["-i", str(soundtrack), "-map", "0:v", "-map", "1:a:0?", "-c:a", "aac"]
        args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-r", "1", "-movflags", "+faststart", str(output)]
        completed = subprocess.run(args, capture_output=True, timeout=timeout_s, check=False)
    if completed.returncode != 0:
        reason = completed.stderr.decode(errors="replace").strip().splitlines()
        raise PermanentError(f"could not make the pictures into a video: {reason[-1] if reason else 'ffmpeg failed'}")
    return output
