"""`wandr-pipeline run <list>`: register a URL list's videos and run the planner's runs for them, batch by batch.

What to run comes from the shared planner (lib/planner.py), as for the API and the sensors: a video
not processed yet runs every stage; one whose stage failed for a passing reason (HTTP 429/5xx, a
timeout, CUDA out of memory: its `retryable` column, or the `(transient` mark of older rows) runs that
stage and what depends on it; a finished one, and one whose download failed for good (404, private,
over a limit), is not run again unless asked (`reprocess=True`, the CLI's `--reprocess`); a video
that a queued or running run of the instance covers is left to that run. See docs/RELIABILITY.md.

Lists of any length: the verdicts are read in batches (`ASSESS_BATCH` videos), a video's lock
(lib/video_locks.py) is held only while the run that works on it executes, and what is kept per video
is its key and, for a failure, its error: a 100,000-line list holds no more descriptors than a
50-line one. A SIGTERM or SIGINT (cli/interrupts.py) ends the run in progress at once and no further
run starts; the videos it had not finished stay without a document, and one whose download was cut
short gets a `failed`, retryable `videos` row saying so: the next run redoes them.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dagster import AssetKey, DagsterInstance

from wandr_pipeline.cli.recovery import mark_orphaned_runs, process_tags
from wandr_pipeline.definitions import build_definitions
from wandr_pipeline.defs.instance_state import in_flight
from wandr_pipeline.defs.lake import record_lake_sync
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME, partition_keys_read_once, register_videos
from wandr_pipeline.lib.batching import adjacent_batches
from wandr_pipeline.lib.ingestion import content_sha256, parse_list_bytes, write_rejections
from wandr_pipeline.lib.lake import Lake, TableSync
from wandr_pipeline.lib.outcomes import FAILED, upstream_status
from wandr_pipeline.lib.planner import (
    FAILED_FOR_GOOD,
    FINISHED,
    NEW,
    RETRYABLE,
    PlannedRun,
    assess_in_batches,
    assess_videos,
    plan_runs,
)
from wandr_pipeline.lib.redaction import redact_url
from wandr_pipeline.lib.schemas import VIDEOS, status_row, to_table
from wandr_pipeline.lib.scratch import remove_orphaned_scratch
from wandr_pipeline.lib.stages import FIRST_STAGE, LAST_STAGE, PROCESS_VIDEOS, STAGE_ASSET_NAMES, STAGES
from wandr_pipeline.lib.stopping import stop_reason, stop_requested
from wandr_pipeline.lib.storage import Storage, storage_for
from wandr_pipeline.lib.submissions import load_submission
from wandr_pipeline.lib.tags import LAUNCHED_BY_TAG, range_tags
from wandr_pipeline.lib.url_lists import RejectedLine
from wandr_pipeline.lib.video_locks import VideoLocks
from wandr_pipeline.settings import Settings

# (table, label) of the stages the per-video summary shows, in graph order.
SUMMARY_COLUMNS = [(stage.table, stage.summary_label) for stage in STAGES if stage.summary_label]
# Lists up to this long get a line per video in the summary; longer ones counts and the first failures.
PER_VIDEO_SUMMARY_MAX = 50
FAILURES_LISTED_MAX = 50
# Verdicts are read this many videos at a time: two small partitions each, never the whole list at once.
ASSESS_BATCH = 1000
# A run holds one lock descriptor per video. Everything else (Dagster's SQLite files, yt-dlp's
# connections, the models' files) needed 45 descriptors beside a run of 128 and 106 beside a run of 896
# (docs/BENCHMARKS.md "A long list"): a run may take half of what is left after DESCRIPTORS_KEPT_FREE.
DESCRIPTORS_KEPT_FREE = 64

log = logging.getLogger(__name__)


@dataclass
class BatchRun:
    run_id: str
    keys: list[str]
    success: bool
    seconds: float
    error: str | None = None
    reason: str = "new"  # the planner's: "new", "retry <stage>", "reprocess"


@dataclass
class Tally:
    """What the runs of this invocation did so far, for the progress display and the summary."""

    planned: int = 0  # videos the plan gave a run
    finished: int = 0
    failed: int = 0  # failed for good, or again for a passing reason (the next run retries those)
    interrupted: int = 0
    started_at: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.finished + self.failed + self.interrupted

    @property
    def left(self) -> int:
        return max(0, self.planned - self.done)


@dataclass
class PipelineOutcome:
    keys: list[str]
    rejected: list[RejectedLine] = field(default_factory=list)
    runs: list[BatchRun] = field(default_factory=list)
    # one summary line per video: only for lists of at most PER_VIDEO_SUMMARY_MAX videos
    videos: list[dict] = field(default_factory=list)
    # keys of the list that were finished before this run and were not processed again
    already_done: list[str] = field(default_factory=list)
    # keys whose download failed for good in an earlier run (404, private): not tried again
    failed_before: list[str] = field(default_factory=list)
    # Dagster runs that a killed earlier run left STARTED, marked failed at the start of this one
    orphaned_runs: list[str] = field(default_factory=list)
    # temporary folders (and cookie copies in them) that killed earlier runs left, removed
    orphaned_folders: int = 0
    # keys with a stage that had failed for a passing reason: that stage on was redone
    redone: list[str] = field(default_factory=list)
    # keys another run was processing (in flight in the instance, or locked by another process): left alone
    busy: list[str] = field(default_factory=list)
    # this invocation's videos by how they ended, and the failures' errors (the first FAILURES_LISTED_MAX)
    finished: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    # stopped by a signal: the videos of the run it cut short, and those of the runs it never started
    stopped_by: str | None = None
    interrupted: list[str] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    # the analysts' lake after the runs (lib/lake.py): one entry per commit, or why it could not be updated
    lake: list[TableSync] = field(default_factory=list)
    lake_error: str | None = None

    @property
    def pipeline_ok(self) -> bool:
        return all(run.success for run in self.runs) and self.stopped_by is None


def materialize_videos(
    instance: DagsterInstance,
    keys: Sequence[str],
    settings: Settings,
    *,
    tags: dict[str, str] | None = None,
    assets: Sequence[str] | None = None,
) -> list[BatchRun]:
    """Run every stage (or only `assets`) for `keys`, in as few in-process runs as the partition order
    allows (no planning, no locks: benchmarks/bench_pipeline.py measures the runs alone)."""
    job = build_definitions(settings).resolve_job_def(PROCESS_VIDEOS.job)
    position = {key: i for i, key in enumerate(instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME))}
    runs = []
    for batch in adjacent_batches(position, keys, max(1, settings.partitions_per_run)):
        runs.append(_execute(job, instance, batch, assets, settings, tags))
    return runs


def _execute(job, instance, keys, assets, settings, tags=None, reason: str = "new") -> BatchRun:
    start = time.perf_counter()
    with partition_keys_read_once(instance):  # creating the run resolves its range once per asset, too
        result = job.execute_in_process(
            instance=instance,
            tags={**range_tags(keys), LAUNCHED_BY_TAG: "cli", **process_tags(), **(tags or {})},
            run_config={"loggers": {"console": {"config": {"log_level": settings.log_level}}}},
            raise_on_error=False,  # a SIGTERM/SIGINT inside the run fails it (Dagster records why) and returns here
            asset_selection=[AssetKey(asset) for asset in assets] if assets else None,
        )
    error = None
    if not result.success:
        failures = [event for event in result.all_events if event.is_step_failure]
        error = (
            "; ".join(str(event.step_failure_data.error.message).strip()[:300] for event in failures) or "run failed"
        )
    return BatchRun(result.run_id, list(keys), result.success, time.perf_counter() - start, error, reason)


def run_size(partitions_per_run: int) -> int:
    """`WANDR_PARTITIONS_PER_RUN`, made smaller where a run's locks would not fit under `ulimit -n`."""
    size = max(1, partitions_per_run)
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    fits = max(1, (soft - DESCRIPTORS_KEPT_FREE) // 2)
    if soft != resource.RLIM_INFINITY and size > fits:
        log.warning(
            "%d videos per run need %d lock descriptors, more than `ulimit -n` %d leaves: runs of %d instead",
            size,
            size,
            soft,
            fits,
        )
        return fits
    return size


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
    path: Path,
    settings: Settings,
    instance: DagsterInstance | None = None,
    *,
    reprocess: bool = False,
    on_progress: Callable[[Tally], None] | None = None,
) -> PipelineOutcome:
    """Register every video of a URL list, plan (lib/planner.py) and execute the runs it needs, one at a
    time; `on_progress` is called with the running tally after registration and after each run.
    Runs a killed earlier CLI run left STARTED are marked failed first, its temporary folders removed."""
    data = Path(path).read_bytes()  # read once: parsed here, hashed for the rejections table below
    parsed = parse_list_bytes(
        str(path), data, allow_local_files=settings.accepts_local_files, local_roots=settings.local_input_roots
    )
    storage = storage_for(settings.storage_uri)
    instance = instance or DagsterInstance.get()
    keys = list(dict.fromkeys(ref.video_key for ref in parsed.accepted))
    outcome = PipelineOutcome(keys=keys, rejected=parsed.rejected)
    _clean_up_after_killed_runs(instance, outcome)
    if parsed.rejected:  # the sensor's table, so every line of a list ends up somewhere queryable
        write_rejections(storage, str(Path(path).resolve()), content_sha256(data), parsed.rejected)
    if not keys:
        return outcome
    started = time.perf_counter()
    register_videos(instance, storage, parsed.accepted, source=str(path))
    del parsed, data
    log.info("registered %d video(s) in %.1f s", len(keys), time.perf_counter() - started)
    if stop_requested():  # a signal during registration: nothing was run yet
        outcome.stopped_by, outcome.not_started = stop_reason(), list(keys)
        return outcome

    started = time.perf_counter()
    order = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
    verdicts = {} if reprocess else assess_in_batches(storage, keys, batch_size=ASSESS_BATCH)
    running = in_flight(instance, order).keys(STAGE_ASSET_NAMES)
    size = run_size(settings.partitions_per_run)
    plan = plan_runs(order, keys, verdicts, in_flight=running, max_per_run=size, reprocess=reprocess)
    outcome.already_done, outcome.failed_before, outcome.busy = plan.finished, plan.failed_for_good, plan.busy
    listed = set(keys)  # positions in the whole partition order, kept for this list's keys only
    position = {key: i for i, key in enumerate(order) if key in listed}
    del order, verdicts, running, listed
    log.info(
        "planned %d run(s) for %d video(s) in %.1f s", len(plan.runs), len(plan.keys), time.perf_counter() - started
    )
    if plan.finished or plan.failed_for_good:
        log.info(
            "of %d video(s), %d were finished and %d had failed for good (404, private, over a limit) in earlier "
            "runs: not processed again (--reprocess redoes them)",
            len(keys),
            len(plan.finished),
            len(plan.failed_for_good),
        )
    if plan.busy:
        log.warning(
            "%d video(s) are being processed by another run right now and are left to it: %s",
            len(plan.busy),
            ", ".join(plan.busy[:10]),
        )
    outcome.tally.planned, outcome.tally.started_at = len(plan.keys), time.monotonic()  # rate: of the runs
    if on_progress:
        on_progress(outcome.tally)
    _execute_plan(plan.runs, position, size, instance, storage, settings, outcome, on_progress)
    if outcome.busy:  # in list order: those in flight at planning time and those locked since
        busy = set(outcome.busy)
        outcome.busy = [key for key in keys if key in busy]

    if len(keys) <= PER_VIDEO_SUMMARY_MAX:
        outcome.videos = video_summaries(storage, keys)
        done, busy = set(outcome.already_done), set(outcome.busy)
        for item in outcome.videos:
            item["already_done"] = item["video_key"] in done
            item["busy"] = item["video_key"] in busy
    if settings.lake_sync and outcome.stopped_by is None:
        try:  # the per-video partitions are the truth; the lake catches up on the next sync
            lake = Lake.from_settings(storage, settings)
            # what this run processed, and finished videos the lake lacks (e.g. from before it existed)
            processed = [key for run in outcome.runs for key in run.keys]
            synced_keys = [*processed, *lake.missing(outcome.already_done)]
            outcome.lake = lake.sync(synced_keys)
            if outcome.lake:  # the UI's analyst_lake says when the lake last changed, as after a sync_lake run
                record_lake_sync(instance, outcome.lake, len(synced_keys), launched_by="cli")
        except Exception as error:  # noqa: BLE001
            log.exception("could not update the lake")
            outcome.lake_error = f"{type(error).__name__}: {error}"[:300]
    return outcome


