"""Where the first pass cuts speech into chunks: at the longest pause that keeps a chunk within its limit.

faster-whisper's batched pipeline merges the detector's speech regions in order until the next one would
pass the chunk limit, so a chunk ends wherever the limit happens to fall, often between two words of one
sentence (a Portuguese track: "acabou a corrida | logo após" decoded as "acabou ocorrido ao novo após").
The end of a sentence is nearly always the longest pause around it, so cutting there instead keeps a
sentence that fits a chunk in one chunk, with the words before and after it as its context.

Pure interval arithmetic on seconds: the regions come from the voice activity detector *without* its
padding (padding makes neighbours touch and hides how long the pause between them was).
"""

from __future__ import annotations

Interval = tuple[float, float]

PAD_S = 0.4  # silence kept either side of a chunk's speech, as the detector's own `speech_pad_ms`


def pause_cut_chunks(
    regions: list[Interval], limit_s: float, duration_s: float, pad_s: float = PAD_S
) -> list[Interval]:
    """Contiguous chunks (start, end) of audio, each holding whole speech regions and at most `limit_s` long
    where its regions allow, cut in the middle of the longest pause within the limit (the later one of
    equals); a region longer than the limit is a chunk of its own. Leading and trailing silence beyond
    `pad_s` is left out. `regions`: unpadded speech; `duration_s`: the clip's length."""
    regions = sorted((s, e) for s, e in regions if e > s)
    chunks: list[Interval] = []
    first, floor = 0, 0.0  # floor: where the previous chunk ended
    while first < len(regions):
        start = max(floor, regions[first][0] - pad_s)

        def end_after(k: int) -> float:
            end = min(regions[k][1] + pad_s, duration_s)
            return min(end, (regions[k][1] + regions[k + 1][0]) / 2) if k + 1 < len(regions) else end

        last = first
        while last + 1 < len(regions) and end_after(last + 1) - start <= limit_s:
            last += 1
        if last + 1 < len(regions) and last > first:
            last = max(range(first, last + 1), key=lambda k: (regions[k + 1][0] - regions[k][1], k))
        end = end_after(last)
        chunks.append((round(start, 3), round(end, 3)))
        floor, first = end, last + 1
    return chunks
