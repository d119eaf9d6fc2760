"""The interface every OCR engine implements, so the stages that read frames never depend on which one
does: `engines/rapidocr.py` (local, bundled models) or `engines/vision.py` (Google Cloud Vision)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class TextBox:
    text: str
    confidence: float
    # Axis-aligned box, normalised to [0, 1] of the image width/height.
    x0: float
    y0: float
    x1: float
    y1: float
    # Set when the engine saw text here but did not read it (a script it does not know, emoji); `text`
    # is then "" and this says why (media/unread_text.py).
    unread_reason: str | None = None


class OcrEngine(Protocol):
    name: str

    def read(self, images: Sequence[np.ndarray]) -> list[list[TextBox] | BaseException]:
        """Text boxes for each BGR image; a per-image failure comes back as its exception."""
