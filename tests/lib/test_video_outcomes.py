"""A stage's record of its run (lib/video_outcomes.py): every video ends with a table and one outcome."""

from __future__ import annotations

from wandr_pipeline.lib.outcomes import EMPTY, FAILED, OK, SKIPPED
from wandr_pipeline.lib.schemas import OCR_TEXT, TRANSCRIPT_SEGMENTS
from wandr_pipeline.lib.video_outcomes import NO_RESULT, OutcomeRecord


def test_content_rows_make_an_ok_video_and_carry_the_run_values():
    record = OutcomeRecord(OCR_TEXT, ["a"])
    record.set_row_values({"min_confidence": 0.5, "not_a_column": 1})
    rows = [{"text": "hi", "status": OK}, {"text": "yo", "status": OK}]
    outcome = record.record("a", rows, seconds=1.5, preview="hi")
    assert (outcome.status, outcome.rows, outcome.error, outcome.retryable) == (OK, 2, None, False)
    table = record.tables["a"]
    assert table.column("min_confidence").to_pylist() == [0.5, 0.5]
    assert table.column("retryable").to_pylist() == [False, False]


def test_a_placeholder_row_says_the_status_and_whether_the_failure_is_retryable():
    record = OutcomeRecord(OCR_TEXT, ["a", "b"])
    record.record("a", [], status=FAILED, error="Vision 503 (transient)", retryable=True, base={"engine": "google"})
    record.record("b", [], status=SKIPPED, error="frames failed", retryable=True)
    row = record.tables["a"].to_pylist()[0]
    assert (row["status"], row["retryable"], row["engine"]) == (FAILED, True, "google")
    assert record.tables["b"].column("retryable").to_pylist() == [False]  # only a failure is retried
    assert [(o.video_key, o.status, o.rows, o.retryable) for o in record.outcomes] == [
        ("a", FAILED, 0, True),
        ("b", SKIPPED, 0, False),
    ]


def test_rows_that_cannot_be_stored_fail_the_video_not_the_run():
    record = OutcomeRecord(OCR_TEXT, ["a"])
    outcome = record.record("a", [{"status": OK, "no_such_column": 1}])
    assert outcome.status == FAILED and outcome.error.startswith("could not store the results")
    assert record.tables["a"].to_pylist()[0]["status"] == FAILED


def test_the_last_recording_of_a_video_counts_and_moves_it_last():
    record = OutcomeRecord(TRANSCRIPT_SEGMENTS, ["a", "b"])
    record.record("a", [], status=FAILED, error="boom")
    record.record("b", [], status=EMPTY, error="no speech")
    record.record("a", [{"text": "hola", "status": OK}])
    assert [(o.video_key, o.status) for o in record.outcomes] == [("b", EMPTY), ("a", OK)]
    assert record.failed() == []


def test_videos_without_a_result_are_filled_as_failed():
    record = OutcomeRecord(TRANSCRIPT_SEGMENTS, ["a", "b", "c"])
    record.record("b", [{"text": "x", "status": OK}])
    assert record.fill_missing() == ["a", "c"]
    assert {o.video_key: o.error for o in record.failed()} == {"a": NO_RESULT, "c": NO_RESULT}
    assert set(record.tables) == {"a", "b", "c"}


def test_counts_tally_and_summary_rows():
    record = OutcomeRecord(TRANSCRIPT_SEGMENTS, ["a", "b", "c"])
    record.record("a", [{"text": "x", "status": OK}] * 3, seconds=2.345, preview="x\nx")
    record.record("b", [], status=FAILED, error="boom " * 100)
    record.record("c", [], status=FAILED, error="bang")
    record.outcome("a").title = "Tacos"
    assert record.counts() == {OK: 1, EMPTY: 0, SKIPPED: 0, FAILED: 2, "suspect": 0}
    assert record.tally() == "ok 1, failed 2"
    assert record.total_rows() == 5  # three content rows and two placeholders
    rows = record.summary_rows(limit=2)
    assert rows[0] == {"video_key": "a", "status": OK, "rows": 3, "seconds": 2.35, "title": "Tacos", "detail": "x x"}
    assert len(rows) == 2 and len(rows[1]["detail"]) == 200 and rows[1]["title"] == ""
