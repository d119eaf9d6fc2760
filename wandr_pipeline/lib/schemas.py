"""The explicit pyarrow schema of every analyst table (documented in README "Tables").

`video_key` is not stored inside the files: it is the hive partition folder
(`warehouse/<table>/video_key=<key>/`), so readers of the table folder get it as a column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

# Every stage table's outcome columns (lib/outcomes.py). `retryable`: True only on a `failed` row whose
# failure was passing (a re-run may succeed), False on every other row; null on rows written before the
# column existed.
_STATUS = [
    pa.field("status", pa.string(), nullable=False),
    pa.field("error", pa.string()),
    pa.field("retryable", pa.bool_()),
]

# One item of a post made of several (a picture, or a carousel's video) in the post's one video.
POST_ITEM_STRUCT = pa.struct(
    [
        pa.field("kind", pa.string()),  # picture | video
        pa.field("first_frame", pa.int64()),  # the index of its first frame in the post's video
        pa.field("frames", pa.int64()),
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
    ]
)

VIDEOS = pa.schema(
    [
        pa.field("source_url", pa.string(), nullable=False),
        pa.field("download_url", pa.string()),
        pa.field("platform", pa.string()),
        pa.field("post_id", pa.string()),
        pa.field("title", pa.string()),
        pa.field("uploader", pa.string()),
        pa.field("uploader_id", pa.string()),
        pa.field("description", pa.string()),
        pa.field("hashtags", pa.list_(pa.string())),
        pa.field("upload_date", pa.date32()),
        pa.field("duration_s", pa.float64()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("fps", pa.float64()),
        pa.field("has_audio", pa.bool_()),
        pa.field("has_video", pa.bool_()),
        pa.field("bytes", pa.int64()),
        pa.field("sha256", pa.string()),
        pa.field("video_uri", pa.string()),
        pa.field("downloaded_at", pa.timestamp("us", tz="UTC")),
        *_STATUS,
        # issue 25: a failed download's stable name (private, rate_limited, ...: engines/ytdlp_refusals.py)
        pa.field("error_kind", pa.string()),
        # issue 25: what the platforms' extractors say about the post (null where the extractor does not)
        pa.field("uploader_name", pa.string()),
        pa.field("upload_time", pa.timestamp("us", tz="UTC")),
        pa.field("music_title", pa.string()),
        pa.field("music_artist", pa.string()),
        pa.field("view_count", pa.int64()),
        pa.field("like_count", pa.int64()),
        pa.field("comment_count", pa.int64()),
        pa.field("share_count", pa.int64()),
        pa.field("location", pa.string()),
        # video | photo_post | carousel: a picture post's video is its pictures, one frame each (media/slideshow.py)
        pa.field("media_type", pa.string()),
        # where each item of a picture post or carousel lies in its video (media/slideshow.py); null: a video
        pa.field("post_items", pa.list_(POST_ITEM_STRUCT)),
    ]
)

AUDIO = pa.schema(
    [
        pa.field("audio_uri", pa.string()),
        pa.field("duration_s", pa.float64()),
        pa.field("sample_rate", pa.int32()),
        pa.field("channels", pa.int32()),
        *_STATUS,
    ]
)

TRANSCRIPT_SEGMENTS = pa.schema(
    [
        pa.field("segment_index", pa.int32()),
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
        pa.field("text", pa.string()),
        pa.field("avg_logprob", pa.float64()),
        pa.field("no_speech_prob", pa.float64()),
        pa.field("language", pa.string()),
        pa.field("language_probability", pa.float64()),
        pa.field("model", pa.string()),
        *_STATUS,
        pa.field("caption_hints", pa.string()),  # the caption text shown to Whisper (issue 6); null: none
        # the decoding settings of the run that wrote the row (issue 13): which backfill made it
        pa.field("beam_size", pa.int32()),
        pa.field("batch_size", pa.int32()),
        pa.field("vad", pa.bool_()),
        pa.field("hint_mode", pa.string()),
        # issue 14: speech that no decoded word covered is decoded again; quality flags per segment
        pa.field("decode_pass", pa.int32()),  # 1: first pass; 2: second pass over uncovered speech
        pa.field("compression_ratio", pa.float64()),
        pa.field("word_probability", pa.float64()),  # mean probability of the segment's words
        pa.field("quality", pa.string()),  # good | low_confidence | repeated
        pa.field("speech_s", pa.float64()),  # the video's detected speech, seconds (same on every row)
        pa.field("speech_coverage", pa.float64()),  # share of it that decoded words cover (same on every row)
        # issue 27: the trusted speech in English when some was in another language (WHISPER_TRANSLATE)
        pa.field("transcript_en", pa.string()),
    ]
)

# One row per decoded word (issue 14), written by the `transcript` asset next to its segments.
TRANSCRIPT_WORDS = pa.schema(
    [
        pa.field("segment_index", pa.int32()),
        pa.field("word_index", pa.int32()),  # position in the video's transcript, from 0
        pa.field("word", pa.string()),
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
        pa.field("probability", pa.float64()),
        pa.field("decode_pass", pa.int32()),
    ]
)

FRAMES = pa.schema(
    [
        pa.field("frame_index", pa.int64()),
        pa.field("timestamp_s", pa.float64()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("image_uri", pa.string()),
        pa.field("every_n_frames", pa.int32()),
        *_STATUS,
    ]
)

OCR_TEXT = pa.schema(
    [
        pa.field("frame_index", pa.int64()),
        pa.field("timestamp_s", pa.float64()),
        pa.field("text", pa.string()),
        pa.field("confidence", pa.float64()),
        pa.field("box_x0", pa.float32()),
        pa.field("box_y0", pa.float32()),
        pa.field("box_x1", pa.float32()),
        pa.field("box_y1", pa.float32()),
        pa.field("engine", pa.string()),
        *_STATUS,
        # Billable OCR units (Cloud Vision: one per image and feature) spent on this video, on its first
        # row only (0 on the others), so SUM(billable_units) over any rows counts each video once.
        pa.field("billable_units", pa.int32()),
        # frame skipping (issue 6): a frame whose text looks like the last read frame's reuses its result
        pa.field("reused", pa.bool_()),  # True: copied from `source_frame_index`, not read
        pa.field("source_frame_index", pa.int64()),  # the frame the engine read for this row
        pa.field("similarity", pa.float64()),  # text-mask similarity to the last read frame
        # the settings of the run that wrote the row (issue 13)
        pa.field("min_confidence", pa.float64()),
        pa.field("every_n_frames", pa.int32()),
        pa.field("similarity_threshold", pa.float64()),  # null: frame skipping off
        # text seen but not read (a script the engine does not know, emoji): `text` is null and this says
        # why (media/unread_text.py); null on every row the engine read
        pa.field("unread_reason", pa.string()),
    ]
)

# One row per caption line on screen over a span of time (issue 6): OCR reads merged across frames.
CAPTION_SPANS = pa.schema(
    [
        pa.field("span_index", pa.int32()),
        pa.field("text", pa.string()),
        pa.field("start_s", pa.float64()),  # estimated appearance (halfway from the previous sampled frame)
        pa.field("end_s", pa.float64()),  # estimated disappearance
        pa.field("first_seen_s", pa.float64()),  # first sampled frame showing it
        pa.field("last_seen_s", pa.float64()),  # last sampled frame showing it
        pa.field("frames_seen", pa.int32()),
        pa.field("confidence", pa.float64()),  # mean OCR confidence of its reads
        pa.field("box_x0", pa.float32()),
        pa.field("box_y0", pa.float32()),
        pa.field("box_x1", pa.float32()),
        pa.field("box_y1", pa.float32()),
        pa.field("variants", pa.list_(pa.string())),  # other spellings the OCR read
        pa.field("engine", pa.string()),
        *_STATUS,
        # the merging thresholds of the run that wrote the row (issue 13)
        pa.field("min_line_confidence", pa.float64()),
        pa.field("min_span_confidence", pa.float64()),
    ]
)

CAPTION_SPAN_STRUCT = pa.struct(
    [
        pa.field("text", pa.string()),
        pa.field("start_s", pa.float64()),
        pa.field("end_s", pa.float64()),
        pa.field("confidence", pa.float64()),
        pa.field("box_x0", pa.float32()),
        pa.field("box_y0", pa.float32()),
        pa.field("box_x1", pa.float32()),
        pa.field("box_y1", pa.float32()),
    ]
)

VIDEO_DOCUMENTS = pa.schema(
    [
        pa.field("source_url", pa.string()),
        pa.field("platform", pa.string()),
        pa.field("title", pa.string()),
        pa.field("uploader", pa.string()),
        pa.field("description", pa.string()),
        pa.field("hashtags", pa.list_(pa.string())),
        pa.field("upload_date", pa.date32()),
        pa.field("duration_s", pa.float64()),
        pa.field("language", pa.string()),
        pa.field("language_probability", pa.float64()),  # issue 18: null when not detected (forced / .en model)
        pa.field("transcript_text", pa.string()),
        # issue 27: how many transcript segments were left out of transcript_text as suspect, and why
        pa.field("transcript_left_out", pa.string()),
        pa.field("transcript_en", pa.string()),  # issue 27: in English (translated where not; null: not asked)
        pa.field("onscreen_lines", pa.list_(pa.string())),
        pa.field("onscreen_text", pa.string()),
        pa.field("whisper_model", pa.string()),
        pa.field("ocr_engine", pa.string()),
        pa.field("stage_statuses", pa.map_(pa.string(), pa.string())),
        pa.field("processed_at", pa.timestamp("us", tz="UTC")),
        *_STATUS,
        # issue 6: the caption spans in time order, and speech + on-screen text as one clean text
        pa.field("caption_spans", pa.list_(CAPTION_SPAN_STRUCT)),
        pa.field("clean_text", pa.string()),
    ]
)

# Table name -> schema. Table names are also the warehouse folder names.
TABLES: dict[str, pa.Schema] = {
    "videos": VIDEOS,
    "audio": AUDIO,
    "transcript_segments": TRANSCRIPT_SEGMENTS,
    "frames": FRAMES,
    "ocr_text": OCR_TEXT,
    "caption_spans": CAPTION_SPANS,
    "video_documents": VIDEO_DOCUMENTS,
}

# Tables a stage asset writes itself next to its own (the IO manager writes only the stage's table).
SIDE_TABLES: dict[str, pa.Schema] = {"transcript_words": TRANSCRIPT_WORDS}


# Ingestion bookkeeping (not per video): lines of URL lists that were rejected, one row per line,
# under `warehouse/url_list_rejections/list_key=<key>/part-0.parquet` (docs/INGESTION.md).
URL_LIST_REJECTIONS = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("list_sha256", pa.string(), nullable=False),
        pa.field("line_number", pa.int32(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("detected_at", pa.timestamp("us", tz="UTC")),
    ]
)
INGESTION_TABLES: dict[str, pa.Schema] = {"url_list_rejections": URL_LIST_REJECTIONS}


def to_table(schema: pa.Schema, rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Build a table with exactly `schema`'s columns; missing keys become nulls, extra keys are errors."""
    rows = list(rows)
    names = set(schema.names)
    for row in rows:
        extra = set(row) - names
        if extra:
            raise KeyError(f"columns not in schema: {sorted(extra)}")
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    return pa.table(columns, schema=schema)


def status_row(
    schema: pa.Schema, status: str, error: str | None, *, retryable: bool = False, **values: Any
) -> dict[str, Any]:
    """One placeholder row for a video whose stage produced no content rows; `retryable`: its failure was
    passing (only meaningful with status `failed`)."""
    row = {name: None for name in schema.names}
    row.update(values)
    row["status"] = status
    row["error"] = error
    if "retryable" in row:
        row["retryable"] = retryable and status == "failed"
    return row
