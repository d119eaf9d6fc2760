"""Readiness checks: the Dagster instance, the storage root and the models, each with a reason.

None of them loads a model or writes anything: the models are checked by finding their files.
"""

from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from wandr_pipeline.settings import Settings
from wandr_pipeline.lib.storage import Storage


# How long a passing model check is reused: finding the model files takes slow-ish imports.
MODEL_CHECK_CACHE_S = 60.0


@dataclass
class Check:
    ok: bool
    detail: str

    def as_dict(self) -> dict:
        return {"ok": self.ok, "detail": self.detail}


def _guard(fn: Callable[[], Check]) -> Check:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - a failing check is an answer, not a crash
        return Check(False, f"{type(exc).__name__}: {exc}".strip()[:300])


def check_instance(instance_factory: Callable[[], object]) -> Check:
    def run() -> Check:
        instance = instance_factory()
        count = instance.get_runs_count()  # type: ignore[attr-defined]
        return Check(True, f"reachable; {count} run(s) recorded")

    return _guard(run)


def check_storage(storage: Storage) -> Check:
    def run() -> Check:
        if storage.is_local:
            root = Path(storage.root)
            if root.is_dir():
                if not os.access(root, os.W_OK | os.X_OK):
                    return Check(False, f"storage root {root} is not writable")
                return Check(True, f"local folder {root}")
            parent = next((p for p in root.parents if p.exists()), None)
            if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
                return Check(False, f"storage root {root} does not exist and cannot be created")
            return Check(True, f"local folder {root} (created on first write)")
        bucket = storage.root.split("://", 1)[1].split("/", 1)[0]
        protocol = storage.root.split("://", 1)[0]
        if not storage.fs.exists(f"{protocol}://{bucket}"):
            return Check(False, f"bucket {bucket} is not reachable or does not exist")
        return Check(True, f"bucket {bucket} reachable")

    return _guard(run)


def check_whisper(model: str) -> Check:
    def run() -> Check:
        from wandr_pipeline.engines.whisper import resolve_model

        target, label = resolve_model(model)
        path = Path(target)
        if path.is_dir():
            if not (path / "model.bin").is_file():
                return Check(False, f"whisper model folder {path} has no model.bin")
            return Check(True, f"whisper {label} at {path}")
        from faster_whisper.utils import download_model

        local = download_model(target, local_files_only=True)  # raises when it is not in the local cache
        return Check(True, f"whisper {label} from the local model cache ({local})")

    return _guard(run)


def check_ocr(engine: str) -> Check:
    def run() -> Check:
        if engine == "local":
            # Found without importing them: importing RapidOCR and onnxruntime takes seconds.
            spec = importlib.util.find_spec("rapidocr")
            if spec is None or not spec.submodule_search_locations:
                return Check(False, "the rapidocr package is not installed")
            if importlib.util.find_spec("onnxruntime") is None:
                return Check(False, "the onnxruntime package is not installed")
            models = Path(list(spec.submodule_search_locations)[0]) / "models"
            found = sorted(p.name for p in models.glob("*.onnx")) if models.is_dir() else []
            needed = {"det": any("det" in n for n in found), "rec": any("rec" in n for n in found)}
            missing = [kind for kind, present in needed.items() if not present]
            if missing:
                return Check(False, f"RapidOCR models missing ({', '.join(missing)}) under {models}")
            return Check(True, f"RapidOCR with {', '.join(found)}")
        if engine == "google":
            if importlib.util.find_spec("google.cloud.vision") is None:
                return Check(False, "OCR_ENGINE=google needs google-cloud-vision (the gcp extra)")
            return Check(True, "Google Cloud Vision client installed (credentials are checked on first use)")
        return Check(False, f"unknown OCR engine {engine!r}")

    return _guard(run)


class HealthChecker:
    """Runs the checks; the model checks (file look-ups, slow-ish imports) are cached for a while."""

    def __init__(self, settings: Settings, storage: Storage, instance_factory: Callable[[], object],
                 cache_s: float = MODEL_CHECK_CACHE_S):
        self.settings = settings
        self.storage = storage
        self.instance_factory = instance_factory
        self.cache_s = cache_s
        self._models: tuple[float, Check] | None = None

    def models(self) -> Check:
        now = time.monotonic()
        if self._models and now - self._models[0] < self.cache_s and self._models[1].ok:
            return self._models[1]
        whisper = check_whisper(self.settings.whisper_model)
        ocr = check_ocr(self.settings.ocr_engine)
        check = Check(whisper.ok and ocr.ok, f"{whisper.detail}; {ocr.detail}")
        self._models = (now, check)
        return check

    def run(self) -> dict[str, Check]:
        return {
            "instance": check_instance(self.instance_factory),
            "storage": check_storage(self.storage),
            "models": self.models(),
        }
