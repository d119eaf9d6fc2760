"""Reading frames only where the gate saw text: which strips the engine is told to look at, and when it
must look at the whole frame."""

from __future__ import annotations

import pytest

from tests.media.test_frame_gate import CONFIG, TITLE, FakeEngine, _script, _stamped, frame
from wandr_pipeline.media.frame_gate import FrameGate, text_mask, text_rows
from wandr_pipeline.media.frame_reading import read_frames


class RegionEngine(FakeEngine):
    """The fake engine, told which strips to look at: records them per call."""

    reads_regions = True

    def __init__(self, texts):
        super().__init__(texts)
        self.regions = {}

    def read(self, images, regions=None):
        for image, region in zip(images, regions or [None] * len(images)):
            self.regions[int(image[0, 0, 0])] = region
        return super().read(images)


def _inside(strips, top, bottom):
    return any(a <= top and bottom <= b for a, b in strips)


def test_text_rows_are_the_strips_of_the_caption_lines():
    big, small = ("PASTEIS DE BELEM", 0.3, 1.5), ("2 EUR", 0.8, 0.8)
    rows = text_rows(text_mask(frame(1.0, [big, small]), CONFIG))
    assert len(rows) == 2
    assert _inside(rows, 0.28, 0.32) and _inside(rows, 0.79, 0.81)
    assert sum(b - a for a, b in rows) < 0.25  # most of the frame is left out
    assert text_rows(text_mask(frame(1.0), CONFIG)) == ()
    decision = FrameGate(CONFIG).decide(frame(1.0, [TITLE]))
    assert decision.read and _inside(decision.text_rows, 0.43, 0.47)


def test_reads_look_only_at_the_text_strips_after_a_whole_frame_read_found_text():
    texts = {i: "FREE ENTRY" for i in range(1, 10)}
    engine = RegionEngine(texts)
    results = read_frames(_stamped(_script()), engine, config=CONFIG, batch_size=1)
    read = [r.position for r in results if r.read]
    assert engine.regions[0] is None  # no text seen: the whole frame
    assert engine.regions[1] is None  # the first frame with text: the whole frame
    cropped = [p for p in read if engine.regions[p] is not None]
    assert cropped, "no read looked at the text strips only"
    for position in cropped:
        assert not results[position].whole
        strips = engine.regions[position]
        assert _inside(strips, 0.43, 0.47)  # the gate's caption line
        assert _inside(strips, 0.38, 0.52)  # the rows the last whole-frame read found a box in
    assert engine.regions[read[-1]] is None  # the caption gone: no text strips, the whole frame


@pytest.mark.parametrize("every", [1, 2, 3])
def test_every_nth_read_looks_at_the_whole_frame(every):
    # the caption changes on every frame: each one is read
    images = [frame(float(t), [("OPEN DAILY" if t % 2 else "FREE ENTRY", 0.45, 1.6)]) for t in range(12)]
    engine = RegionEngine({i: "FREE ENTRY" for i in range(12)})
    read_frames(_stamped(images), engine, config=CONFIG, full_read_every=every, batch_size=1)
    assert len(engine.regions) == 12
    wholes = [p for p, region in sorted(engine.regions.items()) if region is None]
    assert wholes == list(range(0, 12, every))


def test_no_cropping_when_asked_or_without_a_gate():
    for kwargs in ({"config": CONFIG, "crop_to_text": False}, {"config": None}):
        engine = RegionEngine({i: "FREE ENTRY" for i in range(12)})
        results = read_frames(_stamped(_script()), engine, **kwargs)
        assert all(region is None for region in engine.regions.values())
        assert all(r.whole for r in results if r.read)
