"""Translation asks Whisper only for the trusted non-English speech, one call per language, neighbouring
pieces joined, and reads English pieces as they are, in time order; what comes back still in the
original script, looping or unsure is left out with the reason, not stored as English."""

import threading
from types import SimpleNamespace

from wandr_pipeline.engines.whisper_translate import (
    English,
    Piece,
    joined,
    non_latin_share,
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
