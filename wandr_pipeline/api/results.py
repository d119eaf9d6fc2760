"""A processed video's tables (Parquet partitions) as one JSON-ready dictionary."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from wandr_pipeline.lib.outcomes import OK
from wandr_pipeline.lib.storage import Storage

# Internal locations of media files: not part of the answer.
_POST_HIDDEN = {"video_uri", "status", "error"}


def jsonable(value: Any) -> Any:
    """Dates as ISO text, NaN/inf as null, pyarrow map rows (lists of pairs) left as they are."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _rows(storage: Storage, table: str, key: str) -> list[dict[str, Any]]:
    if not storage.has_partition(table, key):
        return []
    return storage.read_partition(table, key).to_pylist()


def read_result(storage: Storage, key: str) -> dict[str, Any]:
    """Post metadata, transcript segments, on-screen text and the video document of one video."""
    post_rows = _rows(storage, "videos", key)
    post = {k: v for k, v in post_rows[0].items() if k not in _POST_HIDDEN} if post_rows else None

    segments = sorted(
        (r for r in _rows(storage, "transcript_segments", key) if r["status"] == OK), key=lambda r: r["segment_index"]
    )
    transcript_segments = [
        {
            "index": r["segment_index"],
            "start_s": r["start_s"],
            "end_s": r["end_s"],
            "text": r["text"],
            "language": r["language"],
            "avg_logprob": r["avg_logprob"],
            "no_speech_prob": r["no_speech_prob"],
        }
        for r in segments
    ]
    detections = sorted(
        (r for r in _rows(storage, "ocr_text", key) if r["status"] == OK and r["text"]),
        key=lambda r: (r["timestamp_s"], r["box_y0"], r["box_x0"]),
    )

    doc_rows = _rows(storage, "video_documents", key)
    document = dict(doc_rows[0]) if doc_rows else None
    if document is not None:
        statuses = document.get("stage_statuses") or []
        document["stage_statuses"] = dict(statuses) if isinstance(statuses, list) else statuses

    return jsonable(
        {
            "job_id": key,
            "status": "done",
            "post": post,
            "transcript": {
                "language": segments[0]["language"] if segments else None,
                "language_probability": segments[0].get("language_probability") if segments else None,
                "model": segments[0]["model"] if segments else None,
                "text": (document or {}).get("transcript_text"),
                "left_out": (document or {}).get("transcript_left_out"),
                "text_en": (document or {}).get("transcript_en"),
                "segments": transcript_segments,
            },
            "onscreen_text": {
                "engine": detections[0]["engine"] if detections else None,
                "lines": (document or {}).get("onscreen_lines") or [],
                "detections": [
                    {
                        "frame_index": r["frame_index"],
                        "timestamp_s": r["timestamp_s"],
                        "text": r["text"],
                        "confidence": _round(r["confidence"]),
                        "box": [_round(r[name]) for name in ("box_x0", "box_y0", "box_x1", "box_y1")],
                    }
                    for r in detections
                ],
            },
            "document": document,
        }
    )
