"""`ocr_text`: the text on each sampled frame (local RapidOCR by default, or Cloud Vision).

Frames whose on-screen text looks like the last frame read (text-mask similarity, see
`media/similarity.py`) do not reach the engine: they reuse its result, and their rows say so
(`reused`, `source_frame_index`, `similarity`). Each video also gets a contact sheet of its frames
with the OCR boxes drawn (`media/<video_key>/contact_sheet.jpg`), shown at full size in that video's
partition metadata (defs/videos/contact_sheets.py).
"""

import math
import time

from wandr_pipeline.defs.resources import CaptionsResource, OcrResource
from wandr_pipeline.defs.videos.contact_sheets import sheet_metadata, sheet_path
from wandr_pipeline.defs.videos.stage import StageRun, StageWorker
from wandr_pipeline.lib.outcomes import EMPTY, FAILED, OK, short_error
from wandr_pipeline.lib.schemas import OCR_TEXT, status_row
from wandr_pipeline.media.contact_sheet import ContactSheet, encode_sheet
from wandr_pipeline.media.frame_reading import FrameOcr, read_frames
from wandr_pipeline.media.frames import decode_jpeg

FRAMES_PER_REQUEST = 16  # frames handed to the engine at once, unless it prefers more (`preferred_batch`)


class OcrTextWorker(StageWorker):
    asset = "ocr_text"
    kinds = frozenset({"python", "parquet"})
    description = (
        "Text lines read on each sampled frame, with boxes and confidence; frames whose text did not "
        "change reuse the last read; table `ocr_text`."
    )
    resources = frozenset({"storage", "ocr", "captions"})

    def __init__(self, run: StageRun, resources):
        super().__init__(run, resources)
        self.ocr: OcrResource = resources.ocr
        self.captions: CaptionsResource = resources.captions
        gate = self.captions.frame_gate_config()
        settings = {
            "min_confidence": self.ocr.min_confidence,
            "similarity_threshold": gate.threshold if gate else None,
        }
        run.configure(parameters={"engine": self.ocr.engine, **settings}, row_values=settings)
        self.engine = None  # loaded in the stage's thread, on the first video with frames
        self.frames_total = self.frames_read = 0
        self.busy = 0.0
        self.billed = [0]  # billable units of the whole run

    def process_one(self, key: str, inputs) -> None:
        upstream = inputs["sampled_frames"][key]
        if self.run.skip_unless_usable(key, upstream, "sampled_frames"):
            return
        if self.engine is None:
            self.engine = self.ocr.get_engine()
        engine = self.engine
        frames = sorted((f for f in upstream.to_pylist() if f["status"] == OK), key=lambda f: f["timestamp_s"])
        step = next((f["every_n_frames"] for f in frames if f.get("every_n_frames")), None)
        start, billed_before = time.perf_counter(), self.billed[0]
        outcome: dict = {}
        self.run.run_one(
            key,
            lambda: [
                {**row, "every_n_frames": step}
                for row in _read_one(self.store, engine, self.captions, key, frames, outcome, self.billed)
            ],
            empty_reason="no on-screen text found",
            preview=lambda rows: " / ".join(dict.fromkeys(r["text"] for r in rows if r.get("text")))[:160],
        )
        self.busy += time.perf_counter() - start
        self.frames_total += len(frames)
        self.frames_read += outcome.get("read", 0)
        self.run.extra[key] = {
            "frames": len(frames),
            "frames_read": outcome.get("read", 0),
            "billable_units": self.billed[0] - billed_before,
            **(sheet_metadata(outcome["sheet_uri"], outcome.get("sheet_jpeg")) if outcome.get("sheet_uri") else {}),
        }

    def run_metadata(self) -> dict:
        total, read = self.frames_total, self.frames_read
        return {
            "engine": self.engine.name if self.engine else self.ocr.engine,
            "frames": total,
            "frames_read": read,
            "frames_reused": total - read,
            "share_read": round(read / total, 3) if total else 0.0,
            "seconds_per_frame": round(self.busy / total, 3) if total else 0.0,
            # Vision bills per image and feature: the run's total (per video: ocr_text.billable_units).
            "billable_units": self.billed[0],
        }


