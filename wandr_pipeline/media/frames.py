"""Frame sampling: every Nth decoded frame, timestamped by its presentation time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from wandr_pipeline.outcomes import PermanentError


@dataclass
class SampledFrame:
    frame_index: int      # index among decoded frames, 0-based
    timestamp_s: float    # presentation time relative to the stream start
    image: np.ndarray     # BGR, upright (display rotation applied), resized to max_long_side


def sample_frames(path: str | Path, *, every_n_frames: int = 30, max_long_side: int = 0,
                  max_frames: int | None = None) -> Iterator[SampledFrame]:
    """Yield frame 0, N, 2N, ... of the first video stream.

    Timestamps come from each frame's PTS (correct for variable frame rate), not index / fps.
    `max_long_side` > 0 downsizes the image so its longer side is at most that many pixels.
    Decode errors in single frames are skipped; a stream that cannot be opened raises `PermanentError`.
    """
    if every_n_frames < 1:
        raise ValueError("every_n_frames must be >= 1")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise PermanentError(f"cannot open video: {exc}") from exc
    with container:
        if not container.streams.video:
            raise PermanentError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame + slice threads: decoding is the bottleneck
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        index = -1
        yielded = 0
        for frame in _decode_tolerant(container, stream):
            index += 1
            if index % every_n_frames:
                continue
            timestamp = float(frame.time) - start if frame.time is not None else index / float(stream.average_rate or 30)
            image = frame.to_ndarray(format="bgr24")
            image = _upright(image, int(getattr(frame, "rotation", 0) or 0))
            if max_long_side:
                image = resize_long_side(image, max_long_side)
            yield SampledFrame(index, max(0.0, timestamp), image)
            yielded += 1
            if max_frames is not None and yielded >= max_frames:
                return


def _decode_tolerant(container, stream) -> Iterator[av.VideoFrame]:
    """Decode packet by packet so one corrupt packet does not end the stream."""
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.error.InvalidDataError:
            continue


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    rotation %= 360
    if rotation == 90:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    if rotation == 180:
        return cv2.rotate(image, cv2.ROTATE_180)
    if rotation == 270:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    return image


def resize_long_side(image: np.ndarray, max_long_side: int) -> np.ndarray:
    """Shrink (never enlarge) so the longer side is at most `max_long_side` pixels."""
    height, width = image.shape[:2]
    long_side = max(height, width)
    if long_side <= max_long_side:
        return image
    scale = max_long_side / long_side
    return cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a decodable image")
    return image
