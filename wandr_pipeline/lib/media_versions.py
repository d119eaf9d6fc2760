"""Media folders that are written as a new version and never replaced in place.

A stage that writes many files for a video (the sampled frames) cannot replace them atomically: a
second run removing `frames/` and writing it again pulled the files from under the first run's OCR
(`FileNotFoundError`), and a reader could see half a folder. So each write goes to a new folder,
`<folder>/v<milliseconds>-<random>/`, and the stage's table partition, written atomically once the
folder is complete, is the pointer that switches readers to it: a reader that holds the old table
reads the old folder, which stays. Older versions are removed by a later write of the same video
once they are older than `grace_s` (an hour by default, far longer than a run reads its inputs),
never the version the table points to now. Files directly in `<folder>/` (the layout before
versions) count as one old version.
"""

from __future__ import annotations

import re
import time
import uuid

from wandr_pipeline.lib.storage import STALE_TEMP_AGE_S, Storage

_VERSION = re.compile(r"v(?P<ms>\d{13})-[0-9a-f]{8}")
LOOSE = ""  # the pre-version layout: files directly in the folder


def new_version(now: float | None = None) -> str:
    return f"v{int((time.time() if now is None else now) * 1000):013d}-{uuid.uuid4().hex[:8]}"


def version_of(uri: str, folder_name: str) -> str | None:
    """Which version of `<...>/<folder_name>/` a file URI lies in (LOOSE for the old layout)."""
    parts = uri.rstrip("/").split("/")
    if folder_name not in parts:
        return None
    rest = parts[len(parts) - 1 - parts[::-1].index(folder_name) + 1 :]
    return rest[0] if len(rest) > 1 and _VERSION.fullmatch(rest[0]) else LOOSE


def remove_old_versions(
    store: Storage, folder: str, keep: set[str | None], *, grace_s: float = STALE_TEMP_AGE_S, now: float | None = None
) -> list[str]:
    """Remove the versions of `folder` older than `grace_s`, except those in `keep`; returns their names."""
    now = time.time() if now is None else now
    removed = []
    names = store.list_names(folder)
    loose = [name for name in names if not _VERSION.fullmatch(name)]
    for name in names:
        match = _VERSION.fullmatch(name)
        if match and name not in keep and now - int(match.group("ms")) / 1000 > grace_s:
            store.remove_tree(f"{folder}/{name}")
            removed.append(name)
    if loose and LOOSE not in keep:
        for name in loose:
            store.remove_tree(f"{folder}/{name}")
        removed.append(LOOSE)
    return removed
