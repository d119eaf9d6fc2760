"""URL list ingestion without Dagster: find list files, read them, pick the videos to register.

Used by `url_list_sensor` (a folder or `gs://` prefix) and `url_list_schedule` (one list at a URL,
local path or `gs://`); `ASSESS_BATCH` sizes their planner reads, and `registered_videos_sensor`'s. Dagster-side
code only adds the partitions and turns the planner's runs into run requests. See docs/INGESTION.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
import pyarrow as pa

from wandr_pipeline.lib.schemas import URL_LIST_REJECTIONS, to_table
from wandr_pipeline.lib.storage import Storage, read_parquet_bytes, storage_for
from wandr_pipeline.lib.submissions import record_submissions
from wandr_pipeline.lib.url_lists import ParsedUrlList, RejectedLine, decode_list, parse_url_list
from wandr_pipeline.lib.urls import VideoRef

REJECTIONS_TABLE = "url_list_rejections"
# Submission records written per batch by a sensor tick (its deadline is checked between batches).
SUBMISSION_BATCH = 500
# Videos whose warehouse partitions are read per batch by a tick that plans known videos (likewise).
ASSESS_BATCH = 200
_TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".swp", "~", ".crdownload")


@dataclass(frozen=True)
class ListFile:
    """A URL list file seen in a watched location; `signature` changes when the file does."""

    uri: str
    signature: str
    modified: float | None = None


def is_remote(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def _filesystem(location: str):
    """(fsspec filesystem, absolute path/URI) for a local folder or a remote prefix."""
    storage = storage_for(location)
    return storage.fs, storage.root


def find_list_files(location: str, suffixes: Sequence[str]) -> list[ListFile]:
    """List files in `location` (recursively) whose name ends with one of `suffixes`.

    Hidden files and editors'/uploaders' temporary files are skipped. A missing folder is empty.
    """
    fs, root = _filesystem(location)
    fs.invalidate_cache(root)  # a long-lived code server must see objects added since the last tick
    if not fs.exists(root):
        return []
    found = fs.find(root, detail=True)
    files: list[ListFile] = []
    suffixes = tuple(s.lower() for s in suffixes)
    for path, info in sorted(found.items()):
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if info.get("type") not in (None, "file") or name.startswith(".") or name.lower().endswith(_TEMP_SUFFIXES):
            continue
        if suffixes and not name.lower().endswith(suffixes):
            continue
        version = (
            info.get("md5Hash")
            or info.get("etag")
            or info.get("generation")
            or info.get("mtime")
            or info.get("updated")
            or info.get("LastModified")
        )
        modified = info.get("mtime")
        uri = path if is_remote(location) else str(path)
        if is_remote(location) and "://" not in uri:
            uri = f"{location.split('://', 1)[0]}://{path}"
        files.append(
            ListFile(
                uri, f"{info.get('size')}:{version}", float(modified) if isinstance(modified, (int, float)) else None
            )
        )
    return files


def read_list_bytes(uri: str) -> bytes:
    """The raw bytes of a list at a local path, `file://`, `gs://` or `http(s)://` URL."""
    if not is_remote(uri):
        path = uri[len("file://") :] if uri.startswith("file://") else uri
        return Path(path).expanduser().read_bytes()
    if uri.startswith(("gs://", "gcs://")):
        storage = storage_for(uri.rsplit("/", 1)[0])
        return storage.fs.cat_file(uri)
    with fsspec.open(uri, "rb") as handle:
        return handle.read()


def content_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_list_bytes(
    uri: str, data: bytes, *, allow_local_files: bool, local_roots: tuple[str, ...] = ()
) -> ParsedUrlList:
    """Parse a list; relative local paths resolve against a local list's folder.

    Local paths are never accepted from a remote list (they would name files on the daemon's disk).
    """
    text = decode_list(data)
    if is_remote(uri):
        return parse_url_list(text, base_dir=None, allow_local_files=False)
    path = Path(uri[len("file://") :] if uri.startswith("file://") else uri).expanduser()
    return parse_url_list(
        text, base_dir=path.resolve().parent, allow_local_files=allow_local_files, local_roots=local_roots
    )


@dataclass
class Selection:
    """What one evaluation does with a parsed list."""

    to_register: list[VideoRef] = field(default_factory=list)  # new keys, in list order
    to_request: list[str] = field(default_factory=list)  # keys that get an ingest run now
    remaining: int = 0  # new keys left for a later tick (chunking)
    already_known: int = 0  # keys that were partitions before


def select_videos(
    refs: Sequence[VideoRef],
    *,
    existing: set[str],
    ingested: set[str],
    busy: set[str],
    retry_unprocessed: bool,
    max_new: int,
) -> Selection:
    """Choose the new videos to register now (at most `max_new`) and the keys to run.

    `existing`: keys that are already partitions; `ingested`: keys whose first stage (raw_video) was
    materialised; `busy`: keys a queued or running run already covers. With `retry_unprocessed`,
    keys that were registered earlier but never got their first stage (a run that crashed) are
    requested again; they are never requested twice while a run for them is queued or running.
    """
    selection = Selection()
    fresh = [ref for ref in refs if ref.video_key not in existing]
    selection.already_known = len(refs) - len(fresh)
    selection.to_register = fresh[: max(0, max_new)]
    selection.remaining = len(fresh) - len(selection.to_register)
    if retry_unprocessed:
        selection.to_request = [
            ref.video_key
            for ref in refs
            if ref.video_key in existing and ref.video_key not in ingested and ref.video_key not in busy
        ]
    selection.to_request += [ref.video_key for ref in selection.to_register]
    return selection


def record_within_budget(storage: Storage, refs: Sequence[VideoRef], *, source: str, deadline: float) -> list[VideoRef]:
    """Write the videos' submission records, a batch at a time, until `deadline` (time.monotonic);
    returns those written.

    The raw_video stage reads a key's URL from this record, so a partition is only added for a
    video once its record exists. A batch is one write (concurrent PUTs on GCS): a tick stops
    between batches and the rest waits for the next tick, well inside Dagster's sensor time limit.
    """
    done: list[VideoRef] = []
    for start in range(0, len(refs), SUBMISSION_BATCH):
        if done and time.monotonic() >= deadline:
            break
        batch = list(refs[start : start + SUBMISSION_BATCH])
        record_submissions(storage, batch, source=source)
        done.extend(batch)
    return done


def list_key(source: str, sha256: str) -> str:
    """A path-safe id for one version of one list (its rejections partition)."""
    return "list-" + hashlib.sha256(f"{source}\n{sha256}".encode()).hexdigest()[:16]


def write_rejections(
    storage: Storage, source: str, sha256: str, rejected: Iterable[RejectedLine], *, when: dt.datetime | None = None
) -> str | None:
    """Replace the rejections of this list version in `warehouse/url_list_rejections/`; None if none."""
    rejected = list(rejected)
    if not rejected:
        return None
    when = when or dt.datetime.now(dt.UTC)
    table = to_table(
        URL_LIST_REJECTIONS,
        [
            {
                "source": source,
                "list_sha256": sha256,
                "line_number": line.line_number,
                "text": line.text,
                "reason": line.reason,
                "detected_at": when,
            }
            for line in rejected
        ],
    )
    return storage.write_partition(REJECTIONS_TABLE, list_key(source, sha256), table, column="list_key")


def read_rejections(storage: Storage) -> pa.Table:
    """Every recorded rejection (empty table with the schema when there are none)."""
    folder = f"warehouse/{REJECTIONS_TABLE}"
    if not storage.exists(folder):
        return URL_LIST_REJECTIONS.empty_table()
    base = storage.path(folder)
    prefix = base.split("://", 1)[-1].rstrip("/") + "/"  # fsspec lists remote paths without the scheme
    parts = [f"{folder}/{p.split(prefix, 1)[-1]}" for p in storage.fs.find(base) if p.endswith(".parquet")]
    tables = [read_parquet_bytes(storage.read_bytes(p), URL_LIST_REJECTIONS) for p in sorted(parts)]
    return pa.concat_tables(tables) if tables else URL_LIST_REJECTIONS.empty_table()


def describe_rejections(rejected: Sequence[RejectedLine], limit: int = 50) -> list[str]:
    """Log lines for an operator: `line N: 'text': reason`, capped at `limit` lines."""
    lines = [f"line {r.line_number}: {r.text[:120]!r}: {r.reason}" for r in rejected[:limit]]
    if len(rejected) > limit:
        lines.append(f"... and {len(rejected) - limit} more rejected line(s) (see the url_list_rejections table)")
    return lines
