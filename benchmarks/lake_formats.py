"""The prototype behind docs/WAREHOUSE.md: Delta Lake vs Iceberg vs a hand-rolled manifest of Parquet files.

Same rows for each (copies of the real `video_documents` partitions of a pipeline run, keys and text
varied), written in batches of 50 videos as the pipeline would, then 5 batches of re-processed videos;
prints one JSON line per format. Run the pipeline once on data/url_lists/sample.txt first:

    WANDR_STORAGE_URI=/tmp/sample wandr-pipeline run data/url_lists/sample.txt
    python -m benchmarks.lake_formats 2000 /tmp/lake-formats delta,iceberg,manifest /tmp/sample
"""

import glob
import json
import os
import statistics
import sys
import time
import uuid

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SRC = f"{sys.argv[4] if len(sys.argv) > 4 else 'data'}/warehouse/video_documents"
N = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
ROOT = sys.argv[2] if len(sys.argv) > 2 else "/tmp/w16/proto/out"
FORMATS = sys.argv[3].split(",") if len(sys.argv) > 3 else ["delta", "iceberg", "manifest"]
BATCH = 50
base = pa.concat_tables([pq.read_table(f) for f in glob.glob(f"{SRC}/*/*.parquet")])
base = base.drop_columns([c for c in base.column_names if c == "video_key"])


def batch_table(start, n, gen=0):
    rows = []
    for i in range(start, start + n):
        r = base.slice(i % base.num_rows, 1).to_pylist()[0]
        r["transcript_text"] = f"{r['transcript_text']} v{i} g{gen}"
        rows.append(r)
    t = pa.Table.from_pylist(rows, schema=base.schema)
    return t.append_column(
        "video_key", pa.array([f"tiktok-{7300000000000000000 + i * 7919 % 10**12}" for i in range(start, start + n)])
    )


def keys_in(t):
    return t.column("video_key").to_pylist()


# ---- delta
def delta_update(uri, t, opts):
    from deltalake import DeltaTable, write_deltalake

    keys = keys_in(t)
    pred = "video_key IN (" + ",".join(f"'{k}'" for k in keys) + ")"
    try:
        DeltaTable(uri, storage_options=opts)
        write_deltalake(uri, t, mode="overwrite", predicate=pred, storage_options=opts)
    except Exception as e:
        if (
            "TableNotFound" not in type(e).__name__
            and "no log files" not in str(e).lower()
            and "not a Delta table" not in str(e)
        ):
            raise
        write_deltalake(uri, t, mode="append", storage_options=opts)


def delta_files(uri, opts):
    from deltalake import DeltaTable

    return DeltaTable(uri, storage_options=opts).file_uris()


def delta_compact(uri, opts):
    from deltalake import DeltaTable

    dt = DeltaTable(uri, storage_options=opts)
    dt.optimize.compact(target_size=256 * 2**20)
    dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)


# ---- iceberg
_cat = {}


def ice_table(uri, schema):
    from pyiceberg.catalog.sql import SqlCatalog

    if uri not in _cat:
        os.makedirs(uri, exist_ok=True)
        c = SqlCatalog("w", uri=f"sqlite:///{uri}/catalog.db", warehouse=f"file://{uri}")
        try:
            c.create_namespace("wandr")
        except Exception:
            pass
        try:
            tb = c.load_table("wandr.video_documents")
        except Exception:
            tb = c.create_table("wandr.video_documents", schema=schema)
        _cat[uri] = tb
    return _cat[uri]


def ice_update(uri, t, opts):
    from pyiceberg.expressions import In

    tb = ice_table(uri, t.schema)
    tb.refresh()
    tb.overwrite(t, overwrite_filter=In("video_key", keys_in(t)))


def ice_files(uri, opts):
    tb = ice_table(uri, None)
    tb.refresh()
    return [f.file.file_path.replace("file://", "") for f in tb.scan().plan_files()]


def ice_compact(uri, opts):
    pass


