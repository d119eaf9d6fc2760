"""A stage op: one Dagster multi-asset computing several stages at once over a batch of videos.

Stage assets used to be one op each, run one after another: the run took the sum of its stages, and
while OCR read the frame decoder idled. A stage op holds the stages that run in one place (lib/stages.py
`STAGE_OPS`) and runs them pipelined (`lib/pipelining.py`): each stage in its own thread, each video
moving on as soon as its previous stage is done, at most `WANDR_VIDEOS_IN_FLIGHT` videos in between.

What Dagster users rely on stays: each stage is still its own asset with per-partition outputs,
metadata and checks; the op can subset (`can_subset=True`), so a backfill of `transcript` alone runs
only that stage, its upstream tables read from the warehouse; each stage's output is stored as soon
as that stage has finished the batch, not when the whole op has.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, BackfillPolicy, multi_asset

from wandr_pipeline.defs.partitions import partition_keys_read_once, videos_partitions
from wandr_pipeline.defs.resources.storage import read_partitions
from wandr_pipeline.defs.run_videos_tag import name_the_run_videos
from wandr_pipeline.defs.videos.stage import StageRun, StageWorker
from wandr_pipeline.lib.pipelining import PipelineStage, run_pipelined
from wandr_pipeline.lib.stages import StageOp, stage
from wandr_pipeline.lib.tags import GPU, GPU_POOL, gpu_tags_from_settings
from wandr_pipeline.settings import Settings

# Every log line is an event in Dagster's storage (~10-50 ms each on SQLite): one progress line for
# all the op's stages every PROGRESS_EVERY_S, one line as each stage finishes its batch.
PROGRESS_EVERY_S = 15.0


class QueuedLog:
    """A logger the worker threads write to; `flush` passes the lines to Dagster's, from one thread."""

    def __init__(self, log: Any):
        self._log = log
        self._lines: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()

    def debug(self, message: str) -> None:
        self._lines.put(("debug", message))

    def info(self, message: str) -> None:
        self._lines.put(("info", message))

    def warning(self, message: str) -> None:
        self._lines.put(("warning", message))

    def error(self, message: str) -> None:
        self._lines.put(("error", message))

    def flush(self) -> None:
        while True:
            try:
                level, message = self._lines.get_nowait()
            except queue.Empty:
                return
            getattr(self._log, level)(message)


def build_stage_op(op: StageOp, workers: Sequence[type[StageWorker]], settings: Settings) -> AssetsDefinition:
    """The op's multi-asset: every stage of `op` (their workers, in registry order) as a subsettable asset,
    multi-run backfills of `partitions_per_run` videos, and for a GPU op the `wandr/compute=gpu` op tags
    that route it to an L4 in production (lib/tags.py)."""
    if [w.asset for w in workers] != list(op.assets):
        raise ValueError(f"{op.name}: workers {[w.asset for w in workers]} are not its stages {list(op.assets)}")
    in_flight = settings.videos_in_flight

    @multi_asset(
        name=op.name,
        specs=[w.spec() for w in workers],
        check_specs=[check for w in workers for check in w.check_specs()],
        can_subset=True,
        partitions_def=videos_partitions,
        backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=settings.partitions_per_run),
        op_tags=gpu_tags_from_settings(settings.gpu) if op.compute == GPU else None,
        pool=GPU_POOL if op.compute == GPU else None,
        required_resource_keys=set().union(*(w.resources for w in workers)),
        description=op.description,
    )
    def _stage_op(context):  # no annotation: Dagster checks it, and this module postpones annotations
        with partition_keys_read_once(context.instance):
            yield from run_stage_op(context, workers, in_flight=in_flight)

    return _stage_op


def run_stage_op(context: AssetExecutionContext, workers: Sequence[type[StageWorker]], *, in_flight: int):
    """Run the selected stages of the op pipelined over the run's videos; yields each stage's output,
    metadata and check results as soon as that stage is done with the batch."""
    selected = [w for w in workers if AssetKey(w.asset) in context.selected_asset_keys]
    keys = list(context.partition_keys)
    name_the_run_videos(context, keys)
    store = context.resources.storage.get()
    log = QueuedLog(context.log)
    runs = {w.asset: StageRun(context, w.asset, keys=keys, store=store, log=log) for w in selected}
    stage_workers = {w.asset: w(runs[w.asset], context.resources) for w in selected}
    inputs: dict[str, Mapping[str, pa.Table]] = {name: run.tables for name, run in runs.items()}
    for name in dict.fromkeys(i for w in selected for i in w.stage().inputs if i not in runs):
        inputs[name] = read_partitions(store, stage(name).table, name, keys, context.log)

    def on_error(name: str, failed_keys: list[str], error: BaseException) -> None:
        for key in failed_keys:  # a stage bug: still a row per video, and the next stage goes on
            if key not in runs[name].tables:
                runs[name].record_failure(key, error, prefix="stage error: ")

    last_progress = time.perf_counter()

    def on_tick() -> None:
        nonlocal last_progress
        log.flush()
        now = time.perf_counter()
        if now - last_progress >= PROGRESS_EVERY_S:
            last_progress = now
            context.log.info(
                "; ".join(f"{name} {len(run.tables)}/{len(keys)}" for name, run in runs.items())
                + f" videos done in {now - runs[selected[0].asset].started:.0f} s"
            )

    pipeline = [
        PipelineStage(
            w.asset,
            lambda given, name=w.asset: stage_workers[name].process(given, inputs),
            after=tuple(i for i in w.stage().inputs if i in runs),
            batch=w.batch,
            workers=stage_workers[w.asset].workers,
            group_of=stage_workers[w.asset].group_of if stage_workers[w.asset].per_group else None,
            per_group=stage_workers[w.asset].per_group,
        )
        for w in selected
    ]
    for done in run_pipelined(keys, pipeline, in_flight=in_flight, on_error=on_error, on_tick=on_tick):
        log.flush()
        run = runs[done.stage]
        run.finished = time.perf_counter()
        context.log.info(
            f"{run.table_name}: {len(run.tables)}/{len(keys)} videos done in {run.finished - run.started:.1f} s "
            f"({run.tally()})"
        )
        worker = stage_workers[done.stage]
        yield from run.results(worker.run_metadata(), materialize_failed=worker.materializes_failed_videos)
    log.flush()
