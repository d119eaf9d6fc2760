"""Frame sampling: every Nth decoded frame, timestamped by its presentation time.

Two decoders behind one function: PyAV on the CPU (always there), and NVDEC on the GPU through
torchcodec (optional, imported only when asked for). A video NVDEC cannot open (a codec it lacks,
no GPU memory) falls back to the CPU path, so the choice only changes speed, never the output.

On the CPU, decoding is the cost (1,800 frames a minute for 60 sampled ones): H.264 frames that are
not sampled and that no other frame predicts from (most B-frames) are left out of decoding, which
takes a frame stage from above ffmpeg's plain decode time to below it (docs/BENCHMARKS.md).
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
    """Decode with PyAV; H.264 frames nothing refers to and that are not sampled are never decoded.

    The skipping path numbers frames by presentation order (their rank among the stream's packet
    PTS), which is the decoded-frame count of the plain path on any well-formed file. Whenever the
    two could disagree (no usable PTS table, a decode error, a frame out of order or missing), it
    stops and the plain path, which decodes every frame, yields the frames after the last one given.
    """
    last_index = -1
    yielded = 0
    plan = _skip_plan(path, every_n_frames)
    if plan is not None:
        try:
            for frame in _sample_skipping(path, plan, every_n_frames, max_long_side):
                yield frame
                last_index, yielded = frame.frame_index, yielded + 1
                if max_frames is not None and yielded >= max_frames:
                    return
            return
        except _Unsure as exc:
            log.info("frame skipping unsure on %s (%s); decoding every frame after frame %d", path, exc, last_index)
    for frame in _sample_every(path, every_n_frames, max_long_side):
        if frame.frame_index <= last_index:
            continue
        yield frame
        yielded += 1
        if max_frames is not None and yielded >= max_frames:
            return


def _open_video(path: str | Path):
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise PermanentError(f"cannot open video: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise PermanentError("no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame + slice threads: decoding is the bottleneck
    return container, stream


def _stream_start(stream) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def _sample_every(path: str | Path, every_n_frames: int, max_long_side: int) -> Iterator[SampledFrame]:
    """Every frame decoded and counted in output order: works on anything FFmpeg can decode."""
    container, stream = _open_video(path)
    with container:
        start = _stream_start(stream)
        index = -1
        for frame in _decode_tolerant(container, stream):
            index += 1
            if index % every_n_frames:
                continue
            if frame.time is not None:
                timestamp = float(frame.time) - start
            else:
                timestamp = index / float(stream.average_rate or 30)
            yield SampledFrame(index, max(0.0, timestamp), _frame_image(frame, max_long_side), decoder="cpu")


class _Unsure(Exception):
    """The skipping path cannot vouch for the next frame's index: the plain path takes over."""


@dataclass(frozen=True)
class _SkipPlan:
    ranks: dict[int, int]  # packet PTS -> presentation-order index
    nal_length_size: int  # bytes of each NAL unit's length prefix (avcC)


def _skip_plan(path: str | Path, every_n_frames: int) -> _SkipPlan | None:
    """The PTS -> frame index table of an H.264 stream in avcC packets (MP4/MOV/MKV), or None when
    frames cannot be skipped safely: another codec, Annex B packets, a packet without PTS or
    with a PTS seen before, packets the demuxer marks to discard (edit lists)."""
    if every_n_frames < 2:
        return None
    try:
        container, stream = _open_video(path)
    except PermanentError:
        return None  # the plain path raises it
    with container:
        context = stream.codec_context
        extradata = bytes(context.extradata or b"")
        if context.name != "h264" or len(extradata) < 7 or extradata[0] != 1:
            return None
        stamps = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if packet.pts is None or packet.is_discard:
                    return None
                stamps.append(int(packet.pts))
        except av.error.FFmpegError:
            return None
    ranks = {pts: rank for rank, pts in enumerate(sorted(stamps))}
    if len(ranks) != len(stamps):
        return None
    return _SkipPlan(ranks, (extradata[4] & 3) + 1)


# NAL unit types a packet may hold and still be dropped: coded slice (non-IDR), SEI, access unit
# delimiter, filler. Parameter sets, IDR, data partitions and SVC/MVC extensions keep the packet.
_DROPPABLE_NAL_TYPES = frozenset({1, 6, 9, 12})


def h264_nonref(data: bytes, nal_length_size: int = 4) -> bool:
    """True when an avcC H.264 packet holds only slices with nal_ref_idc 0 (no later frame predicts from
    them, so they can be left out of decoding without changing any other frame) and nothing else
    that matters. Anything that does not parse cleanly is False."""
    position, slices = 0, 0
    while position < len(data):
        if position + nal_length_size >= len(data):
            return False
        length = int.from_bytes(data[position : position + nal_length_size], "big")
        header = data[position + nal_length_size]
        position += nal_length_size + length
        if length == 0 or position > len(data) or header & 0x80:
            return False
        nal_type = header & 0x1F
        if nal_type not in _DROPPABLE_NAL_TYPES:
            return False
        if nal_type == 1:
            if header & 0x60:  # nal_ref_idc != 0: a reference picture
                return False
            slices += 1
    return slices > 0


def _sample_skipping(path: str | Path, plan: _SkipPlan, every_n_frames: int, max_long_side: int):
    container, stream = _open_video(path)
    with container:
        start = _stream_start(stream)
        last_sampled = (len(plan.ranks) - 1) // every_n_frames * every_n_frames
        next_sampled, previous = 0, -1
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None:
                rank = plan.ranks.get(int(packet.pts))
                if rank is None:
                    raise _Unsure("a packet PTS not in the table")
                if rank % every_n_frames and h264_nonref(bytes(packet), plan.nal_length_size):
                    continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                raise _Unsure(f"decode error: {exc}") from exc
            for frame in frames:
                rank = plan.ranks.get(frame.pts) if frame.pts is not None else None
                if rank is None or rank <= previous:
                    raise _Unsure("a frame without PTS or out of presentation order")
                if rank > next_sampled:
                    raise _Unsure(f"frame {next_sampled} did not come out of the decoder")
                previous = rank
                if rank < next_sampled:
                    continue
                timestamp = float(frame.time) - start
                yield SampledFrame(rank, max(0.0, timestamp), _frame_image(frame, max_long_side), decoder="cpu")
                if rank >= last_sampled:
                    return
                next_sampled += every_n_frames
        raise _Unsure(f"the stream ended before frame {next_sampled}")


def _frame_image(frame: av.VideoFrame, max_long_side: int) -> np.ndarray:
    """BGR, upright, shrunk to `max_long_side`: colour conversion and scaling in one swscale pass."""
    rotation = int(getattr(frame, "rotation", 0) or 0)
    width, height = frame.width, frame.height
    long_side = max(width, height)
    if max_long_side and long_side > max_long_side:
        scale = max_long_side / long_side
        image = frame.to_ndarray(
            width=round(width * scale), height=round(height * scale), format="bgr24", interpolation="AREA"
        )
    else:
        image = frame.to_ndarray(format="bgr24")
    return _upright(image, rotation)


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