def _clean_up_after_killed_runs(instance: DagsterInstance, outcome: PipelineOutcome) -> None:
    try:
        outcome.orphaned_runs = [run.run_id for run in mark_orphaned_runs(instance)]
    except Exception:  # noqa: BLE001 - tidying the instance must not stop the videos from being processed
        log.exception("could not check for runs that a killed earlier run left STARTED")
    removed = remove_orphaned_scratch()
    outcome.orphaned_folders = len(removed)
    if removed:
        log.warning("removed %d temporary folder(s) that killed earlier runs left: %s", len(removed), removed[0])


def _execute_plan(
    runs: Sequence[PlannedRun],
    position: dict[str, int],
    size: int,
    instance: DagsterInstance,
    storage: Storage,
    settings: Settings,
    outcome: PipelineOutcome,
    on_progress: Callable[[Tally], None] | None,
) -> None:
    """Execute the planned runs in order (cut where a video's lock is held elsewhere, at most `size`
    videos each); each video's lock is held only while its run executes."""
    job = build_definitions(settings).resolve_job_def(PROCESS_VIDEOS.job) if runs else None
    locks = VideoLocks(settings.storage_uri)
    for planned in runs:
        if stop_requested():
            outcome.stopped_by = stop_reason()
            outcome.not_started.extend(planned.keys)
            continue
        try:
            mine, elsewhere = locks.acquire(planned.keys)
            outcome.busy.extend(elsewhere)  # another process took it since the plan was made
            for batch in adjacent_batches(position, mine, size):
                if stop_requested():
                    outcome.not_started.extend(batch)
                    continue
                run = _execute(job, instance, batch, planned.assets, settings, reason=planned.reason)
                outcome.runs.append(run)
                if planned.reason.startswith("retry"):
                    outcome.redone.extend(batch)
                _count(storage, run, outcome)
                if on_progress:
                    on_progress(outcome.tally)
        finally:
            locks.release()
    if stop_requested():
        outcome.stopped_by = stop_reason()


