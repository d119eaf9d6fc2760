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


def extract_audio(
    video_path: str | Path, wav_path: str | Path, *, sample_rate: int = SAMPLE_RATE, timeout_s: float = 600
) -> AudioInfo:
    """Write the first audio stream of `video_path` as mono PCM WAV at `sample_rate`.

    The caller probes first: a file without an audio stream makes ffmpeg fail.
    Raises `PermanentError` with ffmpeg's own last words when the audio cannot be decoded.
    """
    import ffmpeg  # ffmpeg-python builds the command line; we run it with our binary

    wav_path = Path(wav_path)
    wav_path.parent.mkdir(parents=True, exist_ok=True)
    args = (
        ffmpeg.input(str(video_path))
        .output(str(wav_path), vn=None, ac=1, ar=sample_rate, acodec="pcm_s16le", f="wav")
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
