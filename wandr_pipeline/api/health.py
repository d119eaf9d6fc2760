"""What `GET /health` checks, and how: the /health policy over the shared readiness checks.

The checks are `wandr_pipeline.engines.readiness`, the same ones `wandr-pipeline doctor` runs, in
their light mode: the models are found by their files (never loaded), the storage root is checked for
being writable or reachable (nothing is written), and the API's own Dagster instance is asked to count
its runs, and the analysts' lake is checked for damage and for how far it is behind the warehouse
(cached for a minute: that lists the partitions). Each answer becomes `{"ok": bool, "detail": str}`;
only FAIL is not ok.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from wandr_pipeline.engines.readiness import FAIL, Check, run_checks
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.settings import Settings

T = TypeVar("T")

# How long a passing model check is reused: finding the model files takes slow-ish imports.
MODEL_CHECK_CACHE_S = 60.0
# How old the instance/storage answer may get before a background check refreshes it.
STATE_CHECK_CACHE_S = 2.0
# How old the lake's answer may get: the check lists the warehouse's partitions (seconds at 100,000 videos).
LAKE_CHECK_CACHE_S = 60.0


class CachedAnswer:
    """The last answer of `compute`, refreshed in the background once older than `max_age_s`.

    Only the first call waits for `compute`; later calls return the last answer at once (at most
    `max_age_s` plus one check old) while one background thread computes the next. During a burst of
    submissions the SQLite instance is busy with writes, and a liveness probe must not queue behind
    them.
    """

    def __init__(self, compute: Callable[[], T], max_age_s: float):
        self._compute = compute
        self.max_age_s = max_age_s
        self._answer: tuple[float, T] | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        answer = self._answer
        if answer is None:
            with self._lock:
                if self._answer is None:
                    self._answer = (time.monotonic(), self._compute())
                return self._answer[1]
        if time.monotonic() - answer[0] >= self.max_age_s and self._lock.acquire(blocking=False):
            threading.Thread(target=self._refresh, name="wandr-health-refresh", daemon=True).start()
        return answer[1]

    def _refresh(self) -> None:
        try:
            self._answer = (time.monotonic(), self._compute())
        finally:
            self._lock.release()


def as_health(check: Check) -> dict:
    return {"ok": check.status != FAIL, "detail": check.detail}


class HealthChecker:
    """Runs the /health checks; the model checks (file look-ups, slow-ish imports) are cached for a while."""

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        instance_factory: Callable[[], object],
        cache_s: float = MODEL_CHECK_CACHE_S,
    ):
        self.settings = settings
        self.storage = storage
        self.instance_factory = instance_factory
        self.cache_s = cache_s
        self._models: tuple[float, dict] | None = None
        self._state = CachedAnswer(self._check_state, STATE_CHECK_CACHE_S)
        self._lake = CachedAnswer(self._check_lake, LAKE_CHECK_CACHE_S)

    def models(self) -> dict:
        now = time.monotonic()
        if self._models and now - self._models[0] < self.cache_s and self._models[1]["ok"]:
            return self._models[1]
        whisper, ocr = (as_health(c) for c in run_checks(self.settings, ["whisper", "ocr"]))
        models = {"ok": whisper["ok"] and ocr["ok"], "detail": f"whisper: {whisper['detail']}; ocr: {ocr['detail']}"}
        self._models = (now, models)
        return models

    def state(self) -> dict[str, dict]:
        """The instance and storage checks, from `CachedAnswer`: a probe never waits for the instance."""
        return self._state.get()

    def _check_state(self) -> dict[str, dict]:
        instance, storage = run_checks(
            self.settings, ["instance", "storage"], storage=self.storage, instance_factory=self.instance_factory
        )
        return {"instance": as_health(instance), "storage": as_health(storage)}

    def lake(self) -> dict:
        """The lake check (readable, in step with the warehouse), from `CachedAnswer`."""
        return self._lake.get()

    def _check_lake(self) -> dict:
        (lake,) = run_checks(self.settings, ["lake"], storage=self.storage)
        return as_health(lake)

    def run(self) -> dict[str, dict]:
        return {**self.state(), "models": self.models(), "lake": self.lake()}
