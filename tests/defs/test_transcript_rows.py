"""The `transcript` stage's rows: trusted segments `ok`, doubtful ones `suspect` with their reason, a
language below the floor not written as fact, music written over `empty` (issue 27)."""

from wandr_pipeline.defs.videos.transcript import segment_rows, transcript_status
from wandr_pipeline.engines.whisper_chunk_language import HeardLanguage
from wandr_pipeline.engines.whisper_transcript import Transcript, TranscriptSegment, TranscriptWord, segment_evidence
from wandr_pipeline.lib.outcomes import EMPTY, OK, SUSPECT
from wandr_pipeline.media.speech_quality import assess


def _segment(index, text, probability, *, heard=None, logprob=-0.2, no_speech=0.05, ratio=1.1):
    words = tuple(
        TranscriptWord(w, index + 0.1 * i, index + 0.1 * i + 0.1, probability) for i, w in enumerate(text.split())
    )
    return TranscriptSegment(index, float(index), index + 1.0, text, logprob, no_speech, ratio, words, heard=heard)


def _transcript(segments, language="es", probability=0.97):
    assessment = assess([segment_evidence(s, language, probability) for s in segments])
    return Transcript(segments, language, probability, 10.0, assessment=assessment)


def test_each_segment_says_its_language_and_a_guess_below_the_floor_is_not_written():
    result = _transcript(
        [
            _segment(
                0,
                "However, due to the slow communication channels styles",
                0.8,
                heard=HeardLanguage("en", 0.99, "en", 0.99),
            ),
            _segment(
                1, "Se recomienda a los viajeros que se informen", 0.9, heard=HeardLanguage("es", 0.99, "es", 0.99)
            ),
            _segment(2, "Baba Kampi Assul matami ha ha", 0.7, heard=HeardLanguage("th", 0.21, "es", 0.02)),
        ]
    )
    rows = segment_rows(result, "base")
    assert [(r["language"], r["status"]) for r in rows] == [("en", OK), ("es", OK), (None, SUSPECT)]
    assert rows[2]["error"] == "language unsure: sounded most like th (0.21), decoded as es"
    assert rows[2]["language_probability"] == 0.02
    assert transcript_status(rows, result.assessment) == (OK, None)


def test_a_clip_with_nothing_trusted_is_suspect_and_music_written_over_is_empty():
    loop = _segment(0, "Ha ha ma ya mi ya fi ya mi ya fi ya mi ya mi ya", 0.9, ratio=5.7)
    result = _transcript([loop], language="th", probability=0.24)
    rows = segment_rows(result, "base")
    assert rows[0]["language"] is None and rows[0]["status"] == SUSPECT
    status, reason = transcript_status(rows, result.assessment)
    assert status == SUSPECT and "looped" in reason

    thanks = _transcript([_segment(0, "Thank you.", 0.7, logprob=-0.5, no_speech=0.91)], language="en")
    status, reason = transcript_status(segment_rows(thanks, "tiny.en"), thanks.assessment)
    assert status == EMPTY and "no-speech probability 0.91" in reason


def test_a_chunk_decoded_in_a_language_its_text_is_not_written_in_takes_the_clips_or_none():
    # sb_spk1_snt3 (real English): one chunk heard as zh at 0.68 and decoded "in zh", its text English
    english_in_zh = _segment(
        0, "The lamp shone with a steady green flame", 0.9, heard=HeardLanguage("zh", 0.68, "zh", 0.68)
    )
    mandarin = _segment(1, "广州市房地产中介协会分析", 0.9, heard=HeardLanguage("zh", 0.95, "zh", 0.95))
    rows = segment_rows(_transcript([english_in_zh, mandarin], language="en", probability=0.93), "base")
    assert [(r["language"], r["language_probability"]) for r in rows] == [("en", 0.93), ("zh", 0.95)]

    unsure_clip = segment_rows(_transcript([english_in_zh], language="en", probability=0.3), "base")
    assert unsure_clip[0]["language"] is None

    thai_clip = segment_rows(_transcript([english_in_zh], language="th", probability=0.9), "base")
    assert thai_clip[0]["language"] is None
