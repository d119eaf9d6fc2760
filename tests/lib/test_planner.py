"""The planner: one verdict per video from the warehouse, one set of runs for every road."""

from tests.support.warehouse_rows import write_finished, write_row
from wandr_pipeline.lib.outcomes import FAILED, OK
from wandr_pipeline.lib.planner import (
    FAILED_FOR_GOOD,
    FINISHED,
    NEW,
    RETRYABLE,
    Assessment,
    assess_videos,
    downstream_of,
    plan_runs,
)
from wandr_pipeline.lib.schemas import TABLES, status_row, to_table
from wandr_pipeline.lib.stages import STAGE_ASSET_NAMES
from wandr_pipeline.lib.storage import Storage


def test_verdicts_from_the_warehouse(tmp_path):
    storage = Storage(str(tmp_path))
    write_finished(storage, "done")
    write_row(storage, "videos", "gone", FAILED, "HTTP Error 404: Not Found", source_url="x")
    write_row(
        storage, "videos", "throttled", FAILED, "HTTP Error 429: gave up after 3 tries", retryable=True, source_url="x"
    )
    write_finished(storage, "ocr_503", failed=["ocr_text"])
    write_row(storage, "ocr_text", "ocr_503", FAILED, "ServiceUnavailable: 503", retryable=True)
    write_finished(storage, "ocr_broken", failed=["ocr_text"])
    write_row(storage, "ocr_text", "ocr_broken", FAILED, "cannot decode the frame")
    write_row(storage, "videos", "half", OK, source_url="x")  # downloaded, never finished

    verdicts = assess_videos(storage, ["done", "gone", "throttled", "ocr_503", "ocr_broken", "half", "never"])

    assert {key: v.state for key, v in verdicts.items()} == {
        "done": FINISHED,
        "gone": FAILED_FOR_GOOD,
        "throttled": RETRYABLE,
        "ocr_503": RETRYABLE,
        "ocr_broken": FINISHED,  # a permanent failure of a later stage: recorded, final
        "half": NEW,
        "never": NEW,
    }
    assert verdicts["throttled"].redo_from == "raw_video"
    assert verdicts["ocr_503"].redo_from == "ocr_text"
    assert "404" in verdicts["gone"].error


def test_the_retryable_column_is_the_truth_not_the_error_text(tmp_path):
    storage = Storage(str(tmp_path))
    write_row(storage, "videos", "marked", FAILED, "the host said: try later", retryable=True, source_url="x")
    write_row(storage, "videos", "says_transient", FAILED, "HTTP 503 (transient)", retryable=False, source_url="x")
    verdicts = assess_videos(storage, ["marked", "says_transient"])
    assert verdicts["marked"].state == RETRYABLE and verdicts["says_transient"].state == FAILED_FOR_GOOD


def test_a_partition_from_before_the_retryable_column_falls_back_to_its_error_text(tmp_path):
    storage = Storage(str(tmp_path))
    schema = TABLES["videos"]
    for key, error in (("old_429", "HTTP Error 429 (transient; gave up after 3 tries)"), ("old_404", "HTTP 404")):
        table = to_table(schema, [status_row(schema, FAILED, error, source_url="x")])
        storage.write_partition("videos", key, table.drop_columns(["retryable"]))
    verdicts = assess_videos(storage, ["old_429", "old_404"])
    assert verdicts["old_429"].state == RETRYABLE and verdicts["old_404"].state == FAILED_FOR_GOOD


def test_an_unreadable_document_counts_as_notwrite_finished(tmp_path):
    storage = Storage(str(tmp_path))
    write_finished(storage, "k")
    storage.write_bytes(storage.partition_path("video_documents", "k"), b"not parquet")
    assert assess_videos(storage, ["k"])["k"].state == NEW


def test_runs_cover_adjacent_keys_per_selection_and_leave_busy_and_final_ones():
    order = [f"k{i}" for i in range(10)]
    verdicts = {
        "k1": Assessment("k1", FINISHED),
        "k2": Assessment("k2", FAILED_FOR_GOOD),
        "k5": Assessment("k5", RETRYABLE, "transcript"),
        "k6": Assessment("k6", RETRYABLE, "transcript"),
        "k8": Assessment("k8", RETRYABLE, "raw_video"),
    }
    plan = plan_runs(order, order, verdicts, in_flight={"k4"}, max_per_run=2)

    assert plan.finished == ["k1"] and plan.failed_for_good == ["k2"] and plan.busy == ["k4"]
    every = tuple(STAGE_ASSET_NAMES)
    runs = {(run.keys, run.assets) for run in plan.runs}
    assert runs == {
        (("k0",), every),
        (("k3",), every),
        (("k7", "k8"), every),  # a retried download redoes every stage, with the new videos
        (("k9",), every),
        (("k5", "k6"), ("transcript", "video_documents")),
    }
    assert sorted(plan.keys) == ["k0", "k3", "k5", "k6", "k7", "k8", "k9"]
    assert all(len(run.keys) <= 2 for run in plan.runs)


def test_reprocess_runs_everything_but_what_is_in_flight():
    order = ["a", "b", "c"]
    verdicts = {key: Assessment(key, FINISHED) for key in order}
    plan = plan_runs(order, order, verdicts, in_flight={"b"}, max_per_run=50, reprocess=True)
    assert [run.keys for run in plan.runs] == [("a",), ("c",)] and plan.busy == ["b"]


def test_downstream_of_follows_the_registry():
    assert downstream_of("transcript") == ("transcript", "video_documents")
    assert downstream_of("ocr_text") == ("transcript", "ocr_text", "caption_spans", "video_documents")
    assert downstream_of("raw_video") == tuple(STAGE_ASSET_NAMES)
