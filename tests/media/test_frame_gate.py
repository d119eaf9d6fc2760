"""The frame gate in front of OCR, on crafted frames: captions over a moving, textured background."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from wandr_pipeline.engines.ocr import TextBox
from wandr_pipeline.media.contact_sheet import ContactSheet, pick_positions
from wandr_pipeline.media.frame_gate import FrameGate, FrameGateConfig, signature, similarity, text_mask
from wandr_pipeline.media.frame_reading import read_frames, read_share

W, H = 540, 960
CONFIG = FrameGateConfig()


def _scenery(seed: int = 7, shapes: int = 60) -> np.ndarray:
    """A large colourful 'photo': blurred colour noise with hard-edged boxes, bars and a few outlines."""
    rng = np.random.default_rng(seed)
    big = cv2.resize(rng.random((40, 24, 3)).astype(np.float32), (W + 400, H + 400), interpolation=cv2.INTER_CUBIC)
    big = (big * 200 + 25).astype(np.uint8)
    for _ in range(shapes):
        x, y = int(rng.integers(0, W + 360)), int(rng.integers(0, H + 360))
        w, h = int(rng.integers(8, 90)), int(rng.integers(8, 120))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.rectangle(big, (x, y), (x + w, y + h), colour, -1 if rng.random() < 0.8 else 3)
    return big


SCENERY = _scenery()


def frame(t: float, captions=()) -> np.ndarray:
    """The scenery panned by `t` seconds (40 px/s across, 25 px/s down) with captions drawn on it.

    A caption is (text, vertical centre as a share of the height, font scale[, style]): style "box"
    (white on a 60 % black box, the common short-video style) or "outline" (white, thick black edge).
    """
    dx, dy = int(40 * t) % 400, int(25 * t) % 400
    image = SCENERY[dy : dy + H, dx : dx + W].copy()
    for text, y, scale, *style in captions:
        style = style[0] if style else "box"
        thickness = max(2, int(2 * scale))
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, thickness)
        x0, y0 = (W - tw) // 2, int(H * y + th / 2)
        if style == "box":
            pad = int(0.5 * th)
            region = image[y0 - th - pad : y0 + pad, x0 - pad : x0 + tw + pad]
            region[:] = (region * 0.4).astype(np.uint8)
        else:
            cv2.putText(image, text, (x0, y0), cv2.FONT_HERSHEY_DUPLEX, scale, (0, 0, 0), thickness + 6, cv2.LINE_AA)
        cv2.putText(image, text, (x0, y0), cv2.FONT_HERSHEY_DUPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return image


TITLE = ("FREE ENTRY", 0.45, 1.6)


def sim(a: np.ndarray, b: np.ndarray) -> float:
    return similarity(signature(a, CONFIG), signature(b, CONFIG), CONFIG)


def test_same_caption_over_a_moving_background_is_similar():
    a, b = frame(1.0, [TITLE]), frame(2.0, [TITLE])
    # the frames themselves differ a lot: a whole-frame difference would call this a new frame
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 20
    assert sim(a, b) >= CONFIG.threshold


def test_the_text_mask_keeps_the_caption_and_little_of_the_background():
    image = frame(1.0, [TITLE])
    mask = text_mask(image, CONFIG)
    scale = mask.shape[0] / H
    band = mask[int((0.45 - 0.04) * H * scale) : int((0.45 + 0.04) * H * scale)]
    assert band.sum() > 0.6 * mask.sum()  # most mask pixels are the caption's
    assert text_mask(frame(1.0), CONFIG).sum() < 0.2 * mask.sum()  # the scenery alone is nearly empty


@pytest.mark.parametrize("style", ["box", "outline"])
def test_replaced_caption_in_the_same_place_and_style_is_different(style):
    a = frame(1.0, [(*TITLE, style)])
    b = frame(2.0, [("OPEN DAILY", 0.45, 1.6, style)])
    assert sim(a, b) < CONFIG.threshold


@pytest.mark.parametrize("style", ["box", "outline"])
def test_new_small_line_under_a_big_caption_that_stays_is_different(style):
    big = ("PASTEIS DE BELEM", 0.3, 1.5, style)
    a = frame(1.0, [big])
    b = frame(2.0, [big, ("2 EUR", 0.8, 0.8, style)])
    assert sim(a, b) < CONFIG.threshold


@pytest.mark.parametrize("style", ["box", "outline"])
def test_caption_gone_or_appearing_is_different(style):
    caption = (*TITLE, style)
    assert sim(frame(1.0, [caption]), frame(2.0)) < CONFIG.threshold
    assert sim(frame(1.0), frame(2.0, [caption])) < CONFIG.threshold


def test_frames_without_text_are_similar_despite_the_motion():
    assert sim(frame(1.0), frame(3.0)) >= CONFIG.threshold


def _script(style: str = "box"):
    """12 sampled frames: none, A x4, B x3 (same place and style as A), A + a small line x2, none x2."""
    a = (*TITLE, style)
    b = ("OPEN DAILY", 0.45, 1.6, style)
    small = ("RUA AUGUSTA 24", 0.8, 0.8, style)
    states = [[]] + [[a]] * 4 + [[b]] * 3 + [[a, small]] * 2 + [[]] * 2
    return [frame(float(t), captions) for t, captions in enumerate(states)]


CHANGES = [0, 1, 5, 8, 10]  # positions in _script() where the text on screen changes


@pytest.mark.parametrize("style", ["box", "outline"])
def test_gate_reads_every_change_and_little_else(style):
    gate = FrameGate(CONFIG)
    decisions = [gate.decide(image) for image in _script(style)]
    reads = [i for i, d in enumerate(decisions) if d.read]
    assert set(CHANGES) <= set(reads)  # no caption change is skipped
    assert len(reads) <= len(CHANGES) + 2  # and most repeated frames are
    reused = [d for d in decisions if not d.read]
    assert all(d.similarity >= CONFIG.threshold for d in reused)


def test_gate_forces_a_read_after_max_reuse():
    gate = FrameGate(FrameGateConfig(max_reuse=2))
    reads = [i for i, d in enumerate(gate.decide(frame(float(t), [TITLE])) for t in range(7)) if d.read]
    assert reads == [0, 3, 6]


def test_threshold_bounds():
    with pytest.raises(ValueError):
        FrameGateConfig(threshold=1.5)
    gate = FrameGate(FrameGateConfig(threshold=0.0, max_reuse=0))  # 0: every frame reuses the first read
    assert [gate.decide(image).read for image in _script()].count(True) == 1


class FakeEngine:
    """Reads the caption 'state' from a side table instead of pixels; can fail on chosen calls."""

    name = "fake"

    def __init__(self, texts: dict[int, str], fail_on: set[int] = frozenset()):
        self.texts, self.fail_on, self.calls = texts, set(fail_on), []

    def read(self, images):
        out = []
        for image in images:
            key = int(image[0, 0, 0])  # the test stamps the frame number into pixel (0, 0)
            self.calls.append(key)
            if key in self.fail_on:
                self.fail_on.discard(key)
                out.append(RuntimeError(f"engine down on {key}"))
            else:
                text = self.texts.get(key)
                out.append([TextBox(text, 0.99, 0.1, 0.4, 0.9, 0.5)] if text else [])
        return out


def _stamped(images):
    frames = []
    for i, image in enumerate(images):
        image = image.copy()
        image[0, 0] = i
        frames.append((i * 30, float(i), lambda image=image: image))
    return frames


def test_read_frames_reuses_results_and_rereads_after_a_failed_read():
    images = _script()
    texts = {i: ("FREE ENTRY" if 1 <= i <= 4 else "OPEN DAILY" if 5 <= i <= 7 else None) for i in range(12)}
    engine = FakeEngine(texts, fail_on={5})
    seen = []
    results = read_frames(
        _stamped(images), engine, config=CONFIG, batch_size=4, on_image=lambda position, image: seen.append(position)
    )
    assert seen == list(range(12))
    # read: 0, 1, 5 (fails), 8, 10; frame 6 was to reuse 5, so it is read itself, and 7 reuses 6
    assert sorted(engine.calls) == [0, 1, 5, 6, 8, 10]
    assert results[5].error and not results[6].error and results[6].read
    assert not results[7].read and results[7].source_frame_index == 180
    assert [b.text for b in results[7].boxes] == ["OPEN DAILY"]
    assert [b.text for b in results[3].boxes] == ["FREE ENTRY"] and not results[3].read
    assert results[3].source_frame_index == 30
    assert read_share(results) == pytest.approx(6 / 12)


def test_an_unsure_read_is_tried_again_on_the_next_frames_a_few_times():
    class Unsure(FakeEngine):
        def read(self, images):
            out = super().read(images)
            return [[TextBox(b.text, 0.65, b.x0, b.y0, b.x1, b.y1) for b in boxes] for boxes in out]

    texts = {i: "FREE ENTRY" for i in range(12)}
    images = [frame(float(t), [TITLE]) for t in range(12)]
    engine = Unsure(texts)
    read_frames(_stamped(images), engine, config=FrameGateConfig(max_reuse=0), max_rereads=2)
    assert engine.calls == [0, 1, 2]  # the read of 0 is unsure: 1 and 2 are read too, then no more
    engine = FakeEngine(texts)
    read_frames(_stamped(images), engine, config=FrameGateConfig(max_reuse=0))
    assert engine.calls == [0]


def test_read_frames_without_a_gate_reads_everything():
    engine = FakeEngine({})
    results = read_frames(_stamped(_script()[:5]), engine, config=None)
    assert engine.calls == [0, 1, 2, 3, 4] and all(r.read for r in results)


def test_contact_sheet_draws_chosen_frames():
    assert pick_positions(100, 5) == [0, 25, 50, 74, 99] and pick_positions(3, 36) == [0, 1, 2]
    sheet = ContactSheet.for_frames(8, max_tiles=4, tile_width=100, columns=2)
    for position in range(8):
        sheet.add(position, frame(float(position), [TITLE]))
    boxes = [TextBox("FREE ENTRY", 0.99, 0.1, 0.4, 0.9, 0.5)]
    image = sheet.render({p: (float(p), p % 2 == 0, boxes, False) for p in range(8)})
    assert image.shape[1] == 200 and image.shape[0] == 2 * round(H * 100 / W)
    # the read frame's box is drawn in green, the reused one's in orange
    tile = image[: image.shape[0] // 2, :100]
    assert (np.abs(tile.astype(int) - (60, 200, 60)).sum(axis=2) < 30).sum() > 50


def _dark_scene(seed: int, sign: tuple[int, int] | None = None) -> np.ndarray:
    """A dim street at night (grey ~35 with noise); optionally a sign: (letter grey, panel grey)."""
    image = np.full((H, W, 3), 35, np.uint8) + np.random.default_rng(seed).integers(0, 12, (H, W, 3), dtype=np.uint8)
    if sign:
        letters, panel = sign
        cv2.rectangle(image, (60, 400), (480, 520), (panel,) * 3, -1)
        cv2.putText(image, "RUE DE RIVOLI", (80, 475), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (letters,) * 3, 3, cv2.LINE_AA)
    return image


@pytest.mark.parametrize("sign", [(20, 205), (60, 205), (90, 205), (170, 70)])
def test_a_sign_entering_a_dark_scene_is_read_whatever_its_polarity(sign):
    # dark letters on a light panel have the grey of the dark scene before it: the panel tells them apart
    assert sim(_dark_scene(1), _dark_scene(2, sign)) < CONFIG.threshold
    assert sim(_dark_scene(1, sign), _dark_scene(2, sign)) >= CONFIG.threshold  # and a sign that stays is reused
