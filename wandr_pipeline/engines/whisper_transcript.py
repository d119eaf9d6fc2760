"""What the Whisper engine returns (a transcript, its segments and words), and how faster-whisper's segments
become ours: plain values, so the stages, the lake and the tests read a transcript without loading a model."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from wandr_pipeline.engines.whisper_chunk_language import HeardLanguage
from wandr_pipeline.media.speech_quality import Assessment, LanguageEvidence, SegmentEvidence

FIRST_PASS = 1
SECOND_PASS = 2  # speech the first pass left without words or the VAD first missed, decoded again, no hints


@dataclass(frozen=True)
class TranscriptWord:
    word: str
    start_s: float
    end_s: float
    probability: float


@dataclass(frozen=True)
class TranscriptSegment:
    index: int
    start_s: float
    end_s: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float = 0.0
    words: tuple[TranscriptWord, ...] = ()
    decode_pass: int = FIRST_PASS
    seek: int = 0  # faster-whisper's frame offset of the chunk the segment was decoded in
    heard: HeardLanguage | None = None  # the language detected in this segment's chunk (None: the clip's)


@dataclass(frozen=True)
class Transcript:
    segments: list[TranscriptSegment]
    language: str
    language_probability: float | None  # None: not detected (forced by WHISPER_LANGUAGE, or an English-only model)
    duration_s: float
    elapsed_s: float = 0.0  # wall time spent transcribing (not loading) this clip
    hints: str | None = None  # the hint text (hotwords / initial prompt) this transcript was made with
    speech_s: float | None = None  # seconds of speech the voice activity detector found (None: VAD off)
    speech_coverage: float | None = None  # share of that speech that decoded words cover
    uncovered_regions: int = 0  # stretches of speech (or missed speech, or a region it runs into) decoded again
    assessment: Assessment | None = None  # can the text be trusted (`media.speech_quality`)
    text_en: str | None = None  # the trusted speech in English when some was in another language (`translate`)
    text_en_left_out: str | None = None  # translated speech left out of text_en as untrusted, and why

    @property
    def text(self) -> str:
        return " ".join(segment.text for segment in self.segments).strip()


def transcript_segments(
    segments: Iterable, *, offset_s: float = 0.0, decode_pass: int = FIRST_PASS
) -> list[TranscriptSegment]:
    """faster-whisper `Segment`s as ours (times shifted by `offset_s`), numbered from 0, empty ones left out."""
    out = []
    for s in segments:
        if not s.text.strip():
            continue
        words = tuple(
            TranscriptWord(
                w.word.strip(),
                round(float(w.start) + offset_s, 3),
                round(float(w.end) + offset_s, 3),
                float(w.probability),
            )
            for w in (s.words or ())
            if w.word.strip()
        )
        out.append(
            TranscriptSegment(
                len(out),
                round(float(s.start) + offset_s, 3),
                round(float(s.end) + offset_s, 3),
                s.text.strip(),
                float(s.avg_logprob),
                float(s.no_speech_prob),
                float(s.compression_ratio or 0.0),
                words,
                decode_pass,
                int(s.seek or 0),
            )
        )
    return out


def segment_evidence(segment: TranscriptSegment, clip_language: str, clip_probability: float | None) -> SegmentEvidence:
    """What `media.speech_quality.assess` reads of one segment."""
    heard = segment.heard
    return SegmentEvidence(
        segment.text,
        [w.probability for w in segment.words],
        segment.compression_ratio,
        segment.avg_logprob,
        segment.no_speech_prob,
        None
        if heard is None
        else LanguageEvidence(heard.heard, heard.probability, heard.decoded, clip_language, clip_probability),
        segment.end_s - segment.start_s,
    )


def segment_of_words(segment: TranscriptSegment, words: tuple[TranscriptWord, ...]) -> TranscriptSegment:
    """`segment` cut down to `words` (its text rebuilt from them when some were left out)."""
    if len(words) == len(segment.words):
        return segment
    return replace(
        segment,
        start_s=words[0].start_s,
        end_s=words[-1].end_s,
        text=" ".join(w.word for w in words),
        words=words,
    )


def merged_segments(first: list[TranscriptSegment], second: list[TranscriptSegment]) -> list[TranscriptSegment]:
    """Both passes' segments in time order, renumbered from 0."""
    ordered = sorted(first + second, key=lambda s: (s.start_s, s.decode_pass))
    return [replace(s, index=i) for i, s in enumerate(ordered)]
