"""`caption_spans`: the on-screen text as caption lines with the time each was on screen.

OCR reads of the sampled frames are merged across frames (`media/captions.py`): OCR variants of one
line become one span, text in different screen regions stays apart, low-confidence and
one-character noise is dropped. Writes `media/<video_key>/captions.srt` and `captions.vtt`.
"""

from wandr_pipeline.defs.videos.stage import StageRun, StageWorker, first_row
from wandr_pipeline.lib.outcomes import EMPTY, OK
from wandr_pipeline.media.captions import build_spans, reads_from_rows
from wandr_pipeline.media.subtitles import caption_cues, to_srt, to_vtt


class CaptionSpansWorker(StageWorker):
    asset = "caption_spans"
    kinds = frozenset({"python", "parquet"})
    description = (
        "Caption lines with the time they were on screen (OCR reads merged across frames), plus "
        "captions.srt/.vtt per video; table `caption_spans`."
    )
    resources = frozenset({"storage", "captions"})

    def __init__(self, run: StageRun, resources):
        super().__init__(run, resources)
        self.rules = resources.captions.rules()
        thresholds = {
            "min_line_confidence": self.rules.min_confidence,
            "min_span_confidence": self.rules.min_span_confidence,
        }
        run.configure(parameters=thresholds, row_values=thresholds)
        self.spans_total = 0

    def process_one(self, key: str, inputs) -> None:
        ocr = inputs["ocr_text"][key]
        if self.run.skip_unless_usable(key, ocr, "ocr_text", usable=(OK, EMPTY)):
            return
        rows = ocr.to_pylist()
        duration = first_row(inputs["raw_video"][key]).get("duration_s")
        frame = first_row(inputs["sampled_frames"][key])
        aspect = frame["width"] / frame["height"] if frame.get("width") and frame.get("height") else None
        unread = sum(1 for row in rows if row.get("unread_reason"))
        self.run.run_one(
            key,
            lambda: _spans_one(self.store, key, rows, self.rules, duration, aspect),
            empty_reason="no caption text"
            + (f" read: {unread} line(s) of text were seen but not read (ocr_text.unread_reason)" if unread else ""),
            preview=lambda rows: " / ".join(r["text"] for r in rows)[:160],
        )
        outcome = self.run.outcomes.outcome(key)
        self.spans_total += outcome.rows if outcome and outcome.status == OK else 0

    def run_metadata(self) -> dict:
        return {"spans": self.spans_total}


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
