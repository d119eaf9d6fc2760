"""The analysts' lake (lib/lake.py): Delta tables that follow the per-video partitions.

A backfill replaces a video's rows (never duplicates them), a writer killed mid-commit leaves the
previous version readable, a table a partial sync left behind is completed by the next one, each of
four kinds of damage is found and rebuilt from the warehouse while readers keep reading, and the same
layer on the GCS emulator reads back with pandas and DuckDB.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pyarrow as pa
import pytest

pytest.importorskip("deltalake")

from deltalake import DeltaTable, write_deltalake  # noqa: E402
from deltalake.exceptions import TableNotFoundError  # noqa: E402

from wandr_pipeline.lib.lake import KEY_COLUMN, REBUILD_OPERATION, SYNC_APP_ID, Lake, lake_schema, lake_tables  # noqa: E402
from wandr_pipeline.lib.schemas import SIDE_TABLES, TABLES, TRANSCRIPT_WORDS, to_table  # noqa: E402
from wandr_pipeline.lib.storage import Storage  # noqa: E402


def write_video(storage: Storage, key: str, segments: int, generation: str = "g0", tables=None) -> None:
    """One video's partitions in the lake tables (all by default): `segments` transcript rows, and the
    other tables one row each, with text naming `generation`."""
    rows = {
        "videos": [{"source_url": f"https://x/{key}", "status": "ok"}],
        "transcript_segments": [
            {"segment_index": i, "text": f"{generation} taco {i}", "status": "ok"} for i in range(segments)
        ],
        "ocr_text": [{"text": generation, "status": "ok"}],
        "caption_spans": [{"text": generation, "status": "ok"}],
        "video_documents": [{"transcript_text": f"{generation} tacos", "status": "ok"}],
    }
    for table in tables or rows:
        storage.write_partition(table, key, to_table(TABLES[table], rows[table]))


def write_words(storage: Storage, key: str, words: int, generation: str = "g0") -> None:
    """One video's `transcript_words` partition: `words` words naming `generation`."""
    rows = [{"word_index": i, "word": f"{generation}-w{i}"} for i in range(words)]
    storage.write_partition("transcript_words", key, to_table(TRANSCRIPT_WORDS, rows))


# The four kinds of damage (issue 26), done to a table with at least three log entries.
DAMAGE_KINDS = ("truncated last entry", "garbage appended", "entry missing in the middle", "data file deleted")
# What `Lake.diagnose` says for each: the words of delta-rs's own error, or ours for the missing file.
DAMAGE_SAYS = {
    "truncated last entry": "Json error",
    "garbage appended": "Json error",
    "entry missing in the middle": "Expected contiguous commit files",
    "data file deleted": "data file(s) of version",
}


def damage_table(lake: Lake, table: str, kind: str) -> None:
    log_dir = lake.storage.path(f"lake/{table}/_delta_log")
    entries = sorted(name for name in os.listdir(log_dir) if name.endswith(".json"))
    assert len(entries) >= 3
    if kind == "truncated last entry":
        path = os.path.join(log_dir, entries[-1])
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
    elif kind == "garbage appended":
        with open(os.path.join(log_dir, entries[1]), "ab") as handle:
            handle.write(b"\x00\xff{not json\n")
    elif kind == "entry missing in the middle":
        os.remove(os.path.join(log_dir, entries[1]))
    else:
        os.remove(lake.file_uris(table)[0])


def test_tables_follow_the_registry_and_keep_the_partition_columns():
    assert set(lake_tables()) >= {
        "videos",
        "transcript_segments",
        "transcript_words",
        "ocr_text",
        "caption_spans",
        "video_documents",
    }
    assert not {"audio", "frames"} & set(lake_tables())
    for table in lake_tables():
        assert lake_schema(table).names == [*{**TABLES, **SIDE_TABLES}[table].names, KEY_COLUMN]


