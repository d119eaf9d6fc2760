"""Registering videos in a Dagster instance and materialising them in batched runs.

A URL list run resumes: a video whose processing finished (its `video_documents` partition exists and
its `videos` row is not `failed`) is not processed again unless asked (`reprocess=True`, the CLI's
`--reprocess`), so a list re-run after a crash redoes only the batch the crash interrupted, plus the
videos that failed to download (a transient failure gets another try). A finished video one of whose
later stages failed for a passing reason (a Vision 503, a storage hiccup, CUDA out of memory: its
error says `(transient`) has that stage and the stages downstream of it redone, from the media already
downloaded. See docs/RELIABILITY.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dagster import AssetKey, DagsterInstance

from wandr_pipeline.cli.recovery import mark_orphaned_runs, process_tags
from wandr_pipeline.definitions import build_definitions
from wandr_pipeline.defs.instance_state import in_flight
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME, register_videos
from wandr_pipeline.lib.batching import contiguous_batches
from wandr_pipeline.lib.ingestion import content_sha256, parse_list_bytes, write_rejections
from wandr_pipeline.lib.lake import Lake, TableSync
from wandr_pipeline.lib.outcomes import FAILED, is_transient_error, upstream_status
from wandr_pipeline.lib.stages import FIRST_STAGE, LAST_STAGE, PROCESS_VIDEOS, STAGE_ASSET_NAMES, STAGES
from wandr_pipeline.lib.storage import Storage, read_parquet_bytes, storage_for
from wandr_pipeline.lib.tags import LAUNCHED_BY_TAG, range_tags
from wandr_pipeline.lib.url_lists import RejectedLine
from wandr_pipeline.lib.video_locks import video_locks
from wandr_pipeline.settings import Settings

# (table, label) of the stages the per-video summary shows, in graph order.
SUMMARY_COLUMNS = [(stage.table, stage.summary_label) for stage in STAGES if stage.summary_label]

log = logging.getLogger(__name__)


@dataclass
class BatchRun:
    run_id: str
    keys: list[str]
    success: bool
    seconds: float
    error: str | None = None


@dataclass
class PipelineOutcome:
    keys: list[str]
    rejected: list[RejectedLine] = field(default_factory=list)
    runs: list[BatchRun] = field(default_factory=list)
    videos: list[dict] = field(default_factory=list)
    # keys of the list that were finished before this run and were not processed again
    already_done: list[str] = field(default_factory=list)
    # Dagster runs that a killed earlier run left STARTED, marked failed at the start of this one
    orphaned_runs: list[str] = field(default_factory=list)
    # finished keys one of whose later stages failed for a passing reason: that stage on was redone
    redone: list[str] = field(default_factory=list)
    # keys another run was processing (in flight in the instance, or locked by another process): left alone
    busy: list[str] = field(default_factory=list)
    # the analysts' lake after the runs (lib/lake.py): one entry per commit, or why it could not be updated
    lake: list[TableSync] = field(default_factory=list)
    lake_error: str | None = None

    @property
    def pipeline_ok(self) -> bool:
        return all(run.success for run in self.runs)


def materialize_videos(
    instance: DagsterInstance,
    keys: Sequence[str],
    settings: Settings,
    *,
    tags: dict[str, str] | None = None,
    assets: Sequence[str] | None = None,
) -> list[BatchRun]:
    """Run every stage (or only `assets`) for `keys`, in as few in-process runs as the partition order allows."""
    job = build_definitions(settings).resolve_job_def(PROCESS_VIDEOS.job)
    all_keys = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
    selection = [AssetKey(asset) for asset in assets] if assets else None
    runs: list[BatchRun] = []
    for batch in contiguous_batches(all_keys, keys, max(1, settings.partitions_per_run)):
        start = time.perf_counter()
        result = job.execute_in_process(
            instance=instance,
            tags={**range_tags(batch), LAUNCHED_BY_TAG: "cli", **process_tags(), **(tags or {})},
            run_config={"loggers": {"console": {"config": {"log_level": settings.log_level}}}},
            raise_on_error=False,
            asset_selection=selection,
        )
        error = None
        if not result.success:
            failures = [event for event in result.all_events if event.is_step_failure]
            error = (
                "; ".join(str(event.step_failure_data.error.message).strip()[:300] for event in failures)
                or "run failed"
            )
        runs.append(BatchRun(result.run_id, batch, result.success, time.perf_counter() - start, error))
    return runs


def finished_videos(storage: Storage, keys: Sequence[str]) -> set[str]:
    """The keys whose processing finished: a `video_documents` partition, and a `videos` row not `failed`.

    Partitions are written atomically, so an existing file is a whole one. A video that failed to
    download is not finished: the next run tries it again (its failure may have been transient).
    """
    keys = list(dict.fromkeys(keys))
    documents = storage.read_existing([storage.partition_path(LAST_STAGE.table, key) for key in keys])
    with_document = [key for key in keys if storage.partition_path(LAST_STAGE.table, key) in documents]
    videos = storage.read_existing([storage.partition_path(FIRST_STAGE.table, key) for key in with_document])
    finished = set()
    for key in with_document:
        data = videos.get(storage.partition_path(FIRST_STAGE.table, key))
        if data is not None and upstream_status(read_parquet_bytes(data))[0] != FAILED:
            finished.add(key)
    return finished


def downstream_of(asset: str) -> list[str]:
    """`asset` and every stage that depends on it, directly or not (in the registry's order)."""
    wanted = {asset}
    while True:
        more = {stage.asset for stage in STAGES if wanted & set(stage.inputs)} - wanted
        if not more:
            return [stage.asset for stage in STAGES if stage.asset in wanted]
        wanted |= more


def transient_failures(storage: Storage, keys: Sequence[str]) -> dict[str, str]:
    """Finished videos whose earliest stage that `failed` did so for a passing reason: key -> that stage."""
    redo: dict[str, str] = {}
    for key in keys:
        for stage in STAGES[1:]:  # a failed download is not finished: it is redone whole anyway
            path = storage.partition_path(stage.table, key)
            try:
                if not storage.exists(path):
                    continue
                status, error = upstream_status(read_parquet_bytes(storage.read_bytes(path)))
            except Exception:  # noqa: BLE001 - unreadable: the stage is redone
                redo[key] = stage.asset
                break
            if status == FAILED and is_transient_error(error):
                redo[key] = stage.asset
                break
    return redo


def video_summaries(storage: Storage, keys: Sequence[str]) -> list[dict]:
    """One line of outcome per video, read back from the tables."""
    summaries = []
    for key in keys:
        item: dict = {"video_key": key}
        document = None
        for table, label in SUMMARY_COLUMNS:
            if not storage.has_partition(table, key):
                item[label] = "missing"
                continue
            data = storage.read_partition(table, key)
            status, error = upstream_status(data)
            item[label] = status
            if error and "error" not in item:
                item["error"] = f"{label}: {error}"
            if table == LAST_STAGE.table:
                document = data.to_pylist()[0]
        if document is not None:
            item["words"] = len((document.get("transcript_text") or "").split())
            item["onscreen_lines"] = len(document.get("onscreen_lines") or [])
            item["text"] = (document.get("transcript_text") or "")[:70]
        summaries.append(item)
    return summaries


def run_url_list(
    path: Path, settings: Settings, instance: DagsterInstance | None = None, *, reprocess: bool = False
) -> PipelineOutcome:
    """Register every video of a URL list and materialise all stages for those not finished yet
    (all of them with `reprocess`). Runs a killed earlier CLI run left STARTED are marked failed first."""
    data = Path(path).read_bytes()  # read once: parsed here, hashed for the rejections table below
    parsed = parse_list_bytes(
        str(path), data, allow_local_files=settings.accepts_local_files, local_roots=settings.local_input_roots
    )
    storage = storage_for(settings.storage_uri)
    instance = instance or DagsterInstance.get()
    keys = [ref.video_key for ref in parsed.accepted]
    outcome = PipelineOutcome(keys=keys, rejected=parsed.rejected)
    try:
        outcome.orphaned_runs = [run.run_id for run in mark_orphaned_runs(instance)]
    except Exception:  # noqa: BLE001 - tidying the instance must not stop the videos from being processed
        log.exception("could not check for runs that a killed earlier run left STARTED")
    if parsed.rejected:  # the sensor's table, so every line of a list ends up somewhere queryable
        write_rejections(storage, str(Path(path).resolve()), content_sha256(data), parsed.rejected)
    if keys:
        register_videos(instance, storage, parsed.accepted, source=str(path))
        finished = set() if reprocess else finished_videos(storage, keys)
        redo = transient_failures(storage, [key for key in keys if key in finished])
        done = finished - set(redo)
        outcome.already_done = [key for key in keys if key in done]
        if done:
            log.info(
                "%d of %d video(s) were finished by an earlier run and are not processed again "
                "(--reprocess redoes them)",
                len(done),
                len(set(keys)),
            )
        todo = [key for key in keys if key not in finished]
        # One writer per video: keys a queued/running run covers (another CLI, the daemon), and keys
        # another process on this machine holds the lock of, are left to that run.
        order = list(instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME))
        running = in_flight(instance, order).keys(STAGE_ASSET_NAMES)
        wanted = [key for key in dict.fromkeys(todo + list(redo)) if key not in running]
        with video_locks(settings.storage_uri, wanted) as (mine, locked_elsewhere):
            outcome.busy = [key for key in dict.fromkeys(keys) if key in running or key in locked_elsewhere]
            if outcome.busy:
                log.warning(
                    "%d video(s) are being processed by another run right now and are left to it: %s",
                    len(outcome.busy),
                    ", ".join(outcome.busy[:10]),
                )
            todo = [key for key in todo if key in mine]
            redo = {key: asset for key, asset in redo.items() if key in mine}
            if todo:
                outcome.runs = materialize_videos(instance, todo, settings)
            for first in dict.fromkeys(redo.values()):
                again = [key for key, asset in redo.items() if asset == first]
                assets = downstream_of(first)
                log.info(
                    "%d video(s) had %s fail for a passing reason: redoing %s", len(again), first, ", ".join(assets)
                )
                outcome.runs += materialize_videos(instance, again, settings, assets=assets)
                outcome.redone += again
        outcome.videos = video_summaries(storage, keys)
        for item in outcome.videos:
            item["already_done"] = item["video_key"] in done
            item["busy"] = item["video_key"] in outcome.busy
        if settings.lake_sync:
            try:  # the per-video partitions are the truth; the lake catches up on the next sync
                lake = Lake.from_settings(storage, settings)
                # what this run processed, and finished videos the lake lacks (e.g. from before it existed)
                outcome.lake = lake.sync([*todo, *outcome.redone, *lake.missing(outcome.already_done)])
            except Exception as error:  # noqa: BLE001
                log.exception("could not update the lake")
                outcome.lake_error = f"{type(error).__name__}: {error}"[:300]
    return outcome


