"""One writer per video at a time, on one machine: an exclusive `flock` per video key.

A `wandr-pipeline run` holds the locks of the videos it processes for as long as it processes them;
a second run (another CLI on the same list or an overlapping one) takes only the videos it can lock and
leaves the rest to the first, instead of doing the work twice and replacing files the first is reading.
The kernel releases a lock when its process dies, so a killed run leaves no stale lock behind.

The lock files live in `<storage root>/.locks/` when the storage root is a local folder (every process
using that root meets there; readers skip dot folders), else in the temporary folder under a name
derived from the storage URI. `flock` holds between processes of one machine only: on a shared
network disk or a bucket, processes on other machines do not see it (docs/RELIABILITY.md says what
holds across machines).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from wandr_pipeline.lib.urls import is_valid_key

_held_lock = threading.Lock()
_held: dict[str, int] = {}  # lock path -> file descriptor, for this process


def lock_dir(storage_uri: str) -> Path:
    """Where the lock files of the videos under `storage_uri` live."""
    if "://" not in storage_uri or storage_uri.startswith("file://"):
        root = Path(storage_uri.removeprefix("file://")).expanduser().resolve()
        return root / ".locks"
    digest = hashlib.sha256(storage_uri.rstrip("/").encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "wandr-locks" / digest


class VideoLocks:
    """The video keys this process holds, taken with `acquire` and given back with `release`."""

    def __init__(self, storage_uri: str):
        self.folder = lock_dir(storage_uri)
        self.held: list[str] = []

    def _path(self, key: str) -> str:
        if not is_valid_key(key):
            raise ValueError(f"not a video key: {key!r}")
        return str(self.folder / f"{key}.lock")

    def acquire(self, keys: Iterable[str]) -> tuple[list[str], list[str]]:
        """Lock each key that no other process holds; returns (locked, held elsewhere). Never waits."""
        self.folder.mkdir(parents=True, exist_ok=True)
        locked, busy = [], []
        for key in dict.fromkeys(keys):
            path = self._path(key)
            with _held_lock:
                if path in _held:  # this process has it already (nested use)
                    locked.append(key)
                    continue
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    busy.append(key)
                    continue
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                _held[path] = fd
            self.held.append(key)
            locked.append(key)
        return locked, busy

    def release(self) -> None:
        with _held_lock:
            for key in self.held:
                fd = _held.pop(self._path(key), None)
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
        self.held = []


@contextlib.contextmanager
def video_locks(storage_uri: str, keys: Iterable[str]) -> Iterator[tuple[list[str], list[str]]]:
    """`with video_locks(root, keys) as (mine, busy):` the keys locked for the block, and those held elsewhere."""
    locks = VideoLocks(storage_uri)
    try:
        yield locks.acquire(keys)
    finally:
        locks.release()
