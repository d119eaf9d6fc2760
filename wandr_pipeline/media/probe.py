"""What is inside a media file, read with PyAV (no ffprobe needed), and whether it is within the limits.

A small file can hold a huge picture: 750 KB of H.264 can say 16000x16000 pixels, and decoding one
such frame takes 0.4 GB, a few of them (frame threads, reference frames, the RGB copy) over 1.5 GB.
So the limits on pixels per frame, frame rate and streams (`MediaLimits`) are checked from the
container's and the codec's headers, read with every decoder set to skip frames, before anything is
decoded: PyAV's plain `av.open` already decodes a frame or two to fill in what the headers lack.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from wandr_pipeline.lib.outcomes import PermanentError

# Codecs of still images: a "video" whose only stream is one of these is a picture served as a video.
_STILL_IMAGE_CODECS = {"mjpeg", "png", "webp", "bmp", "tiff", "jpeg2000", "jpegls"}


# Given to every decoder avformat_find_stream_info opens: read the headers, decode nothing.
_HEADERS_ONLY = {"skip_frame": "all"}


@dataclass(frozen=True)
class MediaLimits:
    """What a file may hold before anything decodes it; 0 = no limit (settings: WANDR_MAX_FRAME_PIXELS, ...)."""

    max_frame_pixels: int = 0
    max_frame_rate: float = 0.0
    max_streams: int = 0


@dataclass(frozen=True)
class MediaInfo:
    duration_s: float | None
    has_video: bool
    has_audio: bool
    width: int | None
    height: int | None
    fps: float | None
    video_codec: str | None
    audio_codec: str | None
    rotation: int  # degrees the player rotates the picture (0, 90, 180, 270)


def limits_problem(container, limits: MediaLimits) -> str | None:
    """Why a container opened with `_HEADERS_ONLY` is over `limits` (None: within them), from headers only."""
    streams = list(container.streams)
    if limits.max_streams and len(streams) > limits.max_streams:
        kinds = sorted({s.type for s in streams})
        return (
            f"the file has {len(streams)} streams ({', '.join(kinds)}), over the limit of {limits.max_streams} "
            "(WANDR_MAX_STREAMS)"
        )
    for stream in container.streams.video:
        width, height = stream.codec_context.width or 0, stream.codec_context.height or 0
        if limits.max_frame_pixels and width * height > limits.max_frame_pixels:
            return (
                f"the video is {width}x{height} pixels ({width * height / 1e6:.1f} million per frame), over the "
                f"limit of {limits.max_frame_pixels / 1e6:.1f} million (WANDR_MAX_FRAME_PIXELS): "
                "refused before decoding"
            )
        rate = _frame_rate(stream)
        if limits.max_frame_rate and rate and rate > limits.max_frame_rate:
            return (
                f"the video runs at {rate:g} frames per second, over the limit of {limits.max_frame_rate:g} "
                "(WANDR_MAX_FRAME_RATE)"
            )
    return None


def _frame_rate(stream) -> float | None:
    rate: Fraction | None = stream.average_rate or stream.guessed_rate
    return float(rate) if rate else None


def check_media_limits(path: str | Path, limits: MediaLimits) -> None:
    """Raises `PermanentError` when `path` is over `limits`, read from its headers (nothing is decoded)."""
    if not (limits.max_frame_pixels or limits.max_frame_rate or limits.max_streams):
        return
    try:
        with av.open(str(path), metadata_errors="ignore", options=_HEADERS_ONLY) as container:
            problem = limits_problem(container, limits)
    except av.error.FFmpegError:
        return  # not readable: probe_media says why
    if problem:
        raise PermanentError(problem)


def probe_media(path: str | Path, limits: MediaLimits | None = None) -> MediaInfo:
    """Probe `path`; raises `PermanentError` when it is not a readable media file or is over `limits`
    (checked before anything is decoded)."""
    path = Path(path)
    if not path.is_file():
        raise PermanentError(f"file not found: {path.name}")
    if path.stat().st_size == 0:
        raise PermanentError("empty file (0 bytes)")
    with open(path, "rb") as handle:
        head = handle.read(512)
    if _looks_like_html(head):
        raise PermanentError("not a media file: the server sent an HTML page (a login wall or an error page?)")
    if head.lstrip().startswith(b"%PDF-"):  # served as video/mp4 by a misconfigured or hostile server
        raise PermanentError("not a media file: the server sent a PDF document")
    cut = _mp4_cut_short(path, head)
    if cut:  # even when the index survived, a partial video would pass for a whole one
        raise PermanentError(cut)
    if limits is not None:
        check_media_limits(path, limits)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            video = container.streams.video[0] if container.streams.video else None
            audio = container.streams.audio[0] if container.streams.audio else None
            duration = None
            if container.duration:
                duration = container.duration / av.time_base
            elif video is not None and video.duration and video.time_base:
                duration = float(video.duration * video.time_base)
            if video is not None and audio is None and video.codec_context.name in _STILL_IMAGE_CODECS:
                kind = "JPEG" if video.codec_context.name == "mjpeg" else video.codec_context.name.upper()
                raise PermanentError(f"not a video: the server sent a still image ({kind})")
            fps = None
            width = height = None
            rotation = 0
            if video is not None:
                fps = _frame_rate(video)
                width = video.codec_context.width or None
                height = video.codec_context.height or None
                rotation = _display_rotation(container, video)
                if rotation in (90, 270) and width and height:
                    width, height = height, width
            return MediaInfo(
                duration_s=duration,
                has_video=video is not None,
                has_audio=audio is not None,
                width=width,
                height=height,
                fps=fps,
                video_codec=video.codec_context.name if video is not None else None,
                audio_codec=audio.codec_context.name if audio is not None else None,
                rotation=rotation,
            )
    except av.error.FFmpegError as exc:
        reason = getattr(exc, "strerror", None) or str(exc).replace(str(path), path.name)
        raise PermanentError(f"not a readable media file ({reason})") from exc


def measured_duration_s(path: str | Path, stop_after_s: float | None = None) -> float | None:
    """How long the media really plays: the packet durations of each audio and video stream summed
    (demuxed, not decoded: ~0.1 s for a minute of video), the longest stream's total.

    Not the container's claim: a TS file of concatenated segments (timestamps starting over in each)
    claims one segment's length, and a raw H.264 stream claims nothing. A stream whose packets carry
    no duration counts one frame per packet (video: 1/fps; audio: frame_size/sample_rate).
    Stops reading once a stream passes `stop_after_s`. None when nothing could be measured.
    """
    totals: dict[int, float] = {}
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            streams = [s for s in container.streams if s.type in ("audio", "video")]
            if not streams:
                return None
            fallback = {s.index: _packet_seconds(s) for s in streams}
            for packet in container.demux(streams):
                if not packet.size:
                    continue  # the flush packet at the end
                index = packet.stream.index
                if packet.duration and packet.time_base:
                    seconds = float(packet.duration * packet.time_base)
                else:
                    seconds = fallback[index] or 0.0
                totals[index] = totals.get(index, 0.0) + seconds
                if stop_after_s is not None and totals[index] > stop_after_s:
                    break
    except av.error.FFmpegError:
        pass  # a damaged tail: what was read so far is the measurement
    return max(totals.values()) if totals else None


def _packet_seconds(stream) -> float | None:
    try:
        if stream.type == "video":
            rate = stream.average_rate or stream.guessed_rate
            return 1.0 / float(rate) if rate else None
        context = stream.codec_context
        if context.frame_size and context.sample_rate:
            return context.frame_size / context.sample_rate
    except (AttributeError, ZeroDivisionError, ValueError):
        pass
    return None


def _looks_like_html(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml"))


def _mp4_cut_short(path: Path, head: bytes) -> str | None:
    """A readable reason when an MP4's top-level boxes run past the end of the file (a cut download)."""
    if head[4:8] != b"ftyp":
        return None
    size, offset, seen = path.stat().st_size, 0, set()
    with open(path, "rb") as handle:
        while offset + 8 <= size:
            handle.seek(offset)
            header = handle.read(16)
            length, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if length == 1 and len(header) >= 16:
                length = int.from_bytes(header[8:16], "big")
            elif length == 0:
                length = size - offset
            if length < 8:
                return None  # not a box structure we understand: let the decoder judge
            seen.add(kind)
            if offset + length > size:
                return f"MP4 file is cut short: {size} bytes of at least {offset + length}" + (
                    "" if b"moov" in seen else ", and its index (moov) is missing"
                )
            offset += length
    if b"moov" not in seen and offset == size:
        return "MP4 file has no index (moov box): cut short or still being written"
    return None


def _display_rotation(container, stream) -> int:
    """Degrees (counter-clockwise) the display matrix asks for, read from the first decoded frame."""
    try:
        for frame in container.decode(stream):
            return int(getattr(frame, "rotation", 0) or 0) % 360
    except av.error.FFmpegError:
        return 0
    return 0
