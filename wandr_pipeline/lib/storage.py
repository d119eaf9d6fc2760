"""One storage root (a local folder or `gs://bucket/prefix`) behind fsspec, with atomic writes.

Layout under the root:
- `media/<video_key>/...`                       video, audio and frames (not for analysts)
- `warehouse/<table>/video_key=<key>/part-0.parquet`   the analyst tables, hive-style
- `submissions/<video_key>.json`                 what was submitted for a key (URL, list, time)

Every read and write goes through one fsspec filesystem (local disk, or gcsfs for `gs://`), so the
pipeline has no local-only code path. Writes of a whole object are atomic: an object store makes an
object visible only once its upload completes (one PUT, or a finalised resumable upload), so the
target is written directly; a POSIX file system gets a hidden temporary sibling that is renamed over
the target. Readers never see half a file.

A write killed half-way (SIGKILL, power loss) leaves only its hidden temporary file, named
`.<target>.<uuid>.<host>_<pid>_<start>.tmp`: readers skip it (pyarrow/pandas ignore names that start
with a dot, and `*.parquet` globs do not match it), and the next write of the same target removes it:
at once when the process named in it is known dead on this host, else once it is older than
`STALE_TEMP_AGE_S` (another host's writer, or a file from before owners were recorded).

GCS credentials: Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, the metadata
server on Cloud Run/GKE, or `gcloud auth application-default login`). With `STORAGE_EMULATOR_HOST`
set, `gs://` goes to that emulator, anonymously.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import posixpath
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from wandr_pipeline.lib.liveness import ProcessId
from wandr_pipeline.lib.scratch import scratch_dir
from wandr_pipeline.lib.urls import is_valid_key

PARTITION_FILE = "part-0.parquet"
# A temporary file whose writer cannot be judged alive or dead is left this long before it counts as
# stale; no single write (a 500 MB video copied locally) comes near it.
STALE_TEMP_AGE_S = 3600.0
_TEMP_SUFFIX = re.compile(r"(?P<uid>[0-9a-f]{32})(?:\.(?P<owner>[A-Za-z0-9_-]+))?\.tmp")
# A whole temp file name: `.<target name>.<uid>[.<owner>].tmp`.
_TEMP_NAME = re.compile(r"\.(?P<target>.+?)\.(?P<suffix>[0-9a-f]{32}(?:\.[A-Za-z0-9_-]+)?\.tmp)")

log = logging.getLogger(__name__)


class UnsafeKeyError(ValueError):
    """A partition key or file name that could escape its folder."""


def _check_segment(segment: str) -> str:
    if not is_valid_key(segment):
        raise UnsafeKeyError(f"refusing unsafe path segment {segment!r}")
    return segment


class Storage:
    """A storage root addressed by relative, slash-separated paths."""

    def __init__(self, root_uri: str, stale_temp_age_s: float = STALE_TEMP_AGE_S):
        root_uri = str(root_uri)
        self.stale_temp_age_s = stale_temp_age_s
        self.is_local = "://" not in root_uri or root_uri.startswith("file://")
        if self.is_local:
            local = root_uri[len("file://") :] if root_uri.startswith("file://") else root_uri
            self.root = str(Path(local).expanduser().resolve())
        else:
            self.root = root_uri.rstrip("/")
        self.fs = filesystem_for(root_uri)
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

    def partition_path(self, table: str, key: str, column: str = "video_key") -> str:
        """A hive-style partition file: `warehouse/<table>/<column>=<key>/part-0.parquet`."""
        return f"{self.table_dir(table)}/{_check_segment(column)}={_check_segment(key)}/{PARTITION_FILE}"

    # -- plain objects ------------------------------------------------------------------------
    def exists(self, relative: str) -> bool:
        return self.fs.exists(self.path(relative))

    def write_bytes(self, relative: str, data: bytes) -> str:
        """Atomically write `data`; returns the full path/URI."""
        return self._write_atomic(self.path(relative), lambda path: self.fs.pipe_file(path, data))

    def put_file(self, local_path: str | Path, relative: str) -> str:
        """Atomically copy a local file into the root; returns the full path/URI."""
        return self._write_atomic(self.path(relative), lambda path: self.fs.put_file(str(local_path), path))

    def _write_atomic(self, target: str, write: Callable[[str], None]) -> str:
        if not self.is_local:
            # Object stores publish an object only when its upload completes: the PUT is the commit.
            write(target)
            return target
        parent = posixpath.dirname(target)
        self.fs.makedirs(parent, exist_ok=True)
        self.remove_stale_temps(target)
        tmp = self._temp_path(target)
        try:
            write(tmp)
            with open(tmp, "rb+") as handle:  # data on disk before the rename makes it visible
                os.fsync(handle.fileno())
            os.replace(tmp, target)  # atomic on POSIX and Windows, also over an existing target
        finally:
            if self.fs.exists(tmp):
                self.fs.rm_file(tmp)
        return target

    def write_many(self, objects: Mapping[str, bytes]) -> list[str]:
        """Atomically write each of `objects` (relative path -> bytes); returns their full paths/URIs.

        Each object is whole or absent, as with `write_bytes`, but the costs that grow with the batch
        are paid once: locally one scan per folder for stale temp files (not one per write, which
        grows with the folder), one `sync` for all temp files before any is renamed (instead of one
        fsync each: ~4 ms apiece here), and one fsync of each folder after the renames. On an object
        store the PUTs go out concurrently.
        """
        targets = {self.path(relative): data for relative, data in objects.items()}
        if not targets:
            return []
        if not self.is_local:
            self.fs.pipe(targets)
            return list(targets)
        folders = sorted({posixpath.dirname(target) for target in targets})
        for folder in folders:
            self.fs.makedirs(folder, exist_ok=True)
            self.remove_stale_temps_in(folder)
        token = ProcessId.current().token()
        temps = {target: self._temp_path(target, token) for target in targets}
        try:
            for target, tmp in temps.items():
                with open(tmp, "wb") as handle:
                    handle.write(targets[target])
            # Every temp file's data on disk before the first rename makes one visible: for one object
            # its own fsync, for a batch one sync (a system-wide flush, but one call, not N).
            if len(temps) == 1:
                _fsync_path(next(iter(temps.values())))
            else:
                os.sync()
            for target, tmp in temps.items():
                os.replace(tmp, target)
            for folder in folders:
                _fsync_path(folder)  # the renames themselves survive a power cut
        finally:
            for tmp in temps.values():
                with contextlib.suppress(FileNotFoundError):
                    os.remove(tmp)
        return list(targets)

    def _temp_path(self, target: str, token: str | None = None) -> str:
        """A hidden sibling of `target` that names its writer (so a later write can tell it is stale)."""
        parent = posixpath.dirname(target)
        return f"{parent}/.{posixpath.basename(target)}.{uuid.uuid4().hex}.{token or ProcessId.current().token()}.tmp"

    def remove_stale_temps(self, target: str) -> list[str]:
        """Remove the temporary siblings of `target` (a local path) that killed writes left behind."""
        parent, name = posixpath.split(target)
        return self._remove_stale(parent, f".{name}.")

    def remove_stale_temps_in(self, folder: str) -> list[str]:
        """Remove every temporary file in `folder` (a local path) that a killed write left behind."""
        return self._remove_stale(folder, ".")

    def _remove_stale(self, folder: str, prefix: str) -> list[str]:
        removed = []
        try:
            entries = [entry for entry in os.scandir(folder) if entry.name.startswith(prefix)]
        except FileNotFoundError:
            return removed
        now = time.time()
        for entry in entries:
            match = _TEMP_NAME.fullmatch(entry.name) if prefix == "." else None
            suffix = match.group("suffix") if match else entry.name[len(prefix) :]
            match = _TEMP_SUFFIX.fullmatch(suffix)
            if not match:
                continue
            owner = ProcessId.from_token(match.group("owner") or "")
            dead = owner is not None and owner.is_dead()
            try:
                if not dead and now - entry.stat().st_mtime <= self.stale_temp_age_s:
                    continue
                os.remove(entry.path)
            except FileNotFoundError:  # its writer finished (renamed it) or another cleaner got it
                continue
            removed.append(entry.path)
            log.info(
                "removed %s, left by a write that did not finish (%s)",
                entry.path,
                f"its process {owner.pid} on {owner.host} is gone"
                if dead
                else f"older than {self.stale_temp_age_s:.0f} s",
            )
        return removed

    def read_bytes(self, relative_or_uri: str) -> bytes:
        return self.fs.cat_file(self._resolve(relative_or_uri))

    def read_many(self, relative_or_uris: list[str]) -> list[bytes]:
        """Several objects at once (concurrent requests on GCS), in the order asked."""
        paths = [self._resolve(item) for item in relative_or_uris]
        if not paths:
            return []
        found = self.fs.cat(paths)
        if not isinstance(found, dict):  # fsspec returns bytes, not a dict, for a single non-glob path
            found = {paths[0]: found}
        by_path = {self.fs._strip_protocol(k): v for k, v in found.items()}
        return [by_path[self.fs._strip_protocol(path)] for path in paths]

    def read_existing(self, relatives: list[str]) -> dict[str, bytes]:
        """The objects of `relatives` that exist, by relative path (missing ones are left out)."""
        paths = {self.fs._strip_protocol(self.path(item)): item for item in relatives}
        if not paths:
            return {}
        found = self.fs.cat(list(paths), on_error="omit")
        if not isinstance(found, dict):  # one path: some fsspec versions return its bytes
            found = {next(iter(paths)): found}
        return {paths[self.fs._strip_protocol(path)]: data for path, data in found.items()}

    def write_json(self, relative: str, payload: Any) -> str:
        return self.write_bytes(relative, json.dumps(payload, ensure_ascii=False, indent=1).encode("utf-8"))

    def read_json(self, relative: str) -> Any:
        return json.loads(self.read_bytes(relative).decode("utf-8"))

    def remove_tree(self, relative: str) -> None:
        target = self.path(relative)
        if self.fs.exists(target):
            self.fs.rm(target, recursive=True)

    def list_names(self, relative: str) -> list[str]:
        """The names of the files and folders directly in `relative` (none when it does not exist)."""
        try:
            entries = self.fs.ls(self.path(relative), detail=False)
        except FileNotFoundError:
            return []
        return sorted({posixpath.basename(str(entry).rstrip("/")) for entry in entries} - {""})

    def fetch(self, uri: str, local_path: str | Path) -> Path:
        """Copy any `gs://` object or path (not only under this root) to a local file."""
        fs = self.fs if _protocol(uri) == _protocol(self.root_uri) else filesystem_for(uri)
        Path(local_path).parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(uri, str(local_path))
        return Path(local_path)

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
        with scratch_dir("object") as tmp:
            local = Path(tmp) / f"object{suffix}"
            self.fs.get_file(source, str(local))
            yield local

    # -- tables -------------------------------------------------------------------------------
    def write_partition(self, table: str, key: str, data: pa.Table, column: str = "video_key") -> str:
        """Replace one partition of `table` with `data`, atomically. Never appends."""
        buffer = io.BytesIO()
        pq.write_table(data, buffer, compression="zstd")
        return self.write_bytes(self.partition_path(table, key, column), buffer.getvalue())

    def read_partition(self, table: str, video_key: str, schema: pa.Schema | None = None) -> pa.Table:
        return read_parquet_bytes(self.read_bytes(self.partition_path(table, video_key)), schema)

    def has_partition(self, table: str, video_key: str) -> bool:
        return self.exists(self.partition_path(table, video_key))


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_STORAGES: dict[str, Storage] = {}
_STORAGES_LOCK = threading.Lock()


def storage_for(uri: str) -> Storage:
    """The one `Storage` of this process for `uri` (its filesystem client is reused, not rebuilt)."""
    with _STORAGES_LOCK:
        if uri not in _STORAGES:
            _STORAGES[uri] = Storage(uri)
        return _STORAGES[uri]


def read_parquet_bytes(data: bytes, schema: pa.Schema | None = None) -> pa.Table:
    """One Parquet file's table, read in the calling thread; with `schema`, columns it lacks come back null.

    Not `pq.read_table(io.BytesIO(data))`: that goes through Arrow's dataset scanner, whose background
    threads can drop the last reference to the Python file object after interpreter shutdown began,
    and the process then dies with "terminate called without an active exception" (exit code 134)
    after all its work is done (seen with gdb on a core of `wandr-pipeline run`).
    """
    table = pq.ParquetFile(pa.BufferReader(data)).read(use_threads=False)
    if schema is None or table.schema.equals(schema):  # the usual case: written with this very schema
        return table
    columns = {
        field.name: table.column(field.name)
        if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in schema
    }
    return pa.table(columns).cast(schema)


def _protocol(uri: str) -> str:
    uri = str(uri)
    return uri.split("://", 1)[0].lower() if "://" in uri else "file"


def filesystem_for(uri: str) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem that serves `uri` (a local path, `file://`, `gs://...`), configured
    the way the pipeline uses it. Analysts can hand it to pandas (`filesystem=`) or DuckDB
    (`register_filesystem`) to read the tables with the same credentials and emulator settings."""
    protocol = _protocol(uri)
    if protocol in ("gs", "gcs"):
        return _gcs_filesystem()
    return fsspec.filesystem(protocol)


def _gcs_filesystem() -> fsspec.AbstractFileSystem:
    emulator = os.environ.get("STORAGE_EMULATOR_HOST", "")
    # Listings are not cached: another process (a sensor, a parallel run) may have written since.
    options: dict[str, Any] = {"use_listings_cache": False}
    if emulator:
        options.update(endpoint_url=emulator if "://" in emulator else f"http://{emulator}", token="anon")
        # gcsfs >= 2025.x defaults to a subclass that first asks the Storage Control API (gRPC) what
        # kind of bucket this is; an emulator has no such API and every call then waits 60 s before
        # falling back. The plain client is what an emulator speaks (GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false).
        from gcsfs.core import GCSFileSystem

        return GCSFileSystem(**options)
    # Application Default Credentials; fails loudly instead of silently going anonymous.
    options["token"] = "google_default"
    return fsspec.filesystem("gs", **options)
