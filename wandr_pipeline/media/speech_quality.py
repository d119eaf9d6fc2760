"""Is a transcript worth trusting? Offline signals from Whisper's own decoding, no extra model.

An English-only model (the bundled tiny.en) given Spanish, Portuguese or Mandarin speech does not fail:
it writes fluent, invented English ("Thank you very much for watching." five times) at a confident
language probability of 1.0. What gives it away is how sure the decoder was of each word: on the real
English clips of `data/real/` the mean word probability is 0.80-0.99 and at most 14 % of the words are
below 0.5; on the non-English ones the mean is 0.42-0.58 and 50-69 % of the words are below 0.5
(synthetic English TTS of `data/samples/`: 0.75-0.83 and at most 19 %; docs/BENCHMARKS.md, "Speech
quality flags"). A clip is flagged when both say so. Whisper's segment-level thresholds (compression ratio
above 2.4, average log-probability below -1) catch loops, not this: most invented segments pass them.

`assess` judges a whole clip (its status) and each segment (its `quality` column).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# A clip is flagged when its words average below this (measured: non-English <= 0.58, English >= 0.75) ...
MIN_MEAN_WORD_PROBABILITY = 0.70
# ... and at least this share of them are unsure (below UNSURE_WORD; non-English >= 0.50, English <= 0.19).
MAX_UNSURE_SHARE = 0.35
UNSURE_WORD = 0.5
MIN_WORDS_TO_JUDGE = 4  # fewer words say too little about the clip (one "Okay." can be unsure)
LOW_SEGMENT_PROBABILITY = 0.55  # a segment whose words average below this is marked on its own
MAX_COMPRESSION_RATIO = 2.4  # Whisper's own threshold for repetitive (looping) output

GOOD = "good"
LOW_CONFIDENCE = "low_confidence"
REPEATED = "repeated"  # the same text as an earlier segment of the clip, or a loop inside one


@dataclass(frozen=True)
class SegmentEvidence:
    text: str
    word_probabilities: Sequence[float]
    compression_ratio: float


@dataclass(frozen=True)
class Assessment:
    trusted: bool
    reason: str | None  # why the clip is not trusted (None when it is)
    mean_word_probability: float | None
    segment_quality: list[str]  # per segment: GOOD, LOW_CONFIDENCE or REPEATED


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _key(text: str) -> str:
    return " ".join("".join(c for c in text.casefold() if c.isalnum() or c.isspace()).split())


def assess(segments: Sequence[SegmentEvidence], *, model_language: str | None = None) -> Assessment:
    """Trust verdict for one clip's segments. `model_language`: the language the model is limited to
    (`en` for `.en` models), named in the reason so a reader knows what to change."""
    seen: set[str] = set()
    quality: list[str] = []
    for segment in segments:
        key = _key(segment.text)
        seg_mean = mean(segment.word_probabilities)
        if (key and key in seen) or segment.compression_ratio > MAX_COMPRESSION_RATIO:
            quality.append(REPEATED)
        elif seg_mean is not None and seg_mean < LOW_SEGMENT_PROBABILITY:
            quality.append(LOW_CONFIDENCE)
        else:
            quality.append(GOOD)
        seen.add(key)
    probabilities = [p for s in segments for p in s.word_probabilities]
    overall = mean(probabilities)
    unsure = sum(p < UNSURE_WORD for p in probabilities) / len(probabilities) if probabilities else 0.0
    if (
        overall is None
        or len(probabilities) < MIN_WORDS_TO_JUDGE
        or overall >= MIN_MEAN_WORD_PROBABILITY
        or unsure < MAX_UNSURE_SHARE
    ):
        return Assessment(True, None, None if overall is None else round(overall, 3), quality)
    reason = (
        f"the model was unsure of its words (mean word probability {overall:.2f} < {MIN_MEAN_WORD_PROBABILITY}, "
        f"{unsure:.0%} of them below {UNSURE_WORD})"
    )
    if model_language:
        reason += f"; the speech is probably not in {model_language}, the only language this model knows"
    repeated = quality.count(REPEATED)
    if repeated:
        reason += f"; {repeated} segment(s) repeat earlier text"
    return Assessment(False, reason, round(overall, 3), quality)
