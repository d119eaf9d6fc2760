"""What the endpoints do, without Flask: submit a video, read its state, read its result, check health."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dagster import DagsterInstance

from wandr_pipeline.api.health import STATE_CHECK_CACHE_S, CachedAnswer, HealthChecker
from wandr_pipeline.api.registration import KNOWN, WAITING, Registrar
from wandr_pipeline.api.results import read_result
from wandr_pipeline.api.run_queue import RunQueue
from wandr_pipeline.api.status import DONE, JOB_FAILED, QUEUED, RUNNING, JobStatus, StageStatus, read_status
from wandr_pipeline.api.submit import RunSubmitter
from wandr_pipeline.api.validation import UrlPolicy, check_url
from wandr_pipeline.lib.outcomes import FAILED, is_transient_error
from wandr_pipeline.lib.redaction import redact_url, redact_value
from wandr_pipeline.lib.stages import PROCESS_VIDEOS, STAGES
from wandr_pipeline.lib.storage import storage_for
from wandr_pipeline.lib.submissions import record_submissions
from wandr_pipeline.lib.urls import VideoRef, is_valid_key
from wandr_pipeline.settings import Settings

log = logging.getLogger("wandr_pipeline.api")


class InstanceUnavailable(RuntimeError):
    """The Dagster instance cannot be opened (DAGSTER_HOME unset or broken)."""


@dataclass
class Submitted:
    job_id: str
    status: JobStatus
    created: bool  # False: the video was already known and no new run was made


class JobService:
    def __init__(self, settings: Settings, instance_factory: Callable[[], DagsterInstance] | None = None):
        self.settings = settings
        self._instance_factory = instance_factory or DagsterInstance.get
        self._instance: DagsterInstance | None = None
        self._instance_lock = threading.Lock()
        self.storage = storage_for(settings.storage_uri)
        self.policy = UrlPolicy.from_settings(settings)
        self.stages = STAGES
        self._submitter: RunSubmitter | None = None
        self._submitter_lock = threading.Lock()
        self._queue: RunQueue | None = None
        self._registrar: Registrar | None = None
        # one lock per video key being submitted (dropped when no request holds it)
        self._key_locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
        self._key_locks_guard = threading.Lock()
        self.health = HealthChecker(settings, self.storage, lambda: self.instance)
        self._daemon_info = CachedAnswer(self._read_daemon_info, STATE_CHECK_CACHE_S)

    # -- shared pieces ------------------------------------------------------------------------
    @property
    def instance(self) -> DagsterInstance:
        with self._instance_lock:
            if self._instance is None:
                try:
                    self._instance = self._instance_factory()
                except Exception as exc:  # noqa: BLE001 - answered as 503 with the reason
                    raise InstanceUnavailable(
                        f"cannot open the Dagster instance: {type(exc).__name__}: {exc}"[:300]
                    ) from exc
            return self._instance

    @property
    def submitter(self) -> RunSubmitter:
        if self._submitter is None:
            instance = self.instance
            with self._submitter_lock:
                if self._submitter is None:
                    self._submitter = RunSubmitter(
                        instance, self.settings.workspace_file, PROCESS_VIDEOS.job, self.settings.api_location
                    )
        return self._submitter

    @property
    def queue(self) -> RunQueue:
        if self._queue is None:
            with self._submitter_lock:
                if self._queue is None:
                    self._queue = RunQueue(
                        lambda: self.instance,
                        lambda: self.submitter,
                        self.settings.storage_uri,
                        batch_size=self.settings.partitions_per_run,
                        window_s=self.settings.api_batch_window_s,
                        poll_s=self.settings.api_queue_poll_s,
                        needs_run=self._video_needs_run,
                    )
        return self._queue

    @property
    def registrar(self) -> Registrar:
        if self._registrar is None:
            with self._submitter_lock:
                if self._registrar is None:
                    self._registrar = Registrar(lambda: self.instance, lambda: self.queue.wake())
        return self._registrar

    def warm(self) -> None:
        """Load the code location, then start the run queue (which submits what a dead worker left)."""
        start = time.perf_counter()
        self.submitter.warm()
        log.info("workspace loaded in %.1f s", time.perf_counter() - start)
        try:
            self.queue.start()
        except InstanceUnavailable as exc:
            log.warning("the run queue waits for the instance: %s", exc)

    def close(self) -> None:
        if self._registrar is not None:
            self._registrar.stop()
        if self._queue is not None:
            self._queue.stop()
        if self._submitter is not None:
            self._submitter.close()

    # -- endpoints ----------------------------------------------------------------------------
    def validate(self, url: object) -> VideoRef:
        """Raises `UrlRejected` (client error) or `ResolverUnavailable` (try again)."""
        return check_url(url, self.policy)

    def submit(self, ref: VideoRef) -> Submitted:
        """Register the video and put it in the run queue, unless it is queued, running or processed.

        Answers as soon as the video is registered: the run is created by the queue's thread
        (`run_queue.py`), shared with the videos that arrive at the same time. Raises
        `SubmitUnavailable` before anything is recorded when the code location cannot be loaded.
        """
        self.submitter.check()  # fail before registering anything
        key = ref.video_key
        # Only requests for the same video wait for each other (in this process; across processes
        # the run queue is a set, so a video posted to two workers at once still waits once).
        with self._key_lock(key):
            record_submissions(self.storage, [ref], source="api")  # before the partition: raw_video reads it
            answer = self.registrar.register(key)
            if answer == KNOWN:
                status = read_status(self.instance, self.storage, key, self.stages)
                if status is not None and not self._needs_run(status):
                    return Submitted(key, status, created=False)
                self.queue.add(key)
            elif answer == WAITING:
                return Submitted(key, self._waiting_status(key), created=False)
            log.info("queued %s (%s) for a run", key, redact_url(ref.source_url))
            return Submitted(key, self._waiting_status(key), created=True)

    def _key_lock(self, key: str) -> threading.Lock:
        with self._key_locks_guard:
            lock = self._key_locks.get(key)
            if lock is None:
                lock = threading.Lock()
                self._key_locks[key] = lock
            return lock

    def _waiting_status(self, key: str, submission: dict[str, Any] | None = None) -> JobStatus:
        """A video in the run queue: queued, every stage too (its run will process all of them)."""
        return JobStatus(
            job_id=key,
            status=QUEUED,
            stages={stage.asset: StageStatus("queued") for stage in self.stages},
            submission=submission,
        )

    def _video_needs_run(self, key: str) -> bool:
        status = read_status(self.instance, self.storage, key, self.stages)
        return status is None or self._needs_run(status)

    @staticmethod
    def _needs_run(status: JobStatus) -> bool:
        if not status.has_run:
            return True  # registered (by a list, a sensor, a crashed request) but never run
        # A run that failed as a whole is tried again; so is a video one of whose stages failed for a
        # passing reason (a download that gave up on 429/5xx, a Vision 503: its error says "(transient").
        # A video that failed for good (private, deleted, ...) is not: that outcome is recorded and final.
        if status.status == JOB_FAILED and any(s.state != "done" for s in status.stages.values()):
            return True
        if status.status not in (JOB_FAILED, DONE):
            return False  # queued or running
        return any(s.outcome == FAILED and is_transient_error(s.error) for s in status.stages.values())

    def status(self, job_id: str) -> JobStatus | None:
        if not is_valid_key(job_id):
            return None
        status = read_status(self.instance, self.storage, job_id, self.stages)
        in_its_run = status is not None and status.has_run and status.status in (QUEUED, RUNNING)
        if status is not None and not in_its_run and self.queue.is_waiting(job_id):
            # Waiting for its (next) run: what an earlier run recorded is no longer its state.
            return self._waiting_status(job_id, status.submission)
        return status

    def result(self, job_id: str) -> tuple[JobStatus | None, dict[str, Any] | None]:
        status = self.status(job_id)
        if status is None or status.status != DONE:
            return status, None
        payload = read_result(self.storage, job_id)
        return status, (redact_value("", payload) if payload is not None else None)

    def check_health(self) -> dict[str, Any]:
        return self.health.run()

    def daemon_info(self) -> dict[str, Any]:
        """When the daemon (which dequeues and launches runs) last reported; informational (cached)."""
        return self._daemon_info.get()

    def _read_daemon_info(self) -> dict[str, Any]:
        try:
            beats = self.instance.get_daemon_heartbeats()
        except Exception as exc:  # noqa: BLE001
            return {"running": False, "detail": f"{type(exc).__name__}: {exc}"[:200]}
        beat = beats.get("QUEUED_RUN_COORDINATOR")
        if beat is None:
            return {
                "running": False,
                "detail": "no heartbeat from the run queue daemon: queued runs wait "
                "until `dagster dev` or `dagster-daemon run` is started",
            }
        age = time.time() - beat.timestamp
        return {"running": age < 60, "last_heartbeat_s": round(age, 1)}
