"""The real models on short clips: a clip that changes language is decoded piece by piece in each piece's
language, every piece is trusted (where a clip also holds speech the model cannot read, its real sentences
stay in their languages and the rest is left out), and its Spanish part is translated to English beside
it; music that the decoder writes a stock phrase over ends `empty`; a Mandarin "translation" still in
Chinese is left out.

(The rule itself, on recorded decoder signals of every garbage case, is tests/media/test_speech_quality.py;
the full measurement is benchmarks/speech_trust.py.)
"""

from __future__ import annotations

import shutil

import pytest

from wandr_pipeline.lib.outcomes import EMPTY, OK, SUSPECT

pytestmark = pytest.mark.slow


def test_english_then_spanish_is_two_languages_both_trusted():
    from benchmarks.real_media import load, transcriber
    from benchmarks.speech_trust import join
    from wandr_pipeline.defs.videos.transcript import segment_rows, transcript_status

    result = transcriber(model="base", translate=True).transcribe(
        join(load("sb_spk1_snt1.wav"), load("fleurs-es-002.ogg"))
    )
    rows = segment_rows(result, "base")
    assert transcript_status(rows, result.assessment) == (OK, None)
    assert [r["status"] for r in rows] == [OK] * len(rows), rows
    languages = [r["language"] for r in rows]
    assert languages[0] == "en" and languages[-1] == "es", [(r["language"], r["text"]) for r in rows]
    assert "dog" in rows[0]["text"].lower()
    # the Spanish part in English beside it ("...not everyone could access the funeral in ... Square")
    assert rows[0]["transcript_en"].startswith("The child almost hurt the small dog.")
    assert "funeral" in rows[0]["transcript_en"] and "gente" not in rows[0]["transcript_en"]


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng reads the clip's German and Arabic")
def test_a_clip_that_changes_language_keeps_its_english_and_spanish_and_leaves_out_the_rest():
    """FLEURS English, FLEURS Spanish, then German and Arabic read by espeak-ng (base, the default 7 s window
    margin, under which the whole clip's words are unsure): the real sentences stay, each in its language."""
    from benchmarks.real_media import transcriber
    from benchmarks.speech_trust import mixed_clips, parts_kept
    from wandr_pipeline.defs.videos.transcript import segment_rows, transcript_status

    audio, parts = mixed_clips()["mixed en/es/de/ar (base)"]
    result = transcriber(model="base").transcribe(audio)
    rows = segment_rows(result, "base")
    kept = [r for r in rows if r["status"] == OK]
    assert transcript_status(rows, result.assessment) == (OK, None), result.assessment.reason
    assert parts_kept(kept, parts) == (True, ["en", "es"]), [(r["language"], r["start_s"], r["text"]) for r in kept]
    left_out = [r for r in rows if r["status"] == SUSPECT]
    assert left_out and all(r["error"] for r in left_out)
    assert max(r["end_s"] for r in left_out) > parts[-1].start_s  # the Arabic was heard, and left out


def test_music_written_over_with_a_stock_phrase_is_empty():
    from benchmarks.real_media import transcriber
    from benchmarks.speech_trust import music, vocalise
    from wandr_pipeline.defs.videos.transcript import segment_rows, transcript_status

    backing = 0.2 * vocalise() + 0.2 * music() / abs(music()).max()
    # without VAD (with it, Silero hears no speech here and the decoder never runs)
    result = transcriber(vad=False, batch_size=1, second_pass_chunk_s=0).transcribe(backing.astype("float32"))
    assert result.segments, "tiny.en wrote nothing over the music: the test proves nothing"
    status, reason = transcript_status(segment_rows(result, "tiny.en"), result.assessment)
    assert status == EMPTY and "no-speech probability" in reason, (result.text, reason)


def test_a_wrong_mandarin_translation_is_left_out_not_stored_as_english():
    from benchmarks.real_media import load, transcriber
    from wandr_pipeline.defs.videos.transcript import segment_rows

    result = transcriber(model="base", translate=True).transcribe(load("aishell_BAC009S0724W0121.wav"))
    assert result.language == "zh" and result.assessment.trusted, result.text
    # base answers in Chinese script (full window) or with unsure English (log-probability -1.25, the
    # windowed encoder): neither is stored as the English of the clip
    assert result.text_en is None
    assert "1 of 1 zh stretch(es) left out: " in result.text_en_left_out
    assert any(why in result.text_en_left_out for why in ("not in English", "unsure")), result.text_en_left_out
    assert {r["transcript_en"] for r in segment_rows(result, "base")} == {None}


def test_first_pass_translation_needs_no_second_encoder_pass():
    """WHISPER_TRANSLATE_FIRST_PASS: a one-chunk Spanish clip gets its English from the chunk the
    transcription decoded, and the translation pipeline (a second encoder pass) is never called."""
    from benchmarks.real_media import load, transcriber

    tx = transcriber(model="base", translate=True, translate_first_pass=True)
    calls = []
    tx._translation_pipeline_loaded = type("Spy", (), {"transcribe": lambda self, *a, **k: calls.append(k)})()
    result = tx.transcribe(load("fleurs-es-002.ogg"))
    assert [c.language for c in tx.pipeline.english.values()] == ["es"]
    assert calls == []
    assert "funeral" in result.text_en and "gente" not in result.text_en, result.text_en
