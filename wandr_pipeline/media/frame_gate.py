"""Skip frames whose on-screen text looks like the last OCR'd frame's, before they reach the OCR engine.

Whole-frame differences and perceptual hashes see the moving background, not the caption: a caption
that stays for five seconds over a panning shot looks like five different frames. What stays put is
the text itself, so each frame is reduced to a *text mask* on a downscaled grey image:

1. stroke pixels: thin bright strokes much brighter than their surroundings (white-hat) that are
   themselves bright or sit on a dark panel, and thin dark strokes much darker than their
   surroundings (black-hat) that are themselves dark or sit on a light panel -- what burned-in
   captions and signs are made of (white or yellow letters with an outline, shadow or dark box;
   dark or grey letters on a light box or street sign). Smooth areas, step edges and mid-tone
   textures of the background drop out;
2. glyph-like groups: connected stroke components of letter size and fill (not hollow outlines, not
   solid blocks such as windows) that sit in a row of at least `min_glyphs` of similar height (or
   are a wide word drawn as one component). Isolated specks, pairs of bars, long lines and hollow
   shapes of the background drop out.

Two frames are compared where either has text-like pixels: a pixel there *changed* when its grey
level differs by more than `grey_change` between the frames (a caption that stays keeps its pixels,
even where the mask of one frame lost a letter to the background; a different caption in the same
place and style does not), or when the level of the stroke's surroundings (the panel: grey closing
for dark strokes, opening for bright ones) differs by more than `contrast`: dark letters on a light
street sign that enters a dark scene have the grey of the scene, but not its surroundings. Changed
pixels are counted per horizontal band (captions are horizontal lines; a second set of bands is
shifted by half a band so a small line cut by a band edge counts whole): a band *differs* when that
count is over `min_changed_pixels` (noise) and over `1 - threshold` of the band's text pixels. The
frame similarity is the lowest band similarity, so one new short line anywhere (a price under a big
title that stays) is enough to send the frame to OCR: a big unchanged caption cannot hide a small
new one.

`FrameGate` applies this to a stream of frames: it answers "read" or "reuse the last read", and
forces a read after `max_reuse` reused frames in a row as a safety net. With a "read" it says where
the mask saw text (`text_rows`: horizontal strips), so an engine can look only there
(`media/frame_reading.py` decides when that is safe).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class FrameGateConfig:
    threshold: float = 0.80  # frames at least this similar reuse the last OCR result
    long_side: int = 960  # the mask is computed on the frame shrunk to this long side (if larger)
    stroke_px: int = 13  # white/black-hat kernel (px at long_side): wider than a letter's stroke
    contrast: int = 100  # grey-level lead a stroke pixel needs over its surroundings (0-255)
    bright_level: int = 190  # a bright stroke pixel is at least this grey level ...
    dark_level: int = 60  # ... a dark one at most this
    light_panel: int = 160  # ... or a dark stroke whose surroundings are at least this light (a sign)
    dark_panel: int = 90  # ... or a bright stroke whose surroundings are at most this dark (a text box)
    glyph_max_height: float = 0.08  # tallest glyph component, as a share of the mask height
    min_glyphs: int = 3  # glyph components a text line needs (or one wide word component)
    grey_change: int = 40  # grey-level difference that makes a text pixel a changed one
    bands: int = 24  # horizontal bands compared separately
    min_changed_pixels: int = 200  # fewer changed pixels than this in a band is noise (~3 small letters)
    max_reuse: int = 8  # read at least every (max_reuse + 1)th frame; 0 = never force

    def __post_init__(self):
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError("similarity threshold must be within [0, 1]")


@dataclass(frozen=True)
class TextSignature:
    """A frame's text mask and grey image, at the comparison size."""

    mask: np.ndarray
    grey: np.ndarray
    dark: np.ndarray | None = None  # the part of `mask` made of dark strokes
    closing: np.ndarray | None = None  # surroundings of dark strokes (grey closing)
    opening: np.ndarray | None = None  # surroundings of bright strokes (grey opening)

    @property
    def pixels(self) -> int:
        return int(self.mask.sum())


