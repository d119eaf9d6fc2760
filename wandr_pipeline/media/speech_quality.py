"""Is a transcript worth trusting? Offline signals from Whisper's own decoding, no extra model.

Whisper does not fail on input it cannot transcribe: it loops (`S.S.A.P.A.T.E.N.E.R...`, `ศาศาศา...`,
compression ratio 5.7), writes a caption it learnt from silence ("Thank you." over music, no-speech
probability 0.91), guesses a language it barely hears (Arabic as Thai at 0.24), or, as an English-only
model given Spanish, writes fluent invented English at language probability 1.0. Each leaves a trace in
what the decoder already reports, and this module reads them, per segment and per clip:

- *repeated*: the text of an earlier segment again, a loop inside one (compression ratio above Whisper's
  2.4, a word said 4+ times running, a run of spelled-out letters or a short syllable looping);
- *no speech*: the decoder's own no-speech probability high while it was unsure of its words (Whisper's
  rule: no-speech above 0.6 and average log-probability below -1), or one of the captions Whisper learnt
  from silent video ("Thank you.", "Thanks for watching") over audio it judged probably silent;
- *language unsure*: the segment's stretch sounded most like a language below the confidence floor and
  not the clip's own (`LanguageEvidence`);
- *low confidence*: the words average below 0.55 (segments of 4+ words: a right "Bring water." can be
  unsure), or the average log-probability is below -1.

A segment with any of these is not trusted; the rest are. The clip as a whole is not trusted when its
words are unsure throughout (on the real English clips of `data/real/` the mean word probability is
0.80-0.99 with at most 14 % below 0.5; on non-English speech given to tiny.en 0.42-0.58 with 50-69 %
below 0.5), when most of its speech is untrusted, or when no segment is left. A clip that changes
language is several clips in one for this: where the detector was sure of a part's language (a real
English sentence heard as `en` at 0.99 beside German and Arabic the model cannot read), that part's
trusted segments stay even when the clip's words as a whole are unsure, and the rest goes with the clip.
A clip whose segments are all *no speech* is empty, not suspect.
Thresholds and their measurements: docs/BENCHMARKS.md, "Speech trust".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# A clip is flagged as a whole when its words average below this ...
MIN_MEAN_WORD_PROBABILITY = 0.70
# ... and at least this share of them are unsure (below UNSURE_WORD; non-English >= 0.50, English <= 0.19).
MAX_UNSURE_SHARE = 0.35
UNSURE_WORD = 0.5
MIN_WORDS_TO_JUDGE = 4  # fewer words say too little about a clip or segment (one "Okay." can be unsure)
LOW_SEGMENT_PROBABILITY = 0.55  # a segment whose words average below this is not trusted
MIN_AVG_LOGPROB = -1.0  # Whisper's log_prob_threshold
MAX_COMPRESSION_RATIO = 2.4  # Whisper's own threshold for repetitive (looping) output
NO_SPEECH = 0.6  # Whisper's no_speech_threshold
SILENCE_PHRASE_NO_SPEECH = 0.5  # a learnt silence caption counts as no speech from this no-speech probability
UNSURE_LOGPROB = -0.7  # ... or from this average log-probability ...
UNSURE_PHRASE = 0.6  # ... or when its words average below this (a person's clear "Thank you." is sure)
MAX_UNTRUSTED_SPEECH = 2 / 3  # a clip whose speech is mostly untrusted segments is not trusted at all
LANGUAGE_FLOOR = 0.5  # below this a detected language is a guess, not a fact
# A language part of a doubted clip stands on its own with this many trusted words (a short sentence; the
# mixed clips' real parts hold 11-52) on chunks heard in its language at SURE_LANGUAGE or more (real
# speech's chunks 0.88-0.998, the TTS samples' 0.78-0.90; espeak-ng's German and Arabic at most 0.65).
MIN_PART_WORDS = 8
SURE_LANGUAGE = 0.8

GOOD = "good"
LOW_CONFIDENCE = "low_confidence"
REPEATED = "repeated"  # the same text as an earlier segment of the clip, or a loop inside one
NO_SPEECH_HEARD = "no_speech"  # the decoder judged the audio silent (music, noise) and wrote a stock phrase
LANGUAGE_UNSURE = "language_unsure"

# What Whisper writes over silence and music (it learnt them from subtitles of silent stretches).
SILENCE_PHRASES = frozenset(
    {
        "thank you",
        "thank you very much",
        "thanks for watching",
        "see you next time",
        "ill see you next time",
        "thank you for watching",
        "thank you so much for watching",
        "please subscribe",
        "subscribe",
        "you",
        "bye",
        "music",
        "applause",
        "gracias",
        "obrigado",
        "merci",
        "ご視聴ありがとうございました",
        "谢谢观看",
        "字幕由amaraorg社区提供",
    }
)
LOOP_MIN_TOKENS = 12
LOOP_MAX_DISTINCT = 0.3  # at most this share of a long segment's words distinct: a loop
_SPELLED_OUT = re.compile(r"(?:\b\w[.\-_ ]){6,}")  # S.S.A.P.A.T.E.N.E.R.
_SHORT_LOOP = re.compile(r"(.{1,4}?)\1{5,}", re.DOTALL)  # ศาศาศาศาศาศา, hahahahahaha


@dataclass(frozen=True)
class LanguageEvidence:
    """What the detector heard in a segment's stretch: `heard` at `probability`, decoded as `decoded`."""

    heard: str
    probability: float
    decoded: str
    clip_language: str
    clip_probability: float | None  # None: the clip's language was not detected (forced or English-only)


