"""Registering the videos of concurrent POSTs together: one instance read and one write per group.

Each instance call costs tens of milliseconds of Python (connection, table check, SQL compilation)
under the one GIL, and with SQLite the writes take turns as well; four calls per POST made a burst of
100 POSTs take ~10 s however many threads served it. So a POST writes its submission record itself
(a small file) and hands its key to this thread, which takes every key that arrived meanwhile and,
for all of them at once, reads which are known, adds the new ones to the `videos` partitions, and
answers each POST: *new* (registered now: the daemon's registered_videos_sensor makes its run) or
*known* (registered before: the POST reads its status to decide). A POST is answered only after its
registration is committed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from dagster import DagsterInstance

from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME

log = logging.getLogger("wandr_pipeline.api")

NEW, KNOWN = "new", "known"


class RegistrationFailed(RuntimeError):
    """The instance did not take the registration (the POST answers 503)."""


@dataclass
class _Group:
    keys: list[str] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Registrar:
    def __init__(self, instance: Callable[[], DagsterInstance]):
        self._instance = instance
        self._lock = threading.Lock()
        self._group = _Group()
        self._arrived = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def register(self, key: str, timeout: float = 60.0) -> str:
        """Register `key` (its submission record written already) unless it is known; returns NEW or
        KNOWN once committed. Raises `RegistrationFailed`."""
        with self._lock:
            group = self._group
            group.keys.append(key)
            self._start_locked()
        self._arrived.set()
        if not group.done.wait(timeout):
            raise RegistrationFailed(f"the registration did not finish within {timeout:.0f} s")
        if group.error:
            raise RegistrationFailed(group.error)
        return group.answers[key]

    def stop(self) -> None:
        self._stop.set()
        self._arrived.set()

    def _start_locked(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="wandr-registrar", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._arrived.wait()
            self._arrived.clear()
            with self._lock:
                group, self._group = self._group, _Group()
            if group.keys:
                self._commit(group)

    def _commit(self, group: _Group) -> None:
        try:
            instance = self._instance()
            known = set(instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)) & set(group.keys)
            new = [key for key in dict.fromkeys(group.keys) if key not in known]
            if new:
                instance.add_dynamic_partitions(VIDEOS_PARTITIONS_NAME, new)
            for key in group.keys:
                group.answers[key] = KNOWN if key in known else NEW
        except Exception as exc:  # noqa: BLE001 - every POST of the group answers 503 with it
            log.exception("could not register %d video(s)", len(group.keys))
            group.error = f"cannot register the video now: {type(exc).__name__}: {exc}"[:300]
        finally:
            group.done.set()