def small_grey(image: np.ndarray, config: FrameGateConfig = FrameGateConfig()) -> np.ndarray:
    """The image in grey levels, shrunk so its long side is at most `config.long_side`."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    height, width = grey.shape[:2]
    scale = config.long_side / max(height, width)
    if scale < 1:
        grey = cv2.resize(
            grey, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
        )
    return grey


def text_mask(
    image: np.ndarray, config: FrameGateConfig = FrameGateConfig(), *, grey: np.ndarray | None = None
) -> np.ndarray:
    """Boolean mask of text-like pixels (glyph-shaped, high-contrast strokes) of a BGR or grey image."""
    return _strokes(small_grey(image, config) if grey is None else grey, config)[0]


def _strokes(gray: np.ndarray, config: FrameGateConfig):
    """(text mask, its dark-stroke part, grey closing, grey opening) of a grey image."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (config.stroke_px, config.stroke_px))
    bright = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, kernel)
    dark = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel)
    wide = gray.astype(np.int16)
    # bright and dark strokes are grouped apart: white letters and their dark outline (or box) then
    # stay separate components, and a background shape touching one of them spoils only that one.
    # Either polarity counts on its own level or on a panel of the other (grey letters on a sign).
    bright_strokes = (bright >= config.contrast) & (
        (gray >= config.bright_level) | (wide - bright <= config.dark_panel)
    )
    dark_strokes = (dark >= config.contrast) & ((gray <= config.dark_level) | (wide + dark >= config.light_panel))
    dark_mask = glyph_groups(dark_strokes, config)
    return glyph_groups(bright_strokes, config) | dark_mask, dark_mask, wide + dark, wide - bright


