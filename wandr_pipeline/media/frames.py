"""Frame sampling: every Nth decoded frame, timestamped by its presentation time.

Two decoders behind one function: PyAV on the CPU (always there), and NVDEC on the GPU through
torchcodec (optional, imported only when asked for). A video NVDEC cannot open (a codec it lacks,
no GPU memory) falls back to the CPU path, so the choice only changes speed, never the output.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from wandr_pipeline.lib.outcomes import PermanentError

log = logging.getLogger(__name__)
NVDEC_BATCH = 16  # sampled frames moved off the GPU at a time: 16 x 1080x1920 RGB = 100 MB


@dataclass
class SampledFrame:
    frame_index: int  # index among decoded frames, 0-based
    timestamp_s: float  # presentation time relative to the stream start
    image: np.ndarray  # BGR, upright (display rotation applied), resized to max_long_side
    decoder: str = "cpu"  # which decoder produced it: cpu (PyAV) or cuda (NVDEC)


def sample_frames(
    path: str | Path,
    *,
    every_n_frames: int = 30,
    max_long_side: int = 0,
    max_frames: int | None = None,
    decoder: str = "cpu",
) -> Iterator[SampledFrame]:
    """Yield frame 0, N, 2N, ... of the first video stream.

    Timestamps come from each frame's PTS (correct for variable frame rate), not index / fps.
    `max_long_side` > 0 downsizes the image so its longer side is at most that many pixels.
    Decode errors in single frames are skipped; a stream that cannot be opened raises `PermanentError`.
    `decoder="cuda"` decodes with NVDEC (torchcodec) and falls back to the CPU when it cannot open the video.
    """
    if every_n_frames < 1:
        raise ValueError("every_n_frames must be >= 1")
    if decoder == "cuda":
        try:
            nvdec = _open_nvdec(path)
        except Exception as exc:  # noqa: BLE001 - any NVDEC refusal: the CPU decodes it instead
            log.warning("NVDEC cannot decode %s (%s); using the CPU decoder", path, str(exc).splitlines()[0][:200])
        else:
            yield from _sample_nvdec(nvdec, every_n_frames, max_long_side, max_frames)
            return
    elif decoder != "cpu":
        raise ValueError(f"decoder must be 'cpu' or 'cuda', got {decoder!r}")
    yield from _sample_cpu(path, every_n_frames, max_long_side, max_frames)


def _sample_cpu(
    path: str | Path, every_n_frames: int, max_long_side: int, max_frames: int | None
) -> Iterator[SampledFrame]:
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
            if frame.time is not None:
                timestamp = float(frame.time) - start
            else:
                timestamp = index / float(stream.average_rate or 30)
            image = frame.to_ndarray(format="bgr24")
            image = _upright(image, int(getattr(frame, "rotation", 0) or 0))
            if max_long_side:
                image = resize_long_side(image, max_long_side)
            yield SampledFrame(index, max(0.0, timestamp), image, decoder="cpu")
            yielded += 1
            if max_frames is not None and yielded >= max_frames:
                return


def _open_nvdec(path: str | Path):
    """A torchcodec decoder on the GPU (NVDEC); raises when torchcodec, CUDA or the codec is missing."""
    from torchcodec.decoders import VideoDecoder

    decoder = VideoDecoder(str(path), device="cuda", seek_mode="exact", dimension_order="NCHW")
    if not hasattr(decoder.metadata, "rotation"):
        raise RuntimeError("this torchcodec does not apply display rotation; upgrade torchcodec")
    if not decoder.metadata.num_frames:
        raise RuntimeError("torchcodec found no frames")
    return decoder


def _sample_nvdec(decoder, every_n_frames: int, max_long_side: int, max_frames: int | None) -> Iterator[SampledFrame]:
    """Decode on the GPU, resize there, and copy only the sampled frames back (upright: torchcodec rotates)."""
    import torch

    indices = list(range(0, int(decoder.metadata.num_frames), every_n_frames))
    if max_frames is not None:
        indices = indices[:max_frames]
    start = float(decoder.metadata.begin_stream_seconds or 0.0)
    for offset in range(0, len(indices), NVDEC_BATCH):
        chunk = indices[offset : offset + NVDEC_BATCH]
        batch = decoder.get_frames_at(indices=chunk)
        with torch.no_grad():
            images = gpu_batch_to_bgr(batch.data, max_long_side)
        for index, pts, image in zip(chunk, batch.pts_seconds.tolist(), images):
            yield SampledFrame(index, max(0.0, float(pts) - start), image, decoder="cuda")


def gpu_batch_to_bgr(data, max_long_side: int) -> list[np.ndarray]:
    """NCHW uint8 RGB tensor (any device) -> list of HWC uint8 BGR arrays, shrunk like `resize_long_side`."""
    import torch
    import torch.nn.functional as F

    height, width = int(data.shape[-2]), int(data.shape[-1])
    long_side = max(height, width)
    if max_long_side and long_side > max_long_side:
        scale = max_long_side / long_side
        size = (round(height * scale), round(width * scale))
        data = F.interpolate(data.float(), size=size, mode="area").round_().clamp_(0, 255).to(torch.uint8)
    bgr = data.flip(1).permute(0, 2, 3, 1).contiguous().cpu().numpy()  # RGB->BGR, NCHW->NHWC
    return [frame for frame in bgr]


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
