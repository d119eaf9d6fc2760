"""Real human speech through the pipeline's transcription path (the real-media benchmark's small subset).

Five FLEURS read sentences laid end to end with short pauses: with 30 s chunks and no coverage check
tiny.en stops early in a chunk and whole sentences vanish (the old behaviour, kept as the control);
with the defaults every sentence has its words. And the English-only model's trust verdict: Spanish,
Portuguese and Mandarin speech is flagged, English speech is not. See benchmarks/real_media.py.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def refs():
    from benchmarks.real_media import references

    return references()


@pytest.fixture(scope="module")
def current():
    from benchmarks.real_media import transcriber

    return transcriber()


def test_no_sentence_of_a_narrated_track_is_dropped(refs, current):
    from benchmarks.real_media import ENGLISH_TRACK, OLD, dropped_sentences, speech_track, transcribe_track, transcriber

    track = speech_track(ENGLISH_TRACK[:5])
    old = transcriber(**OLD).transcribe(track.audio)
    assert dropped_sentences(track, old, refs), "the control no longer drops a sentence: the test proves nothing"

    result = transcribe_track(current, track, refs)
    assert result["dropped"] == [], result["text"]
    assert result["wer"] <= 0.2, result["text"]
    assert result["speech_coverage"] >= 0.9 and not result["flagged"]


@pytest.mark.parametrize(
    "name", ["fleurs-es-002.ogg", "fleurs-pt-002.ogg", "aishell_BAC009S0724W0121.wav", "sb_spk1_snt1.wav"]
)
def test_speech_the_english_model_cannot_know_is_flagged_and_english_is_not(refs, current, name):
    from benchmarks.real_media import load

    result = current.transcribe(load(name))
    english = refs[name]["language"] == "en"
    assert result.assessment.trusted == english, (result.text, result.assessment)
    if not english:
        assert "not in en" in result.assessment.reason
