"""`ocr_text`: the text on each sampled frame (local RapidOCR by default, or Cloud Vision)."""


import math
import time

from dagster import AssetExecutionContext, AssetIn, BackfillPolicy, asset

from wandr_pipeline.assets._stage import StageRun, failed_videos_check
from wandr_pipeline.assets.transcript import GPU_TAGS
from wandr_pipeline.media.frames import decode_jpeg
from wandr_pipeline.outcomes import EMPTY, FAILED, OK, short_error
from wandr_pipeline.partitions import videos_partitions
from wandr_pipeline.resources import OcrReader, StorageResource
from wandr_pipeline.schemas import OCR_TEXT, status_row
from wandr_pipeline.settings import Settings

_SETTINGS = Settings.from_env()
FRAMES_PER_REQUEST = 16  # frames handed to the engine at once, unless it prefers more (`preferred_batch`)


@asset(
    partitions_def=videos_partitions,
    io_manager_key="warehouse_io_manager",
    metadata={"table": "ocr_text"},
    ins={"sampled_frames": AssetIn()},
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=_SETTINGS.partitions_per_run),
    check_specs=[failed_videos_check("ocr_text")],
    op_tags=GPU_TAGS,
    group_name="videos",
    kinds={"python", "parquet"},
    description="Text lines read on each sampled frame, with boxes and confidence; table `ocr_text`.",
)
def ocr_text(context: AssetExecutionContext, storage: StorageResource, ocr: OcrReader, sampled_frames: dict):
    store = storage.get()
    stage = StageRun(context, "ocr_text", OCR_TEXT)
    engine = None
    frames_read = 0
    busy = 0.0
    billed = [0]  # billable units of the whole run
    for key in stage.keys:
        upstream = sampled_frames[key]
        if stage.skip_unless_usable(key, upstream, "sampled_frames"):
            continue
        if engine is None:
            engine = ocr.get_engine()
        frames = [f for f in upstream.to_pylist() if f["status"] == OK]
        start = time.perf_counter()
        stage.run_one(key, lambda key=key, frames=frames: _read_one(store, engine, frames, billed),
                      empty_reason="no on-screen text found",
                      preview=lambda rows: " / ".join(dict.fromkeys(r["text"] for r in rows if r["text"]))[:160])
        busy += time.perf_counter() - start
        frames_read += len(frames)
    yield from stage.results({
        "engine": engine.name if engine else ocr.engine,
        "frames_read": frames_read,
        "seconds_per_frame": round(busy / frames_read, 3) if frames_read else 0.0,
        # Vision bills per image and feature: the run's total (per video: ocr_text.billable_units).
        "billable_units": billed[0],
    })


def _read_one(store, engine, frames: list[dict], units_total: list[int] | None = None) -> list[dict]:
    rows: list[dict] = []
    units = succeeded = 0
    per_image = int(getattr(engine, "units_per_image", 0))
    batch = max(1, int(getattr(engine, "preferred_batch", FRAMES_PER_REQUEST)))
    for start in range(0, len(frames), batch):
        chunk = frames[start:start + batch]
        images = [decode_jpeg(data) for data in store.read_many([f["image_uri"] for f in chunk])]
        for frame, result in zip(chunk, engine.read(images)):
            base = {"frame_index": frame["frame_index"], "timestamp_s": frame["timestamp_s"], "engine": engine.name,
                    "billable_units": 0}
            if isinstance(result, BaseException):
                rows.append({**base, "status": FAILED, "error": short_error(result)})
                continue
            succeeded += 1
            units += per_image
            for box in result:
                confidence = None if math.isnan(box.confidence) else round(box.confidence, 4)
                rows.append({**base, "text": box.text, "confidence": confidence,
                             "box_x0": box.x0, "box_y0": box.y0, "box_x1": box.x1, "box_y1": box.y1,
                             "status": OK, "error": None})
    if units_total is not None:
        units_total[0] += units
    if rows and not succeeded:
        raise RuntimeError(f"OCR failed on every frame: {rows[0]['error']}")
    if not rows and units:  # billed frames without text: keep the units on an `empty` row
        rows = [status_row(OCR_TEXT, EMPTY, "no on-screen text found", engine=engine.name)]
    if rows:
        rows[0]["billable_units"] = units
    return rows
