"""What the endpoints do, without Flask: register a video, read its state, read its result, check health.

The API registers, the daemon runs. A POST records the submission, registers the video's partition
(together with the POSTs that arrive meanwhile: `registration.py`) and answers; the daemon's
registered_videos_sensor makes the run. For a video it knew already the API asks the planner
(`lib/planner.py`, the one every road uses) whether it needs a run, and if so leaves a request for the
sensor in the Dagster instance (`defs/ingestion/video_requests.py`). No API host creates runs, so two
hosts never make two runs for one video.
"""

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
from wandr_pipeline.api.registration import NEW, Registrar, RegistrationFailed
from wandr_pipeline.api.results import read_result
from wandr_pipeline.api.status import DONE, QUEUED, RUNNING, JobStatus, StageStatus, read_status
from wandr_pipeline.api.validation import UrlPolicy, check_url
from wandr_pipeline.defs.ingestion import video_requests
from wandr_pipeline.defs.ingestion.registered_videos_sensor import SENSOR_NAME
from wandr_pipeline.lib.planner import assess_videos, plan_runs
from wandr_pipeline.lib.redaction import redact_url, redact_value
from wandr_pipeline.lib.stages import STAGES
from wandr_pipeline.lib.storage import storage_for
from wandr_pipeline.lib.submissions import API_SOURCE, record_submissions
from wandr_pipeline.lib.urls import VideoRef, is_valid_key
from wandr_pipeline.settings import Settings

log = logging.getLogger("wandr_pipeline.api")

# The daemons a POSTed video needs: the sensor daemon evaluates registered_videos_sensor, the run
# coordinator daemon launches the runs it queues.
DAEMONS = ("SENSOR", "QUEUED_RUN_COORDINATOR")
HEARTBEAT_MAX_AGE_S = 60.0
WAITING_DETAIL = f"waiting for the daemon's {SENSOR_NAME} to request its run"


class InstanceUnavailable(RuntimeError):
    """The Dagster instance cannot be opened (DAGSTER_HOME unset or broken)."""


@dataclass
class Submitted:
    job_id: str
    status: JobStatus
    created: bool  # False: the video was known and needs no new run (queued, running, waiting or final)


