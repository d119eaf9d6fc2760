"""Did the decoder say something for every stretch of detected speech? Interval arithmetic on seconds.

Whisper can stop decoding a chunk early (tiny.en often stops after one or two sentences of a 30 s chunk)
while its segment still claims the whole chunk, so the segment table alone cannot show the gap. Word
timestamps can: speech that the voice activity detector heard and no decoded word overlaps is
*uncovered*; the transcriber decodes those stretches again and records the share it covered.

The detector can miss speech too: Silero carries state through the clip, and after loud speech a much
quieter sentence (a FLEURS recording 35 dB below the sentence before it) scores 0.03-0.3 and is not
speech at all, so no coverage check can see it. `pauses` are the stretches between its regions long
enough to hold a sentence; the transcriber runs the detector again on each alone, fresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

Interval = tuple[float, float]

WORD_PAD_S = 0.25  # a word's timestamps are approximate: it covers this much speech either side
MIN_GAP_S = 1.0  # shorter stretches without words are pauses, breaths or a word's tail, not lost speech
PACK_GAP_S = 0.5  # silence between two stretches packed into one window (`pack`): a pause, as between sentences


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping union of `intervals` (empty ones dropped)."""
    out: list[list[float]] = []
    for start, end in sorted((s, e) for s, e in intervals if e > s):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


def overlap_s(a: list[Interval], b: list[Interval]) -> float:
    """Seconds that two merged interval lists share."""
    total, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        total += max(0.0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def pauses(speech: Iterable[Interval], duration_s: float, *, min_s: float = MIN_GAP_S) -> list[Interval]:
    """Stretches of `[0, duration_s]` of at least `min_s` outside every `speech` region."""
    out, cursor = [], 0.0
    for start, end in merge(speech) + [(duration_s, duration_s)]:
        if start - cursor >= min_s:
            out.append((cursor, min(start, duration_s)))
        cursor = max(cursor, end)
    return out


def word_cover(words: Iterable[Interval], pad_s: float = WORD_PAD_S) -> list[Interval]:
    """The stretches of audio the decoded words account for."""
    return merge((start - pad_s, end + pad_s) for start, end in words)


def uncovered(
    speech: Iterable[Interval], words: Iterable[Interval], *, pad_s: float = WORD_PAD_S, min_gap_s: float = MIN_GAP_S
) -> list[Interval]:
    """Stretches of `speech` of at least `min_gap_s` that no word (padded by `pad_s`) overlaps."""
    cover = word_cover(words, pad_s)
    gaps: list[Interval] = []
    for start, end in merge(speech):
        cursor = start
        for c_start, c_end in cover:
            if c_end <= cursor or c_start >= end:
                continue
            if c_start > cursor:
                gaps.append((cursor, c_start))
            cursor = max(cursor, c_end)
        if cursor < end:
            gaps.append((cursor, end))
    return [(round(s, 3), round(e, 3)) for s, e in gaps if e - s >= min_gap_s]


def coverage(speech: Iterable[Interval], words: Iterable[Interval], *, pad_s: float = WORD_PAD_S) -> float | None:
    """Share of the detected speech that decoded words cover (None: no speech detected)."""
    speech = merge(speech)
    total = sum(e - s for s, e in speech)
    if total <= 0:
        return None
    return round(float(min(1.0, overlap_s(speech, word_cover(words, pad_s)) / total)), 3)


@dataclass(frozen=True)
class Placed:
    """A stretch of the clip (`source`, seconds) copied into packed audio at `at_s`."""

    source: Interval
    at_s: float

    @property
    def end_at_s(self) -> float:
        return self.at_s + self.source[1] - self.source[0]


def pack(stretches: Iterable[Interval], window_s: float, *, gap_s: float = PACK_GAP_S) -> list[list[Placed]]:
    """`stretches` laid into as few windows of at most `window_s` as fit them in time order, `gap_s` of
    silence between two in a window; a stretch longer than a window is cut into window-long pieces.

    Every window of Whisper's encoder is 30 s whatever it holds, so five 5 s stretches cost five windows
    decoded one by one and one window packed. Positions are in one packed time line (windows end to end),
    which is where the decoder's word times fall; `unpack` maps them back."""
    windows: list[list[Placed]] = []
    cursor = 0.0  # end of the packed time line
    used = window_s  # seconds used in the current window: none open yet
    for start, end in merge(stretches):
        while end - start > 1e-6:
            piece_end = min(end, start + window_s)
            length = piece_end - start
            if used + gap_s + length > window_s + 1e-6:
                windows.append([])
                used, at = length, cursor
            else:
                used, at = used + gap_s + length, cursor + gap_s
            windows[-1].append(Placed((start, piece_end), round(at, 3)))
            cursor = at + length
            start = piece_end
    return windows


def unpack(windows: list[list[Placed]], at_s: float) -> float | None:
    """The clip time of packed time `at_s`; None when it falls in the silence between two stretches."""
    for window in windows:
        for placed in window:
            if placed.at_s <= at_s <= placed.end_at_s:
                return placed.source[0] + at_s - placed.at_s
    return None
