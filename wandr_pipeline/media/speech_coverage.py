"""Did the decoder say something for every stretch of detected speech? Interval arithmetic on seconds.

Whisper can stop decoding a chunk early (tiny.en often stops after one or two sentences of a 30 s chunk)
while its segment still claims the whole chunk, so the segment table alone cannot show the gap. Word
timestamps can: speech that the voice activity detector heard and no decoded word overlaps is
*uncovered*; the transcriber decodes those stretches again and records the share it covered.

The detector can miss speech too: Silero carries state through the clip, and after loud speech a much
quieter sentence (a FLEURS recording 35 dB below the sentence before it) scores 0.03-0.3 and is not
speech at all, so no coverage check can see it. `pauses` are the stretches between its regions long
enough to hold a sentence; the transcriber runs the detector again on each alone, fresh.

Speech found that way often runs straight into a detected region: a quiet sentence start after a loud
sentence ("to the north" of a FLEURS sentence, 0.6 s, before the detector's region began), or a quiet tail.
The first pass never heard that audio, and it decoded the region from where the detector cut it, so its
first words are heard without their beginning ("and within" -> "and with an") and, padded, look as if they
covered the missed start. `joined_regions` gives each such region together with the missed speech that
touches it, for the transcriber to decode again as one stretch in place of the first pass's words there.
"""

from __future__ import annotations

from collections.abc import Iterable

Interval = tuple[float, float]

WORD_PAD_S = 0.25  # a word's timestamps are approximate: it covers this much speech either side
MIN_GAP_S = 1.0  # shorter stretches without words are pauses, breaths or a word's tail, not lost speech
TOUCH_S = 0.05  # missed speech this close to a detected region runs into it (the detector cut the region there)


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


def joined_regions(
    speech: Iterable[Interval], missed: Iterable[Interval], *, touch_s: float = TOUCH_S
) -> list[Interval]:
    """Each `speech` region that `missed` speech touches (ends or starts within `touch_s` of it), joined with
    that missed speech; merged, in time order. Missed speech that touches no region is not in the result."""
    speech, missed = merge(speech), merge(missed)
    joined: list[Interval] = []
    for m_start, m_end in missed:
        for s_start, s_end in speech:
            if m_end >= s_start - touch_s and m_start <= s_end + touch_s:
                joined.append((min(m_start, s_start), max(m_end, s_end)))
    return [(round(s, 3), round(e, 3)) for s, e in merge(joined)]


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
