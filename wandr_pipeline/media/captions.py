"""Per-frame OCR lines -> caption spans: one span per caption line, with the time it was on screen.

A burned-in caption stays on screen for seconds, so the sampled frames read the same line again and
again, each time with small OCR variations ("PASTEIS DE BELEM", "PASTÉIS DE BELÉM", "PASTEIS DEBELEM").
`build_spans` tracks lines from frame to frame and merges them into spans:

- a line continues a span when it is in the same screen region (boxes overlap) and its text is the
  same up to OCR noise (fuzzy ratio on an accent-, case-, space- and punctuation-free key, or one
  read is a clean part of the other);
- a span may miss `max_gap_frames` sampled frames (an OCR miss) and go on; a longer absence ends it;
- lines under `min_confidence`, with fewer than `min_chars` letters/digits, and spans whose mean
  confidence is under `min_span_confidence` are dropped as noise;
- the span's text is the best-supported spelling (most confidence-weighted reads), with the word
  breaks that the other reads saw restored (OCR engines glue words more often than they split them);
- `start_s`/`end_s` estimate when the caption appeared/disappeared: halfway between the last sampled
  frame without it and the first with it (and likewise at the end). `first_seen_s`/`last_seen_s` are
  the sampled frames themselves.

Pure functions, no Dagster; `ocr_text` rows come in, span rows go out.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median

from rapidfuzz import fuzz

_SPACES = re.compile(r"\s+")
_SPACED_HYPHEN = re.compile(r"(?<=\w) -(?=\w)")  # "alcohol -based": OCR cut the line at the hyphen


def fold(text: str) -> str:
    """Accent-, case-, space- and punctuation-free form of any script: 'Pastéis de Belém!' ->
    'pasteisdebelem', 'Москва!' -> 'москва', '广州市 房地产' -> '广州市房地产', full-width letters as
    ASCII. Letters and digits of every script stay; combining marks (accents) and everything else go."""
    kept, base = [], ""
    for char in unicodedata.normalize("NFKD", text.casefold()):
        kind = unicodedata.category(char)
        if kind[0] in "LN":
            kept.append(char)
            base = char
        elif kind == "Mn" and base and not _accented_script(base):
            kept.append(char)  # kana voicing marks (が = か + ゛) and the like are letters, not accents
    return unicodedata.normalize("NFC", "".join(kept))  # Hangul jamo and kana back into one character


def _unspaced(char: str) -> bool:
    """A Han or kana character (scripts written without spaces between words)."""
    code = ord(char) if char else 0
    return 0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF


def _accented_script(char: str) -> bool:
    """Latin, Greek, Cyrillic and the like: scripts whose combining marks are accents we fold away."""
    return ord(char) < 0x0530 or 0x1E00 <= ord(char) <= 0x1FFF


def tidy_line(text: str) -> str:
    """NFC, one space between words, no stray edge punctuation from OCR (`|`, `_`, `'`), no space
    before a hyphen inside a word ('du PALAIS -ROYAL' -> 'du PALAIS-ROYAL')."""
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()
    return _SPACED_HYPHEN.sub("-", text.strip("|_'`~ "))


@dataclass(frozen=True)
class CaptionRules:
    """The merge rules' thresholds (see the module docstring)."""

    min_confidence: float = 0.6  # drop single reads below this
    min_chars: int = 2  # letters/digits a line needs (one-character noise is dropped)
    text_similarity: float = 0.8  # fuzzy ratio (0-1) for two reads to be the same line
    partial_similarity: float = 0.9  # ... or: the shorter read is this close to a part of the longer
    partial_min_share: float = 0.5  # ... and is at least this share of the longer read
    max_gap_frames: int = 1  # sampled frames a span may be missing from and still continue
    min_vertical_overlap: float = 0.5  # same region: y-ranges overlap by this share of the smaller height
    min_horizontal_overlap: float = 0.0  # ... and x-ranges overlap by more than this share of the smaller width
    min_span_confidence: float = 0.7  # drop spans whose reads average below this
    space_vote: float = 0.34  # a word break seen in this share of the reads' weight is kept
    join_gap: float = 1.2  # join boxes of one frame on one line when the gap < this x height
    unspaced_join_gap: float = 0.3  # ... between Chinese/Japanese boxes (no spaces between their words)


@dataclass(frozen=True)
class LineRead:
    """One OCR'd text line on one sampled frame (boxes normalised to 0-1)."""

    frame_index: int
    timestamp_s: float
    text: str
    confidence: float
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def height(self) -> float:
        return max(1e-6, self.y1 - self.y0)


