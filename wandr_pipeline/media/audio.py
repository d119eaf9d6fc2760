"""Audio extraction: any container in, 16 kHz mono 16-bit PCM WAV out (what Whisper expects)."""

from __future__ import annotations

import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

from wandr_pipeline.lib.outcomes import PermanentError
from wandr_pipeline.media.ffmpeg_binary import ffmpeg_executable

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float
    sample_rate: int
    channels: int


# How much of each audio stream is measured to tell a silent track from one with sound.
LEVEL_WINDOW_S = 60.0
# Below this RMS (of full scale; about -70 dBFS) a track counts as silent.
SILENT_RMS = 10 ** (-70 / 20)


def audio_stream_levels(video_path: str | Path, window_s: float = LEVEL_WINDOW_S) -> list[float]:
    """The RMS level (0..1 of full scale) of the first `window_s` seconds of each audio stream, in
    stream order, read in one pass over the file; a stream that cannot be decoded counts as 0."""
    import av
    import numpy as np

    try:
        container = av.open(str(video_path), metadata_errors="ignore")
    except av.error.FFmpegError:
        return []
    with container:
        streams = list(container.streams.audio)
        if len(streams) < 2:
            return [1.0] * len(streams)  # nothing to choose between: not measured
        energy = [0.0] * len(streams)
        samples = [0] * len(streams)
        seconds = [0.0] * len(streams)
        position = {stream.index: i for i, stream in enumerate(streams)}
        try:
            for packet in container.demux(*streams):
                i = position.get(packet.stream.index)
                if i is None or seconds[i] >= window_s:
                    if all(done >= window_s for done in seconds):
                        break
                    continue
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    continue
                for frame in frames:
                    data = frame.to_ndarray().astype(np.float64)
                    if frame.format.name.startswith(("s16", "s32", "u8")):
                        data /= float(np.iinfo(frame.to_ndarray().dtype).max)
                    energy[i] += float(np.square(data).sum())
                    samples[i] += data.size
                    seconds[i] += frame.samples / (frame.sample_rate or 1)
        except av.error.FFmpegError:
            pass
    return [(energy[i] / samples[i]) ** 0.5 if samples[i] else 0.0 for i in range(len(streams))]


def pick_audio_stream(video_path: str | Path) -> int:
    """Which audio stream to transcribe: the first that has sound, measured on its first minute.

    Posts re-encoded by apps sometimes carry a silent first track (a muted original, a placeholder)
    with the voice on the second; taking the first stream alone transcribed nothing. When every
    track is silent, or there is one, the first stream.
    """
    levels = audio_stream_levels(video_path)
    if len(levels) < 2:
        return 0
    loudest = max(range(len(levels)), key=lambda i: (levels[i], -i))
    first_with_sound = next((i for i, level in enumerate(levels) if level >= SILENT_RMS), None)
    return first_with_sound if first_with_sound is not None else loudest


def extract_audio(
    video_path: str | Path,
    wav_path: str | Path,
    *,
    sample_rate: int = SAMPLE_RATE,
    timeout_s: float = 600,
    stream: int | None = None,
) -> AudioInfo:
    """Write one audio stream of `video_path` as mono PCM WAV at `sample_rate`: `stream` (the n-th
    audio stream), by default the first one that has sound (`pick_audio_stream`).

    The caller probes first: a file without an audio stream makes ffmpeg fail.
    Raises `PermanentError` with ffmpeg's own last words when the audio cannot be decoded.
    """
    import ffmpeg  # ffmpeg-python builds the command line; we run it with our binary

    wav_path = Path(wav_path)
    wav_path.parent.mkdir(parents=True, exist_ok=True)
    stream = pick_audio_stream(video_path) if stream is None else stream
    args = (
        ffmpeg.input(str(video_path))[f"a:{stream}"]
        .output(str(wav_path), ac=1, ar=sample_rate, acodec="pcm_s16le", f="wav")
        .global_args("-nostdin", "-hide_banner", "-loglevel", "error")
        .overwrite_output()
        .compile(cmd=ffmpeg_executable())
    )
    try:
        completed = subprocess.run(args, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PermanentError(f"audio extraction took longer than {timeout_s:.0f} s") from exc
    if completed.returncode != 0 or not wav_path.exists():
        message = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = message[-1] if message else f"ffmpeg exit {completed.returncode}"
        raise PermanentError(f"audio extraction failed: {reason}")
    return read_wav_info(wav_path)


def read_wav_info(wav_path: str | Path) -> AudioInfo:
    with wave.open(str(wav_path), "rb") as handle:
        frames = handle.getnframes()
        rate = handle.getframerate()
        return AudioInfo(duration_s=frames / rate if rate else 0.0, sample_rate=rate, channels=handle.getnchannels())
