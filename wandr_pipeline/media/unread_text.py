"""Telling text the OCR engine read from text it only saw: captions in a script it does not know.

RapidOCR's bundled models read Chinese, Japanese and Latin scripts. Shown a Hebrew, Arabic or Korean
caption, or a line of emoji, its detector still finds the line, and its recogniser either returns
nothing (the line was silently dropped) or a confident-looking guess in the scripts it knows
(`ユ' n ' D`, `2024 ユ1x 7n`), which then stood in the tables as if it were the caption. Each line the
detector found is judged here from what the recogniser says about it: nothing recognised, most
characters unsure, or the characters read covering only part of the line. Such a line, and the
other boxes of the same caption line, become rows with no text and an `unread_reason`.

Only line-shaped boxes (wider than `LINE_ASPECT` times their height) are judged: a lone unsure mark
(an icon, a logo read as `穴`) is dropped as the confidence threshold always dropped it. Measured
on the real images of data/real/images (docs/RELIABILITY.md): no line the engine reads
is flagged, and the Korean one, which it cannot read, is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LINE_ASPECT = 2.0  # width / height from which a detected box is a line of text, not a mark
CHAR_CONFIDENCE = 0.6  # a recognised character below this is unsure
UNSURE_SHARE = 0.5  # a line with at least this share of unsure characters was not read
MIN_COVERAGE = 0.6  # the characters read span less of the line than this: part of it was not read
SAME_LINE_OVERLAP = 0.5  # boxes overlapping this much vertically are one caption line

NOTHING_RECOGNISED = (
    "text seen but not read: the engine recognised nothing in it (a script it does not know, "
    "e.g. Hebrew, Arabic or Korean, or emoji)"
)


@dataclass(frozen=True)
class SeenLine:
    """One line the detector found, with what the recogniser made of it (pixels of the read image)."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str = ""  # "" when nothing was recognised
    confidence: float = float("nan")
    char_scores: Sequence[float] = ()  # per recognised character, spaces excluded
    char_span: tuple[float, float] | None = None  # leftmost and rightmost x of the characters read

    @property
    def is_line(self) -> bool:
        height = max(1e-6, self.y1 - self.y0)
        return (self.x1 - self.x0) / height >= LINE_ASPECT


def _guess(text: str) -> str:
    shown = text if len(text) <= 60 else text[:57] + "..."
    return f" (the engine's guess: {shown!r})"


def unread_reason(line: SeenLine, min_confidence: float) -> str | None:
    """Why `line` was not read (None: read, or not line-shaped and judged by confidence alone)."""
    if not line.is_line:
        return None
    if not line.text.strip():
        return NOTHING_RECOGNISED
    if line.confidence < min_confidence:
        return (
            f"text seen but not read: recognised with confidence {line.confidence:.2f}, below {min_confidence:g}"
            + _guess(line.text)
        )
    unsure = sum(1 for score in line.char_scores if score < CHAR_CONFIDENCE)
    if line.char_scores and unsure / len(line.char_scores) >= UNSURE_SHARE:
        return (
            f"text seen but not read: {unsure} of {len(line.char_scores)} characters below "
            f"{CHAR_CONFIDENCE:g} confidence" + _guess(line.text)
        )
    if line.char_span is not None:
        coverage = (line.char_span[1] - line.char_span[0]) / max(1e-6, line.x1 - line.x0)
        if coverage < MIN_COVERAGE:
            return f"text seen but only partly read: the characters read span {coverage:.0%} of the line" + _guess(
                line.text
            )
    return None


def judge_lines(lines: Sequence[SeenLine], min_confidence: float) -> list[str | None]:
    """`unread_reason` per line; a box on the same caption line as an unread one is unread too (a line
    in two scripts is one caption, and half of it is not its text)."""
    reasons = [unread_reason(line, min_confidence) for line in lines]
    unread = [line for line, reason in zip(lines, reasons) if reason]
    for position, line in enumerate(lines):
        if reasons[position] or not unread or not line.text.strip():
            continue
        if any(_same_line(line, other) for other in unread):
            reasons[position] = "part of a caption line the engine could not read whole" + _guess(line.text)
    return reasons


def _same_line(a: SeenLine, b: SeenLine) -> bool:
    overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    return overlap >= SAME_LINE_OVERLAP * min(a.y1 - a.y0, b.y1 - b.y0)