@dataclass
class CaptionSpan:
    span_index: int
    text: str
    start_s: float
    end_s: float
    first_seen_s: float
    last_seen_s: float
    frames_seen: int
    confidence: float
    x0: float
    y0: float
    x1: float
    y1: float
    variants: list[str] = field(default_factory=list)

    def as_row(self) -> dict:
        return {
            "span_index": self.span_index,
            "text": self.text,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "first_seen_s": self.first_seen_s,
            "last_seen_s": self.last_seen_s,
            "frames_seen": self.frames_seen,
            "confidence": self.confidence,
            "box_x0": self.x0,
            "box_y0": self.y0,
            "box_x1": self.x1,
            "box_y1": self.y1,
            "variants": self.variants,
        }


@dataclass
class _Track:
    reads: list[LineRead]
    last_position: int  # position of the last frame (in the sampled-frame order) it was read on

    @property
    def last(self) -> LineRead:
        return self.reads[-1]


# -- comparing reads ---------------------------------------------------------------------------


def same_region(a: LineRead, b: LineRead, rules: CaptionRules = CaptionRules()) -> bool:
    """Boxes on the same text line of the screen (y-ranges overlap) and overlapping horizontally."""
    v_overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    if v_overlap < rules.min_vertical_overlap * min(a.height, b.height):
        return False
    h_overlap = min(a.x1, b.x1) - max(a.x0, b.x0)
    smaller_width = max(1e-6, min(a.x1 - a.x0, b.x1 - b.x0))
    return h_overlap > rules.min_horizontal_overlap * smaller_width


def text_similarity(a: str, b: str, rules: CaptionRules = CaptionRules()) -> float:
    """0-1: how likely two reads are the same line (on folded keys; a clean partial read counts)."""
    ka, kb = fold(a), fold(b)
    if not ka or not kb:
        return 0.0
    if ka == kb:
        return 1.0
    score = fuzz.ratio(ka, kb) / 100
    short, long_ = sorted((ka, kb), key=len)
    if len(short) >= rules.partial_min_share * len(long_) and len(short) >= 3:
        partial = fuzz.partial_ratio(short, long_) / 100
        if partial >= rules.partial_similarity:
            score = max(score, partial * 0.95)
    return score


def is_noise(read: LineRead, rules: CaptionRules = CaptionRules()) -> bool:
    return read.confidence < rules.min_confidence or len(fold(read.text)) < rules.min_chars


# -- one frame's boxes -> lines ------------------------------------------------------------------

PORTRAIT = 9 / 16  # width / height of the frames when the caller does not say (short videos are portrait)


def join_line_fragments(
    reads: Sequence[LineRead], rules: CaptionRules = CaptionRules(), aspect: float = PORTRAIT
) -> list[LineRead]:
    """Join boxes of one frame that sit side by side on one text line with at most a word-sized gap.

    Detectors sometimes cut a caption at a space ("CLOSED" + "ON MONDAYS", often with boxes that
    overlap a little); far-apart boxes on one row (a tag at the left, a price at the right) stay
    apart. Boxes are normalised to the frame, so gaps are compared with line heights through the
    frame's `aspect` (width / height).
    """
    remaining = sorted(reads, key=lambda r: (r.x0, r.y0))
    lines: list[LineRead] = []
    for read in remaining:
        for i, line in enumerate(lines):
            v_overlap = min(line.y1, read.y1) - max(line.y0, read.y0)
            height = max(line.height, read.height)
            gap = (read.x0 - line.x1) * aspect / height  # in line heights; negative: the boxes overlap
            similar_size = min(line.height, read.height) >= 0.7 * height
            # Chinese and Japanese have no spaces between words: a visible gap there separates two labels
            unspaced = _unspaced(line.text[-1:]) and _unspaced(read.text[:1])
            max_gap = rules.unspaced_join_gap if unspaced else rules.join_gap
            if v_overlap >= 0.6 * min(line.height, read.height) and similar_size and -1.0 <= gap <= max_gap:
                total = len(line.text) + len(read.text)
                lines[i] = LineRead(
                    line.frame_index,
                    line.timestamp_s,
                    f"{line.text}{read.text}" if unspaced else f"{line.text} {read.text}",
                    (line.confidence * len(line.text) + read.confidence * len(read.text)) / max(1, total),
                    min(line.x0, read.x0),
                    min(line.y0, read.y0),
                    max(line.x1, read.x1),
                    max(line.y1, read.y1),
                )
                break
        else:
            lines.append(read)
    return sorted(lines, key=lambda r: (round(r.y0, 2), r.x0))