# ---- manifest: copy-on-write of the files holding the keys, then one JSON manifest replaced atomically
def man_update(uri, t, opts):
    os.makedirs(uri, exist_ok=True)
    mpath = f"{uri}/_manifest.json"
    m = json.load(open(mpath)) if os.path.exists(mpath) else {"version": 0, "files": {}}
    keys = set(keys_in(t))
    files = dict(m["files"])
    for f, fk in list(files.items()):
        if keys & set(fk):
            old = pq.read_table(f"{uri}/{f}")
            kept = old.filter(pc.invert(pc.is_in(old.column("video_key"), pa.array(list(keys)))))
            del files[f]
            if kept.num_rows:
                nf = f"part-{uuid.uuid4().hex}.parquet"
                pq.write_table(kept, f"{uri}/{nf}", compression="zstd")
                files[nf] = sorted(set(kept.column("video_key").to_pylist()))
    nf = f"part-{uuid.uuid4().hex}.parquet"
    pq.write_table(t, f"{uri}/{nf}", compression="zstd")
    files[nf] = sorted(keys)
    m = {"version": m["version"] + 1, "files": files}
    tmp = f"{mpath}.{uuid.uuid4().hex}.tmp"
    json.dump(m, open(tmp, "w"))
    os.replace(tmp, mpath)


def man_files(uri, opts):
    m = json.load(open(f"{uri}/_manifest.json"))
    return [f"{uri}/{f}" for f in m["files"]]


def man_compact(uri, opts):
    pass


FMT = {
    "delta": (delta_update, delta_files, delta_compact),
    "iceberg": (ice_update, ice_files, ice_compact),
    "manifest": (man_update, man_files, man_compact),
}
opts = json.loads(os.environ.get("DELTA_OPTS", "{}")) or None
for name in FORMATS:
    upd, files, compact = FMT[name]
    uri = f"{ROOT}/{name}"
    times = []
    t0 = time.perf_counter()
    for b in range(N // BATCH):
        t = batch_table(b * BATCH, BATCH)
        s = time.perf_counter()
        upd(uri, t, opts)
        times.append(time.perf_counter() - s)
    total = time.perf_counter() - t0
    # reprocess 5 batches of existing videos
    rt = []
    for b in range(5):
        t = batch_table(b * 7 * BATCH, BATCH, gen=1)
        s = time.perf_counter()
        upd(uri, t, opts)
        rt.append(time.perf_counter() - s)
    fl = files(uri, opts)
    con = duckdb.connect()
    s = time.perf_counter()
    cnt, dist = con.execute(f"select count(*), count(distinct video_key) from read_parquet({fl!r})").fetchone()
    dq = time.perf_counter() - s
    s = time.perf_counter()
    hits = con.execute(f"select count(*) from read_parquet({fl!r}) where transcript_text ilike '%taco%'").fetchone()[0]
    ds = time.perf_counter() - s
    s = time.perf_counter()
    df = pd.read_parquet(fl) if not fl[0].startswith("gs") else None
    pr = time.perf_counter() - s
    cs = time.perf_counter()
    compact(uri, opts)
    ct = time.perf_counter() - cs
    fl2 = files(uri, opts)
    s = time.perf_counter()
    con.execute(f"select count(*) from read_parquet({fl2!r})").fetchone()
    dq2 = time.perf_counter() - s
    du = (
        sum(os.path.getsize(p) for p in glob.glob(f"{uri}/**", recursive=True) if os.path.isfile(p))
        if not uri.startswith("gs")
        else -1
    )
    print(
        json.dumps(
            dict(
                fmt=name,
                videos=N,
                rows=cnt,
                distinct=dist,
                hits=hits,
                first10_update_s=round(statistics.median(times[:10]), 3),
                last10_update_s=round(statistics.median(times[-10:]), 3),
                reprocess_batch_s=round(statistics.median(rt), 3),
                total_s=round(total, 1),
                files=len(fl),
                duckdb_count_s=round(dq, 3),
                duckdb_ilike_s=round(ds, 3),
                pandas_s=round(pr, 3),
                compact_s=round(ct, 2),
                files_after_compact=len(fl2),
                duckdb_count_after_s=round(dq2, 3),
                disk_mb=round(du / 2**20, 1),
            )
        ),
        flush=True,
    )
