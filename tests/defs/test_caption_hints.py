"""Caption hints reach Whisper per clip, also when cross-clip batching mixes clips in one batch."""

from __future__ import annotations

import pytest

from tests.support.paths import SAMPLES

pytestmark = pytest.mark.slow


def bundled(**overrides):
    """The bundled model with the Whisper settings' defaults and `overrides`."""
    from wandr_pipeline.engines.whisper import WhisperTranscriber
    from wandr_pipeline.engines.whisper_models import BUNDLED_MODEL
    from wandr_pipeline.engines.whisper_options import transcriber_options
    from wandr_pipeline.settings import WhisperSettings

    return WhisperTranscriber(transcriber_options(WhisperSettings(), model=BUNDLED_MODEL, **overrides))


def test_cross_clip_batches_keep_each_clips_own_hints():
    from faster_whisper.audio import decode_audio

    from wandr_pipeline.media.captions import echoes_hints

    clips = {path.stem: decode_audio(str(path), sampling_rate=16_000) for path in sorted(SAMPLES.glob("*.mp4"))}
    hints = {
        "lisbon_pasteis": {"hotwords": "Pasteis De Belem, Open 8AM - 11PM"},
        "mexico_city_tacos": {"hotwords": "Tacos Al Pastor"},
    }  # kyoto_temples: none
    transcriber = bundled(batch_size=4, prefetch=2, cross_clip="true")
    batched = dict(
        transcriber.transcribe_many(
            [(name, name) for name in clips],
            load=lambda name: clips[name],
            hints=hints,
            redo_without_hints=echoes_hints,
        )
    )
    for name, audio in clips.items():
        alone = transcriber.transcribe(audio, **hints.get(name, {}))
        assert batched[name].text == alone.text, name
        assert batched[name].hints == (hints[name]["hotwords"] if name in hints else None)
    assert "tacos" in batched["mexico_city_tacos"].text.lower()


def test_a_transcript_that_echoes_its_hints_is_redone_without_them():
    from faster_whisper.audio import decode_audio

    audio = decode_audio(str(SAMPLES / "kyoto_temples.mp4"), sampling_rate=16_000)
    transcriber = bundled(batch_size=8)
    always = list(
        transcriber.transcribe_many(
            [("k", "k")],
            load=lambda _: audio,
            hints={"k": {"hotwords": "Fushimi Inari"}},
            redo_without_hints=lambda text, hint: True,
        )
    )
    plain = transcriber.transcribe(audio)
    assert always[0][1].hints is None and always[0][1].text == plain.text
