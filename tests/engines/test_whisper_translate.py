"""Translation asks Whisper only for the trusted non-English speech, one call per language, neighbouring
pieces joined, and reads English pieces as they are, in time order; what comes back still in the
original script, looping or unsure is left out with the reason, not stored as English. A first-pass chunk
already translated on its encoder output is used as it is when all its segments are trusted, checked the
same way; only the rest is translated anew."""

import threading
from types import SimpleNamespace

from wandr_pipeline.engines.whisper import WhisperTranscriber
from wandr_pipeline.engines.whisper_chunk_language import ChunkEnglish, HeardLanguage
from wandr_pipeline.engines.whisper_transcript import SECOND_PASS, TranscriptSegment
from wandr_pipeline.engines.whisper_translate import (
    English,
    Piece,
    Translated,
    english_token_budget,
    joined,
    non_latin_share,
    repeated_share,
    translate_pieces,
    untrusted_translation,
)

SURE = dict(avg_logprob=-0.45, compression_ratio=1.3)


class RecordingPipeline:
    """Answers each language with what `base` answered on the real clips (docs/BENCHMARKS.md)."""

    def __init__(self, answers=None):
        self.calls = []
        self.answers = answers or {
            "es": (" It was so much the amount of people.", SURE),
            "de": (" This museum is open.", SURE),
        }

    def transcribe(self, audio, **options):
        self.calls.append(options)
        text, signals = self.answers[options["language"]]
        start = options["clip_timestamps"][0]["start"]
        return [SimpleNamespace(start=start, text=text, **signals)], None


def translate(pipeline, pieces):
    return translate_pieces(pipeline, None, pieces, batch_size=8, beam_size=5, lock=threading.Lock())


def test_only_foreign_pieces_are_translated_and_the_english_ones_kept_in_time_order():
    pipeline = RecordingPipeline()
    pieces = [
        Piece(0.0, 8.0, "en", "The child almost hurt the small dog."),
        Piece(9.0, 12.0, "es", "Fue tanta la cantidad de gente"),
        Piece(12.2, 14.0, "es", "que no todos pudieron acceder."),
        Piece(20.0, 25.0, "de", "Dieses Museum ist geöffnet."),
    ]
    assert translate(pipeline, pieces) == English(
        "The child almost hurt the small dog. It was so much the amount of people. This museum is open."
    )
    assert [(c["language"], c["task"], c["clip_timestamps"]) for c in pipeline.calls] == [
        ("es", "translate", [{"start": 9.0, "end": 14.0}]),
        ("de", "translate", [{"start": 20.0, "end": 25.0}]),
    ]
    # the decode stops where 5 s of speech could not take it in English (a loop is cut there)
    assert [c["max_new_tokens"] for c in pipeline.calls] == [english_token_budget(5.0)] * 2


def test_a_translation_may_take_8_tokens_a_second_of_speech_and_16_more_within_whispers_limit():
    assert english_token_budget(0.0) == 16
    assert english_token_budget(10.0) == 96  # fast English is 4-6 tokens a second
    assert english_token_budget(30.0) == 256
    assert english_token_budget(120.0) == 440  # Whisper's 448 less the prompt


def test_all_english_needs_no_translation_and_spans_stay_within_whisper_s_window():
    pipeline = RecordingPipeline()
    assert translate(pipeline, [Piece(0, 5, "en", "Hi.")]) == English(None)
    assert pipeline.calls == []
    pieces = [Piece(10.0 * i, 10.0 * i + 9.5, "es", "x") for i in range(4)]
    assert joined(pieces) == [(0.0, 29.5), (30.0, 39.5)]