def test_backfill_replaces_rows_and_a_removed_partition_removes_them(tmp_path):
    storage = Storage(tmp_path)
    lake = Lake(storage, compact_min_files=3, vacuum_retention_hours=0)
    keys = [f"tiktok-{i}" for i in range(6)]
    for key in keys:
        write_video(storage, key, segments=3)
    assert lake.missing(keys) == keys  # no lake yet
    lake.sync(keys[:3])
    assert lake.missing(keys) == keys[3:]
    lake.sync(keys[3:])

    # Re-processing two videos: one now has 1 segment, one 5; their old rows are gone, others untouched.
    write_video(storage, keys[0], segments=1, generation="g1")
    write_video(storage, keys[4], segments=5, generation="g1")
    for _ in range(3):  # a backfill re-run several times changes nothing further
        synced = lake.sync([keys[0], keys[4]])
    assert {item.table for item in synced} == set(lake_tables())

    segments = lake.read_pandas("transcript_segments")
    counts = segments.groupby(KEY_COLUMN).size().to_dict()
    assert counts == {keys[0]: 1, keys[1]: 3, keys[2]: 3, keys[3]: 3, keys[4]: 5, keys[5]: 3}
    assert set(segments[segments.video_key == keys[4]].text.str[:2]) == {"g1"}
    assert set(segments[segments.video_key == keys[1]].text.str[:2]) == {"g0"}
    documents = lake.read_pandas("video_documents")
    assert sorted(documents.video_key) == sorted(keys)  # one row per video, no duplicates

    # Compaction ran (more than 3 files): the rows are the same, in fewer files.
    assert len(lake.file_uris("transcript_segments")) <= 3

    # A video whose partitions were removed loses its lake rows on the next sync.
    storage.remove_tree(f"warehouse/transcript_segments/video_key={keys[2]}")
    lake.sync([keys[2]], tables=["transcript_segments"])
    assert keys[2] not in set(lake.read_pandas("transcript_segments").video_key)

    connection = lake.duckdb()
    assert connection.execute("SELECT count(*) FROM transcript_segments WHERE text ILIKE '%TACO%'").fetchone() == (15,)
    joined = connection.execute(
        "SELECT count(*) FROM video_documents d JOIN caption_spans c USING (video_key) WHERE d.status = 'ok'"
    ).fetchone()
    assert joined == (6,)


def test_the_watermark_is_the_lowest_every_table_committed(tmp_path):
    storage = Storage(tmp_path)
    lake = Lake(storage, commit_videos=2)
    keys = [f"tiktok-{i}" for i in range(5)]
    for key in keys:
        write_video(storage, key, segments=1)
    assert lake.watermark() is None  # no lake yet
    lake.sync(keys, watermark=7)  # three commits per table; the last one records 7
    assert lake.watermark() == 7
    lake.sync(keys[:1], tables=["videos"], watermark=9)  # one table ahead: the others still say 7
    assert lake.watermark() == 7
    lake.sync(keys[:1])  # a sync without a watermark (the CLI's) leaves it
    assert lake.watermark() == 7


_WRITER = textwrap.dedent(
    """
    import sys
    from wandr_pipeline.lib.lake import Lake
    from wandr_pipeline.lib.storage import Storage
    from tests.lib.test_lake import write_video

    storage = Storage(sys.argv[1])
    keys = [f"tiktok-{i}" for i in range(100)]
    lake = Lake(storage, compact_min_files=0)
    generation = 1
    while True:
        for key in keys:
            write_video(storage, key, 2 + generation % 3, f"g{generation}", ["transcript_segments"])
        print("written", flush=True)
        lake.sync(keys, tables=["transcript_segments"])
        generation += 1
    """
)


