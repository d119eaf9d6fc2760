"""English for every analyst: the trusted non-English speech of a clip translated by Whisper itself.

Whisper's multilingual models have a `translate` task (speech in any language to English text) that costs
one more decode of the speech it is given, no other model. Where the first pass went through
`whisper_chunk_language`'s pipeline, each non-English chunk was already translated there, from the encoder
output the transcription computed (`ChunkEnglish`), and a chunk's English is used when all of the chunk's
segments are trusted (`Translated`, given here). What is left (trusted non-English segments of other
chunks, of the second pass, or of a first pass without that pipeline) is translated here: grouped by the
language it was decoded in and handed to faster-whisper's batched pipeline as `clip_timestamps` (one piece
per segment, so nothing between them is decoded again), a second encoder pass over that speech. The English
segments stay as they are; the result reads in time order.

A translation is checked like a transcript before it is written down as English: `base` often answers
Mandarin with Chinese script ("Guangzhou市房地产中间协会分析") or with fluent English about something else
("The blood pressure is very low, so it's better to eat the chicken." for a headline about a student and
KFC), and the second kind comes with an average log-probability below Whisper's own -1 threshold, where
its Spanish and Portuguese translations stay above -1 (docs/BENCHMARKS.md). So a translated stretch is
left out, with the reason, when it is not in Latin script, loops (compression ratio above 2.4) or was
decoded unsure (average log-probability below -1): no English beats wrong English for an analyst's search.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from wandr_pipeline.media.speech_quality import MAX_COMPRESSION_RATIO, MIN_AVG_LOGPROB


@dataclass(frozen=True)
class Piece:
    """One stretch of speech: its time span, the language it was decoded in and, for English, its text."""

    start_s: float
    end_s: float
    language: str | None
    text: str


@dataclass(frozen=True)
class Translated:
    """A stretch already in English (a first-pass chunk translated on its encoder output): where it starts,
    the language it was translated from, the English and the decoder's signals."""

    start_s: float
    language: str
    text: str
    avg_logprob: float
    compression_ratio: float


@dataclass(frozen=True)
class English:
    """What translation gave: the English text (None: none to give) and why some was left out (None: none was)."""

    text: str | None
    left_out: str | None = None


MAX_SPAN_S = 30.0  # Whisper's window
MAX_JOIN_GAP_S = 1.0
MAX_NON_LATIN_SHARE = 0.1  # letters outside Latin script a translation may hold (a name, a symbol)


def non_latin_share(text: str) -> float:
    """The share of `text`'s letters that are not Latin script (Han, kana, Cyrillic, Arabic, ...)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(not unicodedata.name(c, "").startswith("LATIN") for c in letters) / len(letters)


def untrusted_translation(text: str, avg_logprob: float, compression_ratio: float) -> str | None:
    """Why a translated stretch is not English to rely on, or None when it is."""
    if non_latin_share(text) > MAX_NON_LATIN_SHARE:
        return "not in English (still in the original script)"
    if compression_ratio > MAX_COMPRESSION_RATIO:
        return f"looped (compression ratio {compression_ratio:.1f} > {MAX_COMPRESSION_RATIO})"
    if avg_logprob < MIN_AVG_LOGPROB:
        return f"unsure (average log-probability {avg_logprob:.2f} < {MIN_AVG_LOGPROB})"
    return None


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
    translated: Sequence[Translated] = (),
) -> English:
    """The pieces in English, in time order: English ones as written, the others translated (those already
    `translated` as they are), less the translated stretches `untrusted_translation` rejects (said in
    `left_out`, per language); text None when no piece is in another language (nothing to translate) or
    nothing English is left."""
    foreign: dict[str, list[Piece]] = {}
    for piece in pieces:
        if piece.language and piece.language != "en":
            foreign.setdefault(piece.language, []).append(piece)
    candidates: dict[str, list[Translated]] = {}
    for stretch in translated:
        candidates.setdefault(stretch.language, []).append(stretch)
    if not foreign and not candidates:
        return English(None)
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
            candidates.setdefault(language, []).extend(
                Translated(float(s.start), language, s.text.strip(), s.avg_logprob, s.compression_ratio)
                for s in segments
            )
    timed: list[tuple[float, str]] = [(p.start_s, p.text) for p in pieces if p.language == "en"]
    left_out: list[str] = []
    for language, stretches in candidates.items():
        stretches = [s for s in stretches if s.text.strip()]
        reasons = [untrusted_translation(s.text, s.avg_logprob, s.compression_ratio) for s in stretches]
        timed += [(s.start_s, s.text.strip()) for s, why in zip(stretches, reasons) if why is None]
        dropped = [why for why in reasons if why]
        if dropped:
            shown = "; ".join(dict.fromkeys(dropped))
            left_out.append(f"{len(dropped)} of {len(stretches)} {language} stretch(es) left out: {shown}")
    text = " ".join(text for _, text in sorted(timed, key=lambda item: item[0])).strip() or None
    return English(text, "; ".join(left_out) or None)