@dataclass(frozen=True)
class SegmentEvidence:
    text: str
    word_probabilities: Sequence[float]
    compression_ratio: float
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    language: LanguageEvidence | None = None
    duration_s: float = 0.0


@dataclass(frozen=True)
class Assessment:
    trusted: bool  # False: nothing of the clip is to be trusted (every segment suspect, or the clip as a whole)
    reason: str | None  # why the clip, or some of its segments, are not trusted (None when all are)
    mean_word_probability: float | None
    segment_quality: list[str]  # per segment: GOOD or why not (REPEATED, NO_SPEECH_HEARD, ...)
    segment_reasons: list[str | None]  # per segment: the readable reason it is not trusted
    empty: bool = False  # every segment was the decoder writing over silence or music: no speech at all

    @property
    def left_out(self) -> int:
        return sum(q != GOOD for q in self.segment_quality) if self.trusted else len(self.segment_quality)


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _key(text: str) -> str:
    return " ".join("".join(c for c in text.casefold() if c.isalnum() or c.isspace()).split())


def loops(text: str) -> bool:
    """Text that repeats itself inside one segment: a word 4+ times running, spelled-out letters, a syllable."""
    words = _key(text).split()
    run = 1
    for before, word in zip(words, words[1:]):
        run = run + 1 if word == before else 1
        if run >= 4:
            return True
    tokens = re.findall(r"\w+", text.casefold())
    if len(tokens) >= LOOP_MIN_TOKENS and len(set(tokens)) / len(tokens) <= LOOP_MAX_DISTINCT:
        return True  # ha-ha-ma-ya-mi-ya-fi-ya-mi-ya-...: a few syllables over and over
    return bool(_SPELLED_OUT.search(text) or _SHORT_LOOP.search(text.replace(" ", "")))


def stock_phrase(text: str) -> bool:
    """Every sentence of `text` is one Whisper writes over silence ("Thank you. Thank you.")."""
    sentences = [_key(part) for part in re.split(r"[.!?。！？]+", text)]
    sentences = [part for part in sentences if part]
    return bool(sentences) and all(part in SILENCE_PHRASES for part in sentences)


def language_unsure(evidence: LanguageEvidence | None) -> bool:
    """The stretch's language was a guess: heard below the floor, and not the clip's own confident language."""
    if evidence is None or evidence.probability >= LANGUAGE_FLOOR:
        return False
    clip_sure = evidence.clip_probability is None or evidence.clip_probability >= LANGUAGE_FLOOR
    return not (clip_sure and evidence.heard == evidence.clip_language)


