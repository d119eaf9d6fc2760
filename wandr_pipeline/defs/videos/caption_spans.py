"""`caption_spans`: the on-screen text as caption lines with the time each was on screen.

OCR reads of the sampled frames are merged across frames (`media/captions.py`): OCR variants of one
line become one span, text in different screen regions stays apart, low-confidence and
one-character noise is dropped. Writes `media/<video_key>/captions.srt` and `captions.vtt`.
"""

from dagster import AssetExecutionContext

from wandr_pipeline.defs.resources import CaptionsResource, StorageResource
from wandr_pipeline.defs.videos.stage import StageRun, first_row, stage_asset
from wandr_pipeline.lib.outcomes import EMPTY, OK
from wandr_pipeline.media.captions import build_spans, reads_from_rows
from wandr_pipeline.media.subtitles import caption_cues, to_srt, to_vtt


@stage_asset(
    kinds={"python", "parquet"},
    description="Caption lines with the time they were on screen (OCR reads merged across frames), plus "
    "captions.srt/.vtt per video; table `caption_spans`.",
)
def caption_spans(
    context: AssetExecutionContext,
    storage: StorageResource,
    captions: CaptionsResource,
    ocr_text: dict,
    raw_video: dict,
    sampled_frames: dict,
):
    store = storage.get()
    rules = captions.rules()
    thresholds = {"min_line_confidence": rules.min_confidence, "min_span_confidence": rules.min_span_confidence}
    stage = StageRun(context, store=store, parameters=thresholds, row_values=thresholds)
    spans_total = 0
    for key in stage.keys:
        if stage.skip_unless_usable(key, ocr_text[key], "ocr_text", usable=(OK, EMPTY)):
            continue
        rows = ocr_text[key].to_pylist()
        duration = first_row(raw_video[key]).get("duration_s")
        frame = first_row(sampled_frames[key])
        aspect = frame["width"] / frame["height"] if frame.get("width") and frame.get("height") else None
        stage.run_one(
            key,
            lambda key=key, rows=rows, duration=duration, aspect=aspect: _spans_one(
                store, key, rows, rules, duration, aspect
            ),
            empty_reason="no caption text",
            preview=lambda rows: " / ".join(r["text"] for r in rows)[:160],
        )
        spans_total += stage.tables[key].num_rows if stage.summary[-1]["status"] == OK else 0
    yield from stage.results({"spans": spans_total})


def _spans_one(store, key: str, rows: list[dict], rules, duration_s, aspect) -> list[dict]:
    frames, reads = reads_from_rows(rows)
    spans = build_spans(frames, reads, rules, duration_s=duration_s, aspect=aspect)
    engine = next((r["engine"] for r in rows if r.get("engine")), None)
    out = [{**span.as_row(), "engine": engine, "status": OK, "error": None} for span in spans]
    media = store.media_dir(key)
    cues = caption_cues(out)
    store.write_bytes(f"{media}/captions.srt", to_srt(cues).encode("utf-8"))
    store.write_bytes(f"{media}/captions.vtt", to_vtt(cues).encode("utf-8"))
    return out
