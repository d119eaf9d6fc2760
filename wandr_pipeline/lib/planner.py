"""Which videos need a run, and in which runs: one planner for every road that makes runs.

Runs are made by the CLI (`wandr-pipeline run`), by the daemon's sensors (URL lists dropped in a folder,
videos the API registered) and by operators in the UI. Each road used to decide on its own what was
finished, what was in flight and how to batch, and a rule added to one (redo a failure that was only
passing) was missing on the others. Here it is decided once, from two sources the caller reads:

- the warehouse (`assess_videos`, this module: no Dagster): finished, failed for good, failed in a
  way worth retrying (the stage's `retryable` column), or not processed yet;
- the Dagster instance (the caller: `defs/instance_state.py`): which videos a queued or running run
  already covers. Those are left to that run, so no road makes a second run for a video.

`plan_runs` turns the verdicts into runs over adjacent partitions (a Dagster run covers a partition
range), at most `max_per_run` videos each, one asset selection per run: a new video runs every stage,
a retryable failure its failed stage and what depends on it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from wandr_pipeline.lib.batching import adjacent_batches
from wandr_pipeline.lib.outcomes import FAILED, failure_is_retryable, upstream_status
from wandr_pipeline.lib.stages import FIRST_STAGE, LAST_STAGE, STAGES
from wandr_pipeline.lib.storage import Storage, read_parquet_bytes

# What the warehouse says of a video.
NEW = "new"  # no finished document yet (never run, or a run that did not finish it)
FINISHED = "finished"  # a document, and no failure worth retrying
FAILED_FOR_GOOD = "failed"  # the download failed for a reason a retry does not change (404, private, too long)
RETRYABLE = "retryable"  # a stage failed for a passing reason (HTTP 429/5xx, a timeout, CUDA out of memory)
# What the instance says of it (overrides the warehouse's verdict for planning).
IN_FLIGHT = "in_flight"


@dataclass(frozen=True)
class Assessment:
    """One video's verdict; `redo_from` is the earliest stage to redo for a RETRYABLE one."""

    key: str
    state: str
    redo_from: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class PlannedRun:
    """One run to make: adjacent video keys and the stage assets it materialises."""

    keys: tuple[str, ...]
    assets: tuple[str, ...]  # registry order; every stage for a video not processed yet
    reason: str  # "new" or "retry <stage>"

    @property
    def every_stage(self) -> bool:
        return self.assets == tuple(stage.asset for stage in STAGES)


@dataclass
class Plan:
    runs: list[PlannedRun] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)  # not run again
    failed_for_good: list[str] = field(default_factory=list)  # not run again; their error is recorded
    busy: list[str] = field(default_factory=list)  # covered by a queued or running run: left to it

    @property
    def keys(self) -> list[str]:
        return [key for run in self.runs for key in run.keys]


def downstream_of(asset: str) -> tuple[str, ...]:
    """`asset` and every stage that depends on it, directly or not (registry order)."""
    wanted = {asset}
    while True:
        more = {stage.asset for stage in STAGES if wanted & set(stage.inputs)} - wanted
        if not more:
            return tuple(stage.asset for stage in STAGES if stage.asset in wanted)
        wanted |= more


def assess_videos(storage: Storage, keys: Iterable[str]) -> dict[str, Assessment]:
    """Each video's verdict from its tables. Reads the `videos` and `video_documents` partitions of each
    key; a stage table only where the document says that stage failed (so a re-run over 100,000
    finished videos reads two small files per video, not seven)."""
    keys = list(dict.fromkeys(keys))
    videos_paths = {storage.partition_path(FIRST_STAGE.table, key): key for key in keys}
    documents_paths = {storage.partition_path(LAST_STAGE.table, key): key for key in keys}
    videos = {videos_paths[p]: data for p, data in storage.read_existing(list(videos_paths)).items()}
    documents = {documents_paths[p]: data for p, data in storage.read_existing(list(documents_paths)).items()}
    verdicts: dict[str, Assessment] = {}
    for key in keys:
        video = _table(videos.get(key))
        if video is not None:
            status, error = upstream_status(video)
            if status == FAILED:
                if failure_is_retryable(video):
                    verdicts[key] = Assessment(key, RETRYABLE, FIRST_STAGE.asset, error)
                else:
                    verdicts[key] = Assessment(key, FAILED_FOR_GOOD, None, error)
                continue
        document = _table(documents.get(key))
        if video is None or document is None:
            verdicts[key] = Assessment(key, NEW)
            continue
        verdicts[key] = _assess_finished(storage, key, document)
    return verdicts


