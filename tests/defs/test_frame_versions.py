"""Sampled frames are written as a new version, so a run reading a video's frames never loses them to
another run rewriting the same video (which used to remove `frames/` under the first run's OCR)."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pyarrow as pa

from tests.support.paths import SAMPLES
from wandr_pipeline.defs.resources.frames import FrameSamplingResource
from wandr_pipeline.defs.videos.sampled_frames import FRAMES_TABLE, _sample_one
from wandr_pipeline.lib.media_versions import new_version, remove_old_versions, version_of
from wandr_pipeline.lib.storage import Storage

KEY = "url-00000000000000aa"


def _publish(store: Storage, rows: list[dict]) -> None:
    """What StageRun does with the rows: the frames partition, written atomically."""
    store.write_partition(FRAMES_TABLE, KEY, pa.Table.from_pylist([{"video_key": KEY, **row} for row in rows]))


def test_a_reader_never_loses_frames_to_a_concurrent_rewrite(tmp_path):
    store = Storage(str(tmp_path / "storage"))
    sampler = FrameSamplingResource(every_n_frames=15, max_long_side=320, decoder="cpu")
    video = {"video_uri": str(SAMPLES / "kyoto_temples.mp4"), "has_video": True}
    first = _sample_one(store, sampler, KEY, video)
    _publish(store, first)
    assert len(first) > 10

    # A reader holding the published rows reads every frame again and again while another run
    # rewrites the video's frames (twice: the second rewrite would remove a version not published).
    problems: list[str] = []
    stop = threading.Event()

    def read_all():
        while not stop.is_set():
            for row in first:
                try:
                    data = store.read_bytes(row["image_uri"])
                except FileNotFoundError as exc:
                    problems.append(f"missing: {exc}")
                    continue
                if cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is None:
                    problems.append(f"not a whole JPEG: {row['image_uri']}")

    reader = threading.Thread(target=read_all)
    reader.start()
    try:
        second = _sample_one(store, sampler, KEY, video)
        third = _sample_one(store, sampler, KEY, video)
    finally:
        stop.set()
        reader.join()
    assert problems == []
    versions = {version_of(rows[0]["image_uri"], "frames") for rows in (first, second, third)}
    assert len(versions) == 3  # each write its own folder
    assert [r["timestamp_s"] for r in third] == [r["timestamp_s"] for r in first]


def test_old_versions_go_after_the_grace_period_but_never_the_published_one(tmp_path):
    store = Storage(str(tmp_path / "storage"))
    folder = "media/k/frames"
    now = time.time()
    old, published, recent = new_version(now - 7200), new_version(now - 7100), new_version(now - 60)
    for version in (old, published, recent):
        store.write_bytes(f"{folder}/{version}/000000.jpg", b"x")
    store.write_bytes(f"{folder}/000000.jpg", b"loose")  # the layout before versions
    removed = remove_old_versions(store, folder, keep={published}, grace_s=3600, now=now)
    assert set(removed) == {old, ""}
    assert store.list_names(folder) == sorted([published, recent])
    assert version_of(store.path(f"{folder}/{published}/000000.jpg"), "frames") == published
    assert version_of(store.path(f"{folder}/000000.jpg"), "frames") == ""
