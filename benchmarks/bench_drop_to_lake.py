"""Drop -> documents and drop -> lake: how long a dropped URL list of three short clips takes to reach
`video_documents` and the analysts' lake with a real `dagster-daemon` (what `make dev` runs).

    .venv/bin/python -m benchmarks.bench_drop_to_lake --variant before=/tmp/main-src --variant after=. \
        [--rounds 2] [--out benchmarks/out/drop_to_lake.json]

Each variant is a source tree of this repository (e.g. `git archive main | tar -x -C /tmp/main-src`)
run with this checkout's virtual environment: its daemon starts with `PYTHONPATH` and the working
directory set to that tree, on a fresh DAGSTER_HOME (the shipped `dagster_home/dagster.yaml`), a fresh
storage root and the shipped defaults for every setting except the watched folder. The variants
alternate round by round, so machine load falls on both alike. In each round the list is dropped
right after a `url_list_sensor` tick has been seen, so every variant waits one full sensor interval
before its videos are registered (the worst case of the first tick, the same for all). The clips are
the three samples, served on loopback. `--start-lake-sensor VARIANT` switches `lake_sync_sensor` on
first (`dagster sensor start`), as a user had to before it ran by default.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.servers import LoopbackServer  # noqa: E402

BIN = Path(sys.executable).parent
CLIPS = ("kyoto_temples.mp4", "lisbon_pasteis.mp4", "mexico_city_tacos.mp4")
ROUND_TIMEOUT_S = 600


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def one_round(name: str, source: Path, server: LoopbackServer, start_lake_sensor: bool) -> dict:
    from dagster import AssetKey, DagsterInstance

    from wandr_pipeline.lib.lake import Lake
    from wandr_pipeline.lib.storage import Storage

    work = Path(tempfile.mkdtemp(prefix=f"drop-{name}-"))
    home, lists, root = work / "dagster_home", work / "url_lists", work / "root"
    for folder in (home, lists, root):
        folder.mkdir()
    shutil.copy(source / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("WANDR_", "WHISPER_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        WANDR_STORAGE_URI=str(root),
        WANDR_URL_LIST_DIRS=str(lists),
        PYTHONPATH=str(source),
        HF_HUB_OFFLINE="1",
        PYTHONWARNINGS="ignore",
    )
    os.environ["DAGSTER_HOME"] = str(home)
    instance = DagsterInstance.get()  # creates the SQLite storages before the daemon does
    log = open(work / "daemon.log", "wb")
    if start_lake_sensor:
        subprocess.run(
            [str(BIN / "dagster"), "sensor", "start", "lake_sync_sensor", "-w", "workspace.yaml"],
            cwd=source,
            env=env,
            check=True,
            capture_output=True,
        )
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=source,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    result: dict = {"variant": name, "load_before": load_average()}
    try:
        deadline = time.monotonic() + ROUND_TIMEOUT_S

        def sensor_ticks() -> int:  # the daemon logs each evaluation; its log is line-buffered
            return (
                (work / "daemon.log")
                .read_text(errors="replace")
                .count("Checking for new runs for sensor: url_list_sensor")
            )

        while sensor_ticks() == 0:
            assert daemon.poll() is None and time.monotonic() < deadline, "the daemon did not tick"
            time.sleep(0.2)
        (lists / "three.txt").write_text("".join(f"{server.url(clip)}\n" for clip in CLIPS))
        dropped, dropped_at = time.monotonic(), time.time()
        lake = Lake(Storage(str(root)))
        documents = AssetKey("video_documents")
        while "documents_s" not in result or "lake_s" not in result:
            assert daemon.poll() is None and time.monotonic() < deadline, f"round timed out: {result}"
            if "documents_s" not in result and len(instance.get_materialized_partitions(documents)) >= len(CLIPS):
                result["documents_s"] = round(time.monotonic() - dropped, 1)
            if (
                "lake_s" not in result
                and lake.exists("video_documents")
                and len(set(lake.read_pandas("video_documents", columns=["video_key"]).video_key)) >= len(CLIPS)
            ):
                result["lake_s"] = round(time.monotonic() - dropped, 1)
            time.sleep(0.5)
        # per run: seconds from the drop to its creation, queued-to-start, and its own length
        result["runs"] = [
            {
                "job": record.dagster_run.job_name,
                "created_s": round(record.create_timestamp.timestamp() - dropped_at, 1),
                "queued_s": round((record.start_time or 0) - record.create_timestamp.timestamp(), 1),
                "ran_s": round((record.end_time or 0) - (record.start_time or 0), 1),
            }
            for record in sorted(instance.get_run_records(), key=lambda r: r.create_timestamp.timestamp())
        ]
        result["load_after"] = load_average()
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
        instance.dispose()
        shutil.rmtree(work, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", required=True, help="NAME=SOURCE_TREE")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--start-lake-sensor", action="append", default=[], metavar="VARIANT")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    variants = [(text.split("=", 1)[0], Path(text.split("=", 1)[1]).resolve()) for text in args.variant]
    server = LoopbackServer(REPO / "data" / "samples")
    results = []
    try:
        for number in range(args.rounds):
            for name, source in variants:
                outcome = one_round(name, source, server, name in args.start_lake_sensor)
                outcome["round"] = number + 1
                print(json.dumps(outcome), flush=True)
                results.append(outcome)
    finally:
        server.close()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
