"""Captions in scripts the local OCR engine does not know are said to be unread, not passed off as text.

RapidOCR's bundled models read Chinese, Japanese and Latin scripts. A Hebrew/Arabic caption with emoji
came out as `123  7` or as nothing at all; a Korean sign as nothing. Here such captions (drawn with
DejaVu Sans, which has Hebrew and Arabic) and the real images of data/real/images are read by the real
engine: what it cannot read is a box with no text and an `unread_reason`, and no line of the real
images it reads well is flagged.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.paths import REPO
from wandr_pipeline.defs.videos.ocr_text import _rows
from wandr_pipeline.engines.ocr import TextBox
from wandr_pipeline.engines.rapidocr import RapidOcrEngine
from wandr_pipeline.media.frame_reading import FrameOcr
from wandr_pipeline.media.unread_text import NOTHING_RECOGNISED, SeenLine, judge_lines

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
REAL_IMAGES = REPO / "data" / "real" / "images"
needs_font = pytest.mark.skipif(
    not FONT.exists(), reason="DejaVuSans-Bold.ttf missing (apt-get install fonts-dejavu-core)"
)

# Lines of the real images the engine reads well, one per image (all their lines must come back unflagged).
READ_WELL = {
    "easyocr_english.jpg": "Reduce your risk of coronavirus infection:",
    "easyocr_french.jpg": "Palais du LOUVRE",
    "rapidocr_ch_en_num.jpg": "惊喜福利不容错过",
    "rapidocr_japan.jpg": "三星堆の文化財レプリカが大阪・関西万博で展示へ",
    "rapidocr_latin.jpg": "Alphabetum in mundo hodie frequentissime adhibitum est alphabetum Latinum.",
}


@pytest.fixture(scope="module")
def engine():
    return RapidOcrEngine(min_confidence=0.5, use_cuda=False)


def _caption(text: str) -> np.ndarray:
    """A 540x960 frame with `text` as a boxed caption at three quarters of the height (bidi shaped by raqm)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (540, 960), (90, 120, 150))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), 40)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x, y = (540 - (right - left)) // 2, 720
    draw.rectangle((x - 14, y + top - 14, x + right - left + 14, y + bottom + 14), fill=(0, 0, 0))
    draw.text((x, y), text, font=font, fill=(255, 255, 255))
    return cv2.cvtColor(np.array(image), cv2.COLOR_RGB2BGR)


@needs_font
@pytest.mark.parametrize(
    "text",
    [
        "שלום עולם 🎉 مرحبا بالعالم ☀",  # Hebrew, Arabic and emoji: nothing recognised
        "مرحبا بكم في القاهرة",  # Arabic: nothing recognised
        "ברוכים הבאים לתל אביב",  # Hebrew: read as "ユ' n ' D" at 0.60
        "🎉🔥☀✈ ★",  # emoji: read as "*★"
    ],
)
def test_a_caption_in_a_script_the_engine_does_not_know_is_unread(engine, text):
    [boxes] = engine.read([_caption(text)])
    assert boxes, "the caption was dropped without a word"
    assert all(box.text == "" and box.unread_reason.startswith("text seen but") for box in boxes), boxes
    assert all(box.y0 > 0.7 for box in boxes)  # where the caption is
    # the same from a strip of the frame (what the frame gate sends)
    [strip] = engine.read([_caption(text)], regions=[[(0.7, 0.85)]])
    assert strip and all(box.unread_reason for box in strip)


@needs_font
def test_a_caption_the_engine_reads_is_not_flagged(engine):
    [boxes] = engine.read([_caption("WELCOME TO KYOTO ★")])
    assert [(box.text, box.unread_reason) for box in boxes] == [("WELCOME TO KYOTO ★", None)]


@pytest.mark.slow  # about 4 s of CPU: six real images through the engine
def test_the_korean_real_image_is_unread_and_the_others_are_read_without_a_flag(engine):
    images = sorted(REAL_IMAGES.glob("*.jpg"))
    assert {path.name for path in images} == {*READ_WELL, "rapidocr_korean.jpg"}
    results = dict(zip((path.name for path in images), engine.read([cv2.imread(str(path)) for path in images])))
    korean = results.pop("rapidocr_korean.jpg")
    assert korean and all(box.text == "" and box.unread_reason == NOTHING_RECOGNISED for box in korean)
    for name, boxes in results.items():
        assert READ_WELL[name] in [box.text for box in boxes], (name, boxes)
        assert [box for box in boxes if box.unread_reason] == [], name  # no false flag