def _frame_sources(store, frames: list[dict], batch: int):
    """(frame_index, timestamp_s, load) per frame; images are fetched a batch at a time (concurrent on GCS)."""
    cache: dict[int, bytes] = {}

    def loader(position: int):
        def load():
            if position not in cache:  # fetch this frame's batch, drop the previous one
                chunk = range(position, min(len(frames), position + batch))
                cache.clear()
                cache.update(zip(chunk, store.read_many([frames[i]["image_uri"] for i in chunk])))
            return decode_jpeg(cache[position])

        return load

    def reload(position: int):  # a frame read again later (after a failed or unsure read)
        return lambda: decode_jpeg(store.read_bytes(frames[position]["image_uri"]))

    for position, frame in enumerate(frames):
        yield frame["frame_index"], frame["timestamp_s"], _Once(loader(position), reload(position))


class _Once:
    """The first call loads through the batch cache, later calls fetch the frame alone."""

    def __init__(self, first, again):
        self.first, self.again, self.used = first, again, False

    def __call__(self):
        if self.used:
            return self.again()
        self.used = True
        return self.first()


def _read_one(
    store,
    engine,
    captions: CaptionsResource,
    key: str,
    frames: list[dict],
    outcome: dict,
    units_total: list[int] | None = None,
) -> list[dict]:
    batch = max(1, int(getattr(engine, "preferred_batch", FRAMES_PER_REQUEST)))
    sheet = ContactSheet.for_frames(len(frames), max_tiles=captions.contact_sheet_frames)
    results = read_frames(
        _frame_sources(store, frames, batch),
        engine,
        config=captions.frame_gate_config(),
        batch_size=batch,
        on_image=sheet.add,
        describe_error=short_error,
    )
    outcome["read"] = sum(r.read for r in results)
    succeeded = sum(1 for r in results if r.read and r.error is None)
    units = succeeded * int(getattr(engine, "units_per_image", 0))
    if units_total is not None:
        units_total[0] += units
    rows = [row for result in results for row in _rows(result, engine.name)]
    if captions.contact_sheet_frames:
        try:
            outcome.update(_write_sheet(store, key, sheet, results))
        except Exception:  # noqa: BLE001 - a contact sheet is a view, never a reason to fail the video
            pass
    if rows and not succeeded:
        raise RuntimeError(f"OCR failed on every frame: {next(r['error'] for r in rows if r.get('error'))}")
    if not any(r.get("text") or r.get("unread_reason") for r in rows):  # text seen but not read is kept
        if not units:
            return []  # recorded as `empty`
        rows = [status_row(OCR_TEXT, EMPTY, "no on-screen text found", engine=engine.name)]  # keeps the units
    rows[0]["billable_units"] = units
    return rows


def _rows(result: FrameOcr, engine_name: str) -> list[dict]:
    base = {
        "frame_index": result.frame_index,
        "timestamp_s": result.timestamp_s,
        "engine": engine_name,
        "billable_units": 0,
        "reused": not result.read,
        "source_frame_index": result.source_frame_index,
        "similarity": round(result.similarity, 4) if result.similarity is not None else None,
    }
    if result.error is not None:
        return [{**base, "status": FAILED, "error": result.error}]
    if not result.boxes:  # one row with no text says the frame was looked at and shows none
        return [{**base, "status": OK, "error": None}]
    return [
        {
            **base,
            "text": box.text or None,
            "unread_reason": getattr(box, "unread_reason", None),
            "confidence": None if math.isnan(box.confidence) else round(box.confidence, 4),
            "box_x0": box.x0,
            "box_y0": box.y0,
            "box_x1": box.x1,
            "box_y1": box.y1,
            "status": OK,
            "error": None,
        }
        for box in result.boxes
    ]


def _write_sheet(store, key: str, sheet: ContactSheet, results: list[FrameOcr]) -> dict:
    image = sheet.render({r.position: (r.timestamp_s, r.read, r.boxes, r.error is not None) for r in results})
    if image is None:
        return {}
    jpeg = encode_sheet(image)
    return {"sheet_uri": store.write_bytes(sheet_path(store, key), jpeg), "sheet_jpeg": jpeg}