class JobService:
    def __init__(self, settings: Settings, instance_factory: Callable[[], DagsterInstance] | None = None):
        self.settings = settings
        self._instance_factory = instance_factory or DagsterInstance.get
        self._instance: DagsterInstance | None = None
        self._instance_lock = threading.Lock()
        self.storage = storage_for(settings.storage_uri)
        self.policy = UrlPolicy.from_settings(settings)
        self.stages = STAGES
        self._registrar: Registrar | None = None
        self._registrar_lock = threading.Lock()
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
    def registrar(self) -> Registrar:
        if self._registrar is None:
            with self._registrar_lock:
                if self._registrar is None:
                    self._registrar = Registrar(lambda: self.instance)
        return self._registrar

    def close(self) -> None:
        if self._registrar is not None:
            self._registrar.stop()

    # -- endpoints ----------------------------------------------------------------------------
    def validate(self, url: object) -> VideoRef:
        """Raises `UrlRejected` (client error) or `ResolverUnavailable` (try again)."""
        return check_url(url, self.policy)

    def submit(self, ref: VideoRef) -> Submitted:
        """Register the video; a known one is asked of the planner unless a run or a request covers it.

        Answers once the registration (or the request) is committed; the run is the daemon's. Raises
        `RegistrationFailed` (503) when the instance does not take it.
        """
        key = ref.video_key
        # Only requests for the same video wait for each other (in this process; across processes a
        # video registered twice is one partition, and the sensor plans it once).
        with self._key_lock(key):
            record_submissions(self.storage, [ref], source=API_SOURCE)  # before the partition: raw_video reads it
            if self.registrar.register(key) == NEW:
                log.info("registered %s (%s); its run is the daemon's", key, redact_url(ref.source_url))
                return Submitted(key, self._waiting_status(key), created=True)
            return self._submit_known(key)

    def _submit_known(self, key: str) -> Submitted:
        status = read_status(self.instance, self.storage, key, self.stages)
        if status is None:
            raise RegistrationFailed(f"the video {key} was unregistered meanwhile; submit it again")
        if self._in_its_run(status):
            return Submitted(key, status, created=False)
        waiting = self._waiting_for_sensor(key, status)
        if waiting is not None:
            return Submitted(key, waiting, created=False)
        verdicts = assess_videos(self.storage, [key])
        if not plan_runs([key], [key], verdicts, max_per_run=1).runs:
            return Submitted(key, status, created=False)  # finished, or failed for good: that outcome is final
        verdict = verdicts[key]
        self.instance.report_runless_asset_event(
            video_requests.request(key, requested_by=API_SOURCE, verdict=verdict.state, redo_from=verdict.redo_from)
        )
        log.info("asked the daemon to run %s again (%s)", key, verdict.state)
        return Submitted(key, self._waiting_status(key, status.submission), created=True)

    def _key_lock(self, key: str) -> threading.Lock:
        with self._key_locks_guard:
            lock = self._key_locks.get(key)
            if lock is None:
                lock = threading.Lock()
                self._key_locks[key] = lock
            return lock

    @staticmethod
    def _in_its_run(status: JobStatus) -> bool:
        return status.has_run and status.status in (QUEUED, RUNNING)

    def _waiting_for_sensor(self, key: str, status: JobStatus) -> JobStatus | None:
        """The waiting status when the sensor has yet to act for the video: registered by the API and
        never planned by a run, or asked for again by a request the sensor has not answered."""
        submission = status.submission or {}
        if not status.has_run and submission.get("submitted_from") == API_SOURCE:
            return self._waiting_status(key, status.submission)
        pending = video_requests.pending_request_id(self.instance, key)
        if pending is not None and pending > (status.planned_storage_id or -1):
            return self._waiting_status(key, status.submission)
        return None

    def _waiting_status(self, key: str, submission: dict[str, Any] | None = None) -> JobStatus:
        """A video waiting for the sensor: queued, every stage too (its run will process them)."""
        detail = WAITING_DETAIL
        daemon = self.daemon_info()
        if not daemon.get("running"):
            detail += f" ({daemon.get('detail') or 'no daemon is running'})"
        return JobStatus(
            job_id=key,
            status=QUEUED,
            stages={stage.asset: StageStatus("queued") for stage in self.stages},
            submission=submission,
            detail=detail,
        )

    def status(self, job_id: str) -> JobStatus | None:
        if not is_valid_key(job_id):
            return None
        status = read_status(self.instance, self.storage, job_id, self.stages)
        if status is None or self._in_its_run(status):
            return status
        return self._waiting_for_sensor(job_id, status) or status

    def result(self, job_id: str) -> tuple[JobStatus | None, dict[str, Any] | None]:
        status = self.status(job_id)
        if status is None or status.status != DONE:
            return status, None
        payload = read_result(self.storage, job_id)
        return status, (redact_value("", payload) if payload is not None else None)

    def check_health(self) -> dict[str, Any]:
        return self.health.run()

    def daemon_info(self) -> dict[str, Any]:
        """Whether the daemons that make and launch the runs reported in the last minute (cached)."""
        return self._daemon_info.get()

    def _read_daemon_info(self) -> dict[str, Any]:
        try:
            beats = self.instance.get_daemon_heartbeats()
        except Exception as exc:  # noqa: BLE001
            return {"running": False, "detail": f"{type(exc).__name__}: {exc}"[:200]}
        now = time.time()
        ages = {name: now - beats[name].timestamp for name in DAEMONS if name in beats}
        stale = [name for name in DAEMONS if ages.get(name, HEARTBEAT_MAX_AGE_S) >= HEARTBEAT_MAX_AGE_S]
        info: dict[str, Any] = {"running": not stale}
        if ages:
            info["last_heartbeat_s"] = round(max(ages.values()), 1)
        if stale:
            info["detail"] = (
                f"no daemon heartbeat in the last minute ({', '.join(stale)}): posted videos stay queued "
                "until `make dev` or `dagster-daemon run` is started"
            )
        return info
