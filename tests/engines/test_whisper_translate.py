"""Translation asks Whisper only for the trusted non-English speech, one call per language, neighbouring
pieces joined, and reads English pieces as they are, in time order."""

import threading
from types import SimpleNamespace

from wandr_pipeline.engines.whisper_translate import Piece, joined, translate_pieces


class RecordingPipeline:
    def __init__(self):
        self.calls = []

    def transcribe(self, audio, **options):
        self.calls.append(options)
        english = {"es": "It was so many people.", "de": "This museum is open."}[options["language"]]
        start = options["clip_timestamps"][0]["start"]
        return [SimpleNamespace(start=start, text=f" {english}")], None


def test_only_foreign_pieces_are_translated_and_the_english_ones_kept_in_time_order():
    pipeline = RecordingPipeline()
    pieces = [
        Piece(0.0, 8.0, "en", "The child almost hurt the small dog."),
        Piece(9.0, 12.0, "es", "Fue tanta la cantidad de gente"),
        Piece(12.2, 14.0, "es", "que no todos pudieron acceder."),
        Piece(20.0, 25.0, "de", "Dieses Museum ist geöffnet."),
    ]
    english = translate_pieces(pipeline, None, pieces, batch_size=8, beam_size=5, lock=threading.Lock())
    assert english == "The child almost hurt the small dog. It was so many people. This museum is open."
    assert [(c["language"], c["task"], c["clip_timestamps"]) for c in pipeline.calls] == [
        ("es", "translate", [{"start": 9.0, "end": 14.0}]),
        ("de", "translate", [{"start": 20.0, "end": 25.0}]),
    ]


def test_all_english_needs_no_translation_and_spans_stay_within_whisper_s_window():
    pipeline = RecordingPipeline()
    assert (
        translate_pieces(pipeline, None, [Piece(0, 5, "en", "Hi.")], batch_size=8, beam_size=5, lock=threading.Lock())
        is None
    )
    assert pipeline.calls == []
    pieces = [Piece(10.0 * i, 10.0 * i + 9.5, "es", "x") for i in range(4)]
    assert joined(pieces) == [(0.0, 29.5), (30.0, 39.5)]
