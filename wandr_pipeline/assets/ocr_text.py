"""`ocr_text`: the text on each sampled frame (local RapidOCR by default)."""


import time

from dagster import AssetExecutionContext, AssetIn, BackfillPolicy, asset

from wandr_pipeline.assets._stage import StageRun, failed_videos_check
from wandr_pipeline.assets.transcript import GPU_TAGS
from wandr_pipeline.media.frames import decode_jpeg
from wandr_pipeline.outcomes import FAILED, OK, short_error
from wandr_pipeline.partitions import videos_partitions
from wandr_pipeline.resources import OcrReader, StorageResource
from wandr_pipeline.schemas import OCR_TEXT
from wandr_pipeline.settings import Settings

_SETTINGS = Settings.from_env()
FRAMES_PER_REQUEST = 16


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
    for key in stage.keys:
        upstream = sampled_frames[key]
        if stage.skip_unless_usable(key, upstream, "sampled_frames"):
            continue
        if engine is None:
            engine = ocr.get_engine()
        frames = [f for f in upstream.to_pylist() if f["status"] == OK]
        start = time.perf_counter()
        stage.run_one(key, lambda key=key, frames=frames: _read_one(store, engine, frames),
                      empty_reason="no on-screen text found",
                      preview=lambda rows: " / ".join(dict.fromkeys(r["text"] for r in rows if r["text"]))[:160])
        busy += time.perf_counter() - start
        frames_read += len(frames)
    yield from stage.results({
        "engine": engine.name if engine else ocr.engine,
        "frames_read": frames_read,
        "seconds_per_frame": round(busy / frames_read, 3) if frames_read else 0.0,
    })


def _read_one(store, engine, frames: list[dict]) -> list[dict]:
    rows: list[dict] = []
    for start in range(0, len(frames), FRAMES_PER_REQUEST):
        chunk = frames[start:start + FRAMES_PER_REQUEST]
        images = [decode_jpeg(store.read_bytes(f["image_uri"])) for f in chunk]
        for frame, result in zip(chunk, engine.read(images)):
            base = {"frame_index": frame["frame_index"], "timestamp_s": frame["timestamp_s"], "engine": engine.name}
            if isinstance(result, BaseException):
                rows.append({**base, "status": FAILED, "error": short_error(result)})
                continue
            for box in result:
                rows.append({**base, "text": box.text, "confidence": round(box.confidence, 4),
                             "box_x0": box.x0, "box_y0": box.y0, "box_x1": box.x1, "box_y1": box.y1,
                             "status": OK, "error": None})
    if rows and all(r["status"] == FAILED for r in rows):
        raise RuntimeError(f"OCR failed on every frame: {rows[0]['error']}")
    return rows