# -- the spelling of a span ----------------------------------------------------------------------


def _breaks(text: str) -> tuple[str, set[int]]:
    """(folded key, positions in the key after which the text has a word break)."""
    key, breaks = [], set()
    for char in text:
        folded = fold(char)
        if folded:
            key.append(folded)
        elif key and char.isspace():
            breaks.add(len("".join(key)))
    return "".join(key), breaks


def _with_breaks(text: str, wanted: set[int]) -> str:
    """`text` with a space inserted at the key positions in `wanted` where it has none."""
    out, count = [], 0
    have = _breaks(text)[1]
    for char in text:
        folded = fold(char)
        if folded:
            if count in wanted and count not in have and count > 0 and out and not out[-1].isspace():
                out.append(" ")
            count += len(folded)
        out.append(char)
    return "".join(out)


def best_spelling(reads: Sequence[LineRead], rules: CaptionRules = CaptionRules()) -> tuple[str, list[str]]:
    """The best-supported spelling of a span's reads, with word breaks voted across reads; and the variants."""
    weights: dict[str, float] = defaultdict(float)
    spellings: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for read in reads:
        text = tidy_line(read.text)
        key = fold(text)
        weights[key] += read.confidence
        spellings[key][text] += read.confidence
    key = max(weights, key=lambda k: (weights[k], len(k)))
    variants = spellings[key]
    base = max(variants, key=lambda t: (variants[t], t.count(" ")))
    votes: dict[int, float] = defaultdict(float)
    for text, weight in variants.items():
        for position in _breaks(text)[1]:
            votes[position] += weight
    total = sum(variants.values())
    wanted = {p for p, w in votes.items() if w >= rules.space_vote * total}
    chosen = _with_breaks(base, wanted)
    others = sorted({tidy_line(r.text) for r in reads} - {chosen})
    return chosen, others


# -- frames -> spans -------------------------------------------------------------------------------


def build_spans(
    frame_times: Sequence[tuple[int, float]],
    reads: Iterable[LineRead],
    rules: CaptionRules = CaptionRules(),
    *,
    duration_s: float | None = None,
    aspect: float | None = None,
) -> list[CaptionSpan]:
    """Merge the reads of a video's sampled frames into caption spans, ordered by start time.

    `frame_times`: (frame_index, timestamp_s) of every sampled frame whose OCR result is known (read
    or reused), including frames with no text; frames whose OCR failed are left out, so they neither
    end nor extend a span. `reads`: the OCR'd lines of those frames. `aspect`: frame width / height.
    """
    frames = sorted(set(frame_times), key=lambda f: (f[1], f[0]))
    position = {index: i for i, (index, _) in enumerate(frames)}
    by_frame: dict[int, list[LineRead]] = defaultdict(list)
    for read in reads:
        if read.frame_index in position and not is_noise(read, rules):
            by_frame[read.frame_index].append(read)

    active: list[_Track] = []
    finished: list[_Track] = []
    for pos, (frame_index, _) in enumerate(frames):
        lines = join_line_fragments(by_frame.get(frame_index, []), rules, aspect or PORTRAIT)
        pairs = []
        for ti, track in enumerate(active):
            for li, line in enumerate(lines):
                if not same_region(track.last, line, rules):
                    continue
                score = text_similarity(track.last.text, line.text, rules)
                if score >= rules.text_similarity:
                    pairs.append((score, -abs(track.last.y0 - line.y0), ti, li))
        used_tracks, used_lines = set(), set()
        for _, _, ti, li in sorted(pairs, reverse=True):
            if ti in used_tracks or li in used_lines:
                continue
            used_tracks.add(ti)
            used_lines.add(li)
            active[ti].reads.append(lines[li])
            active[ti].last_position = pos
        for li, line in enumerate(lines):
            if li not in used_lines:
                active.append(_Track([line], pos))
        still = []
        for track in active:
            (still if pos - track.last_position <= rules.max_gap_frames else finished).append(track)
        active = still
    finished.extend(active)

    times = [t for _, t in frames]
    interval = median([b - a for a, b in zip(times, times[1:])]) if len(times) > 1 else 1.0
    spans = []
    for track in finished:
        confidence = sum(r.confidence for r in track.reads) / len(track.reads)
        if confidence < rules.min_span_confidence:
            continue
        text, variants = best_spelling(track.reads, rules)
        first_pos, last_pos = position[track.reads[0].frame_index], position[track.reads[-1].frame_index]
        first_seen, last_seen = times[first_pos], times[last_pos]
        start = (times[first_pos - 1] + first_seen) / 2 if first_pos > 0 else max(0.0, first_seen - interval / 2)
        if last_pos + 1 < len(times):
            end = (last_seen + times[last_pos + 1]) / 2
        else:
            end = last_seen + interval / 2
            if duration_s:
                end = max(last_seen, min(end, duration_s))
        spans.append(
            CaptionSpan(
                span_index=-1,
                text=text,
                start_s=round(start, 3),
                end_s=round(end, 3),
                first_seen_s=round(first_seen, 3),
                last_seen_s=round(last_seen, 3),
                frames_seen=len({r.frame_index for r in track.reads}),
                confidence=round(confidence, 4),
                x0=round(median(r.x0 for r in track.reads), 4),
                y0=round(median(r.y0 for r in track.reads), 4),
                x1=round(median(r.x1 for r in track.reads), 4),
                y1=round(median(r.y1 for r in track.reads), 4),
                variants=variants,
            )
        )
    spans.sort(key=lambda s: (s.start_s, s.y0, s.x0))
    for i, span in enumerate(spans):
        span.span_index = i
    return spans


