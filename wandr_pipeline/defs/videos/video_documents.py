"""`video_documents`: one row per video joining post metadata, the transcript and on-screen text.

The on-screen text comes from the caption spans (OCR reads merged across frames); `clean_text` merges
speech and captions in time order for downstream extraction (`media/document_text.py`).
"""

import datetime as dt

from wandr_pipeline.defs.videos.contact_sheets import stored_sheet_metadata
from wandr_pipeline.defs.videos.stage import StageWorker, first_row
from wandr_pipeline.lib.outcomes import (
    EMPTY,
    FAILED,
    OK,
    SKIPPED,
    NotApplicable,
    PermanentError,
    short_error,
    upstream_status,
)
from wandr_pipeline.media.document_text import TimedText, merge_speech_and_captions, split_glued_words, vocabulary
from wandr_pipeline.media.text import distinct_lines


class VideoDocumentsWorker(StageWorker):
    asset = "video_documents"
    kinds = frozenset({"parquet"})
    description = (
        "One row per video: post metadata, full transcript, caption spans, on-screen text, and speech + "
        "captions merged into one clean text; table `video_documents`."
    )
    # A failed download's document (status failed, the reason) is the video's record: the lake and
    # the planner follow documents, so every video's is materialised.
    materializes_failed_videos = True

    def process_one(self, key: str, inputs) -> None:
        tables = {name: inputs[name][key] for name in self.stage().inputs}
        self.run.run_one(
            key,
            lambda: [
                build_document(
                    tables["raw_video"],
                    tables["audio"],
                    tables["transcript"],
                    tables["sampled_frames"],
                    tables["ocr_text"],
                    tables["caption_spans"],
                )
            ],
            preview=lambda rows: (rows[0]["transcript_text"] or rows[0]["onscreen_text"] or "")[:160],
        )
        if upstream_status(tables["ocr_text"])[0] in (OK, EMPTY):  # the sheet its OCR drew, next to the document
            try:
                self.run.extra[key] = stored_sheet_metadata(self.store, key)
            except Exception as exc:  # noqa: BLE001 - a contact sheet is a view, never a reason to fail the video
                self.run.log.debug(f"{key}: contact sheet not read: {short_error(exc)}")


def build_document(video, audio, transcript, frames, ocr, spans=None) -> dict:
    """Merge one video's stage outputs (pyarrow tables) into its document row."""
    statuses = {
        "raw_video": upstream_status(video),
        "audio": upstream_status(audio),
        "transcript": upstream_status(transcript),
        "sampled_frames": upstream_status(frames),
        "ocr_text": upstream_status(ocr),
    }
    if spans is not None:
        statuses["caption_spans"] = upstream_status(spans)
    if statuses["raw_video"][0] == SKIPPED:  # no raw_video partition (see WarehouseIOManager.load_input)
        raise NotApplicable(f"raw_video skipped: {statuses['raw_video'][1]}")
    if statuses["raw_video"][0] != OK:
        raise PermanentError(f"raw_video {statuses['raw_video'][0]}: {statuses['raw_video'][1]}")
    post = first_row(video)
    transcript_rows = transcript.to_pylist()
    segments = [r for r in transcript_rows if r["status"] == OK]
    segments.sort(key=lambda r: r["segment_index"])
    lines = [r for r in ocr.to_pylist() if r["status"] == OK and r["text"]]
    lines.sort(key=lambda r: (r["timestamp_s"], r["box_y0"], r["box_x0"]))
    span_rows = [r for r in spans.to_pylist() if r["status"] == OK and r["text"]] if spans is not None else []
    span_rows.sort(key=lambda r: (r["start_s"], r["box_y0"], r["box_x0"]))
    # glued OCR words are split where the video's own words cover them exactly
    # (not hashtags: they glue words themselves, and the fewest-words split would prefer them)
    vocab = vocabulary([post.get("title"), post.get("description"), *(r["text"] for r in segments)])
    vocab |= {w for w in vocabulary(r["text"] for r in span_rows) if len(w) < 8}  # not the glued tokens themselves
    for row in span_rows:
        row["text"] = split_glued_words(row["text"], vocab)
    onscreen = (
        distinct_lines(r["text"] for r in span_rows) if spans is not None else distinct_lines(r["text"] for r in lines)
    )
    clean = merge_speech_and_captions(
        [TimedText(r["start_s"], r["end_s"], r["text"], "speech") for r in segments],
        [TimedText(r["start_s"], r["end_s"], r["text"], "caption") for r in span_rows],
    )
    problems = [f"{stage} {status}: {error}" for stage, (status, error) in statuses.items() if status == FAILED]
    return {
        "source_url": post["source_url"],
        "platform": post["platform"],
        "title": post["title"],
        "uploader": post["uploader"],
        "description": post["description"],
        "hashtags": post["hashtags"],
        "upload_date": post["upload_date"],
        "duration_s": post["duration_s"],
        "language": segments[0]["language"] if segments else None,
        "language_probability": segments[0]["language_probability"] if segments else None,
        "transcript_text": " ".join(r["text"] for r in segments).strip() or None,
        "onscreen_lines": onscreen,
        "onscreen_text": "\n".join(onscreen) or None,
        # the model of the transcript this document was built from, also when its text was left out (suspect)
        "whisper_model": next((r["model"] for r in transcript_rows if r.get("model")), None),
        "ocr_engine": lines[0]["engine"] if lines else None,
        "stage_statuses": [(stage, status) for stage, (status, _) in statuses.items()],
        "processed_at": dt.datetime.now(dt.UTC),
        "caption_spans": [
            {
                name: r[name]
                for name in ("text", "start_s", "end_s", "confidence", "box_x0", "box_y0", "box_x1", "box_y1")
            }
            for r in span_rows
        ],
        "clean_text": clean or None,
        "status": OK,
        "error": "; ".join(problems) or None,
    }
