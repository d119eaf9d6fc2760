"""A burst of submissions against the real API on loopback: are POSTs answered in time, and does
`/health` answer while they are in flight?

    .venv/bin/python -m benchmarks.api_load [--posts 100] [--repo PATH] [--out benchmarks/out/api_load.json]

Starts `wandr-pipeline api` (gunicorn, the default workers and threads) on a free loopback port with a
temporary DAGSTER_HOME (queued run coordinator, no daemon: nothing runs) and a temporary storage root;
submits one video first (start-up costs are not part of the burst), then `--posts` POSTs of distinct
URLs all at once while another thread asks `/health` every 100 ms. The API registers, the daemon
runs: then one tick of the daemon's `registered_videos_sensor` is evaluated here, against the same
instance (this checkout's sensor), and its run requests counted and timed. Prints and writes the
latency percentiles, the sensor's tick time and the runs it requested. Bounded: every request times
out after `--timeout` s, the whole burst after `--timeout` + 30 s. `--repo` runs another checkout's API
(a side-by-side comparison). Exit status 1 when POST p99 >= 2 s or the slowest /health >= 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from dagster import DagsterInstance, SkipReason, build_sensor_context

from wandr_pipeline.defs.ingestion.registered_videos_sensor import evaluate_registered_videos
from wandr_pipeline.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {
        "n": len(values),
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "max": round(ordered[-1], 3),
        "mean": round(statistics.mean(values), 3),
    }


def sensor_tick(home: Path, storage_root: Path) -> dict:
    """One tick of registered_videos_sensor over what the burst registered, as the daemon evaluates it."""
    with DagsterInstance.from_config(str(home)) as instance:
        began = time.perf_counter()
        result = evaluate_registered_videos(
            build_sensor_context(instance=instance), Settings.from_env(storage_uri=str(storage_root))
        )
        seconds = time.perf_counter() - began
    run_requests = [] if isinstance(result, SkipReason) else list(result.run_requests)
    return {
        "sensor_tick_s": round(seconds, 2),
        "runs_requested": len(run_requests),
        "videos_requested": sum(int(r.tags["wandr/videos"].split(" ", 1)[0]) for r in run_requests),
    }


def run(posts: int, repo: Path, timeout: float) -> dict:
    root = Path(tempfile.mkdtemp(prefix="wandr-api-load-"))
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: QueuedRunCoordinator\n"
    )
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(repo),
        "DAGSTER_HOME": str(home),
        "WANDR_STORAGE_URI": str(root / "storage"),
        "WANDR_URL_LIST_DIRS": str(root / "url_lists"),
        "PORT": str(port),
        "WANDR_API_HOST": "127.0.0.1",
        "WANDR_API_ALLOWED_NETWORKS": "127.0.0.1",
        "HF_HUB_OFFLINE": "1",
    }
    log = open(root / "api.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "wandr_pipeline.cli", "api"],
        cwd=repo,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{base}/health", timeout=30).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the API did not come up; see {root / 'api.log'}")
            time.sleep(0.5)
        start = time.perf_counter()
        first = requests.post(f"{base}/process", json={"url": "http://127.0.0.1:9/warm.mp4"}, timeout=120)
        warm_s = time.perf_counter() - start
        assert first.status_code == 202, first.text

        health: list[float] = []
        health_codes: list[int] = []
        stop = threading.Event()

        def probe() -> None:
            while not stop.is_set():
                began = time.perf_counter()
                try:
                    code = requests.get(f"{base}/health", timeout=timeout).status_code
                except requests.RequestException:
                    code = 0
                health.append(time.perf_counter() - began)
                health_codes.append(code)
                stop.wait(0.1)

        def post(i: int) -> tuple[float, int, str | None]:
            began = time.perf_counter()
            job_id = None
            try:
                response = requests.post(
                    f"{base}/process", json={"url": f"http://127.0.0.1:9/load/{i}.mp4"}, timeout=timeout
                )
                code = response.status_code
                job_id = response.json().get("job_id") if code == 202 else None
            except requests.RequestException:
                code = 0
            return time.perf_counter() - began, code, job_id

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        time.sleep(0.3)
        burst_start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=posts) as pool:
            answers = list(pool.map(post, range(posts), timeout=timeout + 30))
        burst_s = time.perf_counter() - burst_start
        time.sleep(0.3)
        stop.set()
        prober.join(timeout=timeout)
        codes: dict[str, int] = {}
        for _, code, _ in answers:
            codes[str(code)] = codes.get(str(code), 0) + 1

        sensor = sensor_tick(home, root / "storage")
        return {
            "repo": str(repo),
            "posts": posts,
            "warm_first_post_s": round(warm_s, 2),
            "burst_s": round(burst_s, 2),
            "post_latency_s": _percentiles([seconds for seconds, _, _ in answers]),
            "post_status_codes": codes,
            "health_latency_s": _percentiles(health),
            "health_status_codes": sorted(set(health_codes)),
            **sensor,
        }
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        try:
            os.killpg(server.pid, signal.SIGKILL)  # code servers that outlived gunicorn
        except ProcessLookupError:
            pass
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100)
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose API is measured")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = run(args.posts, args.repo.resolve(), args.timeout)
    result["machine"] = f"{platform.node()} {platform.machine()} {os.cpu_count()} cores"
    result["load"] = os.getloadavg()
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    ok = result["post_latency_s"].get("p99", 99) < 2.0 and result["health_latency_s"].get("max", 99) < 0.5
    return 0 if ok and result["post_status_codes"] == {"202": args.posts} else 1


if __name__ == "__main__":
    sys.exit(main())
