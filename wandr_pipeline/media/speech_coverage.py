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

Where the decoder skipped speech inside a chunk, the words beside the skipped part are stretched over it
(a sentence's last words "and can fly" skipped, the next sentence's "At that" timed 69.5-71.4 s, 0.86 s
each): they make the gap look shorter than it is, so its second pass starts or ends inside the skipped
words. `widened` moves a gap's edges over such words, for the transcriber to decode them again too.
"""

from __future__ import annotations

from collections.abc import Iterable

Interval = tuple[float, float]

WORD_PAD_S = 0.25  # a word's timestamps are approximate: it covers this much speech either side
MIN_GAP_S = 1.0  # shorter stretches without words are pauses, breaths or a word's tail, not lost speech
STRETCHED_MIN_S = 0.6  # a word at least this long, and longer than
STRETCHED_S_PER_LETTER = 0.12  # this per letter, was stretched over audio it does not hold
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
    speech: Iterable[Interval],
    missed: Iterable[Interval],
    *,
    touch_s: float = TOUCH_S,
    max_missed_s: float = MIN_GAP_S,
) -> list[Interval]:
    """Each `speech` region that `missed` speech shorter than `max_missed_s` touches (ends or starts within
    `touch_s` of it), joined with that missed speech; merged, in time order. Longer missed speech is decoded
    on its own (`uncovered`: it is a gap), apart from the loud neighbour it was missed beside (joined with
    it, a whole quiet sentence after a loud one was lost again); missed speech that touches no region is not
    in the result.
    The regions are taken as the detector cut them (one it split at its maximum length stays two): a
    stretch is one region and what it left out."""
    speech, missed = sorted(speech), [(s, e) for s, e in merge(missed) if e - s < max_missed_s]
    joined: list[Interval] = []
    for m_start, m_end in missed:
        for s_start, s_end in speech:
            if m_end >= s_start - touch_s and m_start <= s_end + touch_s:
                joined.append((min(m_start, s_start), max(m_end, s_end)))
    return [(round(s, 3), round(e, 3)) for s, e in merge(joined)]


def stretched(start: float, end: float, word: str) -> bool:
    """A word timed longer than any reading of it: the aligner stretched it over speech the decoder skipped."""
    letters = sum(c.isalnum() for c in word)
    return end - start > max(STRETCHED_MIN_S, STRETCHED_S_PER_LETTER * letters)


def widened(
    gaps: Iterable[Interval], words: Iterable[tuple[float, float, str]], *, pad_s: float = WORD_PAD_S
) -> list[Interval]:
    """Each gap with its edges moved over the `stretched` words (start, end, text) that border it: the run of
    them right after its end and right before its start; in time order, overlapping ones merged."""
    words = sorted(words)
    out: list[Interval] = []
    for start, end in gaps:
        after = [w for w in words if w[0] >= end - pad_s - 0.01]
        for i, (w_start, w_end, word) in enumerate(after):
            if not stretched(w_start, w_end, word):
                # where the stretched words really are is not known: one word more, timed right, is sure to hold them
                end = max(end, w_end) if i else end
                break
            end = max(end, w_end)
        before = [w for w in words if w[1] <= start + pad_s + 0.01]
        for i, (w_start, w_end, word) in enumerate(reversed(before)):
            if not stretched(w_start, w_end, word):
                start = min(start, w_start) if i else start
                break
            start = min(start, w_start)
        out.append((round(start, 3), round(end, 3)))
    # overlapping ones are one stretch (decoded once); gaps that only touch stay apart (missed speech is
    # decoded apart from its neighbours)
    joined: list[list[float]] = []
    for start, end in sorted(out):
        if joined and start < joined[-1][1]:
            joined[-1][1] = max(joined[-1][1], end)
        else:
            joined.append([start, end])
    return [(s, e) for s, e in joined]


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
