"""A video with two audio tracks, the first silent and the voice on the second: the audio stage takes
the track that has sound (it used to take the first alone, and the transcript came out empty)."""

from __future__ import annotations

import subprocess
import wave

import numpy as np
import pytest

from tests.support.paths import REAL_SPEECH
from wandr_pipeline.media.audio import SILENT_RMS, audio_stream_levels, extract_audio, pick_audio_stream

SPEECH = REAL_SPEECH / "fleurs-en-000.ogg"


def _wav_samples(path) -> np.ndarray:
    with wave.open(str(path), "rb") as handle:
        return np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16).astype(np.float64) / 32768


def _mux(ffmpeg: str, out, *tracks: str) -> None:
    """A 6 s MP4: a small video stream and one AAC track per entry of `tracks` ("silent" or "speech")."""
    inputs = ["-f", "lavfi", "-i", "color=c=gray:s=64x64:r=10:d=6"]
    for track in tracks:
        inputs += ["-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono"] if track == "silent" else ["-i", str(SPEECH)]
    maps = ["-map", "0:v"] + [arg for i in range(len(tracks)) for arg in ("-map", f"{i + 1}:a")]
    subprocess.run(
        [ffmpeg, "-nostdin", "-loglevel", "error", "-y", *inputs, *maps, "-t", "6", "-c:v", "libx264"]
        + ["-c:a", "aac", "-ar", "16000", "-ac", "1", str(out)],
        check=True,
    )


@pytest.mark.skipif(not SPEECH.exists(), reason="data/real/speech is not in this checkout")
def test_the_track_with_the_voice_is_extracted_when_the_first_is_silent(ffmpeg, tmp_path):
    two = tmp_path / "silent-first.mp4"
    _mux(ffmpeg, two, "silent", "speech")
    levels = audio_stream_levels(two)
    assert len(levels) == 2 and levels[0] < SILENT_RMS <= levels[1], levels
    assert pick_audio_stream(two) == 1

    info = extract_audio(two, tmp_path / "two.wav")
    extracted = _wav_samples(tmp_path / "two.wav")
    assert info.sample_rate == 16000 and info.duration_s == pytest.approx(6, abs=0.2)
    assert np.sqrt(np.mean(extracted**2)) > 1e-3  # speech (FLEURS is quiet: about -48 dBFS), not silence

    # The same speech as a file with that one track gives the same audio.
    one = tmp_path / "speech-only.mp4"
    _mux(ffmpeg, one, "speech")
    assert pick_audio_stream(one) == 0
    extract_audio(one, tmp_path / "one.wav")
    alone = _wav_samples(tmp_path / "one.wav")
    n = min(len(alone), len(extracted))
    assert np.corrcoef(alone[:n], extracted[:n])[0, 1] > 0.99

    # Told which stream, it takes that one (the silent track here).
    extract_audio(two, tmp_path / "first.wav", stream=0)
    assert np.sqrt(np.mean(_wav_samples(tmp_path / "first.wav") ** 2)) < 1e-4


def test_all_silent_tracks_keep_the_first(ffmpeg, tmp_path):
    both = tmp_path / "both-silent.mp4"
    _mux(ffmpeg, both, "silent", "silent")
    assert pick_audio_stream(both) == 0
    assert extract_audio(both, tmp_path / "both.wav").duration_s == pytest.approx(6, abs=0.2)