def print_summary(outcome: PipelineOutcome) -> None:
    for run_id in outcome.orphaned_runs:
        print(f"run {run_id[:8]}: left running by a process that is gone (killed?): marked failed")
    for line in outcome.rejected:
        print(f"rejected line {line.line_number}: {line.text!r}: {line.reason}")
    for run in outcome.runs:
        state = "ok" if run.success else f"FAILED: {run.error}"
        print(f"run {run.run_id[:8]}: {len(run.keys)} video(s) in {run.seconds:.1f} s: {state}")
    if not outcome.videos:
        print("no videos to process")
        return
    header = f"{'video_key':<28} {'download':<9} {'transcript':<10} {'ocr':<8} {'words':>5} {'lines':>5}  detail"
    print(header)
    print("-" * len(header))
    for item in outcome.videos:
        detail = item.get("error") or item.get("text", "")
        if item.get("already_done"):
            detail = f"(already done, not re-run) {detail}"
        if item.get("busy"):
            detail = f"(being processed by another run: left to it) {detail}"
        print(
            f"{item['video_key']:<28} {item['download']:<9} {item['transcript']:<10} {item['ocr']:<8} "
            f"{item.get('words', 0):>5} {item.get('onscreen_lines', 0):>5}  {detail}"
        )
    ok = sum(1 for item in outcome.videos if item["download"] == "ok")
    print(f"{ok}/{len(outcome.videos)} video(s) processed; tables under the storage root's warehouse/ folder")
    if outcome.lake:
        tables = sorted({item.table for item in outcome.lake})
        seconds = sum(item.seconds + item.compact_seconds for item in outcome.lake)
        videos = sum(item.videos for item in outcome.lake if item.table == tables[0])
        print(f"lake/ updated for {videos} video(s): {', '.join(tables)} ({seconds:.1f} s)")
    if outcome.lake_error:
        print(f"lake/ NOT updated: {outcome.lake_error} (the next run or lake_sync_sensor catches up)")
    if outcome.already_done:
        print(
            f"{len(outcome.already_done)} of them were finished by an earlier run and were not processed again "
            f"(--reprocess redoes them)"
        )
