"""The analysts' lake at 100,000 videos, side by side with the per-video files (docs/BENCHMARKS.md).

Rows come from the real partitions of one pipeline run (the sample clips), copied per video with new
keys and varied text. The lake is loaded in commits of 1,000 videos and compacted, then updated as
the pipeline updates it: batches of 50 videos whose per-video partitions were just written, synced
with `Lake.sync` (all analyst tables), first new videos, then 1,000 re-processed ones. The per-video
side is the same rows as hive files for `--per-video` videos (fewer: 100,000 x 5 small files take too
long to create here). Run the pipeline first:

    WANDR_STORAGE_URI=/tmp/sample wandr-pipeline run data/url_lists/sample.txt
    python -m benchmarks.bench_lake --source /tmp/sample --out /tmp/bench-lake --videos 100000 --per-video 10000

`--loaded DIR` keeps the bulk-loaded lake in DIR and reuses it on the next run (the load takes minutes);
`--per-video 0` skips the per-video side. Update times: the whole `Lake.sync`, and apart its commits
(the rows are visible then) and the compaction after them.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import statistics
import time

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wandr_pipeline.lib.lake import DEFAULT_COMPACT_TARGET_MB, KEY_COLUMN, Lake, lake_tables
from wandr_pipeline.lib.schemas import SIDE_TABLES, TABLES
from wandr_pipeline.lib.storage import Storage

TEXT_COLUMNS = {
    "transcript_segments": "text",
    "ocr_text": "text",
    "caption_spans": "text",
    "video_documents": "transcript_text",
}


def templates(source: Storage) -> dict[str, list[pa.Table]]:
    """Per table, the real partitions of the source run (one table per video)."""
    keys = sorted(os.listdir(source.path("warehouse/videos")))
    keys = [name.split("=", 1)[1] for name in keys]
    schemas = {**TABLES, **SIDE_TABLES}
    return {table: [source.read_partition(table, key, schemas[table]) for key in keys] for table in lake_tables()}


# Words for the varied text: 20 random ones per row, so the rows compress about as well as real text does
# (copies of three clips' text alone compress ~20x better, and would make every file look small).
VOCABULARY = [f"w{index:04x}{chr(97 + index % 26)}" for index in range(5000)]


def rows_for(table: str, template: list[pa.Table], start: int, count: int, generation: int = 0) -> pa.Table:
    """`count` videos' rows from `start`: video i copies template i % n, with its key and text varied."""
    parts, keys = [], []
    for i in range(start, start + count):
        part = template[i % len(template)]
        parts.append(part)
        keys.extend([video_key(i)] * part.num_rows)
    rows = pa.concat_tables(parts)
    column = TEXT_COLUMNS.get(table)
    if column:
        rng = random.Random(start * 7 + generation)
        suffix = pa.array([f" {' '.join(rng.choices(VOCABULARY, k=20))} v{key} g{generation}" for key in keys])
        varied = pc.binary_join_element_wise(pc.fill_null(rows.column(column), ""), suffix, "")
        rows = rows.set_column(rows.schema.get_field_index(column), column, varied)
    if table == "transcript_words":  # one word per row: each becomes a random one (as varied as real speech)
        rng = random.Random(start * 7 + generation)
        words = pa.array(rng.choices(VOCABULARY, k=rows.num_rows), pa.string())
        rows = rows.set_column(rows.schema.get_field_index("word"), "word", words)
    return rows.append_column(KEY_COLUMN, pa.array(keys, pa.string()))


def video_key(i: int) -> str:
    return f"tiktok-{7300000000000000000 + (i * 7919) % 10**15}"


def write_partitions(storage: Storage, rows: pa.Table, table: str) -> None:
    for key in pc.unique(rows.column(KEY_COLUMN)).to_pylist():
        part = rows.filter(pc.equal(rows.column(KEY_COLUMN), key)).drop_columns([KEY_COLUMN])
        storage.write_partition(table, key, part)


