"""What healing the analysts' lake costs (docs/WAREHOUSE.md "Healing"): rebuilding its tables from the
per-video warehouse partitions at 10,000 and more videos, and the checks that find damage and lag.

The warehouse is synthetic: per video, partitions shaped like a short clip's (1 `videos` row,
`SEGMENTS` transcript segments, `WORDS` words, `OCR_ROWS` OCR rows, `SPANS` caption spans, 1 document),
with varied text so the files compress as real ones do, written straight with pyarrow (no fsync: the
set-up is not what is measured). Then, per size:

- `inspect_s`: `Lake.inspect()` on the empty lake (what doctor and /health pay: lists every table's
  partitions and reads each table's holdings);
- `rebuild_<table>_s` and `rebuild_all_s`: `Lake.rebuild` of every table from nothing (read every
  partition, write beside, compact, publish);
- `heal_truncated_words_s`: one more commit to `transcript_words`, its log entry truncated, then `Lake.heal()`
  (diagnose every table, rebuild that one, find nothing else behind): what the next sync pays;
- `diagnose_s`: `Lake.damaged()` on the healed lake (what each sensor tick pays).

    python -m benchmarks.bench_lake_rebuild --out /tmp/bench-rebuild --videos 10000 30000
    python -m benchmarks.bench_lake_rebuild --out /tmp/bench-rebuild --keep --videos 100000 --tables transcript_words

`--tables` writes and rebuilds only those tables (`--keep` extends the warehouse already there).

Sizes are built up incrementally in the same folder (30,000 adds 20,000 videos to the 10,000). The load
average is printed before and after each size: this machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import time

import pyarrow as pa
import pyarrow.parquet as pq

from wandr_pipeline.lib.lake import LAKE_DIR, Lake, lake_tables
from wandr_pipeline.lib.schemas import SIDE_TABLES, TABLES, to_table
from wandr_pipeline.lib.storage import Storage

SEGMENTS, WORDS, OCR_ROWS, SPANS = 8, 27, 5, 4
VOCABULARY = [f"w{index:04x}{chr(97 + index % 26)}" for index in range(5000)]


def video_key(i: int) -> str:
    return f"tiktok-{7300000000000000000 + (i * 7919) % 10**15}"


def partitions(i: int, rng: random.Random) -> dict[str, pa.Table]:
    def text(words: int) -> str:
        return " ".join(rng.choices(VOCABULARY, k=words))

    rows = {
        "videos": [{"source_url": f"https://www.tiktok.com/@u/video/{i}", "title": text(8), "status": "ok"}],
        "transcript_segments": [
            {"segment_index": s, "start_s": s * 2.0, "end_s": s * 2.0 + 2, "text": text(12), "status": "ok"}
            for s in range(SEGMENTS)
        ],
        "transcript_words": [
            {"segment_index": w // 4, "word_index": w, "word": rng.choice(VOCABULARY), "start_s": w * 0.5}
            for w in range(WORDS)
        ],
        "ocr_text": [
            {"frame_index": f * 30, "timestamp_s": f * 1.0, "text": text(4), "confidence": 0.9, "status": "ok"}
            for f in range(OCR_ROWS)
        ],
        "caption_spans": [{"span_index": s, "text": text(5), "start_s": s * 1.0, "status": "ok"} for s in range(SPANS)],
        "video_documents": [{"title": text(8), "transcript_text": text(90), "clean_text": text(100), "status": "ok"}],
    }
    schemas = {**TABLES, **SIDE_TABLES}
    return {table: to_table(schemas[table], rows[table]) for table in lake_tables()}


def write_warehouse(storage: Storage, start: int, stop: int, tables: list[str]) -> float:
    started = time.perf_counter()
    rng = random.Random(start)
    for i in range(start, stop):
        for table, rows in partitions(i, rng).items():
            if table not in tables:
                continue
            path = storage.path(storage.partition_path(table, video_key(i)))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            pq.write_table(rows, path, compression="zstd")
    return time.perf_counter() - started


def load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def measure(storage: Storage, videos: int, tables: list[str]) -> dict:
    storage.remove_tree(LAKE_DIR)
    lake = Lake(storage)
    report: dict = {"videos": videos, "tables": tables, "load_before": load()}
    started = time.perf_counter()
    states = lake.inspect()
    report["inspect_s"] = round(time.perf_counter() - started, 2)
    report["behind_before"] = max(state.behind for state in states)
    total = 0.0
    for table in tables:
        started = time.perf_counter()
        result = lake.rebuild(table)
        seconds = time.perf_counter() - started
        total += seconds
        report[f"rebuild_{table}_s"] = round(seconds, 1)
        report[f"rebuild_{table}_rows"] = result.rows
        report[f"rebuild_{table}_files"] = len(lake.file_uris(table))
    report["rebuild_all_s"] = round(total, 1)
    if "transcript_words" not in tables:
        report["load_after"] = load()
        return report
    lake.sync([video_key(0)], tables=["transcript_words"])  # a commit after the rebuild's checkpoint
    log_dir = storage.path(f"{LAKE_DIR}/transcript_words/_delta_log")
    last = max(name for name in os.listdir(log_dir) if name.endswith(".json"))
    data = open(os.path.join(log_dir, last), "rb").read()
    open(os.path.join(log_dir, last), "wb").write(data[: len(data) // 2])
    started = time.perf_counter()
    healed = lake.heal(tables=tables)
    report["heal_truncated_words_s"] = round(time.perf_counter() - started, 1)
    report["heal_did"] = [(item.table, bool(item.rebuilt), item.videos) for item in healed]
    started = time.perf_counter()
    report["damaged_after"] = lake.damaged(tables)
    report["diagnose_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    report["behind_after"] = max(state.behind for state in lake.inspect())
    report["inspect_after_s"] = round(time.perf_counter() - started, 2)
    report["load_after"] = load()
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--videos", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--keep", action="store_true", help="reuse the warehouse already in --out")
    parser.add_argument(
        "--tables", nargs="+", choices=lake_tables(), default=list(lake_tables()), help="write and rebuild only these"
    )
    args = parser.parse_args()
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)
    storage = Storage(args.out)
    have = len(os.listdir(storage.path(f"warehouse/{args.tables[0]}"))) if args.keep else 0
    for videos in sorted(args.videos):
        if videos > have:
            print(json.dumps({"writing_videos": [have, videos], "load": load()}), flush=True)
            seconds = write_warehouse(storage, have, videos, args.tables)
            print(json.dumps({"warehouse_written_s": round(seconds, 1), "videos": videos}), flush=True)
            have = videos
        print(json.dumps(measure(storage, videos, args.tables)), flush=True)


if __name__ == "__main__":
    main()
