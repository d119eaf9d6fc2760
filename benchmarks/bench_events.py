"""Events Dagster stores per video, by type, and orchestration seconds per video, for one batch run.

    .venv/bin/python -m benchmarks.bench_events [--batch 50] [--failed 1] [--direct] [--in-flight 1]

Every event Dagster stores is a write to its event log (one SQLite write each locally), so the
metadata and check results the stage assets emit per video must not add events per video. This
runs `--batch` short clips plus `--failed` URLs that answer 404 through the whole graph in one
in-process run (as `wandr-pipeline run`), counts the run's stored events by type, and with `--direct`
times the same work by direct function calls (the orchestration cost, as in bench_pipeline.py).
To compare two versions side by side, run this file from each checkout in the same session.

The direct calls do one video after another, so the Dagster run is timed one video at a time too
(`--in-flight 1`, `WANDR_VIDEOS_IN_FLIGHT`): with the stages pipelined the run would be faster than
the serial direct calls and the difference would no longer be orchestration.

Wall minus direct calls also counts the stage work the direct calls leave out (the frame gate, caption
spans, documents, every Parquet, JPEG and subtitle write) and the OCR they do on every frame. A second
figure needs no matching work: the op thread's wall time outside its wait for the stage workers
(`lib/pipelining.py`), which is where Dagster runs (events, outputs, metadata, checks), per video.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_pipeline import dagster_run, direct_work, make_short_clip, timed  # noqa: E402
from tests.support.servers import LoopbackServer  # noqa: E402
from wandr_pipeline.lib import pipelining  # noqa: E402


def event_counts(run_ids: list[str]) -> Counter:
    """Stored events of the runs by type (`LOG` for plain log lines)."""
    from dagster import DagsterInstance

    instance = DagsterInstance.get()
    counts: Counter = Counter()
    for run_id in run_ids:
        for entry in instance.all_logs(run_id):
            counts[entry.dagster_event.event_type_value if entry.dagster_event else "LOG"] += 1
    return counts


class WaitClock:
    """Seconds the op thread spends in `run_pipelined`'s wait for its stage workers."""

    def __init__(self):
        self.waited_s = 0.0
        inner = pipelining.wait

        def timed_wait(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.waited_s += time.perf_counter() - start

        pipelining.wait = timed_wait


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--failed", type=int, default=1, help="videos whose download fails (HTTP 404)")
    parser.add_argument("--direct", action="store_true", help="also time the work by direct calls")
    parser.add_argument("--in-flight", type=int, default=1, help="WANDR_VIDEOS_IN_FLIGHT of the Dagster run")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "events.json")
    args = parser.parse_args()
    os.environ["WANDR_VIDEOS_IN_FLIGHT"] = str(args.in_flight)

    videos = args.batch + args.failed
    results: dict = {
        "code": str(REPO),
        "machine": f"{platform.node()} {os.cpu_count()} cores {platform.processor() or platform.machine()}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load": os.getloadavg(),
        "videos": videos,
        "failed_videos": args.failed,
        "videos_in_flight": args.in_flight,
    }
    with tempfile.TemporaryDirectory(prefix="wandr-bench-events-") as tmp:
        tmp = Path(tmp)
        media = tmp / "media"
        media.mkdir()
        make_short_clip(media / "short.mp4")
        server = LoopbackServer(media)
        try:
            urls = [server.url(f"short.mp4?n={i}") for i in range(args.batch)]
            urls += [server.url(f"missing-{i}.mp4") for i in range(args.failed)]
            clock = WaitClock()
            wall, runs = dagster_run(urls, tmp / "dagster", videos)
            counts = event_counts([run.run_id for run in runs])
            results.update(
                runs=len(runs),
                dagster_wall_s=round(wall, 2),
                waited_for_stage_workers_s=round(clock.waited_s, 2),
                op_thread_s_per_video=round((wall - clock.waited_s) / args.batch, 3),
                events_total=sum(counts.values()),
                events_per_video=round(sum(counts.values()) / videos, 2),
                events_by_type=dict(counts.most_common()),
            )
            if args.direct:
                from wandr_pipeline.engines.rapidocr import RapidOcrEngine
                from wandr_pipeline.engines.whisper import WhisperTranscriber
                from wandr_pipeline.engines.whisper_models import BUNDLED_MODEL
                from wandr_pipeline.engines.whisper_options import transcriber_options
                from wandr_pipeline.settings import WhisperSettings

                transcriber = WhisperTranscriber(transcriber_options(WhisperSettings(), model=BUNDLED_MODEL))
                ocr = RapidOcrEngine(min_confidence=0.5, use_cuda=False)
                direct_work(server.url("short.mp4?warm=1"), tmp / "warm", transcriber, ocr)

                def direct_all():
                    for i in range(args.batch):
                        direct_work(server.url(f"short.mp4?d={i}"), tmp / f"direct{i}", transcriber, ocr)
                        shutil.rmtree(tmp / f"direct{i}")

                _, direct_s = timed(direct_all)
                results.update(
                    direct_s=round(direct_s, 2),
                    orchestration_s_per_video=round((wall - direct_s) / args.batch, 3),
                )
        finally:
            server.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
