"""One batch run end to end, two checkouts side by side: wall time, CPU busy, and whether the tables agree.

    .venv/bin/python -m benchmarks.bench_batch_run --before ../wt-before [--after .] [--videos 20]
        [--seconds 60] [--rounds 1] [--out benchmarks/out/batch_run.json]

Builds `--videos` portrait 1080x1920 H.264/AAC clips of `--seconds` each from the sample clips (speech
and burned-in captions; three orders of the samples, so the clips differ), serves them on loopback,
and runs `wandr-pipeline run LIST` on them as a subprocess from each checkout (its code on
PYTHONPATH, this venv's packages), on a fresh storage root and SQLite instance each time (configured by
that checkout's dagster_home/dagster.yaml, as `make run` is), the two
checkouts alternating for `--rounds` rounds. CPU busy is the run's user + system CPU seconds (the
CLI and every process it waited for: ffmpeg) over its wall time, out of 100 % per core. After each
run the transcripts and caption spans are compared with the first run's, video by video.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_pipeline import ffmpeg  # noqa: E402
from tests.support.servers import LoopbackServer  # noqa: E402


def make_clip(target: Path, seconds: int, rotation: int) -> None:
    """The sample clips in a rotated order, repeated to `seconds`, scaled to 1080x1920."""
    samples = sorted((REPO / "data" / "samples").glob("*.mp4"))
    samples = samples[rotation % len(samples) :] + samples[: rotation % len(samples)]
    samples = samples * 4  # 36 s of samples: enough for two minutes
    inputs = [arg for clip in samples for arg in ("-i", str(clip))]
    n = len(samples)
    chains = "".join(f"[{i}:v]scale=1080:1920,setsar=1,fps=30[v{i}];" for i in range(n))
    concat = "".join(f"[v{i}][{i}:a]" for i in range(n)) + f"concat=n={n}:v=1:a=1[v][a]"
    subprocess.run(
        [ffmpeg(), "-nostdin", "-loglevel", "error", "-y", *inputs, "-filter_complex", chains + concat]
        + ["-map", "[v]", "-map", "[a]", "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-crf", "23"]
        + ["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart", str(target)],
        check=True,
    )


def run_cli(checkout: Path, url_list: Path, root: Path, extra_env: dict[str, str]) -> dict:
    """`wandr-pipeline run` from `checkout`; wall seconds, CPU seconds of it and its children."""
    home = root / "home"
    home.mkdir(parents=True)
    shutil.copy(checkout / "dagster_home" / "dagster.yaml", home / "dagster.yaml")  # as `make run` has it
    env = {
        **os.environ,
        "PYTHONPATH": str(checkout),
        "DAGSTER_HOME": str(home),
        "WANDR_STORAGE_URI": str(root / "storage"),
        "LOG_LEVEL": "WARNING",
        **extra_env,
    }
    command = [sys.executable, "-c", "from wandr_pipeline.cli.main import main; main()", "run", str(url_list)]
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = child.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"run from {checkout} failed:\n{output[-3000:]}")
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "cpu_busy_pct": round(100 * cpu / wall)}


def tables_by_clip(storage: Path) -> dict[str, dict]:
    """Per clip (its file name): transcript text and caption span texts with times."""
    videos = pq.read_table(storage / "warehouse" / "videos").to_pylist()
    names = {row["video_key"]: row["source_url"].rsplit("/", 1)[-1] for row in videos}
    out: dict[str, dict] = {name: {"transcript": [], "captions": []} for name in names.values()}
    for row in pq.read_table(storage / "warehouse" / "transcript_segments").to_pylist():
        out[names[row["video_key"]]]["transcript"].append((row["segment_index"], row["status"], row["text"]))
    for row in pq.read_table(storage / "warehouse" / "caption_spans").to_pylist():
        out[names[row["video_key"]]]["captions"].append(
            (row["span_index"], row["status"], row["text"], row["start_s"], row["end_s"])
        )
    for tables in out.values():
        tables["transcript"].sort(key=str)
        tables["captions"].sort(key=str)
    return out


def differences(first: dict, other: dict) -> list[str]:
    return [
        f"{clip} {table}"
        for clip in sorted(set(first) | set(other))
        for table in ("transcript", "captions")
        if first.get(clip, {}).get(table) != other.get(clip, {}).get(table)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, required=True, help="checkout of the commit compared against")
    parser.add_argument("--after", type=Path, default=REPO)
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for both runs")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "batch_run.json")
    args = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.env)
    checkouts = {"before": args.before.resolve(), "after": args.after.resolve()}
    commits = {
        name: subprocess.run(
            ["git", "-C", str(path), "log", "-1", "--format=%h %s"], capture_output=True, text=True
        ).stdout.strip()[:100]
        for name, path in checkouts.items()
    }
    results: dict = {
        "machine": f"{platform.node()} {os.cpu_count()} cores {platform.processor() or platform.machine()}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "videos": args.videos,
        "seconds_each": args.seconds,
        "commits": commits,
        "env": extra_env,
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="wandr-bench-batch-") as tmp:
        tmp = Path(tmp)
        media = tmp / "media"
        media.mkdir()
        for rotation in range(3):
            make_clip(media / f"base{rotation}.mp4", args.seconds, rotation)
        for i in range(args.videos):
            shutil.copy(media / f"base{i % 3}.mp4", media / f"clip{i:02d}.mp4")
        server = LoopbackServer(media)
        try:
            url_list = tmp / "urls.txt"
            url_list.write_text("".join(server.url(f"clip{i:02d}.mp4") + "\n" for i in range(args.videos)))
            first_tables = None
            for round_index in range(args.rounds):
                for name, checkout in checkouts.items():
                    root = tmp / f"{name}-{round_index}"
                    load = os.getloadavg()[0]
                    run = {"checkout": name, "round": round_index, "load_at_start": round(load, 2)}
                    run.update(run_cli(checkout, url_list, root, extra_env))
                    tables = tables_by_clip(root / "storage")
                    if first_tables is None:
                        first_tables = tables
                    run["tables_differ"] = differences(first_tables, tables)
                    results["runs"].append(run)
                    print(json.dumps(run), flush=True)
                    shutil.rmtree(root)
        finally:
            server.close()
    by = {name: [r for r in results["runs"] if r["checkout"] == name] for name in checkouts}
    mean = {name: sum(r["wall_s"] for r in runs) / len(runs) for name, runs in by.items()}
    results["speedup"] = round(mean["before"] / mean["after"], 2)
    results["cpu_busy_pct"] = {
        name: round(sum(r["cpu_busy_pct"] for r in runs) / len(runs)) for name, runs in by.items()
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
