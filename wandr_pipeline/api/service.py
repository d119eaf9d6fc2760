"""What the endpoints do, without Flask: submit a video, read its state, read its result, check health."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.errors import DagsterRunAlreadyExists
from dagster._core.storage.dagster_run import RunsFilter

from wandr_pipeline.api.health import HealthChecker
from wandr_pipeline.api.results import read_result
from wandr_pipeline.api.status import DONE, JOB_FAILED, JobStatus, read_status
from wandr_pipeline.api.submit import PARTITION_TAG, RunSubmitter, run_id_for
from wandr_pipeline.api.validation import UrlPolicy, check_url
from wandr_pipeline.defs.partitions import register_videos
from wandr_pipeline.lib.outcomes import FAILED, is_transient_error
from wandr_pipeline.lib.redaction import redact_url, redact_value
from wandr_pipeline.lib.stages import PROCESS_VIDEOS, STAGES
from wandr_pipeline.lib.storage import storage_for
from wandr_pipeline.lib.urls import VideoRef, is_valid_key
from wandr_pipeline.settings import Settings

log = logging.getLogger("wandr_pipeline.api")

# A run created but still NOT_STARTED after this long lost its submitter: submit it again.
_STALE_NOT_STARTED_S = 60.0


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
        # one lock per video key being submitted (dropped when no request holds it)
        self._key_locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
        self._key_locks_guard = threading.Lock()
        self.health = HealthChecker(settings, self.storage, lambda: self.instance)

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

    def warm(self) -> None:
        start = time.perf_counter()
        self.submitter.warm()
        log.info("workspace loaded in %.1f s", time.perf_counter() - start)

    def close(self) -> None:
        if self._submitter is not None:
            self._submitter.close()

    # -- endpoints ----------------------------------------------------------------------------
    def validate(self, url: object) -> VideoRef:
        """Raises `UrlRejected` (client error) or `ResolverUnavailable` (try again)."""
        return check_url(url, self.policy)

    def submit(self, ref: VideoRef) -> Submitted:
        """Register the video and queue one run for it, unless it is queued, running or processed.

        Raises `SubmitUnavailable` before anything is recorded when the code location cannot be loaded.
        """
        submitter = self.submitter
        submitter.check()  # fail before registering anything
        key = ref.video_key
        # Only requests for the same video wait for each other (in this process; across processes two
        # requests compute the same run id, `run_id_for`, and the run storage lets one create it).
        with self._key_lock(key):
            return self._submit_locked(submitter, ref)

    def _key_lock(self, key: str) -> threading.Lock:
        with self._key_locks_guard:
            lock = self._key_locks.get(key)
            if lock is None:
                lock = threading.Lock()
                self._key_locks[key] = lock
            return lock

    def _submit_locked(self, submitter: RunSubmitter, ref: VideoRef) -> Submitted:
        key = ref.video_key
        status = read_status(self.instance, self.storage, key, self.stages)
        if status is not None and not self._needs_run(status):
            self._resubmit_if_stale(status)
            return Submitted(key, status, created=False)
        register_videos(self.instance, self.storage, [ref], source="api")
        earlier_runs = self.instance.get_runs_count(RunsFilter(tags={PARTITION_TAG: key}))
        for attempt in range(earlier_runs, earlier_runs + 5):
            try:
                run = submitter.create_and_submit(key, run_id_for(key, attempt))
                log.info("queued run %s for %s (%s)", run.run_id, key, redact_url(ref.source_url))
                created = True
                break
            except DagsterRunAlreadyExists:
                # Another process submitted the same video at the same moment (same derived id),
                # or runs of this video were deleted and the count went back: look again.
                created = False
                status = read_status(self.instance, self.storage, key, self.stages)
                if status is not None and not self._needs_run(status):
                    break
        status = read_status(self.instance, self.storage, key, self.stages)
        assert status is not None
        return Submitted(key, status, created=created)

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

    def _resubmit_if_stale(self, status: JobStatus) -> None:
        if status.run_status != DagsterRunStatus.NOT_STARTED.value or not status.run_id:
            return
        run = self.instance.get_run_by_id(status.run_id)
        if run and time.time() - run.create_timestamp.timestamp() > _STALE_NOT_STARTED_S:
            log.warning("run %s was never submitted; submitting it now", run.run_id)
            self.submitter.resubmit(run.run_id)

    def status(self, job_id: str) -> JobStatus | None:
        if not is_valid_key(job_id):
            return None
        return read_status(self.instance, self.storage, job_id, self.stages)

    def result(self, job_id: str) -> tuple[JobStatus | None, dict[str, Any] | None]:
        status = self.status(job_id)
        if status is None or status.status != DONE:
            return status, None
        payload = read_result(self.storage, job_id)
        return status, (redact_value("", payload) if payload is not None else None)

    def check_health(self) -> dict[str, Any]:
        return self.health.run()

    def daemon_info(self) -> dict[str, Any]:
        """When the daemon (which dequeues and launches runs) last reported; informational."""
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
