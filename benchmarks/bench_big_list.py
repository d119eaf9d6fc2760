"""A 100,000-line URL list through `wandr-pipeline run`, as a user starts it, stopped with SIGTERM.

    .venv/bin/python -m benchmarks.bench_big_list [--lines 100000] [--run-s 240] [--out benchmarks/out/big_list.json]

The list is one tiny clip behind a few distinct loopback URLs and 404s for the rest (what is measured
is the CLI: registration, planning, locks, runs one after another; not the models). The CLI runs in a
subprocess with its output in a file (so it prints plain progress lines), under `ulimit -n 1024` (the
limit that stopped a 1,500-line list before issue 24). The harness samples its RSS and open
descriptors from /proc every 0.2 s, reads from its log when registration ended and when the first
run finished, lets it run `--run-s` seconds and sends SIGTERM (the signal path: it must exit within
seconds, with 143), then counts the `videos` rows written.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.fault_server import FaultServer  # noqa: E402

DESCRIPTOR_LIMIT = 1024
REGISTERED = re.compile(r"registered (\d+) video\(s\) in ([\d.]+) s")
PLANNED = re.compile(r"planned (\d+) run\(s\) for (\d+) video\(s\) in ([\d.]+) s")


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTOR_LIMIT, DESCRIPTOR_LIMIT))


def _sample(pid: int) -> tuple[int, int]:
    """(open descriptors, resident set in KiB) of `pid`, zeros once it is gone."""
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        rss = next(
            int(line.split()[1])
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmRSS")
        )
        return fds, rss
    except (OSError, StopIteration):
        return 0, 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--run-s", type=float, default=240.0, help="seconds after the start to send SIGTERM")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "big_list.json")
    args = parser.parse_args()
    import imageio_ffmpeg

    with tempfile.TemporaryDirectory(prefix="bench-big-list-") as tmp:
        tmp_path = Path(tmp)
        clips = tmp_path / "clips"
        clips.mkdir()
        subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"]
            + ["testsrc=duration=1:size=160x120:rate=10", "-pix_fmt", "yuv420p", str(clips / "tiny.mp4")],
            check=True,
        )
        server = FaultServer(clips)
        listing = tmp_path / "list.txt"
        with open(listing, "w") as handle:
            for i in range(args.lines):
                path = f"media/tiny.mp4?copy={i}" if i % 10_000 == 0 else f"media/missing-{i}.mp4"
                handle.write(server.url(path) + "\n")
        (tmp_path / "tmp").mkdir()
        env = {key: value for key, value in os.environ.items() if key != "DAGSTER_HOME"}
        env.update(
            TMPDIR=str(tmp_path / "tmp"),
            WANDR_STORAGE_URI=str(tmp_path / "storage"),
            WANDR_DOWNLOAD_ATTEMPTS="1",
            WANDR_PROGRESS_EVERY_S="15",
            LOG_LEVEL="INFO",
            HF_HUB_OFFLINE="1",
        )
        log_path = tmp_path / "run.log"
        started = time.monotonic()
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "wandr_pipeline.cli", "run", str(listing)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_limit_descriptors,
            )
        peak_fds = peak_rss = 0
        first_run_s = None
        signalled_at = None
        while process.poll() is None:
            fds, rss = _sample(process.pid)
            peak_fds, peak_rss = max(peak_fds, fds), max(peak_rss, rss)
            now = time.monotonic()
            if first_run_s is None and re.search(r"progress: [1-9]", log_path.read_text()):
                first_run_s = now - started
            if signalled_at is None and now - started >= args.run_s:
                process.send_signal(signal.SIGTERM)
                signalled_at = now
            if signalled_at is not None and now - signalled_at > 60:
                process.kill()
            time.sleep(0.2)
        exit_s = time.monotonic() - signalled_at if signalled_at else None
        output = log_path.read_text()
        server.close()
        videos_dir = tmp_path / "storage" / "warehouse" / "videos"
        rows = len(list(videos_dir.iterdir())) if videos_dir.is_dir() else 0
        registered = REGISTERED.search(output)
        planned = PLANNED.search(output)
        result = {
            "lines": args.lines,
            "descriptor_limit": DESCRIPTOR_LIMIT,
            "registration_s": float(registered.group(2)) if registered else None,
            "registration_urls_per_s": round(args.lines / float(registered.group(2)), 1) if registered else None,
            "planning_s": float(planned.group(3)) if planned else None,
            "planned_runs": int(planned.group(1)) if planned else None,
            "first_run_done_s": round(first_run_s, 1) if first_run_s else None,
            "sigterm_after_s": args.run_s,
            "exit_code": process.returncode,
            "exit_s_after_sigterm": round(exit_s, 2) if exit_s is not None else None,
            "videos_rows_written": rows,
            "peak_open_descriptors": peak_fds,
            "peak_rss_mib": round(peak_rss / 1024, 1),
            "python": platform.python_version(),
            "summary_tail": output.splitlines()[-14:],
        }
    print(json.dumps(result, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