def assess_in_batches(
    storage: Storage, keys: Sequence[str], *, batch_size: int, deadline: float | None = None
) -> dict[str, Assessment]:
    """`assess_videos` over `keys`, `batch_size` at a time (each batch's bytes dropped before the next);
    with `deadline` (time.monotonic), only the batches that start before it (at least one): what a
    sensor tick can read, the rest being left for its next tick."""
    verdicts: dict[str, Assessment] = {}
    for start in range(0, len(keys), batch_size):
        if verdicts and deadline is not None and time.monotonic() >= deadline:
            break
        verdicts.update(assess_videos(storage, keys[start : start + batch_size]))
    return verdicts


def _table(data: bytes | None) -> pa.Table | None:
    if data is None:
        return None
    try:
        return read_parquet_bytes(data)
    except Exception:  # noqa: BLE001 - an unreadable partition is as good as none: its stage runs again
        return None


def _assess_finished(storage: Storage, key: str, document: pa.Table) -> Assessment:
    """A video with a document: RETRYABLE from its earliest stage that failed for a passing reason."""
    statuses = dict(document.column("stage_statuses")[0].as_py() or []) if document.num_rows else {}
    for stage in STAGES[1:-1]:
        if statuses.get(stage.asset) != FAILED:
            continue
        path = storage.partition_path(stage.table, key)
        table = _table(storage.read_existing([path]).get(path))
        if table is None:  # gone or unreadable since the document was built: redo it
            return Assessment(key, RETRYABLE, stage.asset, f"{stage.table} partition missing or unreadable")
        status, error = upstream_status(table)
        if status == FAILED and failure_is_retryable(table):
            return Assessment(key, RETRYABLE, stage.asset, error)
    return Assessment(key, FINISHED)


def plan_runs(
    order: Sequence[str],
    wanted: Iterable[str],
    verdicts: Mapping[str, Assessment],
    *,
    in_flight: Iterable[str] = (),
    max_per_run: int,
    reprocess: bool = False,
) -> Plan:
    """The runs that bring `wanted` up to date.

    `order`: the partition order (every key in `wanted` must be in it); `verdicts`: `assess_videos`'s
    (a key without one counts as NEW); `in_flight`: keys a queued or running run covers; `reprocess`:
    every wanted video runs every stage again, whatever the warehouse says (never one in flight).
    """
    busy = set(in_flight)
    plan = Plan()
    # stage assets -> keys, in the order first met
    selections: dict[tuple[str, ...], tuple[str, list[str]]] = {}
    every_stage = tuple(stage.asset for stage in STAGES)
    for key in dict.fromkeys(wanted):
        verdict = verdicts.get(key) or Assessment(key, NEW)
        if key in busy:
            plan.busy.append(key)
            continue
        if reprocess or verdict.state == NEW:
            selections.setdefault(every_stage, ("new" if not reprocess else "reprocess", []))[1].append(key)
        elif verdict.state == RETRYABLE:
            assets = downstream_of(verdict.redo_from or FIRST_STAGE.asset)
            if assets[0] == FIRST_STAGE.asset:
                assets = every_stage
            selections.setdefault(assets, (f"retry {verdict.redo_from}", []))[1].append(key)
        elif verdict.state == FAILED_FOR_GOOD:
            plan.failed_for_good.append(key)
        else:
            plan.finished.append(key)
    size = max(1, int(max_per_run))
    position = {key: i for i, key in enumerate(order)} if selections else {}
    for assets, (reason, keys) in selections.items():
        for batch in adjacent_batches(position, keys, size):
            plan.runs.append(PlannedRun(tuple(batch), assets, reason))
    return plan
