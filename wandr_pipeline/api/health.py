"""What `GET /health` checks, and how: the /health policy over the shared readiness checks.

The checks are `wandr_pipeline.engines.readiness`, the same ones `wandr-pipeline doctor` runs, in
their light mode: the models are found by their files (never loaded), the storage root is checked for
being writable or reachable (nothing is written), and the API's own Dagster instance is asked to count
its runs. Each answer becomes `{"ok": bool, "detail": str}`; only FAIL is not ok.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from wandr_pipeline.engines.readiness import FAIL, Check, run_checks
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.settings import Settings

# How long a passing model check is reused: finding the model files takes slow-ish imports.
MODEL_CHECK_CACHE_S = 60.0
# How long a passing instance/storage answer is reused: during a burst of submissions the SQLite
# instance is busy with writes, and a liveness probe every second must not queue behind them.
STATE_CHECK_CACHE_S = 2.0


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
        self._state: tuple[float, dict] | None = None
        self._state_lock = threading.Lock()

    def models(self) -> dict:
        now = time.monotonic()
        if self._models and now - self._models[0] < self.cache_s and self._models[1]["ok"]:
            return self._models[1]
        whisper, ocr = (as_health(c) for c in run_checks(self.settings, ["whisper", "ocr"]))
        models = {"ok": whisper["ok"] and ocr["ok"], "detail": f"whisper: {whisper['detail']}; ocr: {ocr['detail']}"}
        self._models = (now, models)
        return models

    def state(self) -> dict[str, dict]:
        """The instance and storage checks; a passing answer younger than STATE_CHECK_CACHE_S is reused,
        and while one probe checks, the others take the last answer instead of queueing behind it."""
        cached = self._state
        now = time.monotonic()
        fresh = cached and now - cached[0] < STATE_CHECK_CACHE_S and all(c["ok"] for c in cached[1].values())
        if fresh or (cached and not self._state_lock.acquire(blocking=False)):
            return cached[1]
        if not cached:
            self._state_lock.acquire()
        try:
            instance, storage = run_checks(
                self.settings, ["instance", "storage"], storage=self.storage, instance_factory=self.instance_factory
            )
            answer = {"instance": as_health(instance), "storage": as_health(storage)}
            self._state = (time.monotonic(), answer)
            return answer
        finally:
            self._state_lock.release()

    def run(self) -> dict[str, dict]:
        return {**self.state(), "models": self.models()}
