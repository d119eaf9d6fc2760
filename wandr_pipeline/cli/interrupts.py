"""SIGTERM and SIGINT stop `wandr-pipeline run` within seconds, with its temporary folders removed.

docker and Kubernetes send SIGTERM, then SIGKILL 10-30 s later; a person presses Ctrl-C. The CLI's
work runs in threads that cannot be killed from outside (a stage's worker inside a yt-dlp download),
and while a Dagster run executes, Dagster's own handler holds both signals (it raises its interrupt in
the main thread, which fails the run). So the signals are watched from a thread of their own, through
`signal.set_wakeup_fd`, which the interpreter writes each signal's number to whichever Python handler
is installed at the time:

1. the first SIGTERM/SIGINT asks every thread to stop (lib/stopping.py): downloads end at their next
   received block (their connections are shut at once too), the pipelining loop stops starting work,
   Dagster fails the run in progress, and the CLI starts no further run and exits with 128 + the
   signal's number (143 for SIGTERM, 130 for SIGINT);
2. if the process is still there `grace_s` later (a thread stuck in native code), or a second signal
   comes, the last resort: this process's temporary folders (cookie copies included) are removed and
   the process ends at once with the same code (the run it leaves STARTED is marked failed by the
   next `wandr-pipeline run`, cli/recovery.py).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading

from wandr_pipeline.lib.scratch import remove_own_scratch
from wandr_pipeline.lib.stopping import request_stop

WATCHED = (signal.SIGTERM, signal.SIGINT)
GRACE_S = 6.0


def exit_code(signal_number: int) -> int:
    return 128 + signal_number


class SignalWatch:
    """While entered (main thread only): the first watched signal requests a stop, and `grace_s` later,
    or at a second signal, the process removes its temporary folders and ends."""

    def __init__(self, grace_s: float = GRACE_S):
        self.grace_s = grace_s
        self.received: int | None = None  # the first watched signal's number
        self._count = 0
        self._lock = threading.Lock()

    def __enter__(self) -> SignalWatch:
        self.active = threading.current_thread() is threading.main_thread()
        if not self.active:  # signals reach the main thread only; a caller in another thread keeps its own
            return self
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        # a Python handler must be installed for the interpreter to note the signal; the thread acts on it
        self._previous = {number: signal.signal(number, _noted) for number in WATCHED}
        self._thread = threading.Thread(target=self._watch, name="signal-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if not self.active:
            return
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._writer.close()  # ends the watching thread
        self._reader.close()

    def _watch(self) -> None:
        while True:
            try:
                data = self._reader.recv(64)
            except OSError:
                return
            if not data:
                return
            for number in data:
                if number in WATCHED:
                    self._on_signal(number)

    def _on_signal(self, number: int) -> None:
        with self._lock:
            self._count += 1
            first = self._count == 1
            if first:
                self.received = number
        name = signal.Signals(number).name
        if not first:
            last_resort(self.received or number, f"{name} again")
        request_stop(f"interrupted by {name}")
        _say(f"{name}: stopping (the videos in progress are redone by the next run); {name} again ends it now")
        timer = threading.Timer(
            self.grace_s, last_resort, args=(number, f"still running {self.grace_s:g} s after {name}")
        )
        timer.daemon = True
        timer.start()


def _noted(signal_number, frame) -> None:
    """Python's half of the handler: nothing; `SignalWatch`'s thread reads the number from the wakeup fd."""


def last_resort(signal_number: int, why: str) -> None:
    """Remove this process's temporary folders and end it now (threads stuck in native code included)."""
    removed = remove_own_scratch()
    _say(f"{why}: exiting now ({removed} temporary folder(s) removed)")
    os._exit(exit_code(signal_number))


def _say(message: str) -> None:
    try:
        sys.stdout.flush()
        sys.stderr.write(f"wandr-pipeline: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr gone (a closed pipe): the exit matters more
        pass
