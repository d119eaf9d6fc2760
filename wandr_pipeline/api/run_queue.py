"""The videos the API accepted that wait for a run, and the background thread that makes their runs.

Creating a Dagster run is slow (on the SQLite instance ~1.6 s: a new event-log database and one
planned-materialisation event per stage), far too slow to do inside a request during a burst. So a
POST only registers the video (submission record, partition) and adds its key to this queue; a thread
of the worker then creates the runs: the videos that arrived together (within `api_batch_window_s`, or
while the previous run was being created) go into shared runs over adjacent partitions, at most
`partitions_per_run` each, with the range tags the CLI and the sensors use. No request waits for it.

The queue is durable and shared: it is a set of keys in the Dagster instance (a dynamic-partitions
set of its own, `wandr_api_run_queue`, that no asset uses), so every worker and every restart sees it.
A key leaves the queue only after its run exists. A worker that dies before that leaves the key in
the queue, and the next drain (at start-up, on the next POST or every `api_queue_poll_s`) submits
it; a key already covered by a queued or running run is dropped instead of run twice, and at start-up
a key whose video meanwhile needs no run (done, or failed for good) is dropped too.

Drains of different workers on one machine take turns (an exclusive `flock` beside the video locks);
workers on different machines sharing a Postgres instance do not see that lock, and a video waiting
at the moment two of them drain can get two runs (the second finds its outputs and redoes them).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from wandr_pipeline.api.submit import RunSubmitter, SubmitUnavailable
from wandr_pipeline.defs.instance_state import in_flight
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME
from wandr_pipeline.lib.batching import contiguous_batches
from wandr_pipeline.lib.stages import STAGE_ASSET_NAMES
from wandr_pipeline.lib.tags import LAUNCHED_BY_TAG
from wandr_pipeline.lib.video_locks import lock_dir

log = logging.getLogger("wandr_pipeline.api")

QUEUE_PARTITIONS_NAME = "wandr_api_run_queue"
# A run created but still NOT_STARTED after this long lost its submitter (died between creating and
# submitting it): it is submitted again.
STALE_NOT_STARTED_S = 60.0
# The longest a drain waits for a burst of videos to end.
GATHER_MAX_S = 5.0


@dataclass
class Drain:
    """What one drain did: the runs it created (their keys), the keys it dropped, and what went wrong."""

    runs: list[list[str]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    resubmitted: list[str] = field(default_factory=list)
    error: str | None = None


class RunQueue:
    def __init__(
        self,
        instance: Callable[[], DagsterInstance],
        submitter: Callable[[], RunSubmitter],
        storage_uri: str,
        *,
        batch_size: int,
        window_s: float,
        poll_s: float,
        needs_run: Callable[[str], bool],
    ):
        self._instance = instance
        self._submitter = submitter
        self.batch_size = max(1, batch_size)
        self.window_s = max(0.0, window_s)
        self.poll_s = max(0.1, poll_s)
        self._needs_run = needs_run
        self._lock_path = lock_dir(storage_uri) / "api-run-queue.lock"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_guard = threading.Lock()
        self.last_drain: Drain | None = None

    # -- what requests call (fast: one or two small instance writes) ----------------------------
    def add(self, key: str) -> None:
        """Put `key` in the queue (durably) and wake the thread. The video must be registered already.
        (New videos of a burst are added by `registration.Registrar`, many in one write.)"""
        self._instance().add_dynamic_partitions(QUEUE_PARTITIONS_NAME, [key])
        self.wake()

    def wake(self) -> None:
        """Keys were added: drain soon (after the gathering window)."""
        self.start()
        self._wake.set()

    def is_waiting(self, key: str) -> bool:
        return self._instance().has_dynamic_partition(QUEUE_PARTITIONS_NAME, key)

    def waiting(self) -> list[str]:
        return list(self._instance().get_dynamic_partitions(QUEUE_PARTITIONS_NAME))

    # -- the thread ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread once per process; its first drain re-checks what an earlier process left."""
        if self._thread is not None:
            return
        with self._thread_guard:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._loop, name="wandr-run-queue", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _loop(self) -> None:
        recheck = True  # the first drain after start-up: keys a dead process left behind
        while not self._stop.is_set():
            try:
                self.last_drain = self.drain(recheck=recheck)
                recheck = False
            except Exception:  # noqa: BLE001 - the thread must outlive a bad moment of the instance
                log.exception("the run queue could not be drained; trying again in %.0f s", self.poll_s)
            self._wake.wait(self.poll_s)
            if self._stop.is_set():
                return
            if self._wake.is_set():
                # Let the videos that arrive together gather into one run: wait until none has
                # arrived for `window_s` (at most GATHER_MAX_S), so a burst is not drained while
                # it is still being answered (creating runs competes with requests for the GIL).
                began = time.monotonic()
                while self._wake.is_set() and time.monotonic() - began < GATHER_MAX_S:
                    self._wake.clear()
                    if self._stop.wait(self.window_s):
                        return

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One drain at a time among the workers of this machine."""
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def drain(self, *, recheck: bool = False) -> Drain:
        """Create runs for every waiting key (in batches of adjacent partitions) and take them out.

        `recheck`: also drop keys whose video needs no run any more (a process died after creating
        the run, and the run has finished since). Runs that were created but never submitted (a
        process died in between, or the submission failed) are submitted on every drain.
        """
        result = Drain()
        with self._exclusive():
            instance = self._instance()
            waiting = self.waiting()
            result.resubmitted = self._resubmit_stale(instance)
            if not waiting:
                return result
            order = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
            known = set(order)
            busy = in_flight(instance, order).keys(STAGE_ASSET_NAMES)
            wanted = []
            for key in waiting:
                if key not in known or key in busy or (recheck and not self._needs_run(key)):
                    result.dropped.append(key)
                else:
                    wanted.append(key)
            for key in result.dropped:
                instance.delete_dynamic_partition(QUEUE_PARTITIONS_NAME, key)
            if not wanted:
                return result
            submitter = self._submitter()
            for batch in contiguous_batches(order, wanted, self.batch_size):
                start = time.perf_counter()
                try:
                    run = submitter.create_and_submit(batch, str(uuid.uuid4()))
                except SubmitUnavailable as exc:
                    result.error = str(exc)
                    log.warning("runs for %d waiting video(s) not created yet: %s", len(wanted), exc)
                    break  # nothing can be submitted now; the keys stay and the next drain tries again
                except Exception as exc:  # noqa: BLE001 - the keys stay queued for the next drain
                    result.error = f"{type(exc).__name__}: {exc}"[:300]
                    log.exception("could not create the run for %d video(s) (%s..%s)", len(batch), batch[0], batch[-1])
                    continue
                for key in batch:
                    instance.delete_dynamic_partition(QUEUE_PARTITIONS_NAME, key)
                result.runs.append(batch)
                log.info(
                    "queued run %s for %d video(s) %s..%s in %.2f s",
                    run.run_id,
                    len(batch),
                    batch[0],
                    batch[-1],
                    time.perf_counter() - start,
                )
        return result

    def _resubmit_stale(self, instance: DagsterInstance) -> list[str]:
        stale = []
        runs = instance.get_runs(
            RunsFilter(statuses=[DagsterRunStatus.NOT_STARTED], tags={LAUNCHED_BY_TAG: "api"}), limit=100
        )
        for run in runs:
            record = instance.get_run_record_by_id(run.run_id)
            if record and time.time() - record.create_timestamp.timestamp() > STALE_NOT_STARTED_S:
                log.warning("run %s was created but never submitted; submitting it now", run.run_id)
                try:
                    self._submitter().resubmit(run.run_id)
                    stale.append(run.run_id)
                except Exception:  # noqa: BLE001
                    log.exception("could not submit run %s", run.run_id)
        return stale