def segment_verdict(segment: SegmentEvidence, seen: set[str]) -> tuple[str, str | None]:
    """(quality, reason) of one segment; `seen`: the keys of the clip's earlier segments."""
    key = _key(segment.text)
    seg_mean = mean(segment.word_probabilities)
    if key and key in seen:
        return REPEATED, f"repeats an earlier segment ({segment.text[:40]!r})"
    if segment.compression_ratio > MAX_COMPRESSION_RATIO or loops(segment.text):
        return REPEATED, f"the decoder looped (compression ratio {segment.compression_ratio:.1f})"
    silent = segment.no_speech_prob >= NO_SPEECH and (
        segment.avg_logprob < MIN_AVG_LOGPROB or (seg_mean is not None and seg_mean < LOW_SEGMENT_PROBABILITY)
    )
    unsure = segment.avg_logprob < UNSURE_LOGPROB or (seg_mean is not None and seg_mean < UNSURE_PHRASE)
    stock = stock_phrase(segment.text)
    if silent or (stock and (segment.no_speech_prob >= SILENCE_PHRASE_NO_SPEECH or unsure)):
        return NO_SPEECH_HEARD, (
            f"probably no speech (no-speech probability {segment.no_speech_prob:.2f}): {segment.text[:40]!r}"
        )
    if language_unsure(segment.language):
        heard = segment.language
        return LANGUAGE_UNSURE, (
            f"language unsure: sounded most like {heard.heard} ({heard.probability:.2f}), decoded as {heard.decoded}"
        )
    if segment.avg_logprob < MIN_AVG_LOGPROB:
        return LOW_CONFIDENCE, (
            f"low average log-probability {below(segment.avg_logprob, MIN_AVG_LOGPROB)} < {MIN_AVG_LOGPROB}"
            f"{other_language(segment)}"
        )
    judged = len(segment.word_probabilities) >= MIN_WORDS_TO_JUDGE  # "Bring water." at 0.2 was right
    if judged and seg_mean < LOW_SEGMENT_PROBABILITY:
        return (
            LOW_CONFIDENCE,
            (
                f"mean word probability {below(seg_mean, LOW_SEGMENT_PROBABILITY)} < {LOW_SEGMENT_PROBABILITY}"
                f"{other_language(segment)}"
            ),
        )
    return GOOD, None


def below(value: float, threshold: float) -> str:
    """`value` to two decimals, or three where two would read as the threshold itself ("0.549", not "0.55 < 0.55")."""
    shown = f"{value:.2f}"
    return f"{value:.3f}" if float(shown) == threshold else shown


def other_language(segment: SegmentEvidence) -> str:
    """` (decoded as de, heard at 0.53)` for a segment decoded in a language other than its clip's."""
    heard = segment.language
    if heard is None or heard.decoded == heard.clip_language:
        return ""
    return f" (decoded as {heard.decoded}, heard at {heard.probability:.2f})"


def assess(segments: Sequence[SegmentEvidence], *, model_language: str | None = None) -> Assessment:
    """Trust verdict for one clip's segments. `model_language`: the language the model is limited to
    (`en` for `.en` models), named in the reason so a reader knows what to change."""
    seen: set[str] = set()
    quality: list[str] = []
    reasons: list[str | None] = []
    for segment in segments:
        q, why = segment_verdict(segment, seen)
        quality.append(q)
        reasons.append(why)
        seen.add(_key(segment.text))
    probabilities = [p for s in segments for p in s.word_probabilities]
    overall = mean(probabilities)
    rounded = None if overall is None else round(overall, 3)
    if segments and all(q == NO_SPEECH_HEARD for q in quality):
        return Assessment(False, _summary(quality, reasons), rounded, quality, reasons, empty=True)
    reason = _clip_doubt(segments, quality, reasons)
    if reason is None:
        return Assessment(True, _summary(quality, reasons), rounded, quality, reasons)
    kept = standing_parts(segments, quality)
    if kept:  # the clip changes language: its parts in a sure language stay, the rest goes with the clip
        for i, segment in enumerate(segments):
            if quality[i] == GOOD and part_of(segment, quality[i]) not in kept:
                quality[i] = LOW_CONFIDENCE
                reasons[i] = f"outside the clip's speech in {', '.join(kept)}{other_language(segment)}: {reason}"
        doubt = f"kept only its speech in {', '.join(kept)} (the rest: {reason})"
        return Assessment(True, f"{doubt}; {_summary(quality, reasons)}", rounded, quality, reasons)
    if model_language and overall is not None and overall < MIN_MEAN_WORD_PROBABILITY:
        reason += f"; the speech is probably not in {model_language}, the only language this model knows"
    return Assessment(False, reason, rounded, quality, reasons)


