"""One stage's outcome per video of a run, kept as data: the table of each video and a line saying how it ended.

A stage records every video of its run here (`OutcomeRecord.record`): the rows it produced, or one
placeholder row with the status, the error and whether the failure is worth retrying. From the record
come the run's counts, its list of failed videos and the rows of its summary; the Dagster glue
(defs/videos/stage.py, defs/videos/reporting.py) only turns those into metadata and checks, so all of
this is tested without Dagster.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from wandr_pipeline.lib.outcomes import EMPTY, FAILED, OK, RETRYABLE, STATUSES, short_error
from wandr_pipeline.lib.schemas import status_row, to_table

NO_RESULT = "stage produced no result for this video"


@dataclass
class VideoOutcome:
    """How one video ended in one stage of a run."""

    video_key: str
    status: str
    rows: int  # content rows written (0 for a placeholder row)
    seconds: float | None = None
    error: str | None = None
    preview: str | None = None  # a glimpse of the output (a title, the first words)
    retryable: bool = False
    source_url: str | None = None  # added once the run is done, for the UI
    title: str | None = None

    @property
    def detail(self) -> str:
        """The error, or a preview of the output: one line of at most 200 characters."""
        text = self.error if self.status != OK else self.preview
        return (text or "").replace("\n", " ")[:200]


class OutcomeRecord:
    """The videos of one stage's run: each video's table (`tables`) and outcome, the last word counting."""

    def __init__(self, schema: pa.Schema, keys: Iterable[str]):
        """`schema`: the stage's table; `keys`: the run's videos (each must end up with a table)."""
        self.schema = schema
        self.keys: list[str] = list(keys)
        self.tables: dict[str, pa.Table] = {}
        self.row_values: dict[str, Any] = {}  # columns every row of the run carries (the run's settings)
        self._outcomes: dict[str, VideoOutcome] = {}  # in recording order; a video recorded again moves last

    def set_row_values(self, values: Mapping[str, Any]) -> None:
        self.row_values = {k: v for k, v in values.items() if k in self.schema.names}

    def record(
        self,
        key: str,
        rows: list[Mapping[str, Any]],
        *,
        status: str | None = None,
        error: str | None = None,
        retryable: bool = False,
        seconds: float | None = None,
        preview: str | None = None,
        base: Mapping[str, Any] | None = None,
    ) -> VideoOutcome:
        """Store a video's rows, or with `status` one placeholder row (carrying `base`); rows that cannot be
        stored fail the video, not the run. `retryable`: the video's failure was passing."""
        if status is not None:
            rows = [status_row(self.schema, status, error, retryable=retryable, **(base or {}))]
        defaults = {RETRYABLE: False} if RETRYABLE in self.schema.names else {}
        rows = [{**defaults, **self.row_values, **row} for row in rows]
        try:
            self.tables[key] = to_table(self.schema, rows)
        except Exception as exc:  # noqa: BLE001 - rows that cannot be stored fail this video, not the batch
            status, error, retryable = FAILED, f"could not store the results: {short_error(exc)}", False
            rows = [status_row(self.schema, status, error, **{**self.row_values, **(base or {})})]
            self.tables[key] = to_table(self.schema, rows)
        statuses = Counter(row["status"] for row in rows)
        outcome = VideoOutcome(
            video_key=key,
            status=status or (OK if statuses.get(OK) else next(iter(statuses), EMPTY)),
            rows=len(rows) if status is None else 0,
            seconds=seconds,
            error=error or next((row.get("error") for row in rows if row.get("error")), None),
            preview=preview,
            retryable=bool(retryable) and status == FAILED,
        )
        self._outcomes.pop(key, None)
        self._outcomes[key] = outcome
        return outcome

    def fill_missing(self) -> list[str]:
        """Record a failure for every video of the run without a result (a stage bug must still leave a
        row behind, not a hole); returns their keys."""
        missing = [key for key in self.keys if key not in self.tables]
        for key in missing:
            self.record(key, [], status=FAILED, error=NO_RESULT)
        return missing

    @property
    def outcomes(self) -> list[VideoOutcome]:
        """Every recorded video, in the order of their (last) recording."""
        return list(self._outcomes.values())

    def outcome(self, key: str) -> VideoOutcome | None:
        return self._outcomes.get(key)

    def failed(self) -> list[VideoOutcome]:
        return [o for o in self._outcomes.values() if o.status == FAILED]

    def counts(self) -> dict[str, int]:
        """Videos per status, every status named (0 where none)."""
        counts = Counter(o.status for o in self._outcomes.values())
        return {name: counts.get(name, 0) for name in STATUSES}

    def tally(self) -> str:
        """The counts in one line, for the log: "ok 3, failed 1"."""
        return ", ".join(f"{name} {count}" for name, count in self.counts().items() if count)

    def total_rows(self) -> int:
        """Rows the run's tables hold, placeholder rows included."""
        return sum(table.num_rows for table in self.tables.values())

    def summary_rows(self, limit: int) -> list[dict[str, Any]]:
        """The first `limit` videos as the rows of the run's summary table."""
        return [
            {
                "video_key": o.video_key,
                "status": o.status,
                "rows": o.rows,
                "seconds": round(float(o.seconds), 2) if o.seconds is not None else None,
                "title": o.title or "",
                "detail": o.detail,
            }
            for o in self.outcomes[:limit]
        ]
