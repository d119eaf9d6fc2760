"""Reading a video's sampled frames with an OCR engine, skipping frames whose text did not change.

`read_frames` walks the frames in time order; a `FrameGate` (text-mask similarity) decides which
frames the engine reads, and the others reuse the result of the last frame read. Reads are sent to
the engine in batches (the Cloud Vision engine takes 16 images a request). If a read fails, the
frames that were going to reuse it are read themselves, so one failure costs no more than itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from wandr_pipeline.media.similarity import FrameGate, SimilarityConfig


@dataclass
class FrameOcr:
    """The OCR outcome of one sampled frame."""

    position: int                 # 0-based order among the video's sampled frames
    frame_index: int
    timestamp_s: float
    read: bool                    # the engine read this frame (False: result reused)
    source_position: int          # the frame whose result applies (itself when read)
    source_frame_index: int
    similarity: float | None      # text-mask similarity to the last read frame (None: first frame)
    boxes: list = field(default_factory=list)   # engine TextBox objects
    error: str | None = None      # the read (or the reused read) failed


ImageSource = Callable[[], np.ndarray]


def read_frames(frames: Iterable[tuple[int, float, ImageSource]], engine, *,
                config: SimilarityConfig | None = SimilarityConfig(), batch_size: int = 16,
                on_image: Callable[[int, np.ndarray], None] | None = None,
                describe_error: Callable[[BaseException], str] = str) -> list[FrameOcr]:
    """OCR results for every frame `(frame_index, timestamp_s, load_image)`, in order.

    `config=None` reads every frame. `on_image(position, image)` sees each decoded image once
    (for contact sheets). The engine's `read(images)` returns per image a list of boxes or an exception.
    """
    gate = FrameGate(config) if config is not None else None
    results: list[FrameOcr] = []
    sources: dict[int, ImageSource] = {}
    pending: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        outputs = engine.read([image for _, image in pending])
        for (position, _), output in zip(pending, outputs):
            if isinstance(output, BaseException):
                results[position].error = describe_error(output)
            else:
                results[position].boxes = list(output)
        pending.clear()

    for position, (frame_index, timestamp_s, load) in enumerate(frames):
        image = load()
        if on_image is not None:
            on_image(position, image)
        if gate is None:
            decision_read, score, source = True, None, position
        else:
            decision = gate.decide(image)
            decision_read, score, source = decision.read, decision.similarity, decision.source_position
        results.append(FrameOcr(position, frame_index, timestamp_s, decision_read, source,
                                results[source].frame_index if source != position else frame_index, score))
        sources[position] = load
        if decision_read:
            pending.append((position, image))
            if len(pending) >= batch_size:
                flush()
    flush()

    # frames whose source read failed are read themselves
    retry = [r for r in results if not r.read and results[r.source_position].error is not None]
    for start in range(0, len(retry), batch_size):
        chunk = retry[start:start + batch_size]
        outputs = engine.read([sources[r.position]() for r in chunk])
        for item, output in zip(chunk, outputs):
            item.read, item.source_position, item.source_frame_index = True, item.position, item.frame_index
            if isinstance(output, BaseException):
                item.error = describe_error(output)
            else:
                item.boxes = list(output)
    for item in results:
        if not item.read:
            source = results[item.source_position]
            item.boxes, item.error = source.boxes, source.error
    return results


def read_share(results: Sequence[FrameOcr]) -> float:
    """Share of the frames that reached the OCR engine."""
    return sum(r.read for r in results) / len(results) if results else 0.0
