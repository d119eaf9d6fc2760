"""English for every analyst: the trusted non-English speech of a clip translated by Whisper itself.

Whisper's multilingual models have a `translate` task (speech in any language to English text) that costs
one more decode of the speech it is given, no other model. Where the first pass went through
`whisper_chunk_language`'s pipeline, each non-English chunk was already translated there, from the encoder
output the transcription computed (`ChunkEnglish`); a piece of such a chunk whose segments are all trusted
says so (`Piece.chunk`, the chunk's English given here as `Translated`). The trusted non-English pieces are
grouped by the language they were decoded in and neighbours joined into spans (a sentence often runs over
a chunk's edge or into the second pass's speech); a span made only of pieces of translated chunks takes
their English, any other is translated here, whole, by faster-whisper's batched pipeline (`clip_timestamps`,
one per span, so nothing between them is decoded again): a second encoder pass over that speech only. The
English segments stay as they are; the result reads in time order.

A translation is checked like a transcript before it is written down as English: `base` often answers
Mandarin with Chinese script ("Guangzhou市房地产中间协会分析") or with fluent English about something else
("The blood pressure is very low, so it's better to eat the chicken." for a headline about a student and
KFC), and the second kind comes with an average log-probability below Whisper's own -1 threshold, where
its Spanish and Portuguese translations stay above -1 (docs/BENCHMARKS.md). So a translated stretch is
left out, with the reason, when it is not in Latin script, is the transcript's own words again (Whisper
may write the speech out instead of translating it), loops (compression ratio above 2.4) or was decoded
unsure (average log-probability below -1): no English beats wrong English for an analyst's search.
No decoding choice measured (prompts, beam 10, temperature fallback, timestamps, the transcribe task with
the English token) made `base`'s Mandarin English right (docs/BENCHMARKS.md, 27-H): that is the model's
capacity, and the check is what keeps it out. A translation's decode is bounded by the speech it translates
(`english_token_budget`): such a wrong translation may loop, and a loop run to Whisper's 448 tokens cost
more than the clip's whole translation.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from wandr_pipeline.media.speech_quality import MAX_COMPRESSION_RATIO, MIN_AVG_LOGPROB


@dataclass(frozen=True)
class Piece:
    """One stretch of speech: its time span, the language it was decoded in and, for English, its text."""

    start_s: float
    end_s: float
    language: str | None
    text: str
    chunk: int | None = None  # the seek of the first-pass chunk already in English that holds it (`Translated`)


@dataclass(frozen=True)
class Translated:
    """A stretch already in English (a first-pass chunk translated on its encoder output): where it starts,
    the language it was translated from, the English and the decoder's signals."""

    start_s: float
    language: str
    text: str
    avg_logprob: float
    compression_ratio: float
    source: str = ""  # the transcript of the speech it translates (empty: not known)


@dataclass(frozen=True)
class English:
    """What translation gave: the English text (None: none to give) and why some was left out (None: none was)."""

    text: str | None
    left_out: str | None = None


MAX_SPAN_S = 30.0  # Whisper's window
MAX_JOIN_GAP_S = 1.0
MAX_NON_LATIN_SHARE = 0.1  # letters outside Latin script a translation may hold (a name, a symbol)
MAX_REPEATED_SHARE = 0.5  # words of 3+ letters a translation may share with its transcript (names, numbers)
# English tokens a translation may take per second of speech, and a few more for a short one. Fast speech is
# 4-6 tokens a second in English; `base` translating Mandarin loops ("of the Ministry of Foreign Affairs" x 40)
# up to Whisper's 448-token limit, which costs more decoding than the clip's real translation (27-H).
ENGLISH_TOKENS_PER_S = 8
ENGLISH_TOKENS_SLACK = 16
MAX_NEW_TOKENS = 440  # Whisper's 448 less the translation prompt's four tokens


def english_token_budget(speech_s: float) -> int:
    """The most tokens a translation of `speech_s` seconds of speech is decoded to (a loop is cut there,
    then left out by `untrusted_translation` for its compression ratio)."""
    return min(MAX_NEW_TOKENS, ENGLISH_TOKENS_SLACK + math.ceil(ENGLISH_TOKENS_PER_S * max(0.0, speech_s)))


def non_latin_share(text: str) -> float:
    """The share of `text`'s letters that are not Latin script (Han, kana, Cyrillic, Arabic, ...)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(not unicodedata.name(c, "").startswith("LATIN") for c in letters) / len(letters)


def repeated_share(text: str, source: str) -> float:
    """The share of `text`'s words (3 letters or more) that `source` holds too."""
    words = [w for w in re.findall(r"[^\W\d_]+", text.lower()) if len(w) >= 3]
    if not words:
        return 0.0
    heard = set(re.findall(r"[^\W\d_]+", source.lower()))
    return sum(w in heard for w in words) / len(words)


