"""One storage root (a local folder or `gs://bucket/prefix`) behind fsspec, with atomic writes.

Layout under the root:
- `media/<video_key>/...`                       video, audio and frames (not for analysts)
- `warehouse/<table>/video_key=<key>/part-0.parquet`   the analyst tables, hive-style
- `submissions/<video_key>.json`                 what was submitted for a key (URL, list, time)

Writes of a whole object are atomic: a local file is written under a hidden temporary name in the
same folder and renamed; a GCS object is one PUT. Readers never see half a file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from wandr_pipeline.urls import is_valid_key

PARTITION_FILE = "part-0.parquet"


class UnsafeKeyError(ValueError):
    """A partition key or file name that could escape its folder."""


def _check_segment(segment: str) -> str:
    if not is_valid_key(segment):
        raise UnsafeKeyError(f"refusing unsafe path segment {segment!r}")
    return segment


class Storage:
    """A storage root addressed by relative, slash-separated paths."""

    def __init__(self, root_uri: str):
        root_uri = str(root_uri)
        self.is_local = "://" not in root_uri or root_uri.startswith("file://")
        if self.is_local:
            local = root_uri[len("file://"):] if root_uri.startswith("file://") else root_uri
            self.root = str(Path(local).expanduser().resolve())
            self.fs = fsspec.filesystem("file")
        else:
            protocol = root_uri.split("://", 1)[0]
            self.fs = fsspec.filesystem(protocol, **_filesystem_options(protocol))
            self.root = root_uri.rstrip("/")
        self.root_uri = root_uri

    # -- addressing ---------------------------------------------------------------------------
    def path(self, relative: str) -> str:
        """Absolute path or URI of `relative` under the root."""
        relative = relative.strip("/")
        if ".." in relative.split("/"):
            raise UnsafeKeyError(f"refusing path with '..': {relative!r}")
        return f"{self.root}/{relative}" if relative else self.root

    def media_dir(self, video_key: str) -> str:
        return f"media/{_check_segment(video_key)}"

    def table_dir(self, table: str) -> str:
        return f"warehouse/{_check_segment(table)}"

    def partition_path(self, table: str, video_key: str) -> str:
        return f"{self.table_dir(table)}/video_key={_check_segment(video_key)}/{PARTITION_FILE}"

    # -- plain objects ------------------------------------------------------------------------
    def exists(self, relative: str) -> bool:
        return self.fs.exists(self.path(relative))

    def write_bytes(self, relative: str, data: bytes) -> str:
        """Atomically write `data`; returns the full path/URI."""
        target = self.path(relative)
        if self.is_local:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            tmp = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
            try:
                with open(tmp, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
        else:
            self.fs.pipe_file(target, data)
        return target

    def put_file(self, local_path: str | Path, relative: str) -> str:
        """Atomically copy a local file into the root; returns the full path/URI."""
        target = self.path(relative)
        if self.is_local:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            tmp = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
            try:
                shutil.copyfile(local_path, tmp)
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
        else:
            self.fs.put_file(str(local_path), target)
        return target

    def read_bytes(self, relative_or_uri: str) -> bytes:
        return self.fs.cat_file(self._resolve(relative_or_uri))

    def write_json(self, relative: str, payload: Any) -> str:
        return self.write_bytes(relative, json.dumps(payload, ensure_ascii=False, indent=1).encode("utf-8"))

    def read_json(self, relative: str) -> Any:
        return json.loads(self.read_bytes(relative).decode("utf-8"))

    def remove_tree(self, relative: str) -> None:
        target = self.path(relative)
        if self.fs.exists(target):
            self.fs.rm(target, recursive=True)

    def _resolve(self, relative_or_uri: str) -> str:
        if "://" in relative_or_uri or relative_or_uri.startswith("/"):
            return relative_or_uri
        return self.path(relative_or_uri)

    @contextlib.contextmanager
    def local_copy(self, relative_or_uri: str) -> Iterator[Path]:
        """A local file path for tools that need one (ffmpeg, PyAV): the file itself when local."""
        source = self._resolve(relative_or_uri)
        if self.is_local:
            yield Path(source)
            return
        suffix = Path(source).suffix
        with tempfile.TemporaryDirectory(prefix="wandr-") as tmp:
            local = Path(tmp) / f"object{suffix}"
            self.fs.get_file(source, str(local))
            yield local

    # -- tables -------------------------------------------------------------------------------
    def write_partition(self, table: str, video_key: str, data: pa.Table) -> str:
        """Replace one partition of `table` with `data`, atomically. Never appends."""
        buffer = io.BytesIO()
        pq.write_table(data, buffer, compression="zstd")
        return self.write_bytes(self.partition_path(table, video_key), buffer.getvalue())

    def read_partition(self, table: str, video_key: str, schema: pa.Schema | None = None) -> pa.Table:
        data = self.read_bytes(self.partition_path(table, video_key))
        return pq.read_table(io.BytesIO(data), schema=schema)

    def has_partition(self, table: str, video_key: str) -> bool:
        return self.exists(self.partition_path(table, video_key))


def _filesystem_options(protocol: str) -> dict[str, Any]:
    if protocol in ("gs", "gcs"):
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        if emulator:
            endpoint = emulator if "://" in emulator else f"http://{emulator}"
            return {"endpoint_url": endpoint, "token": "anon"}
    return {}
