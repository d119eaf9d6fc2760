"""How far a long `wandr-pipeline run` is: a bar on a terminal, a plain line every few seconds elsewhere.

A 100,000-video list runs for days; whoever started it wants to know how many videos are done, how many
failed, how many are left, and when it will end. On a terminal that is a tqdm bar (on stderr, with the
logs); in a log file or `docker logs` a bar's carriage returns are noise, so there it is one line every
`WANDR_PROGRESS_EVERY_S` seconds. Both move after each run (`WANDR_PARTITIONS_PER_RUN` videos).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from tqdm import tqdm

from wandr_pipeline.cli.runner import Tally


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def progress_line(tally: Tally, now: float | None = None) -> str:
    """`progress: 1200/5000 videos (finished 1100, failed 100), 4.1 videos/s, ETA 15m27s`."""
    elapsed = (now or time.monotonic()) - tally.started_at
    rate = tally.done / elapsed if elapsed > 0 else 0.0
    eta = f"ETA {_duration(tally.left / rate)}" if rate > 0 and tally.left else "ETA ?" if tally.left else "done"
    counts = f"finished {tally.finished}, failed {tally.failed}"
    if tally.interrupted:
        counts += f", interrupted {tally.interrupted}"
    return f"progress: {tally.done}/{tally.planned} videos ({counts}; {tally.left} left), {rate:.2f} videos/s, {eta}"


class Progress:
    """`update(tally)` after each run (the runner's `on_progress`); `close()` at the end."""

    def __init__(self, every_s: float, stream: TextIO | None = None, interactive: bool | None = None):
        self.stream = stream or sys.stdout
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self.every_s = max(1.0, every_s)
        self._tally: Tally | None = None
        self._bar: tqdm | None = None
        self._closed = threading.Event()
        self._ticker: threading.Thread | None = None

    def update(self, tally: Tally) -> None:
        self._tally = tally
        if not tally.planned:
            return
        if self.interactive:
            if self._bar is None:
                self._bar = tqdm(total=tally.planned, unit="video", dynamic_ncols=True, file=sys.stderr)
            self._bar.set_postfix_str(f"finished {tally.finished}, failed {tally.failed}, left {tally.left}", False)
            self._bar.update(tally.done - self._bar.n)
        elif self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="progress-lines", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._closed.wait(self.every_s):
            self._print()

    def _print(self) -> None:
        if self._tally is not None:
            print(progress_line(self._tally), file=self.stream, flush=True)

    def close(self) -> None:
        self._closed.set()
        if self._bar is not None:
            self._bar.close()
        elif self._ticker is not None:
            self._print()  # where it ended
