"""The record of what was submitted under each video key (the URL is not part of the key)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.urls import VideoRef


def submission_path(video_key: str) -> str:
    return f"submissions/{video_key}.json"


def record_submissions(storage: Storage, refs: Iterable[VideoRef], *, source: str) -> int:
    """Write one small JSON per video key; an existing record is kept (first submission wins)."""
    written = 0
    now = dt.datetime.now(dt.UTC).isoformat()
    for ref in refs:
        path = submission_path(ref.video_key)
        if storage.exists(path):
            continue
        storage.write_json(
            path,
            {
                "video_key": ref.video_key,
                "source_url": ref.source_url,
                "download_url": ref.download_url,
                "platform": ref.platform,
                "submitted_from": source,
                "submitted_at": now,
            },
        )
        written += 1
    return written


def load_submission(storage: Storage, video_key: str) -> VideoRef | None:
    path = submission_path(video_key)
    if not storage.exists(path):
        return None
    record = storage.read_json(path)
    return VideoRef(record["source_url"], record["download_url"], record["video_key"], record["platform"])
