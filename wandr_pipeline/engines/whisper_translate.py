"""English for every analyst: the trusted non-English speech of a clip translated by Whisper itself.

Whisper's multilingual models have a `translate` task (speech in any language to English text) that costs
one more decode of the speech it is given, no other model. Only what is worth it is given: the trusted
segments not already in English (`media.speech_quality`), grouped by the language they were decoded in
and handed to faster-whisper's batched pipeline as `clip_timestamps` (one piece per segment, so nothing
between them is decoded again). The English segments stay as they are; the result reads in time order.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Piece:
    """One stretch of speech: its time span, the language it was decoded in and, for English, its text."""

    start_s: float
    end_s: float
    language: str | None
    text: str


MAX_SPAN_S = 30.0  # Whisper's window
MAX_JOIN_GAP_S = 1.0


def joined(pieces: Sequence[Piece]) -> list[tuple[float, float]]:
    """Neighbouring pieces as one span (a chunk's segments are one sentence more often than not), each at
    most Whisper's 30 s window."""
    spans: list[list[float]] = []
    for piece in sorted(pieces, key=lambda p: p.start_s):
        if spans and piece.start_s - spans[-1][1] <= MAX_JOIN_GAP_S and piece.end_s - spans[-1][0] <= MAX_SPAN_S:
            spans[-1][1] = max(spans[-1][1], piece.end_s)
        else:
            spans.append([piece.start_s, piece.end_s])
    return [(start, end) for start, end in spans]


def translate_pieces(
    pipeline,
    audio,
    pieces: Sequence[Piece],
    *,
    batch_size: int,
    beam_size: int,
    lock: threading.Lock,
) -> str | None:
    """The pieces in English, in time order: English ones as written, the others translated; None when no
    piece is in another language (nothing to translate)."""
    foreign: dict[str, list[Piece]] = {}
    for piece in pieces:
        if piece.language and piece.language != "en":
            foreign.setdefault(piece.language, []).append(piece)
    if not foreign:
        return None
    timed: list[tuple[float, str]] = [(p.start_s, p.text) for p in pieces if p.language == "en"]
    for language, group in foreign.items():
        spans = joined(group)
        with lock:
            segments, _ = pipeline.transcribe(
                audio,
                task="translate",
                language=language,
                beam_size=beam_size,
                batch_size=max(1, batch_size),
                clip_timestamps=[{"start": start, "end": end} for start, end in spans],
                condition_on_previous_text=False,
                without_timestamps=True,
            )
            timed += [(float(s.start), s.text.strip()) for s in segments if s.text.strip()]
    return " ".join(text for _, text in sorted(timed, key=lambda item: item[0])).strip() or None
