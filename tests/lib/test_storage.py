import os

import pandas as pd
import pyarrow as pa
import pytest

from wandr_pipeline.lib.schemas import AUDIO, TABLES, status_row, to_table
from wandr_pipeline.lib.storage import Storage, UnsafeKeyError


def _audio_rows(duration):
    return to_table(
        AUDIO,
        [
            {
                "audio_uri": "x",
                "duration_s": duration,
                "sample_rate": 16000,
                "channels": 1,
                "status": "ok",
                "error": None,
            }
        ],
    )


def test_partition_write_replaces_instead_of_appending(tmp_path):
    storage = Storage(str(tmp_path))
    storage.write_partition("audio", "tiktok-1", _audio_rows(1.0))
    storage.write_partition("audio", "tiktok-1", _audio_rows(2.0))
    storage.write_partition("audio", "tiktok-2", _audio_rows(3.0))
    table = pd.read_parquet(tmp_path / "warehouse" / "audio")
    assert sorted(zip(table.video_key.astype(str), table.duration_s)) == [("tiktok-1", 2.0), ("tiktok-2", 3.0)]
    leftovers = [name for _, _, files in os.walk(tmp_path) for name in files if name.endswith(".tmp")]
    assert leftovers == []


def test_failed_write_leaves_the_old_partition(tmp_path, monkeypatch):
    storage = Storage(str(tmp_path))
    storage.write_partition("audio", "k1", _audio_rows(1.0))

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        storage.write_partition("audio", "k1", _audio_rows(9.0))
    monkeypatch.undo()
    assert storage.read_partition("audio", "k1").column("duration_s").to_pylist() == [1.0]
    assert not [p for p in (tmp_path / "warehouse" / "audio" / "video_key=k1").iterdir() if p.name != "part-0.parquet"]


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "a b", ".."])
def test_unsafe_keys_never_become_paths(tmp_path, bad):
    storage = Storage(str(tmp_path))
    with pytest.raises(UnsafeKeyError):
        storage.partition_path("audio", bad)
    with pytest.raises(UnsafeKeyError):
        storage.media_dir(bad)


def test_schemas_reject_unknown_columns_and_fill_missing():
    with pytest.raises(KeyError):
        to_table(AUDIO, [{"nonsense": 1, "status": "ok"}])
    table = to_table(TABLES["transcript_segments"], [status_row(TABLES["transcript_segments"], "empty", "no speech")])
    assert table.num_rows == 1 and table.column("text").to_pylist() == [None]
    assert all("status" in schema.names and "error" in schema.names for schema in TABLES.values())
    assert all("video_key" not in schema.names for schema in TABLES.values())  # it is the hive folder


def test_json_and_local_copy(tmp_path):
    storage = Storage(str(tmp_path))
    storage.write_json("submissions/k.json", {"url": "https://é.example/🎥"})
    assert storage.read_json("submissions/k.json") == {"url": "https://é.example/🎥"}
    with storage.local_copy("submissions/k.json") as path:
        assert path.read_text(encoding="utf-8").startswith("{")
    assert isinstance(pa.table({"a": [1]}), pa.Table)


def test_read_parquet_bytes_fills_columns_an_older_file_lacks():
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from wandr_pipeline.lib.storage import read_parquet_bytes

    buffer = io.BytesIO()
    pq.write_table(pa.table({"text": ["FREE ENTRY"], "status": ["ok"]}), buffer)
    schema = pa.schema([pa.field("text", pa.string()), pa.field("reused", pa.bool_()), pa.field("status", pa.string())])
    table = read_parquet_bytes(buffer.getvalue(), schema)
    assert table.schema == schema and table.to_pylist() == [{"text": "FREE ENTRY", "reused": None, "status": "ok"}]
    assert read_parquet_bytes(buffer.getvalue()).column_names == ["text", "status"]


def test_write_many_writes_each_object_whole_and_cleans_stale_temps_once(tmp_path, monkeypatch):
    storage = Storage(str(tmp_path))
    storage.write_bytes("submissions/a.json", b"old")
    dead = "".join(["0"] * 32)
    stale = tmp_path / "submissions" / f".gone.json.{dead}.tmp"  # no owner token: judged by age
    stale.write_bytes(b"half")
    os.utime(stale, (0, 0))
    scans = []
    monkeypatch.setattr(storage, "remove_stale_temps", lambda target: scans.append(target))  # not per object
    written = storage.write_many({f"submissions/{name}.json": name.encode() for name in ("a", "b", "c")})
    assert len(written) == 3 and not scans
    folder = tmp_path / "submissions"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {"a.json": b"a", "b.json": b"b", "c.json": b"c"}


def test_write_many_leaves_no_object_half_written_when_it_fails(tmp_path, monkeypatch):
    storage = Storage(str(tmp_path))
    storage.write_bytes("submissions/a.json", b"old")

    def no_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "sync", no_disk)  # fails after the temp files are written, before any rename
    with pytest.raises(OSError, match="No space"):
        storage.write_many({"submissions/a.json": b"new", "submissions/b.json": b"b"})
    assert {p.name: p.read_bytes() for p in (tmp_path / "submissions").iterdir()} == {"a.json": b"old"}