def reads_from_rows(rows: Iterable[Mapping]) -> tuple[list[tuple[int, float]], list[LineRead]]:
    """(frame times, reads) from `ocr_text` rows: frames with a known result, and their text lines."""
    frames: dict[int, float] = {}
    reads: list[LineRead] = []
    for row in rows:
        if row.get("status") != "ok" or row.get("frame_index") is None:
            continue
        frames[int(row["frame_index"])] = float(row["timestamp_s"])
        if row.get("text"):
            confidence = row.get("confidence")
            # no score (Cloud Vision leaves some lines unscored): trusted, as the engine kept it
            confidence = 1.0 if confidence is None or math.isnan(confidence) else float(confidence)
            reads.append(
                LineRead(
                    int(row["frame_index"]),
                    float(row["timestamp_s"]),
                    row["text"],
                    confidence,
                    float(row["box_x0"]),
                    float(row["box_y0"]),
                    float(row["box_x1"]),
                    float(row["box_y1"]),
                )
            )
    return sorted(frames.items()), reads


_ENUMERATION = re.compile(r"^\s*(?:\d{1,2}|[a-z])\s*[.)/:-]\s+", re.IGNORECASE)


def _calm_case(line: str) -> str:
    """'PASTÉIS DE BELÉM' -> 'Pastéis De Belém': a prompt in capitals makes Whisper answer in capitals.

    Only lines mostly in capitals change; words with digits ('8AM', '40') are kept as they are.
    """
    letters = [c for c in line if c.isalpha()]
    if not letters or sum(c.isupper() for c in letters) < 0.8 * len(letters):
        return line
    return " ".join(word if any(c.isdigit() for c in word) else word.title() for word in line.split())


def hint_text(texts: Iterable[str], *, max_chars: int = 400, min_letters: int = 4) -> str:
    """The video's caption lines as hints for a speech model: distinct, in first-seen order, one per line.

    Shaped so the model borrows their spelling, not their form: list numbers ("1.", "2)") are cut,
    lines in capitals are written in title case, and lines with fewer than `min_letters` letters
    (prices, times) are left out. Capped at `max_chars` (Whisper reads at most ~220 tokens of them).
    """
    seen: set[str] = set()
    lines: list[str] = []
    size = 0
    for text in texts:
        line = _calm_case(_ENUMERATION.sub("", tidy_line(text)))
        key = fold(line)
        if key in seen or sum(c.isalpha() for c in line) < min_letters:
            continue
        if size + len(line) + 1 > max_chars:
            break
        seen.add(key)
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def echoes_hints(transcript: str, hints: str, *, share: float = 0.85, min_words: int = 3) -> bool:
    """True when a transcript is (nearly) only the hint words: the hints were written back, not the speech.

    A small Whisper model shown a list that mirrors the speech ("3 things to eat in Rome, 1. Cacio e
    pepe, 2. Suppli") may write the list and drop the sentences around it. A real transcript of such
    speech still has words of its own ("fried rice balls with mozzarella"); an echo has almost none.
    """
    said = [fold(w) for w in transcript.split()]
    said = [w for w in said if len(w) > 1 and not w.isdigit()]  # numbers are often list marks
    if len(said) < min_words:
        return False
    shown = {fold(w) for w in hints.replace(",", " ").split()}
    return sum(w in shown for w in said) >= share * len(said)
