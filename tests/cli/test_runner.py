"""What a plain re-run redoes: the stage that failed for a passing reason and what depends on it."""

from __future__ import annotations

import pyarrow as pa

from wandr_pipeline.cli.runner import downstream_of, transient_failures
from wandr_pipeline.lib.stages import STAGES
from wandr_pipeline.lib.storage import Storage


def _write(storage: Storage, table: str, key: str, status: str, error: str | None = None) -> None:
    schema = next(stage.schema for stage in STAGES if stage.table == table)
    row = {field.name: None if field.nullable else _blank(field.type) for field in schema}
    row.update(video_key=key, status=status, error=error)
    storage.write_partition(table, key, pa.Table.from_pylist([row], schema=schema))


def _blank(kind: pa.DataType):
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return ""
    if pa.types.is_list(kind):
        return []
    if pa.types.is_boolean(kind):
        return False
    if pa.types.is_timestamp(kind):
        return None
    return 0


def test_downstream_of_follows_the_graph():
    # transcript reads caption_spans, which reads ocr_text: an OCR redo redoes the transcript too.
    assert set(downstream_of("ocr_text")) == {"ocr_text", "caption_spans", "transcript", "video_documents"}
    assert set(downstream_of("transcript")) == {"transcript", "video_documents"}
    assert downstream_of("video_documents") == ["video_documents"]
    assert "raw_video" not in downstream_of("audio")


def test_only_passing_failures_after_the_download_are_redone(tmp_path):
    storage = Storage(str(tmp_path))
    for key in ("vision-503", "ocr-404", "all-ok", "skipped-after-503"):
        for stage in STAGES:
            _write(storage, stage.table, key, "ok")
    _write(storage, "ocr_text", "vision-503", "failed", "Vision request failed: ServiceUnavailable: 503 (transient)")
    _write(storage, "ocr_text", "ocr-404", "failed", "Vision request failed: NotFound: 404")
    # Only a stage's own failure counts: a skip that quotes an upstream passing failure is not the stage to redo.
    _write(storage, "transcript_segments", "skipped-after-503", "skipped", "audio failed: GCS 503 (transient)")
    _write(storage, "audio", "skipped-after-503", "failed", "OSError: GCS 503 (transient)")
    redo = transient_failures(storage, ["vision-503", "ocr-404", "all-ok", "skipped-after-503"])
    assert redo == {"vision-503": "ocr_text", "skipped-after-503": "audio"}
