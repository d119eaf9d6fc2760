"""What every stage asset shares: per-video isolation, progress logs, UI metadata, a check result."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    BackfillPolicy,
    MetadataValue,
    Output,
    asset,
)

from wandr_pipeline.defs.partitions import videos_partitions
from wandr_pipeline.lib.outcomes import (
    EMPTY,
    FAILED,
    OK,
    SKIPPED,
    STATUSES,
    NotApplicable,
    short_error,
    upstream_status,
)
from wandr_pipeline.lib.schemas import status_row, to_table
from wandr_pipeline.lib.stages import Stage, stage
from wandr_pipeline.lib.tags import GPU, gpu_tags_from_settings
from wandr_pipeline.settings import Settings

FAILED_VIDEOS_CHECK = "no_failed_videos"
# Every log line is an event in Dagster's storage (~10-50 ms each on SQLite): progress is throttled.
PROGRESS_EVERY_S = 10.0


def failed_videos_check(asset_name: str) -> AssetCheckSpec:
    return AssetCheckSpec(
        FAILED_VIDEOS_CHECK,
        asset=asset_name,
        description="Warns when videos of the run ended with status 'failed' in this stage (see the error column).",
    )


@dataclass(frozen=True)
class StageAsset:
    """A stage's compute function and what the registry does not say; `build(settings)` makes its asset.

    Built when the definitions are, so the backfill size and the GPU op tags come from the settings
    the definitions are built with, never from the environment at import time.
    """

    compute_fn: Callable[..., Any]
    kinds: frozenset[str]
    description: str

    @property
    def stage(self) -> Stage:
        return stage(self.compute_fn.__name__)

    def build(self, settings: Settings) -> AssetsDefinition:
        """`@asset` for the stage: `videos` partitions, the warehouse IO manager writing the stage's
        table, multi-run backfills of `partitions_per_run` videos, the `no_failed_videos` check, and for
        a GPU stage the `wandr/compute=gpu` op tags that route it to an L4 in production (lib/tags.py)."""
        spec = self.stage
        return asset(
            name=spec.asset,
            partitions_def=videos_partitions,
            io_manager_key="warehouse_io_manager",
            metadata={"table": spec.table},
            ins={name: AssetIn() for name in spec.inputs},
            backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=settings.partitions_per_run),
            check_specs=[failed_videos_check(spec.asset)],
            op_tags=gpu_tags_from_settings(settings) if spec.compute == GPU else None,
            group_name="videos",
            kinds=set(self.kinds),
            description=self.description,
        )(self.compute_fn)


def stage_asset(*, kinds: set[str], description: str) -> Callable[[Callable[..., Any]], StageAsset]:
    """Marks a function as the compute function of the registered stage of the same name (lib/stages.py)."""

    def decorate(fn: Callable[..., Any]) -> StageAsset:
        stage(fn.__name__)  # fails at import for a function that is not a registered stage
        return StageAsset(fn, frozenset(kinds), description)

    return decorate


def first_row(table: pa.Table) -> dict[str, Any]:
    return table.slice(0, 1).to_pylist()[0] if table.num_rows else {}


class StageRun:
    """Runs one stage over the partitions of a run; each video's failure stays that video's."""

    def __init__(self, context: AssetExecutionContext):
        self.context = context
        spec = stage(context.asset_key.to_user_string())
        self.table_name = spec.table
        self.schema = spec.schema
        self.keys: list[str] = list(context.partition_keys)
        self.tables: dict[str, pa.Table] = {}
        self.summary: list[dict[str, Any]] = []
        self.started = time.perf_counter()
        self._last_progress = 0.0

    def skip_unless_usable(self, key: str, upstream: pa.Table, stage: str, usable=(OK,)) -> bool:
        """Record a `skipped` row and return True when the upstream stage has nothing to work on."""
        status, error = upstream_status(upstream)
        if status in usable:
            return False
        self.record(key, [], status=SKIPPED, error=f"{stage} {status}: {error}" if error else f"{stage} {status}")
        return True

    def run_one(
        self,
        key: str,
        work: Callable[[], list[Mapping[str, Any]]],
        *,
        empty_reason: str | None = None,
        preview: Callable[[list[Mapping[str, Any]]], str] | None = None,
        base: Mapping[str, Any] | None = None,
        elapsed_s: float | None = None,
    ) -> None:
        """Call `work()` for one video and record its rows, or its failure.

        `base` holds values that a failure's placeholder row still carries (e.g. the source URL);
        `elapsed_s` is the video's processing time when the work happened before this call.
        """
        start = time.perf_counter() - (elapsed_s or 0.0)
        try:
            rows = work()
        except NotApplicable as exc:
            self.record(key, [], status=SKIPPED, error=short_error(exc), seconds=time.perf_counter() - start, base=base)
            return
        except Exception as exc:  # noqa: BLE001 - one bad video never fails the batch
            self.record(key, [], status=FAILED, error=short_error(exc), seconds=time.perf_counter() - start, base=base)
            return
        if not rows and empty_reason:
            self.record(key, [], status=EMPTY, error=empty_reason, seconds=time.perf_counter() - start, base=base)
            return
        self.record(key, rows, seconds=time.perf_counter() - start, preview=preview(rows) if preview and rows else None)

    def record(
        self,
        key: str,
        rows: list[Mapping[str, Any]],
        *,
        status: str | None = None,
        error: str | None = None,
        seconds: float | None = None,
        preview: str | None = None,
        base: Mapping[str, Any] | None = None,
    ) -> None:
        if status is not None:
            rows = [status_row(self.schema, status, error, **(base or {}))]
        try:
            self.tables[key] = to_table(self.schema, rows)
        except Exception as exc:  # noqa: BLE001 - rows that cannot be stored fail this video, not the batch
            status, error = FAILED, f"could not store the results: {short_error(exc)}"
            rows = [status_row(self.schema, status, error, **(base or {}))]
            self.tables[key] = to_table(self.schema, rows)
        statuses = Counter(r["status"] for r in rows)
        video_status = status or (OK if statuses.get(OK) else next(iter(statuses), EMPTY))
        video_error = error or next((r.get("error") for r in rows if r.get("error")), None)
        self.summary.append(
            {
                "video_key": key,
                "status": video_status,
                "rows": len(rows) if status is None else 0,
                "seconds": seconds,
                "error": video_error,
                "preview": preview,
            }
        )
        if video_status == FAILED:
            self.context.log.warning(f"{self.table_name} {key}: failed: {video_error}")
        self._progress()

    def _progress(self) -> None:
        done, now = len(self.tables), time.perf_counter()
        if done not in (1, len(self.keys)) and now - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = now
        counts = Counter(s["status"] for s in self.summary)
        tally = ", ".join(f"{name} {counts[name]}" for name in STATUSES if counts.get(name))
        self.context.log.info(
            f"{self.table_name}: {done}/{len(self.keys)} videos done in {now - self.started:.1f} s ({tally})"
        )

    def results(self, extra_metadata: Mapping[str, Any] | None = None) -> Iterator[Output | AssetCheckResult]:
        """The asset's output (one table per partition) and its failed-videos check."""
        missing = [k for k in self.keys if k not in self.tables]
        for key in missing:  # a stage bug must still leave a row behind, not a hole
            self.record(key, [], status=FAILED, error="stage produced no result for this video")
        counts = Counter(s["status"] for s in self.summary)
        failed = [s for s in self.summary if s["status"] == FAILED]
        metadata: dict[str, Any] = {
            "videos": len(self.keys),
            "rows": sum(t.num_rows for t in self.tables.values()),
            "seconds": round(time.perf_counter() - self.started, 2),
            **{f"status_{name}": counts.get(name, 0) for name in STATUSES},
            "summary": MetadataValue.md(_summary_markdown(self.summary)),
        }
        if extra_metadata:
            metadata.update(extra_metadata)
        yield Output(self.tables, metadata=metadata)
        yield AssetCheckResult(
            check_name=FAILED_VIDEOS_CHECK,
            passed=not failed,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "failed_videos": len(failed),
                "failed": MetadataValue.json(
                    [{"video_key": s["video_key"], "error": s["error"]} for s in failed[:100]]
                ),
            },
        )


def _summary_markdown(summary: list[dict[str, Any]], limit: int = 100) -> str:
    lines = ["| video_key | status | rows | seconds | detail |", "|---|---|---|---|---|"]
    for item in summary[:limit]:
        detail = item["error"] if item["status"] != OK else (item["preview"] or "")
        detail = (detail or "").replace("|", "\\|").replace("\n", " ")[:160]
        seconds = f"{item['seconds']:.1f}" if item["seconds"] is not None else ""
        lines.append(f"| {item['video_key']} | {item['status']} | {item['rows']} | {seconds} | {detail} |")
    if len(summary) > limit:
        lines.append(f"| … {len(summary) - limit} more | | | | |")
    return "\n".join(lines)