def timed(function, repeat: int = 3):
    best, value = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        value = function()
        best = min(best, time.perf_counter() - started)
    return best, value


def queries(connection, documents: str, spans: str) -> dict:
    out = {}
    out["duckdb_count_s"], out["count"] = timed(
        lambda: connection.execute(f"SELECT count(*) FROM {documents}").fetchone()[0]
    )
    out["duckdb_ilike_s"], out["ilike_hits"] = timed(
        lambda: connection.execute(f"SELECT count(*) FROM {documents} WHERE transcript_text ILIKE '%taco%'").fetchone()[
            0
        ]
    )
    out["duckdb_join_s"], out["join_rows"] = timed(
        lambda: connection.execute(
            f"SELECT count(*) FROM {documents} d JOIN {spans} c USING (video_key) WHERE c.text ILIKE '%taco%'"
        ).fetchone()[0]
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", required=True, help="storage root of a pipeline run (real partitions)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--per-video", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=20, help="timed 50-video batches of new videos")
    parser.add_argument("--reprocess", type=int, default=1000)
    parser.add_argument("--compact-target-mb", type=int, default=DEFAULT_COMPACT_TARGET_MB)
    parser.add_argument(
        "--loaded",
        help="a folder for the bulk-loaded lake (before its first compaction): reused when it exists, so a "
        "re-run measures the updates and queries without loading again; written when it does not",
    )
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    source = templates(Storage(args.source))
    storage = Storage(args.out)
    lake = Lake(storage, commit_videos=50, compact_target_mb=args.compact_target_mb)
    report: dict = {
        "videos": args.videos,
        "per_video_files_videos": args.per_video,
        "compact_target_mb": args.compact_target_mb,
    }

    # 1. Bulk load (not timed as an update): appends of 1,000 videos, then compaction.
    started = time.perf_counter()
    if args.loaded and os.path.isdir(os.path.join(args.loaded, "lake")):
        shutil.copytree(os.path.join(args.loaded, "lake"), storage.path("lake"))
        report["bulk_load"] = f"copied from {args.loaded}"
    else:
        for start in range(0, args.videos, 1000):
            count = min(1000, args.videos - start)
            keys = [video_key(i) for i in range(start, start + count)]
            for table in lake_tables():
                lake.replace(table, keys, rows_for(table, source[table], start, count), new_keys=True)
        report["bulk_load_s"] = round(time.perf_counter() - started, 1)
        if args.loaded:
            shutil.copytree(storage.path("lake"), os.path.join(args.loaded, "lake"))
    started = time.perf_counter()
    for table in lake_tables():
        lake.compact_if_needed(table)
    report["first_compaction_s"] = round(time.perf_counter() - started, 1)

    # 2. Updates as the pipeline makes them: write the batch's partitions, then Lake.sync (all tables).
    def batch(start: int, generation: int) -> dict:
        for table in lake_tables():
            write_partitions(storage, rows_for(table, source[table], start, 50, generation), table)
        started = time.perf_counter()
        synced = lake.sync([video_key(i) for i in range(start, start + 50)])
        return {
            "seconds": time.perf_counter() - started,  # the whole sync: reads, commits, compaction check
            "commit_seconds": sum(i.seconds for i in synced),  # reading partitions and the 6 commits
            "compact_seconds": sum(i.compact_seconds for i in synced),
            "bytes": sum(i.bytes_written for i in synced),
            "compacted": any(i.compacted for i in synced),
        }

    new = [batch(args.videos + b * 50, 0) for b in range(args.batches)]
    step = max(50, (args.videos // (args.reprocess // 50)) // 50 * 50)
    again = [batch(b * step, 1) for b in range(args.reprocess // 50)]
    for name, runs in (("new_batch", new), ("reprocess_batch", again)):
        for part in ("seconds", "commit_seconds", "compact_seconds"):
            seconds = [run[part] for run in runs]
            label = part.replace("seconds", "s").replace("_s", "") + "_" if part != "seconds" else ""
            report[f"{name}_{label}median_s"] = round(statistics.median(seconds), 3)
            report[f"{name}_{label}max_s"] = round(max(seconds), 3)
        report[f"{name}_all_s"] = [round(run["seconds"], 2) for run in runs]
        report[f"{name}_median_mb"] = round(statistics.median(run["bytes"] for run in runs) / 2**20, 2)
        report[f"{name}_compactions"] = sum(run["compacted"] for run in runs)
    total = args.videos + args.batches * 50

    # 3. Queries on the lake.
    connection = lake.duckdb()
    report["lake"] = queries(connection, "video_documents", "caption_spans")
    report["lake"]["duplicates"] = connection.execute(
        "SELECT count(*) - count(DISTINCT video_key) FROM video_documents"
    ).fetchone()[0]
    report["lake"]["expected_videos"] = total
    report["lake"]["segments_duplicates"] = connection.execute(
        "SELECT count(*) FROM (SELECT video_key, segment_index FROM transcript_segments"
        " GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()[0]
    report["lake"]["reprocessed_rows_now_g1"] = connection.execute(
        "SELECT count(*) FROM video_documents WHERE transcript_text LIKE '%g1'"
    ).fetchone()[0]
    report["lake"]["pandas_delta_s"], frame = timed(lambda: lake.read_pandas("video_documents"), repeat=2)
    report["lake"]["pandas_rows"] = len(frame)
    files = lake.file_uris("video_documents")
    report["lake"]["pandas_read_parquet_s"], _ = timed(lambda: pd.read_parquet(files), repeat=2)
    report["lake"]["files"] = {table: len(lake.file_uris(table)) for table in lake_tables()}
    report["lake"]["mb_current_version"] = {
        table: round(sum(os.path.getsize(uri) for uri in lake.file_uris(table)) / 2**20, 1) for table in lake_tables()
    }
    report["lake"]["mb_on_disk"] = round(
        sum(os.path.getsize(p) for p in glob.glob(f"{args.out}/lake/**/*.parquet", recursive=True)) / 2**20, 1
    )

    if not args.per_video:
        print(json.dumps(report, indent=1, default=lambda v: round(v, 4) if isinstance(v, float) else str(v)))
        return

    # 4. The per-video files for `per_video` videos (fewer: see the module docstring), same rows.
    hive = Storage(os.path.join(args.out, "per_video"))
    started = time.perf_counter()
    for table in ("video_documents", "caption_spans"):
        for start in range(0, args.per_video, 1000):
            rows = rows_for(table, source[table], start, min(1000, args.per_video - start))
            for key in pc.unique(rows.column(KEY_COLUMN)).to_pylist():
                part = rows.filter(pc.equal(rows.column(KEY_COLUMN), key)).drop_columns([KEY_COLUMN])
                path = hive.path(hive.partition_path(table, key))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                pq.write_table(part, path, compression="zstd")
    report["per_video_files_write_s"] = round(time.perf_counter() - started, 1)
    root = hive.path("warehouse")
    hive_connection = duckdb.connect()
    hive_connection.execute(
        f"CREATE VIEW d AS SELECT * FROM read_parquet('{root}/video_documents/*/*.parquet', hive_partitioning = true)"
    )
    hive_connection.execute(
        f"CREATE VIEW c AS SELECT * FROM read_parquet('{root}/caption_spans/*/*.parquet', hive_partitioning = true)"
    )
    report["per_video"] = queries(hive_connection, "d", "c")
    report["per_video"]["pandas_s"], _ = timed(lambda: pd.read_parquet(f"{root}/video_documents"), repeat=1)

    print(json.dumps(report, indent=1, default=lambda v: round(v, 4) if isinstance(v, float) else str(v)))


if __name__ == "__main__":
    main()