def test_a_killed_update_leaves_the_previous_version(tmp_path):
    storage = Storage(tmp_path)
    keys = [f"tiktok-{i}" for i in range(100)]
    for key in keys:
        write_video(storage, key, segments=2, tables=["transcript_segments"])
    lake = Lake(storage, compact_min_files=0)
    lake.sync(keys, tables=["transcript_segments"])

    env = {**os.environ, "PYTHONPATH": os.getcwd()}

    def assert_whole(version: int | None = None) -> int:
        """The current version (or `version`) holds every video once, each with rows of one generation."""
        delta = lake.delta_table("transcript_segments")
        if version is not None:
            delta.load_as_version(version)
        table = delta.to_pandas(columns=[KEY_COLUMN, "text"])
        per_video = table.groupby(KEY_COLUMN).agg(
            rows=("text", "size"), generations=("text", lambda t: len({x.split()[0] for x in t}))
        )
        assert sorted(per_video.index) == sorted(keys)
        assert (per_video.generations == 1).all()
        assert per_video.rows.nunique() == 1  # one commit holds every video: all from the same sync
        return delta.version()

    versions = {assert_whole()}
    for delay in (0.02, 0.1, 0.3):
        child = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)], env=env, stdout=subprocess.PIPE)
        assert child.stdout.readline() == b"written\n"  # partitions rewritten: the lake commit starts now
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:  # a reader beside the writer sees whole commits only
            versions.add(assert_whole())
        child.send_signal(signal.SIGKILL)
        child.wait()
        versions.add(assert_whole())  # after the kill: the last whole commit
    for version in versions:  # and every version a reader saw stays readable as it was
        assert_whole(version)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_lake_on_the_gcs_emulator_reads_back_with_pandas_and_duckdb(gcs_xml_bucket):
    storage = Storage(f"gs://{gcs_xml_bucket}/wandr")
    keys, tables = ["tiktok-1", "tiktok-2"], ["transcript_segments", "video_documents"]
    for key in keys:
        write_video(storage, key, segments=2, tables=tables)
    lake = Lake(storage)
    lake.sync(keys, tables=tables)
    write_video(storage, keys[1], segments=4, generation="g1", tables=tables)
    lake.sync([keys[1]], tables=tables, watermark=5)
    assert {lake.delta_table(table).transaction_version(SYNC_APP_ID) for table in tables} == {5}

    assert all(uri.startswith(f"gs://{gcs_xml_bucket}/wandr/lake/") for uri in lake.file_uris("transcript_segments"))
    frame = lake.read_pandas("transcript_segments")
    assert frame.groupby(KEY_COLUMN).size().to_dict() == {"tiktok-1": 2, "tiktok-2": 4}
    connection = lake.duckdb()
    assert connection.execute("SELECT count(*), count(DISTINCT video_key) FROM video_documents").fetchone() == (2, 2)
    assert connection.execute("SELECT count(*) FROM transcript_segments WHERE text LIKE 'g1%'").fetchone() == (4,)


def test_a_lake_table_from_before_the_retryable_column_still_syncs(tmp_path):
    """Schema evolution: a Delta table (and partitions) written without `retryable` take the new rows."""
    storage = Storage(tmp_path)
    lake = Lake(storage, compact_min_files=0)
    table = "transcript_segments"
    old_schema = pa.schema([field for field in TABLES[table] if field.name != "retryable"])
    old_rows = pa.Table.from_pylist([{"segment_index": 0, "text": "old", "status": "ok"}], schema=old_schema)
    storage.write_partition(table, "old-video", old_rows)  # a partition file from before the column
    old_lake_schema = pa.schema([field for field in lake_schema(table) if field.name != "retryable"])
    first = old_rows.append_column(old_lake_schema.field(KEY_COLUMN), pa.array(["old-video"]))
    write_deltalake(lake.table_uri(table), first.cast(old_lake_schema), mode="append")
    assert "retryable" not in lake.read_arrow(table).column_names

    storage.write_partition(
        table, "new-video", to_table(TABLES[table], [{"status": "failed", "error": "503", "retryable": True}])
    )
    lake.sync(["old-video", "new-video"], tables=[table])
    rows = {row[KEY_COLUMN]: row for row in lake.read_arrow(table).to_pylist()}
    assert rows["new-video"]["retryable"] is True
    assert rows["old-video"]["retryable"] is None and rows["old-video"]["text"] == "old"