def test_a_translation_still_in_chinese_or_unsure_is_left_out_with_the_reason():
    # base's real answers for AISHELL (still Chinese) and a headline (fluent, wrong, log-prob -1.64)
    still_chinese = RecordingPipeline(
        {"zh": (" Guangzhou市房地产中间协会分析", dict(avg_logprob=-0.59, compression_ratio=0.78))}
    )
    english = translate(still_chinese, [Piece(0.0, 4.3, "zh", "广州市佛地产中间协会分析")])
    assert english.text is None
    assert english.left_out == "1 of 1 zh stretch(es) left out: not in English (still in the original script)"

    unsure = RecordingPipeline(
        {
            "zh": (
                " The blood pressure is very low, so it's better to eat the chicken.",
                dict(avg_logprob=-1.64, compression_ratio=0.96),
            ),
            "es": (" It was so much the amount of people.", SURE),
        }
    )
    pieces = [
        Piece(0.0, 5.0, "zh", "大学生利用漏洞免费吃肯德基获行"),
        Piece(6.0, 9.0, "es", "Fue tanta la cantidad de gente"),
    ]
    english = translate(unsure, pieces)
    assert english.text == "It was so much the amount of people."
    assert english.left_out == "1 of 1 zh stretch(es) left out: unsure (average log-probability -1.64 < -1.0)"


def test_what_counts_as_english_script():
    assert non_latin_share("Guangzhou市房地产中间协会分析") > 0.3
    assert non_latin_share("Welcome to Kyōto, São Paulo and Zürich!") == 0.0
    assert non_latin_share("") == 0.0
    assert untrusted_translation("I'm a man, I'm a man, I'm a man, I'm a man", -0.19, 20.58).startswith("looped")
    assert untrusted_translation("But it is very important to them.", -0.86, 0.85) is None


SPANISH = (
    "Fue tanta la cantidad de gente que se concentró que no todos pudieron acceder al funeral en la Plaza de San Pedro."
)
IN_ENGLISH = (
    "It was so much the amount of people who concentrated that not everyone could access the funeral in San Pedro "
    "Square."
)


def test_the_transcript_written_out_again_is_not_a_translation():
    """What base wrote for fleurs-es-002 and fleurs-pt-001 when prompted with their transcripts (27-H): the
    speech again, in Latin script, at a confident log-probability; its real translation shares only names."""
    assert untrusted_translation(SPANISH, -0.02, 1.2, source=SPANISH).startswith("not translated")
    portuguese_again = (
        "It was built by the egípcios on the século 3 antes de Cristo. The great pirâmide is one of the many"
    )
    portuguese = (
        "construída pelos egípcios no século 3 antes de Cristo a grande pirâmide é uma das muitas grandes estruturas"
    )
    assert repeated_share(portuguese_again, portuguese) < 0.5  # half English: kept, as it reads
    assert untrusted_translation(IN_ENGLISH, -0.45, 1.2, source=SPANISH) is None
    assert repeated_share(IN_ENGLISH, SPANISH) < 0.2  # funeral, san, pedro
    assert untrusted_translation(SPANISH, -0.02, 1.2) is None  # without its transcript the check cannot tell


def test_a_span_or_chunk_translated_into_its_own_words_is_left_out():
    again = RecordingPipeline({"es": (" " + SPANISH, SURE)})
    english = translate(again, [Piece(0.0, 3.0, "en", "Hello."), Piece(4.0, 9.0, "es", SPANISH)])
    assert english == English(
        "Hello.", "1 of 1 es stretch(es) left out: not translated (the transcript's own words again)"
    )
    chunk = {899: Translated(4.0, "es", SPANISH, **SURE)}
    english = translate_pieces(
        RecordingPipeline(),
        None,
        [Piece(4.0, 9.0, "es", SPANISH, 899)],
        batch_size=8,
        beam_size=5,
        lock=threading.Lock(),
        translated=chunk,
    )
    assert english.text is None and "not translated" in english.left_out


