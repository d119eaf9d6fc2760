"""How much audio Whisper's encoder is shown per chunk: the chunk and a margin of silence, not always 30 s.

faster-whisper pads every chunk's features to Whisper's 30 s window (3000 frames) before the encoder, so a
10 s chunk costs as much as a 30 s one, and the encoder's attention grows with the square of the frames:
on the project's 2-core CPU, per window in batches of 8, `base` took 2.7 s for 30 s of frames, 1.5 s for
20 s, 0.5 s for 10 s; the encoder was most of the transcription's time. CTranslate2's encoder takes
shorter inputs, and what lies past the chunk is padding anyway, so cutting it changes what the model sees
only by how much silence follows the speech. Some must: Whisper learned on windows where speech that runs
to the window's edge goes on beyond it, and with no silence after the chunk `base` lost words at chunk
ends (English WER 0.07-0.08 -> up to 0.14 on the shuffled tracks); 5 s of margin still lost some, 7-10 s
kept the full window's quality (docs/BENCHMARKS.md, issue 27). A batch of only short chunks (a 2-3 s
clip, a short stretch of the second pass) gets the whole window: shown the chunk and 7 s, or anything short
of 30 s, `base` stopped after the first words of a 2 s sentence ("Mend the coat before you go out" ->
"men the coat"), and such a batch costs little either way.
"""

from __future__ import annotations

import math

import numpy as np

FRAMES_PER_SECOND = 100  # Whisper's log-mel features: one frame per 10 ms
WINDOW_FRAMES = 3000  # Whisper's full 30 s window
FULL_WINDOW_BELOW_S = 5.0  # a batch whose chunks are all shorter sees the full window


def window_frames(durations_s, margin_s: float | None) -> int:
    """Frames to show the encoder for a batch of chunks this long: the longest, plus `margin_s` of the
    padding after it, at most the full window; `margin_s` None, or only chunks shorter than
    `FULL_WINDOW_BELOW_S`: the full window."""
    longest = max((float(d) for d in durations_s), default=0.0)
    if margin_s is None or longest < FULL_WINDOW_BELOW_S:
        return WINDOW_FRAMES
    return min(WINDOW_FRAMES, math.ceil((longest + margin_s) * FRAMES_PER_SECOND))


def trimmed(features: np.ndarray, chunks_metadata: list[dict], margin_s: float | None) -> np.ndarray:
    """A batch of padded features (batch, mels, 3000) cut to `window_frames` of its chunks."""
    frames = window_frames([meta["duration"] for meta in chunks_metadata], margin_s)
    return features[..., :frames] if frames < features.shape[-1] else features
