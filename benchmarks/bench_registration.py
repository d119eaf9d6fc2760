"""How fast a large URL list is registered: parsed, its submissions recorded, its partitions added.

    .venv/bin/python -m benchmarks.bench_registration [--lines 20000] [--out benchmarks/out/registration.json]

Registration is what `wandr-pipeline run` (and the URL-list sensor) do before the first run starts, so
its cost is paid up front by every list. Times each part on a fresh local storage root and a fresh
SQLite Dagster instance, then registers the same list again (nothing new: the resume path).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dagster import DagsterInstance  # noqa: E402

from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME, register_videos  # noqa: E402
from wandr_pipeline.lib.ingestion import parse_list_bytes  # noqa: E402
from wandr_pipeline.lib.storage import Storage  # noqa: E402


def make_list(lines: int) -> bytes:
    """TikTok, Instagram and plain media URLs, as a traveller's list mixes them."""
    rows = []
    for i in range(lines):
        kind = i % 3
        if kind == 0:
            rows.append(f"https://www.tiktok.com/@traveller/video/{7300000000000000000 + i}?is_from_webapp=1")
        elif kind == 1:
            rows.append(f"https://www.instagram.com/reel/Cx{i:09d}/")
        else:
            rows.append(f"https://cdn.example.com/clips/{i}.mp4")
    return ("\n".join(rows) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "registration.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wandr-registration-") as tmp:
        tmp_path = Path(tmp)
        listing = tmp_path / "list.txt"
        listing.write_bytes(make_list(args.lines))
        storage = Storage(str(tmp_path / "root"))
        (tmp_path / "home").mkdir()
        with DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
            start = time.perf_counter()
            parsed = parse_list_bytes(str(listing), listing.read_bytes(), allow_local_files=True)
            parse_s = time.perf_counter() - start
            start = time.perf_counter()
            register_videos(instance, storage, parsed.accepted, source=str(listing))
            register_s = time.perf_counter() - start
            start = time.perf_counter()
            register_videos(instance, storage, parsed.accepted, source=str(listing))
            again_s = time.perf_counter() - start
            partitions = len(instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME))
    result = {
        "lines": args.lines,
        "accepted": len(parsed.accepted),
        "partitions": partitions,
        "parse_s": round(parse_s, 2),
        "register_s": round(register_s, 2),
        "register_again_s": round(again_s, 2),
        "urls_per_s": round(args.lines / (parse_s + register_s), 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load": os.getloadavg()[0],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
