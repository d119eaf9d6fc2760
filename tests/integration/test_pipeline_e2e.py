"""The whole graph on the sample clips, downloaded by the real yt-dlp from a loopback server.

One batch holds the three sample clips, a copy of one without its audio stream, and a URL that 404s:
the good clips must come out right and the bad ones must end with a recorded reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from difflib import SequenceMatcher

import duckdb
import jiwer
import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance

from tests.support.paths import REPO
from wandr_pipeline.cli.runner import run_url_list
from wandr_pipeline.lib.schemas import TABLES, TRANSCRIPT_WORDS, to_table
from wandr_pipeline.lib.storage import storage_for
from wandr_pipeline.lib.urls import parse_video_url
from wandr_pipeline.settings import Settings

pytestmark = pytest.mark.slow

STAGES = ["raw_video", "audio", "transcript", "sampled_frames", "ocr_text", "caption_spans", "video_documents"]


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, http_server, manifest):
    root = tmp_path_factory.mktemp("e2e")
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    storage = root / "storage"
    clips = [item["file"] for item in manifest]
    url_list = root / "list.txt"
    url_list.write_text(
        "# good clips, a clip without audio, a 404, and a junk line\n"
        + "".join(f"{http_server.url(name)}\n" for name in clips)
        + f"{http_server.url('no_audio.mp4')}\n{http_server.url('gone.mp4')}\nnot-a-url\n"
    )
    env = {"WANDR_STORAGE_URI": str(storage), "DAGSTER_HOME": str(home), "WANDR_DOWNLOAD_ATTEMPTS": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        instance = DagsterInstance.get()
        settings = Settings.from_env()
        first = run_url_list(url_list, settings, instance)
        counts_after_first = {t: len(pd.read_parquet(storage / "warehouse" / t)) for t in TABLES}
        # words an earlier run left for the clip that has no audio: skipped next time, they must go
        stale_key = parse_video_url(http_server.url("no_audio.mp4")).video_key
        stale = [{"segment_index": 0, "word_index": 0, "word": "stale", "start_s": 0.0, "end_s": 0.5}]
        storage_for(str(storage)).write_partition("transcript_words", stale_key, to_table(TRANSCRIPT_WORDS, stale))
        # everything again (--reprocess): partitions are replaced, never appended to
        second = run_url_list(url_list, settings, instance, reprocess=True)
        counts_after_second = {t: len(pd.read_parquet(storage / "warehouse" / t)) for t in TABLES}
        # and a plain re-run resumes: nothing is left to do (the 404 failed for good: not tried again)
        third = run_url_list(url_list, settings, instance)
        yield {
            "storage": storage,
            "instance": instance,
            "first": first,
            "second": second,
            "third": third,
            "counts_after_first": counts_after_first,
            "counts_after_second": counts_after_second,
            "keys": {
                name: parse_video_url(http_server.url(name)).video_key for name in clips + ["no_audio.mp4", "gone.mp4"]
            },
            "list": url_list,
        }
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _table(pipeline, name) -> pd.DataFrame:
    frame = pd.read_parquet(pipeline["storage"] / "warehouse" / name)
    frame["video_key"] = frame["video_key"].astype(str)
    return frame


def test_batch_runs_as_one_dagster_run_and_reports_the_junk_line(pipeline):
    first = pipeline["first"]
    assert first.pipeline_ok
    assert len(first.runs) == 1 and len(first.runs[0].keys) == 5
    assert [(r.line_number, r.text) for r in first.rejected] == [(7, "not-a-url")]
    assert pipeline["instance"].get_dynamic_partitions("videos") == list(pipeline["keys"].values())


def test_spoken_words_come_back(pipeline, manifest):
    docs = _table(pipeline, "video_documents").set_index("video_key")
    references, hypotheses = [], []
    for item in manifest:
        text = docs.loc[pipeline["keys"][item["file"]], "transcript_text"]
        references.append(_words(item["speech"]))
        hypotheses.append(_words(text))
        assert jiwer.wer(references[-1], hypotheses[-1]) <= 0.3, (item["file"], text)
    assert jiwer.wer(references, hypotheses) <= 0.15
    segments = _table(pipeline, "transcript_segments")
    ok = segments[segments.status == "ok"]
    assert (ok.end_s > ok.start_s).all() and set(ok.model) == {"tiny.en"} and set(ok.language) == {"en"}
    # issue 14: every clip's speech is covered by words, which sit in the side table transcript_words
    assert set(ok.quality) <= {"good", "low_confidence", "repeated"}
    words = _table(pipeline, "transcript_words")
    for item in manifest:
        key = pipeline["keys"][item["file"]]
        clip = segments[segments.video_key == key]
        assert set(clip.status) == {"ok"} and (clip.speech_coverage >= 0.9).all(), item["file"]
        said = " ".join(words[words.video_key == key].sort_values("word_index").word)
        assert jiwer.wer(_words(item["speech"]), _words(said)) <= 0.3, (item["file"], said)


def test_captions_are_read_at_the_right_time(pipeline, manifest):
    docs = _table(pipeline, "video_documents").set_index("video_key")
    ocr = _table(pipeline, "ocr_text")
    for item in manifest:
        key = pipeline["keys"][item["file"]]
        lines = list(docs.loc[key, "onscreen_lines"])
        for caption in item["captions"]:
            best = max(lines, key=lambda line: SequenceMatcher(None, line.lower(), caption["text"].lower()).ratio())
            assert SequenceMatcher(None, best.lower(), caption["text"].lower()).ratio() >= 0.9, (caption, lines)
            seen = ocr[(ocr.video_key == key) & (ocr.text == best)].timestamp_s
            assert seen.min() >= caption["start_s"] - 1.01 and seen.max() <= caption["end_s"] + 1.01


def test_no_audio_clip_is_skipped_for_speech_but_keeps_its_captions(pipeline):
    key = pipeline["keys"]["no_audio.mp4"]
    audio = _table(pipeline, "audio").set_index("video_key").loc[key]
    assert audio.status == "skipped" and "no audio stream" in audio.error
    transcript = _table(pipeline, "transcript_segments")
    row = transcript[transcript.video_key == key].iloc[0]
    assert row.status == "skipped" and "no audio stream" in row.error
    words = _table(pipeline, "transcript_words")
    assert (words.video_key == key).sum() == 0, "an earlier run's words outlived the skipped transcript"
    doc = _table(pipeline, "video_documents").set_index("video_key").loc[key]
    assert doc.status == "ok" and doc.transcript_text is None
    assert "FUSHIMI INARI" in list(doc.onscreen_lines)


def test_404_is_recorded_and_skipped_downstream(pipeline):
    key = pipeline["keys"]["gone.mp4"]
    video = _table(pipeline, "videos").set_index("video_key").loc[key]
    assert video.status == "failed" and "404" in video.error
    for name in ["audio", "transcript_segments", "frames", "ocr_text", "caption_spans"]:
        rows = _table(pipeline, name)
        rows = rows[rows.video_key == key]
        assert list(rows.status) == ["skipped"] and "raw_video failed" in rows.error.iloc[0]
    doc = _table(pipeline, "video_documents").set_index("video_key").loc[key]
    assert doc.status == "failed" and "404" in doc.error


def test_every_table_loads_with_pandas_and_duckdb(pipeline):
    warehouse = pipeline["storage"] / "warehouse"
    keys = set(pipeline["keys"].values())
    for name, schema in TABLES.items():
        frame = _table(pipeline, name)
        assert set(frame.video_key) == keys, name  # every video appears in every table
        assert set(schema.names) <= set(frame.columns)
        via_duckdb = duckdb.sql(
            f"select video_key, count(*) as n from read_parquet('{warehouse}/{name}/*/*.parquet', "
            "hive_partitioning=true) group by video_key"
        ).df()
        assert set(via_duckdb.video_key) == keys
        assert via_duckdb.n.sum() == len(frame)
    videos = _table(pipeline, "videos").set_index("video_key")
    good = videos[videos.status == "ok"]
    assert (good.width == 720).all() and (good.height == 1280).all() and good.sha256.str.len().eq(64).all()
    assert good.source_url.str.startswith("http://127.0.0.1").all()


def test_rerun_replaces_partitions_instead_of_duplicating(pipeline):
    storage = pipeline["storage"]
    assert pipeline["second"].pipeline_ok
    assert [run.keys for run in pipeline["second"].runs] == [list(pipeline["keys"].values())]
    assert pipeline["counts_after_second"] == pipeline["counts_after_first"]
    after = {t: len(pd.read_parquet(storage / "warehouse" / t)) for t in TABLES}
    assert after == pipeline["counts_after_first"]
    for table_dir in (storage / "warehouse").iterdir():
        for partition in table_dir.iterdir():
            assert [p.name for p in partition.iterdir()] == ["part-0.parquet"]


def test_plain_rerun_resumes_and_does_not_retry_a_404(pipeline):
    third, keys = pipeline["third"], pipeline["keys"]
    assert third.pipeline_ok
    assert third.runs == [] and third.failed_before == [keys["gone.mp4"]]
    assert third.already_done == [key for name, key in keys.items() if name != "gone.mp4"]
    assert [item["video_key"] for item in third.videos] == list(keys.values())  # the summary lists them all
    assert [item["already_done"] for item in third.videos] == [True] * 4 + [False]


def test_dagster_instance_records_materialisations_and_checks(pipeline):
    instance = pipeline["instance"]
    runs = instance.get_runs()
    assert len(runs) == 2 and all(run.is_success for run in runs)  # the third invocation had nothing to run
    bad = pipeline["keys"]["gone.mp4"]
    every = set(pipeline["keys"].values())
    for stage in STAGES:  # the failed download is not a materialised raw_video partition: it is observed
        expected = every - {bad} if stage == "raw_video" else every
        assert instance.get_materialized_partitions(AssetKey(stage)) == expected, stage
        records = instance.fetch_materializations(AssetKey(stage), limit=100).records
        assert {r.partition_key for r in records} == expected
    observed = instance.fetch_observations(AssetKey("raw_video"), limit=10).records
    assert observed and {r.partition_key for r in observed} == {bad}
    assert {r.asset_observation.metadata["status"].value for r in observed} == {"failed"}
    check = instance.event_log_storage.get_latest_asset_check_execution_by_key([_check_key("raw_video")])[
        _check_key("raw_video")
    ]
    evaluation = check.event.dagster_event.event_specific_data
    assert evaluation.passed is False and bad in str(evaluation.metadata["failed"].value)


def _check_key(asset):
    from dagster import AssetCheckKey

    return AssetCheckKey(AssetKey(asset), "no_failed_videos")


def test_cli_prints_a_summary_for_the_sample_list(tmp_path):
    env = {**os.environ, "WANDR_STORAGE_URI": str(tmp_path / "storage"), "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    completed = subprocess.run(
        [sys.executable, "-m", "wandr_pipeline.cli", "run", str(REPO / "data" / "url_lists" / "sample.txt")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "3/3 video(s) processed" in completed.stdout
    assert "Welcome to Lisbon" in completed.stdout
    assert (tmp_path / "storage" / "warehouse" / "video_documents").is_dir()


# -- on-screen text (issue 6) ------------------------------------------------------------------------


def test_caption_spans_match_the_burned_in_captions(pipeline, manifest):
    spans = _table(pipeline, "caption_spans")
    for item in manifest:
        rows = spans[(spans.video_key == pipeline["keys"][item["file"]]) & (spans.status == "ok")]
        assert len(rows) == len(item["captions"]), (item["file"], list(rows.text))
        for caption, (_, span) in zip(item["captions"], rows.sort_values("start_s").iterrows()):
            assert SequenceMatcher(None, span.text.lower(), caption["text"].lower()).ratio() >= 0.9, (
                caption,
                span.text,
            )
            # frames are sampled once a second: the estimated times are within half a sample (+ a frame)
            assert abs(span.start_s - caption["start_s"]) <= 0.55 and abs(span.end_s - caption["end_s"]) <= 0.55
            assert span.first_seen_s >= caption["start_s"] and span.last_seen_s <= caption["end_s"]


def test_repeated_caption_frames_skip_the_ocr_engine(pipeline):
    ocr = _table(pipeline, "ocr_text")
    ok = ocr[ocr.status == "ok"].copy()
    ok["reused"] = ok.reused.astype(bool)
    frames = ok.drop_duplicates(["video_key", "frame_index"])
    assert frames.reused.mean() >= 0.5  # the sample captions stay 3-5 s on screen
    for _, row in ok[ok.reused & ok.text.notna()].iterrows():  # a reused row repeats its source frame's read
        source = ok[(ok.video_key == row.video_key) & (ok.frame_index == row.source_frame_index)]
        assert row.text in set(source.text) and not source.reused.any()
    read = frames[~frames.reused]
    assert (read.source_frame_index == read.frame_index).all()


def test_subtitle_files_and_contact_sheets_are_written(pipeline, manifest):
    import cv2

    media = pipeline["storage"] / "media"
    for item in manifest:
        folder = media / pipeline["keys"][item["file"]]
        captions_srt = (folder / "captions.srt").read_text()
        assert captions_srt.startswith("1\n00:00:0") and item["captions"][0]["text"].split()[0] in captions_srt
        assert (folder / "captions.vtt").read_text().startswith("WEBVTT")
        transcript_vtt = (folder / "transcript.vtt").read_text()
        assert transcript_vtt.startswith("WEBVTT") and "-->" in transcript_vtt
        assert (folder / "transcript.srt").read_text().startswith("1\n")
        sheet = cv2.imread(str(folder / "contact_sheet.jpg"))
        assert sheet is not None and sheet.shape[1] >= 600
    # each video's partition shows its own contact sheet (and the failed download's shows none)
    records = pipeline["instance"].fetch_materializations(AssetKey("ocr_text"), limit=100).records
    latest = {}
    for record in records:  # newest first
        latest.setdefault(record.partition_key, record.event_log_entry.asset_materialization.metadata)
    for item in manifest:
        key = pipeline["keys"][item["file"]]
        assert "data:image/jpeg;base64," in latest[key]["contact_sheet"].value
        assert latest[key]["contact_sheet_uri"].value.endswith(f"{key}/contact_sheet.jpg")
    assert "contact_sheet" not in latest[pipeline["keys"]["gone.mp4"]]


def test_documents_carry_caption_spans_and_one_clean_text(pipeline, manifest):
    docs = _table(pipeline, "video_documents").set_index("video_key")
    for item in manifest:
        doc = docs.loc[pipeline["keys"][item["file"]]]
        spans = list(doc.caption_spans)
        assert [s["start_s"] for s in spans] == sorted(s["start_s"] for s in spans)
        assert len(spans) == len(item["captions"])
        clean = doc.clean_text
        # the speech is there, and every caption that says something the speech did not
        assert _words(doc.transcript_text)[:20] in _words(clean)
        assert "FUSHIMI INARI" in clean or "FUSHIMI" not in str(item["captions"])
    no_audio = docs.loc[pipeline["keys"]["no_audio.mp4"]]
    assert no_audio.clean_text.startswith("FUSHIMI INARI.")


def test_the_lake_holds_the_partitions_rows_after_reprocessing(pipeline):
    """`wandr-pipeline run` synced the analysts' lake after each run (lib/lake.py); --reprocess replaced rows."""
    from wandr_pipeline.lib.lake import Lake, lake_tables
    from wandr_pipeline.lib.storage import storage_for

    for outcome in (pipeline["first"], pipeline["second"]):
        assert outcome.lake_error is None and {item.table for item in outcome.lake} == set(lake_tables())
    assert pipeline["third"].lake_error is None and pipeline["third"].lake == []  # nothing new to sync
    lake = Lake(storage_for(str(pipeline["storage"])))
    for name in lake_tables():
        expected, got = _table(pipeline, name), lake.read_pandas(name)
        assert sorted(got.columns) == sorted(expected.columns), name
        assert got.groupby("video_key").size().to_dict() == expected.groupby("video_key").size().to_dict(), name
    documents = lake.read_pandas("video_documents").set_index("video_key")
    expected = _table(pipeline, "video_documents").set_index("video_key")
    assert documents.transcript_text.sort_index().tolist() == expected.transcript_text.sort_index().tolist()
    connection = lake.duckdb()
    assert connection.execute("SELECT count(*) - count(DISTINCT video_key) FROM video_documents").fetchone() == (0,)