def unsure_throughout(probabilities: Sequence[float]) -> str | None:
    """Why words are unsure throughout (the clip-wide rule), or None."""
    overall = mean(probabilities)
    if overall is None or len(probabilities) < MIN_WORDS_TO_JUDGE or overall >= MIN_MEAN_WORD_PROBABILITY:
        return None
    unsure = sum(p < UNSURE_WORD for p in probabilities) / len(probabilities)
    if unsure < MAX_UNSURE_SHARE:
        return None
    return (
        f"the model was unsure of its words (mean word probability {overall:.2f} < "
        f"{MIN_MEAN_WORD_PROBABILITY}, {unsure:.0%} of them below {UNSURE_WORD})"
    )


def _clip_doubt(segments: Sequence[SegmentEvidence], quality: list[str], reasons: list[str | None]) -> str | None:
    """Why the clip as a whole is not to be trusted (None: it is, apart from the segments left out)."""
    reason = unsure_throughout([p for s in segments for p in s.word_probabilities])
    if reason:
        repeated = quality.count(REPEATED)
        return reason + (f"; {repeated} segment(s) repeat earlier text" if repeated else "")
    if segments and GOOD not in quality:
        return _summary(quality, reasons)
    untrusted, total = untrusted_speech(segments, quality)
    if total > 0 and untrusted / total > MAX_UNTRUSTED_SPEECH:
        return f"most of the speech was not trusted ({untrusted:.0f} of {total:.0f} s); " + _summary(quality, reasons)
    return None


def untrusted_speech(segments: Sequence[SegmentEvidence], quality: Sequence[str]) -> tuple[float, float]:
    """(seconds of untrusted speech, seconds of speech): by time, not words, as a loop has many words."""
    spoken = [(q, s.duration_s) for q, s in zip(quality, segments) if q != NO_SPEECH_HEARD]
    return sum(d for q, d in spoken if q != GOOD), sum(d for _, d in spoken)


def part_of(segment: SegmentEvidence, quality: str) -> str | None:
    """The language part a segment belongs to: the language it was decoded in (None: a guess, or not known)."""
    if quality == LANGUAGE_UNSURE or segment.language is None:
        return None
    return segment.language.decoded


def standing_parts(segments: Sequence[SegmentEvidence], quality: Sequence[str]) -> list[str]:
    """The languages of a clip that changes language whose part stands on its own when the clip as a whole
    is doubted: at least a sentence of trusted words (`MIN_PART_WORDS`) on chunks the detector heard in
    that language at `SURE_LANGUAGE` or more, and mostly trusted speech. A stretch whose language was a
    guess (`LANGUAGE_UNSURE`) counts as a part of its own that never stands: the clip changed to speech the
    detector could not name. Empty for a clip decoded in one language throughout, where the clip's verdict
    is the part's."""
    parts: dict[str | None, list[int]] = {}
    for i, (segment, q) in enumerate(zip(segments, quality)):
        parts.setdefault(part_of(segment, q), []).append(i)
    if len(parts) < 2:
        return []
    standing = []
    for language, indices in parts.items():
        if language is None:
            continue
        sure_words = sum(
            len(segments[i].word_probabilities)
            for i in indices
            if quality[i] == GOOD
            and segments[i].language.heard == language
            and segments[i].language.probability >= SURE_LANGUAGE
        )
        untrusted, total = untrusted_speech([segments[i] for i in indices], [quality[i] for i in indices])
        if sure_words >= MIN_PART_WORDS and not (total > 0 and untrusted / total > MAX_UNTRUSTED_SPEECH):
            standing.append(language)
    return standing


def _summary(quality: list[str], reasons: list[str | None]) -> str | None:
    """`2 of 5 segments not trusted: the decoder looped (...); language unsure: ...` (None: all trusted)."""
    bad = [why for q, why in zip(quality, reasons) if q != GOOD and why]
    if not bad:
        return None
    distinct = list(dict.fromkeys(bad))
    shown = "; ".join(distinct[:3]) + ("; ..." if len(distinct) > 3 else "")
    return f"{len(bad)} of {len(quality)} segment(s) not trusted: {shown}"