def glyph_groups(strokes: np.ndarray, config: FrameGateConfig = FrameGateConfig()) -> np.ndarray:
    """Keep the stroke components that look like letters on a text line."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(strokes.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(strokes.shape, bool)
    x, y, w, h, area = (stats[1:, i].astype(np.int64) for i in range(5))
    fill = area / np.maximum(1, w * h)
    # letters are strokes: neither hollow outlines (low fill) nor solid blocks such as windows (a
    # near-full box that is not thin); "I", "l", "-" are solid but thin and stay
    solid_block = (fill > 0.85) & (np.minimum(w, h) >= 0.4 * np.maximum(w, h))
    glyph = (h >= 4) & (h <= config.glyph_max_height * strokes.shape[0]) & (area >= 8) & (fill >= 0.2) & ~solid_block
    keep = glyph & (w >= 2.5 * h) & (h >= 8) & (fill >= 0.3) & (fill <= 0.8)  # a whole word as one component
    ids = np.flatnonzero(glyph)
    gx, gy, gw, gh = x[ids], y[ids], w[ids], h[ids]
    parent = list(range(len(ids)))  # union-find over "same text line" neighbours

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for start in range(0, len(ids), 512):  # pairwise tests in blocks: bounded memory on busy frames
        rows = slice(start, start + 512)
        v_overlap = np.minimum((gy + gh)[rows, None], (gy + gh)[None, :]) - np.maximum(gy[rows, None], gy[None, :])
        gap = np.maximum(gx[None, :] - (gx + gw)[rows, None], gx[rows, None] - (gx + gw)[None, :])
        ratio = gh[None, :] / gh[rows, None]
        neighbour = (
            (v_overlap >= 0.5 * np.minimum(gh[rows, None], gh[None, :]))
            & (gap <= 1.5 * np.maximum(gh[rows, None], gh[None, :]))
            & (ratio >= 0.5)
            & (ratio <= 2.0)
        )
        for i, j in zip(*np.nonzero(neighbour)):
            a, b = root(start + int(i)), root(int(j))
            if a != b:
                parent[a] = b
    groups = np.array([root(i) for i in range(len(ids))], dtype=np.int64)
    if len(ids):
        sizes = np.bincount(groups, minlength=len(ids))
        keep[ids[sizes[groups] >= config.min_glyphs]] = True
    lookup = np.concatenate([[False], keep])
    return lookup[labels]


def signature(image: np.ndarray, config: FrameGateConfig = FrameGateConfig()) -> TextSignature:
    grey = small_grey(image, config)
    mask, dark, closing, opening = _strokes(grey, config)
    return TextSignature(mask, grey.astype(np.int16), dark, closing, opening)


def band_similarities(a: TextSignature, b: TextSignature, config: FrameGateConfig = FrameGateConfig()) -> list[float]:
    """Per horizontal band: 1.0 when the text pixels match (or the change is below the noise floor)."""
    if a.mask.shape != b.mask.shape:
        return [0.0]
    changed = (a.mask | b.mask) & (np.abs(a.grey - b.grey) > config.grey_change)
    if a.dark is not None and b.dark is not None:  # the panel behind the strokes came or went
        dark = a.dark | b.dark
        changed |= dark & (np.abs(a.closing - b.closing) > config.contrast)
        changed |= (a.mask | b.mask) & ~dark & (np.abs(a.opening - b.opening) > config.contrast)
    rows = a.mask.shape[0]
    # per-row counts, then summed per band (cheaper than slicing 2-D arrays per band); a second grid
    # shifted by half a band, so a small line cut by a band edge still counts whole in one of them
    changed_rows = np.concatenate([[0], np.cumsum(changed.sum(axis=1))])
    total_rows = np.concatenate([[0], np.cumsum(a.mask.sum(axis=1) + b.mask.sum(axis=1))])
    step = rows / config.bands
    starts = [round(i * step) for i in range(config.bands)] + [round((i + 0.5) * step) for i in range(config.bands - 1)]
    result = []
    for start in starts:
        end = min(rows, round(start + step))
        c = int(changed_rows[end] - changed_rows[start])
        t = int(total_rows[end] - total_rows[start])
        result.append(1.0 if c < config.min_changed_pixels or t == 0 else max(0.0, 1.0 - c / t))
    return result


def similarity(a: TextSignature, b: TextSignature, config: FrameGateConfig = FrameGateConfig()) -> float:
    """0-1: how alike the on-screen text of two frames looks (lowest band similarity)."""
    return min(band_similarities(a, b, config))


def text_rows(mask: np.ndarray, margin: float = 0.025, merge: float = 0.06) -> tuple[tuple[float, float], ...]:
    """The horizontal strips (top, bottom as shares of the height) that hold the mask's text pixels,
    each widened by `margin` on both sides; strips closer than `merge` become one."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return ()
    height = mask.shape[0]
    breaks = np.flatnonzero(np.diff(rows) > (merge + 2 * margin) * height)
    tops = np.concatenate([[rows[0]], rows[breaks + 1]])
    bottoms = np.concatenate([rows[breaks], [rows[-1]]]) + 1
    return tuple(
        (max(0.0, float(top) / height - margin), min(1.0, float(bottom) / height + margin))
        for top, bottom in zip(tops, bottoms)
    )


@dataclass(frozen=True)
class GateDecision:
    read: bool  # True: send to OCR; False: reuse the result of `source_position`
    similarity: float | None  # to the last read frame (None for the first frame)
    source_position: int  # position (in the stream) of the frame whose OCR result applies
    text_rows: tuple[tuple[float, float], ...] = ()  # a read frame's strips with text-like pixels


class FrameGate:
    """Decides, frame by frame in time order, which frames the OCR engine must read."""

    def __init__(self, config: FrameGateConfig = FrameGateConfig()):
        self.config = config
        self._last: TextSignature | None = None
        self._last_position = -1
        self._reused = 0
        self._position = -1

    def decide(self, image: np.ndarray) -> GateDecision:
        self._position += 1
        sig = signature(image, self.config)
        if self._last is None:
            return self._read(sig, None)
        score = similarity(self._last, sig, self.config)
        forced = self.config.max_reuse > 0 and self._reused >= self.config.max_reuse
        if score >= self.config.threshold and not forced:
            self._reused += 1
            return GateDecision(False, score, self._last_position)
        return self._read(sig, score)

    def _read(self, sig: TextSignature, score: float | None) -> GateDecision:
        self._last, self._last_position, self._reused = sig, self._position, 0
        return GateDecision(True, score, self._position, text_rows(sig.mask))

    def forget(self) -> None:
        """The last read failed: the next frame must be read."""
        self._last = None
