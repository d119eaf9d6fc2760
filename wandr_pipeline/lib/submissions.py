"""The record of what was submitted under each video key (the URL is not part of the key), and by
which road: `submitted_from` is `api` for `POST /process`, the list's URI for a URL list."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.urls import VideoRef

# `submitted_from` of the videos `POST /process` registered: the daemon's registered_videos_sensor
# requests their first run (the list roads request theirs in the tick that registers them).
API_SOURCE = "api"


def submission_path(video_key: str) -> str:
    return f"submissions/{video_key}.json"


def record_submissions(storage: Storage, refs: Iterable[VideoRef], *, source: str) -> int:
    """Write one small JSON per video key, in one batch; an existing record is kept (first submission
    wins). Returns how many were written."""
    paths: dict[str, VideoRef] = {}
    for ref in refs:
        paths.setdefault(submission_path(ref.video_key), ref)
    existing = storage.read_existing(list(paths))
    now = dt.datetime.now(dt.UTC).isoformat()
    records = {
        path: json.dumps(
            {
                "video_key": ref.video_key,
                "source_url": ref.source_url,
                "download_url": ref.download_url,
                "platform": ref.platform,
                "submitted_from": source,
                "submitted_at": now,
            },
            ensure_ascii=False,
            indent=1,
        ).encode("utf-8")
        for path, ref in paths.items()
        if path not in existing
    }
    storage.write_many(records)
    return len(records)


def load_submission(storage: Storage, video_key: str) -> VideoRef | None:
    path = submission_path(video_key)
    if not storage.exists(path):
        return None
    record = storage.read_json(path)
    return VideoRef(record["source_url"], record["download_url"], record["video_key"], record["platform"])


def submission_sources(storage: Storage, video_keys: Iterable[str]) -> dict[str, str]:
    """`submitted_from` of each key's record, in one batched read; keys without a record are left out."""
    paths = {submission_path(key): key for key in video_keys}
    found = {}
    for path, data in storage.read_existing(list(paths)).items():
        try:
            found[paths[path]] = str(json.loads(data).get("submitted_from", ""))
        except ValueError:
            continue  # a torn or foreign file: not a submission this road knows
    return found