def _count(storage: Storage, run: BatchRun, outcome: PipelineOutcome) -> None:
    """Read back how the run's videos ended (two small partitions each) into the outcome and tally."""
    for key, verdict in assess_videos(storage, run.keys).items():
        if verdict.state == FINISHED:
            outcome.finished.append(key)
            outcome.tally.finished += 1
        elif verdict.state == NEW or (verdict.state == RETRYABLE and stop_requested() and not run.success):
            # no document: the run ended before this video's last stage (a signal, a crash of the run)
            outcome.interrupted.append(key)
            outcome.tally.interrupted += 1
            if stop_requested() and not run.success:
                _record_interrupted_download(storage, key)
        else:
            outcome.failed.append(key)
            outcome.tally.failed += 1
            if len(outcome.failures) < FAILURES_LISTED_MAX:
                kind = "failed for good" if verdict.state == FAILED_FOR_GOOD else "retryable"
                outcome.failures.append((key, f"{kind}: {verdict.error or 'failed'}"))
    if not run.success and stop_requested():
        outcome.stopped_by = stop_reason()


def _record_interrupted_download(storage: Storage, key: str) -> None:
    """A video whose download a signal cut short gets a `failed`, retryable `videos` row saying so (the
    next run redoes it, and the table says why it has no document). A video whose download had finished
    keeps its row: without a document the planner redoes it anyway."""
    path = storage.partition_path(FIRST_STAGE.table, key)
    if storage.read_existing([path]):
        return
    ref = load_submission(storage, key)
    error = f"{stop_reason() or 'interrupted'} before its download finished (the next run redoes it)"
    row = status_row(VIDEOS, FAILED, error, retryable=True, source_url=redact_url(ref.source_url) if ref else "")
    storage.write_partition(FIRST_STAGE.table, key, to_table(VIDEOS, [row]))
