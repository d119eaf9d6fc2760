"""A contact sheet per video: a grid of sampled frames with their OCR boxes drawn, as one JPEG.

Frames the engine read get green boxes; frames that reused the previous read get orange boxes and
an "=" mark; each tile is labelled with its time. Kept cheap: at most `max_tiles` frames (evenly
chosen), small tiles, and thumbnails are taken while the frames are decoded for OCR anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

READ_COLOUR = (60, 200, 60)  # BGR
REUSED_COLOUR = (0, 160, 255)
FAILED_COLOUR = (40, 40, 230)


def pick_positions(count: int, max_tiles: int) -> list[int]:
    """Up to `max_tiles` positions out of `count`, evenly spread, first and last included."""
    if count <= 0 or max_tiles <= 0:
        return []
    if count <= max_tiles:
        return list(range(count))
    return sorted({round(i * (count - 1) / (max_tiles - 1)) for i in range(max_tiles)}) if max_tiles > 1 else [0]


@dataclass
class ContactSheet:
    """Collects thumbnails of chosen frame positions, then renders the grid."""

    positions: set[int]
    tile_width: int = 160
    columns: int = 6
    thumbnails: dict[int, np.ndarray] = field(default_factory=dict)

    @classmethod
    def for_frames(cls, count: int, *, max_tiles: int = 36, tile_width: int = 160, columns: int = 6) -> ContactSheet:
        return cls(set(pick_positions(count, max_tiles)), tile_width, columns)

    def add(self, position: int, image: np.ndarray) -> None:
        if position not in self.positions:
            return
        height, width = image.shape[:2]
        tile_height = max(1, round(height * self.tile_width / width))
        self.thumbnails[position] = cv2.resize(image, (self.tile_width, tile_height), interpolation=cv2.INTER_AREA)

    def render(self, labels: dict[int, tuple[float, bool, Sequence, bool]]) -> np.ndarray | None:
        """The sheet as a BGR image; `labels[position] = (timestamp_s, read, boxes, failed)`."""
        tiles = []
        for position in sorted(self.thumbnails):
            tile = self.thumbnails[position].copy()
            timestamp, read, boxes, failed = labels.get(position, (0.0, True, [], False))
            colour = FAILED_COLOUR if failed else READ_COLOUR if read else REUSED_COLOUR
            height, width = tile.shape[:2]
            for box in boxes:
                cv2.rectangle(
                    tile,
                    (int(box.x0 * width), int(box.y0 * height)),
                    (int(box.x1 * width), int(box.y1 * height)),
                    colour,
                    2,
                )
            label = f"{timestamp:.1f}s" + ("" if read else " =") + (" !" if failed else "")
            cv2.rectangle(tile, (0, 0), (width, 18), (0, 0, 0), -1)
            cv2.putText(tile, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
            tiles.append(tile)
        if not tiles:
            return None
        tile_height = max(t.shape[0] for t in tiles)
        tiles = [
            t
            if t.shape[0] == tile_height
            else cv2.copyMakeBorder(t, 0, tile_height - t.shape[0], 0, 0, cv2.BORDER_CONSTANT)
            for t in tiles
        ]
        blank = np.zeros_like(tiles[0])
        rows = []
        for start in range(0, len(tiles), self.columns):
            row = tiles[start : start + self.columns]
            row += [blank] * (self.columns - len(row)) if len(tiles) > self.columns else []
            rows.append(np.hstack(row))
        return np.vstack(rows)


def encode_sheet(image: np.ndarray, quality: int = 70) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes()