def test_chunks_translated_on_the_first_pass_are_checked_like_the_rest_and_need_no_second_call():
    pipeline = RecordingPipeline()
    pieces = [
        Piece(0.0, 8.0, "en", "The child almost hurt the small dog."),
        Piece(9.0, 12.0, "es", "Fue tanta la cantidad de gente", chunk=300),
        Piece(12.2, 14.0, "es", "que no todos pudieron acceder.", chunk=300),
        Piece(20.0, 24.3, "zh", "广州市佛地产中间协会分析", chunk=1000),
    ]
    translated = {
        300: Translated(9.0, "es", "It was so much the amount of people.", **SURE),
        1000: Translated(20.0, "zh", "Guangzhou市房地产中间协会分析", avg_logprob=-0.59, compression_ratio=0.78),
    }
    english = translate_pieces(
        pipeline, None, pieces, batch_size=8, beam_size=5, lock=threading.Lock(), translated=translated
    )
    assert english == English(
        "The child almost hurt the small dog. It was so much the amount of people.",
        "1 of 1 zh stretch(es) left out: not in English (still in the original script)",
    )
    assert pipeline.calls == []


def test_a_span_with_speech_no_chunk_translated_is_translated_anew_whole():
    """The second pass's part of a sentence beside a translated chunk's tail: the sentence is translated
    as one span (apart, base lost the word at the cut: "access the phone. in San Pedro's square")."""
    pipeline = RecordingPipeline()
    pieces = [
        Piece(5.4, 8.3, "es", "Fue tanta la cantidad de gente que se concentró."),  # second pass
        Piece(8.6, 10.6, "es", "¿Qué no todos pudieron acceder al funeral?"),  # second pass
        Piece(11.0, 12.2, "es", "en la plaza de San Pedro", chunk=899),
        Piece(14.0, 16.0, "es", "en la plaza de San Pedro", chunk=899),  # the same chunk, past a pause
    ]
    translated = {899: Translated(11.0, "es", "in San Pedro's square", **SURE)}
    english = translate_pieces(
        pipeline, None, pieces, batch_size=8, beam_size=5, lock=threading.Lock(), translated=translated
    )
    assert english == English("It was so much the amount of people.")
    assert [c["clip_timestamps"] for c in pipeline.calls] == [
        [{"start": 5.4, "end": 12.2}, {"start": 14.0, "end": 16.0}]
    ]


def segment(index, start_s, language, seek, *, decode_pass=1):
    heard = HeardLanguage(language, 0.99, language, 0.99)
    return TranscriptSegment(
        index, start_s, start_s + 4, f"text {index}", -0.3, 0.01, 1.2, (), decode_pass, seek, heard
    )


def test_a_chunk_s_english_is_used_only_when_all_its_segments_are_trusted():
    """Chunk 0 (two trusted Spanish segments) gives its first-pass English; chunk 1000 has an untrusted
    segment, so its trusted one is translated anew, as is the second pass's trusted German segment."""
    transcriber = object.__new__(WhisperTranscriber)
    pipeline = RecordingPipeline()
    transcriber._translation_pipeline_loaded = pipeline
    transcriber.batch_size, transcriber.beam_size, transcriber._lock = 8, 5, threading.Lock()
    segments = [
        segment(0, 0.0, "es", 0),
        segment(1, 4.0, "es", 0),
        segment(2, 10.0, "es", 1000),
        segment(3, 14.0, "es", 1000),
        segment(4, 20.0, "de", 0, decode_pass=SECOND_PASS),  # its seek counts in its own stretch
    ]
    assessment = SimpleNamespace(trusted=True, segment_quality=["good", "good", "good", "repeated", "good"])
    chunk_english = {
        0: ChunkEnglish("es", "Chunk zero in English.", -0.4, 1.2),
        1000: ChunkEnglish("es", "Chunk one, partly untrusted.", -0.4, 1.2),
    }
    english = transcriber._in_english(None, segments, assessment, "es", chunk_english)
    assert english == English("Chunk zero in English. It was so much the amount of people. This museum is open.")
    assert [(c["language"], c["clip_timestamps"]) for c in pipeline.calls] == [
        ("es", [{"start": 10.0, "end": 14.0}]),
        ("de", [{"start": 20.0, "end": 24.0}]),
    ]