def test_a_table_a_partial_sync_left_out_is_completed_by_the_next_heal(tmp_path):
    """The issue's case: every table but `transcript_words` committed; a plain heal of the same videos (what
    the CLI's next run does) completes it (35 rows of 5 videos), and a table left with older rows catches up."""
    storage = Storage(tmp_path)
    lake = Lake(storage, compact_min_files=0)
    keys = [f"tiktok-{i}" for i in range(5)]
    for key in keys:
        write_video(storage, key, segments=2)
        write_words(storage, key, words=7)
    others = [table for table in lake_tables() if table != "transcript_words"]
    lake.sync(keys, tables=others)
    with pytest.raises(TableNotFoundError):
        lake.read_arrow("transcript_words")
    assert lake.behind("transcript_words", keys) == keys and lake.behind("videos", keys) == []

    synced = lake.heal(keys)
    assert [(item.table, item.videos) for item in synced] == [("transcript_words", 5)]  # the others were in step
    words = lake.read_pandas("transcript_words")
    assert len(words) == 35 and words.groupby(KEY_COLUMN).size().to_dict() == dict.fromkeys(keys, 7)

    # A re-processed video whose sync reached every table but `ocr_text`: the table holds its older rows.
    write_video(storage, keys[0], segments=3, generation="g1")
    lake.sync([keys[0]], tables=[table for table in others if table != "ocr_text"])
    assert lake.behind("ocr_text", keys) == [keys[0]]
    assert [(item.table, item.videos) for item in lake.heal()] == [("ocr_text", 1)]  # None: every partition
    ocr = lake.read_pandas("ocr_text")
    assert ocr[ocr.video_key == keys[0]].text.tolist() == ["g1"]
    assert all(state.behind == 0 and state.damage is None for state in lake.inspect())
    assert lake.heal() == []  # nothing left


def _poll(lake: Lake, table: str, stop: threading.Event, seen: list) -> None:
    """Read `table` whole, over and over, until `stop`: each read's video keys, or its error."""
    while not stop.is_set():
        try:
            frame = DeltaTable(lake.table_uri(table)).to_pyarrow_table(columns=[KEY_COLUMN])
            seen.append(sorted(frame.column(KEY_COLUMN).to_pylist()))
        except Exception as error:  # noqa: BLE001 - what a reader would get is the point
            seen.append(error)


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_each_kind_of_damage_is_reported_and_rebuilt_by_the_next_sync(tmp_path, kind, caplog):
    storage = Storage(tmp_path)
    lake = Lake(storage, compact_min_files=0)
    keys = [f"tiktok-{i}" for i in range(4)]
    for key in keys:
        write_video(storage, key, segments=2)
    for key in keys[:3]:  # three commits per table
        lake.sync([key], watermark=10 + len(key))
    damage_table(lake, "transcript_segments", kind)
    assert DAMAGE_SAYS[kind] in lake.diagnose("transcript_segments")
    with pytest.raises(Exception):  # noqa: B017 - a reader fails: the damage is real
        lake.read_arrow("transcript_segments")

    write_video(storage, keys[3], segments=2)  # a new video, then a plain sync of it
    stop, seen = threading.Event(), []
    reader = threading.Thread(target=_poll, args=(lake, "transcript_segments", stop, seen))
    reader.start()
    try:
        synced = lake.sync([keys[3]], watermark=20)
    finally:
        stop.set()
        reader.join()

    rebuilt = [item for item in synced if item.rebuilt]
    assert [item.table for item in rebuilt] == ["transcript_segments"]
    assert DAMAGE_SAYS[kind] in rebuilt[0].rebuilt and rebuilt[0].videos == 4 and rebuilt[0].rows == 8
    assert any(
        DAMAGE_SAYS[kind] in record.getMessage() and "rebuilding" in record.getMessage() for record in caplog.records
    )
    assert lake.diagnose("transcript_segments") is None
    segments = lake.read_pandas("transcript_segments")
    assert segments.groupby(KEY_COLUMN).size().to_dict() == dict.fromkeys(keys, 2)  # the new video, once each
    assert lake.watermark() == 20
    assert lake.delta_table("transcript_segments").history(1)[0]["operation"] == REBUILD_OPERATION
    # The reader saw the damage until the rebuilt version was published, then the whole table: never an
    # empty, partial or missing table in between.
    assert seen and not isinstance(seen[-1], Exception)
    first_whole = next(i for i, item in enumerate(seen) if not isinstance(item, Exception))
    assert all(item == sorted(keys * 2) for item in seen[first_whole:])
    assert all(isinstance(item, Exception) and not isinstance(item, TableNotFoundError) for item in seen[:first_whole])

    # The healed table takes the next commits as any other (and a later sync finds nothing wrong).
    write_video(storage, keys[0], segments=5, generation="g1")
    assert not [item for item in lake.sync([keys[0]]) if item.rebuilt]
    assert lake.read_pandas("transcript_segments").groupby(KEY_COLUMN).size()[keys[0]] == 5


