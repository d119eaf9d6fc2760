"""Is the process that started something still alive? (No Dagster import.)

A CLI run killed with SIGKILL cannot clean up after itself: its Dagster run stays STARTED and a write
it was in the middle of leaves a hidden temporary file. Both record who made them (host name, pid and,
on Linux, the process's start time, so that a recycled pid is not mistaken for the old process), and
the next run removes what a dead process left behind. Only processes on this host can be judged: for
another host's processes `owner_is_dead` answers False.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")


def host_name() -> str:
    """This machine's name, reduced to `[A-Za-z0-9-]` (it goes into run tags and file names)."""
    return _UNSAFE.sub("-", socket.gethostname()).strip("-") or "localhost"


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, or None without procfs/that process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()  # the name may hold spaces and ')'


def process_start_ticks(pid: int) -> str:
    """When `pid` started (clock ticks since boot, Linux), or "" where that cannot be read."""
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else ""


def pid_is_alive(pid: int, start_ticks: str = "") -> bool:
    """Whether `pid` is a live (not zombie) process on this host that started at `start_ticks`."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    fields = _proc_stat(pid)
    if fields is None:  # no procfs (macOS): the signal check is all there is
        return True
    if fields[0] in ("Z", "X"):  # killed but not yet reaped by its parent
        return False
    return not start_ticks or len(fields) <= 19 or fields[19] == start_ticks


@dataclass(frozen=True)
class ProcessId:
    host: str
    pid: int
    start_ticks: str = ""

    @classmethod
    def current(cls) -> ProcessId:
        return cls(host_name(), os.getpid(), process_start_ticks(os.getpid()))

    def is_dead(self) -> bool:
        """True only when this is a process of this host that no longer runs."""
        return self.host == host_name() and not pid_is_alive(self.pid, self.start_ticks)

    def token(self) -> str:
        """`host_pid_start` for a file name (no dots: the host part is sanitised)."""
        return f"{self.host}_{self.pid}_{self.start_ticks or 0}"

    @classmethod
    def from_token(cls, token: str) -> ProcessId | None:
        match = re.fullmatch(r"([A-Za-z0-9-]+)_(\d+)_(\d+)", token)
        if not match:
            return None
        start = match.group(3)
        return cls(match.group(1), int(match.group(2)), "" if start == "0" else start)
