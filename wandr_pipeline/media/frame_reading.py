"""Reading a video's sampled frames with an OCR engine, skipping frames whose text did not change.

`read_frames` walks the frames in time order; a `FrameGate` (text-mask similarity) decides which
frames the engine reads, and the others reuse the result of the last frame read. Reads are sent to
the engine in batches (the Cloud Vision engine takes 16 images a request). If a read fails, or reads a line with
low confidence (a caption the engine found hard, which another frame may show better), the next
frames that were going to reuse it are read themselves, until one reads cleanly.

An engine that can read parts of an image (`reads_regions`, the local one) is told to look only at
the strips where the gate saw text, plus the strips where the last whole-frame read found text (text
the gate's mask does not see, e.g. a logo on a mid-tone banner, stays looked at). A frame is read
whole when the gate saw no text-like pixels in it or text over most of it, when it is the first
frame with text, and every `full_read_every`th read, so text that appears where the gate sees none
is still found within a few reads.
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
    whole: bool = True  # the read (or the reused read) looked at the whole frame (False: its text strips)


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
    crop_to_text: bool = True,
    full_read_every: int = 4,
) -> list[FrameOcr]:
    """OCR results for every frame `(frame_index, timestamp_s, load_image)`, in order.

    `config=None` reads every frame. A read with a line under `trust_confidence` is not reused: up to
    `max_rereads` of the frames after it are read too (a failed read: until one succeeds).
    `on_image(position, image)` sees each decoded image once (for contact sheets). The engine's
    `read(images)` returns per image a list of boxes or an exception. `crop_to_text` (with a gate and
    an engine that `reads_regions`) reads frames only where there is text, see the module docstring.
    """
    gate = FrameGate(config) if config is not None else None
    cropping = gate is not None and crop_to_text and getattr(engine, "reads_regions", False)
    results: list[FrameOcr] = []
    sources: dict[int, ImageSource] = {}
    pending: list[tuple[int, np.ndarray, tuple]] = []
    crop = _CropPlanner(full_read_every)

    def flush() -> None:
        if not pending:
            return
        if cropping:
            regions = [crop.regions(rows) for _, _, rows in pending]
            outputs = engine.read([image for _, image, _ in pending], regions=regions)
        else:
            regions = [None] * len(pending)
            outputs = engine.read([image for _, image, _ in pending])
        for (position, _, _), region, output in zip(pending, regions, outputs):
            results[position].whole = region is None
            if isinstance(output, BaseException):
                results[position].error = describe_error(output)
            else:
                results[position].boxes = list(output)
                if region is None:
                    crop.found(results[position].boxes)
        pending.clear()

    for position, (frame_index, timestamp_s, load) in enumerate(frames):
        image = load()
        if on_image is not None:
            on_image(position, image)
        text_rows: tuple = ()
        if gate is None:
            decision_read, score, source = True, None, position
        else:
            decision = gate.decide(image)
            decision_read, score, source = decision.read, decision.similarity, decision.source_position
            text_rows = decision.text_rows
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
            pending.append((position, image, text_rows))
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
            item.boxes, item.error, item.whole = source.boxes, source.error, source.whole
    return results


class _CropPlanner:
    """Which strips of each read frame the engine looks at (None: the whole frame)."""

    MOST_OF_THE_FRAME = 0.5  # text strips covering more than this share of the rows: read it whole
    BOX_MARGIN = 0.02  # rows kept above and below a box found by a whole-frame read (share of the height)

    def __init__(self, full_read_every: int):
        self.full_read_every = max(1, full_read_every)
        self.crops_since_whole = 0
        self.text_seen_whole = False
        self.known_rows: tuple[tuple[float, float], ...] = ()  # text strips of the last whole-frame read

    def regions(self, text_rows: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...] | None:
        whole = (
            not text_rows
            or sum(bottom - top for top, bottom in text_rows) > self.MOST_OF_THE_FRAME
            or not self.text_seen_whole
            or self.crops_since_whole >= self.full_read_every - 1
        )
        if whole:
            self.crops_since_whole = 0
            self.text_seen_whole = self.text_seen_whole or bool(text_rows)
            return None
        self.crops_since_whole += 1
        return tuple(sorted(text_rows + self.known_rows))

    def found(self, boxes) -> None:
        """A whole-frame read's boxes: their rows stay looked at in the cropped reads that follow."""
        self.known_rows = tuple(
            (max(0.0, box.y0 - self.BOX_MARGIN), min(1.0, box.y1 + self.BOX_MARGIN)) for box in boxes
        )


def read_share(results: Sequence[FrameOcr]) -> float:
    """Share of the frames that reached the OCR engine."""
    return sum(r.read for r in results) / len(results) if results else 0.0