def test_a_rebuild_of_a_readable_table_never_fails_a_reader(tmp_path):
    storage = Storage(tmp_path)
    abandoned, recent = (f"lake/_rebuild/videos-{int(time.time()) - age}-0123456789ab" for age in (7 * 3600, 60))
    storage.write_bytes(f"{abandoned}/part-0.parquet", b"left by a killed rebuild")
    storage.write_bytes(f"{recent}/part-0.parquet", b"another rebuild, still running")
    lake = Lake(storage, commit_videos=20, compact_min_files=0)
    keys = [f"tiktok-{i}" for i in range(200)]
    for key in keys:
        write_video(storage, key, segments=3, tables=["transcript_segments"])
    lake.sync(keys, tables=["transcript_segments"])
    stop, seen = threading.Event(), []
    reader = threading.Thread(target=_poll, args=(lake, "transcript_segments", stop, seen))
    reader.start()
    try:
        for _ in range(3):
            lake.rebuild("transcript_segments")
    finally:
        stop.set()
        reader.join()
    assert len(seen) > 3
    assert storage.list_names("lake/_rebuild") == [recent.rsplit("/", 1)[1]]  # the abandoned one is gone
    assert all(item == sorted(keys * 3) for item in seen), next(item for item in seen if item != sorted(keys * 3))
    assert len(lake.read_arrow("transcript_segments")) == 600


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_damaged_table_on_the_gcs_emulator_is_rebuilt(gcs_xml_bucket):
    """The same healing on an object store: no folder is renamed; the data files are copied in, then the
    next log entry is created only if absent (ifGenerationMatch=0) and the checkpoint written."""
    storage = Storage(f"gs://{gcs_xml_bucket}/wandr")
    lake = Lake(storage, compact_min_files=0)
    table, keys = "transcript_segments", ["tiktok-1", "tiktok-2", "tiktok-3"]
    for key in keys:
        write_video(storage, key, segments=2, tables=[table])
    for key in keys[:2]:
        lake.sync([key], tables=[table])
    storage.fs.rm(lake.file_uris(table)[0])
    assert "data file(s) of version 1 are missing" in lake.diagnose(table)
    synced = lake.sync([keys[2]], tables=[table])
    assert synced[0].rebuilt and synced[0].version == 2
    assert lake.diagnose(table) is None
    assert lake.read_pandas(table).groupby(KEY_COLUMN).size().to_dict() == dict.fromkeys(keys, 2)
    assert not storage.list_names("lake/_rebuild")  # the beside table is gone
    for generation in ("g1", "g2"):  # later syncs see their own new files (no stale listing): no rebuild
        write_video(storage, keys[0], segments=3, generation=generation, tables=[table])
        assert [item.rebuilt for item in lake.sync([keys[0]], tables=[table])] == [None]
    assert lake.read_pandas(table).groupby(KEY_COLUMN).size().to_dict() == {keys[0]: 3, keys[1]: 2, keys[2]: 2}
    with pytest.raises(FileExistsError):  # the create-if-absent that guards the rebuild's version
        lake._create_exclusive(f"lake/{table}/_delta_log/{2:020d}.json", b"{}\n")
