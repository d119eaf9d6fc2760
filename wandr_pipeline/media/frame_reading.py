"""Reading a video's sampled frames with an OCR engine, skipping frames whose text did not change.

`read_frames` walks the frames in time order; a `FrameGate` (text-mask similarity) decides which
frames the engine reads, and the others reuse the result of the last frame read. Reads are sent to
the engine in batches (the Cloud Vision engine takes 16 images a request). If a read fails, or reads a line with
low confidence (a caption the engine found hard, which another frame may show better), the next
frames that were going to reuse it are read themselves, until one reads cleanly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from wandr_pipeline.media.frame_gate import FrameGate, FrameGateConfig

DEFAULT_FRAME_GATE = FrameGateConfig()


@dataclass
class FrameOcr:
    """The OCR outcome of one sampled frame."""

    position: int  # 0-based order among the video's sampled frames
    frame_index: int
    timestamp_s: float
    read: bool  # the engine read this frame (False: result reused)
    source_position: int  # the frame whose result applies (itself when read)
    source_frame_index: int
    similarity: float | None  # text-mask similarity to the last read frame (None: first frame)
    boxes: list = field(default_factory=list)  # engine TextBox objects
    error: str | None = None  # the read (or the reused read) failed


ImageSource = Callable[[], np.ndarray]


def read_frames(
    frames: Iterable[tuple[int, float, ImageSource]],
    engine,
    *,
    config: FrameGateConfig | None = DEFAULT_FRAME_GATE,
    batch_size: int = 16,
    trust_confidence: float = 0.8,
    max_rereads: int = 2,
    on_image: Callable[[int, np.ndarray], None] | None = None,
    describe_error: Callable[[BaseException], str] = str,
) -> list[FrameOcr]:
    """OCR results for every frame `(frame_index, timestamp_s, load_image)`, in order.

    `config=None` reads every frame. A read with a line under `trust_confidence` is not reused: up to
    `max_rereads` of the frames after it are read too (a failed read: until one succeeds).
    `on_image(position, image)` sees each decoded image once (for contact sheets). The engine's
    `read(images)` returns per image a list of boxes or an exception.
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
        results.append(
            FrameOcr(
                position,
                frame_index,
                timestamp_s,
                decision_read,
                source,
                results[source].frame_index if source != position else frame_index,
                score,
            )
        )
        sources[position] = load
        if decision_read:
            pending.append((position, image))
            if len(pending) >= batch_size:
                flush()
    flush()

    # A failed or unsure read is not reused: the frames that were to reuse it are read in turn, until
    # one reads cleanly (the rest of the run then reuses that one). An unsure read (a hard caption)
    # gets at most `max_rereads` more tries; a failed one as many as it takes.
    def untrusted(source: FrameOcr) -> bool:
        return source.error is not None or any(box.confidence < trust_confidence for box in source.boxes)

    chains: dict[int, list[FrameOcr]] = {}
    for item in results:
        if not item.read:
            chains.setdefault(item.source_position, []).append(item)
    pending_chains = [(source, waiting, 0) for source, waiting in chains.items() if untrusted(results[source])]
    while pending_chains:
        batch = pending_chains[:batch_size]
        pending_chains = pending_chains[batch_size:]
        outputs = engine.read([sources[waiting[0].position]() for _, waiting, _ in batch])
        for (source, waiting, tries), output in zip(batch, outputs):
            head, rest = waiting[0], waiting[1:]
            head.read, head.source_position, head.source_frame_index = True, head.position, head.frame_index
            if isinstance(output, BaseException):
                head.error = describe_error(output)
            else:
                head.boxes, head.error = list(output), None
            for item in rest:
                item.source_position, item.source_frame_index = head.position, head.frame_index
            unsure_only = results[source].error is None and head.error is None
            if rest and untrusted(head) and not (unsure_only and tries + 1 >= max_rereads):
                pending_chains.append((head.position, rest, tries + 1))
    for item in results:
        if not item.read:
            source = results[item.source_position]
            item.boxes, item.error = source.boxes, source.error
    return results


def read_share(results: Sequence[FrameOcr]) -> float:
    """Share of the frames that reached the OCR engine."""
    return sum(r.read for r in results) / len(results) if results else 0.0