def untrusted_translation(text: str, avg_logprob: float, compression_ratio: float, source: str = "") -> str | None:
    """Why a translated stretch is not English to rely on, or None when it is; `source`: the transcript it
    translates (Whisper may write the speech out again instead of translating it, in Latin script for
    Spanish or Portuguese: measured with a prompt holding the transcript, docs/BENCHMARKS.md 27-H)."""
    if non_latin_share(text) > MAX_NON_LATIN_SHARE:
        return "not in English (still in the original script)"
    if source and repeated_share(text, source) > MAX_REPEATED_SHARE:
        return "not translated (the transcript's own words again)"
    if compression_ratio > MAX_COMPRESSION_RATIO:
        return f"looped (compression ratio {compression_ratio:.1f} > {MAX_COMPRESSION_RATIO})"
    if avg_logprob < MIN_AVG_LOGPROB:
        return f"unsure (average log-probability {avg_logprob:.2f} < {MIN_AVG_LOGPROB})"
    return None


def grouped(pieces: Sequence[Piece]) -> list[list[Piece]]:
    """Neighbouring pieces together (a chunk's segments are one sentence more often than not), each group
    at most Whisper's 30 s window from its first start to its last end."""
    groups: list[list[Piece]] = []
    for piece in sorted(pieces, key=lambda p: p.start_s):
        if (
            groups
            and piece.start_s - max(p.end_s for p in groups[-1]) <= MAX_JOIN_GAP_S
            and piece.end_s - groups[-1][0].start_s <= MAX_SPAN_S
        ):
            groups[-1].append(piece)
        else:
            groups.append([piece])
    return groups


def joined(pieces: Sequence[Piece]) -> list[tuple[float, float]]:
    """`grouped` pieces as time spans."""
    return [(group[0].start_s, max(p.end_s for p in group)) for group in grouped(pieces)]


def span_source(start_s: float, spans: Sequence[tuple[float, float]], sources: Sequence[str]) -> str:
    """The transcript (`sources`, one per span) of the span a translated segment starts in ("": none)."""
    inside = [text for (start, end), text in zip(spans, sources) if start - 0.5 <= start_s <= end]
    return inside[0] if inside else ""


def translate_pieces(
    pipeline,
    audio,
    pieces: Sequence[Piece],
    *,
    batch_size: int,
    beam_size: int,
    lock: threading.Lock,
    translated: Mapping[int, Translated] | None = None,
) -> English:
    """The pieces in English, in time order: English ones as written, the others translated (a span of
    pieces all of `translated` chunks, by `Piece.chunk`, as those chunks' English), less the translated
    stretches `untrusted_translation` rejects (said in `left_out`, per language); text None when no piece is
    in another language (nothing to translate) or nothing English is left."""
    translated = translated or {}
    foreign: dict[str, list[Piece]] = {}
    for piece in pieces:
        if piece.language and piece.language != "en":
            foreign.setdefault(piece.language, []).append(piece)
    if not foreign:
        return English(None)
    candidates: dict[str, list[Translated]] = {}
    for language, group in foreign.items():
        groups = grouped(group)
        # a group with a piece not yet in English is translated anew, whole; so is any group sharing a chunk
        # with it (a chunk's English is all of the chunk's speech: used once, or not at all)
        anew = [any(p.chunk not in translated for p in members) for members in groups]
        while True:
            spoiled = {p.chunk for members, redo in zip(groups, anew) if redo for p in members}
            again = [redo or any(p.chunk in spoiled for p in members) for members, redo in zip(groups, anew)]
            if again == anew:
                break
            anew = again
        used = dict.fromkeys(p.chunk for members, redo in zip(groups, anew) if not redo for p in members)
        candidates.setdefault(language, []).extend(
            replace(translated[chunk], source=" ".join(p.text for p in group if p.chunk == chunk)) for chunk in used
        )
        spans = [(members[0].start_s, max(p.end_s for p in members)) for members, redo in zip(groups, anew) if redo]
        if not spans:
            continue
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
                max_new_tokens=english_token_budget(max(end - start for start, end in spans)),
            )
            sources = [" ".join(p.text for p in members) for members, redo in zip(groups, anew) if redo]
            candidates.setdefault(language, []).extend(
                Translated(
                    float(s.start),
                    language,
                    s.text.strip(),
                    s.avg_logprob,
                    s.compression_ratio,
                    span_source(float(s.start), spans, sources),
                )
                for s in segments
            )
    timed: list[tuple[float, str]] = [(p.start_s, p.text) for p in pieces if p.language == "en"]
    left_out: list[str] = []
    for language, stretches in candidates.items():
        stretches = [s for s in stretches if s.text.strip()]
        reasons = [untrusted_translation(s.text, s.avg_logprob, s.compression_ratio, s.source) for s in stretches]
        timed += [(s.start_s, s.text.strip()) for s, why in zip(stretches, reasons) if why is None]
        dropped = [why for why in reasons if why]
        if dropped:
            shown = "; ".join(dict.fromkeys(dropped))
            left_out.append(f"{len(dropped)} of {len(stretches)} {language} stretch(es) left out: {shown}")
    text = " ".join(text for _, text in sorted(timed, key=lambda item: item[0])).strip() or None
    return English(text, "; ".join(left_out) or None)
