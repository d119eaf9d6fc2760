"""Temporary folders that name the process that made them, so a later run can remove a killed one's.

A download works in a temporary folder that also holds the private copy of the cookies file (a
secret: engines/ytdlp.py). A process ended by SIGKILL (or the OOM killer) never runs its cleanup, so
its folders stayed in the temporary directory for ever. Here every folder is named
`wandr-<label>-<random>.owner-<host_pid_start>` (lib/liveness.py); `remove_orphaned_scratch` (run at
the start of every `wandr-pipeline run`) removes those whose process on this host is gone, and
`remove_own_scratch` is the last resort of a process that must exit before its threads unwound.
No Dagster here.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from wandr_pipeline.lib.liveness import ProcessId

PREFIX = "wandr-"
_OWNER = re.compile(r"\.owner-([A-Za-z0-9-]+_\d+_\d+)$")

_lock = threading.Lock()
_live: set[str] = set()  # this process's folders that exist now
_owner_token: tuple[int, str] | None = None  # (pid, token): recomputed in a forked child


def _token() -> str:
    global _owner_token
    me = ProcessId.current()
    if _owner_token is None or _owner_token[0] != me.pid:
        _owner_token = (me.pid, me.token())
    return _owner_token[1]


@contextlib.contextmanager
def scratch_dir(label: str, parent: str | Path | None = None) -> Iterator[str]:
    """A fresh temporary folder (removed after the block) named after `label` and this process."""
    folder = tempfile.mkdtemp(prefix=f"{PREFIX}{label}-", suffix=f".owner-{_token()}", dir=parent)
    with _lock:
        _live.add(folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with _lock:
            _live.discard(folder)


def folder_owner(name: str) -> ProcessId | None:
    """The process a scratch folder's name says made it (None for other names)."""
    match = _OWNER.search(name)
    return ProcessId.from_token(match.group(1)) if match and name.startswith(PREFIX) else None


def remove_own_scratch() -> int:
    """Remove every scratch folder of this process that still exists (before an immediate exit)."""
    with _lock:
        folders = list(_live)
        _live.clear()
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return len(folders)


def remove_orphaned_scratch(parent: str | Path | None = None) -> list[Path]:
    """Remove the scratch folders under `parent` (the temporary directory) whose process is gone."""
    root = Path(parent or tempfile.gettempdir())
    removed = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        owner = folder_owner(entry.name)
        if owner is None or not owner.is_dead() or not entry.is_dir() or entry.is_symlink():
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed
