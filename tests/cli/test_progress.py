"""The progress of a long `wandr-pipeline run`: done, failed, left, rate and ETA, in plain lines off a terminal."""

from __future__ import annotations

import io
import time

from wandr_pipeline.cli.progress import Progress, progress_line
from wandr_pipeline.cli.runner import Tally


def test_a_progress_line_says_done_failed_left_rate_and_eta():
    tally = Tally(planned=5000, finished=900, failed=100, started_at=100.0)
    line = progress_line(tally, now=600.0)  # 1,000 done in 500 s: 2/s, 4,000 left: 2,000 s
    assert "1000/5000 videos" in line and "finished 900, failed 100; 4000 left" in line
    assert "2.00 videos/s" in line and "ETA 33m20s" in line
    assert progress_line(Tally(planned=3, finished=3, started_at=0.0), now=1.0).endswith("done")


def test_off_a_terminal_it_prints_a_line_every_few_seconds_and_one_at_the_end():
    out = io.StringIO()
    progress = Progress(every_s=1.0, stream=out, interactive=False)
    tally = Tally(planned=10)
    progress.update(tally)
    deadline = time.monotonic() + 30
    while not out.getvalue() and time.monotonic() < deadline:  # the first tick, however loaded the machine
        time.sleep(0.1)
    tally.finished = 10
    progress.close()
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2 and all(line.startswith("progress: ") for line in lines)
    assert lines[-1].startswith("progress: 10/10 videos")
