"""Cross-clip batching (many short clips share decoding batches) gives the per-clip results."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.paths import SAMPLES


@pytest.fixture(scope="module")
def clips():
    from faster_whisper.audio import decode_audio

    audio = {path.stem: decode_audio(str(path), sampling_rate=16_000) for path in sorted(SAMPLES.glob("*.mp4"))}
    audio["silence"] = np.zeros(16_000 * 4, np.float32)
    return audio


def transcriber(**overrides):
    from wandr_pipeline.engines.whisper import BUNDLED_MODEL, WhisperTranscriber

    knobs = dict(device="auto", compute_type="auto", batch_size=8, beam_size=5, vad=True)
    return WhisperTranscriber(BUNDLED_MODEL, **{**knobs, **overrides})


@pytest.mark.slow
def test_cross_clip_batches_match_one_clip_at_a_time(clips, manifest):
    import jiwer

    batching = transcriber(batch_size=4, prefetch=2, cross_clip=True)
    assert batching._cross_clip is not None
    items = [(name, name) for name in clips] + [("broken", "no-such-clip")]
    batched = list(batching.transcribe_many(items, load=lambda name: clips[name]))
    assert [key for key, _ in batched] == [key for key, _ in items]  # input order kept
    batched = dict(batched)
    assert isinstance(batched.pop("broken"), KeyError)  # a clip that cannot load fails alone

    one_by_one = {name: batching.transcribe(audio) for name, audio in clips.items()}
    for name, result in batched.items():
        expected = one_by_one[name]
        assert result.text == expected.text, name
        assert [(s.start_s, s.end_s) for s in result.segments] == [(s.start_s, s.end_s) for s in expected.segments]
    assert batched["silence"].segments == []
    for item in manifest:
        name = item["file"].removesuffix(".mp4")
        assert jiwer.wer(item["speech"].lower(), batched[name].text.lower()) < 0.5, batched[name].text
        assert batched[name].segments[0].start_s < 1.0 and batched[name].duration_s > 8


def test_cross_clip_off_without_vad_or_batching_and_auto_only_on_gpu():
    assert transcriber(batch_size=1, cross_clip=True)._cross_clip is None
    assert transcriber(vad=False, cross_clip=True)._cross_clip is None
    assert transcriber(cross_clip=False)._cross_clip is None
    auto = transcriber(device="cpu")
    assert auto._cross_clip is None  # auto: on with CUDA only