def _line(x0, y0, x1, y1, text="", confidence=math.nan, scores=(), span=None) -> SeenLine:
    return SeenLine(x0, y0, x1, y1, text=text, confidence=confidence, char_scores=scores, char_span=span)


def test_how_a_line_is_judged():
    read = _line(0, 100, 400, 140, "WELCOME TO KYOTO", 0.99, [1.0] * 14, (4, 396))
    nothing = _line(0, 300, 400, 340)
    unsure = _line(0, 400, 400, 440, "ユ' n ' D", 0.6, [0.25, 0.49, 0.97, 0.48, 0.89], (60, 340))
    partial = _line(0, 500, 400, 540, "D17", 0.75, [0.49, 0.83, 0.92], (190, 400))
    icon = _line(0, 600, 40, 640, "穴", 0.2, [0.2], (2, 38))  # not line-shaped: left to the confidence rule
    beside = _line(420, 305, 600, 335, "nn an", 0.87, [0.9] * 4, (425, 595))  # on the unread line
    reasons = judge_lines([read, nothing, unsure, partial, icon, beside], min_confidence=0.5)
    assert reasons[0] is None and reasons[4] is None
    assert reasons[1] == NOTHING_RECOGNISED
    assert reasons[2].startswith("text seen but not read: 3 of 5 characters below 0.6") and "ユ' n ' D" in reasons[2]
    assert reasons[3].startswith("text seen but only partly read: the characters read span 52%")
    assert reasons[5].startswith("part of a caption line the engine could not read whole") and "nn an" in reasons[5]


def test_an_unread_box_is_a_row_with_no_text_and_its_reason():
    frame = FrameOcr(0, 30, 1.0, True, 0, 30, None)
    frame.boxes = [
        TextBox("WELCOME", 0.99, 0.1, 0.1, 0.9, 0.2),
        TextBox("", math.nan, 0.1, 0.7, 0.9, 0.8, unread_reason=NOTHING_RECOGNISED),
    ]
    read, unread = _rows(frame, "rapidocr")
    assert (read["text"], read["unread_reason"]) == ("WELCOME", None)
    assert (unread["text"], unread["unread_reason"], unread["confidence"]) == (None, NOTHING_RECOGNISED, None)
    assert unread["status"] == "ok" and unread["box_y0"] == 0.7


class _UnreadOnlyEngine:
    """Sees one caption line per frame and reads none of it (what RapidOCR does with a Hebrew caption)."""

    name = "rapidocr"

    def read(self, images, regions=None):
        return [[TextBox("", math.nan, 0.1, 0.7, 0.9, 0.8, unread_reason=NOTHING_RECOGNISED)] for _ in images]


@needs_font
def test_a_video_whose_captions_are_all_unread_keeps_its_rows(tmp_path):
    from wandr_pipeline.defs.resources import CaptionsResource
    from wandr_pipeline.defs.videos.ocr_text import _read_one
    from wandr_pipeline.lib.storage import Storage
    from wandr_pipeline.media.frames import encode_jpeg
    from wandr_pipeline.settings import Settings

    store = Storage(str(tmp_path))
    frames = [
        {
            "frame_index": 30 * i,
            "timestamp_s": float(i),
            "image_uri": store.write_bytes(f"media/url-x/frames/{i}.jpg", encode_jpeg(_caption("שלום"), 90)),
        }
        for i in range(2)
    ]
    captions = CaptionsResource.from_settings(Settings.from_env().captions)
    rows = _read_one(store, _UnreadOnlyEngine(), captions, "url-x", frames, {})
    assert rows and all(r["text"] is None and r["unread_reason"] == NOTHING_RECOGNISED for r in rows)
    assert {r["status"] for r in rows} == {"ok"}  # not "empty: no on-screen text found"
