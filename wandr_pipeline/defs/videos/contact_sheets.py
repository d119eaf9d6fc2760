"""A video's contact sheet in the Dagster UI, at full size, on its `ocr_text` and `video_documents` partitions.

The sheet (`media/<video_key>/contact_sheet.jpg`, media/contact_sheet.py) is what an operator checks
OCR by. Dagster OSS's webserver serves no file of ours (its only file routes are captured logs, sent
as downloads, and notebooks), a browser refuses to open a `data:` URL from a link, and a path is not
clickable; what it does show is a markdown entry, and an image in it is shown by the entry's
"[Show Markdown]" dialog at its own size. So the sheet goes into the partition's metadata as markdown
with the whole JPEG inline: the file as written, not a thumbnail (a sheet is at most
`WANDR_CONTACT_SHEET_FRAMES` tiles of 160 px, 6 across: 960 px wide, up to about 120 kB, in two
events per video; docs/BENCHMARKS.md "Failed videos as missing partitions ..." has the bytes).
"""

from __future__ import annotations

import base64
from typing import Any

from dagster import MetadataValue

from wandr_pipeline.lib.storage import Storage

SHEET_NAME = "contact_sheet.jpg"
LEGEND = "Green boxes: frames the OCR engine read; orange ('='): frames that reused the last read."


def sheet_path(store: Storage, key: str) -> str:
    return f"{store.media_dir(key)}/{SHEET_NAME}"


def sheet_metadata(uri: str, jpeg: bytes | None) -> dict[str, Any]:
    """`contact_sheet` (the image, inline at full size) and `contact_sheet_uri` (where the file is)."""
    metadata: dict[str, Any] = {"contact_sheet_uri": MetadataValue.path(uri)}
    if jpeg:
        image = base64.b64encode(jpeg).decode()
        metadata["contact_sheet"] = MetadataValue.md(f"{LEGEND}\n\n![contact sheet](data:image/jpeg;base64,{image})")
    return metadata


def stored_sheet_metadata(store: Storage, key: str) -> dict[str, Any]:
    """The metadata of the sheet the video's OCR left in the storage root; {} when there is none."""
    path = sheet_path(store, key)
    jpeg = store.read_existing([path]).get(path)
    return sheet_metadata(store.path(path), jpeg) if jpeg else {}
