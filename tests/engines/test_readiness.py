"""`wandr-pipeline doctor` and `GET /health` run the same readiness checks: one answer, two presentations."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.paths import REPO
from wandr_pipeline.api.health import HealthChecker
from wandr_pipeline.cli.doctor import doctor_checks
from wandr_pipeline.engines import readiness
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.settings import Settings


class _Instance:
    run_storage = object()

    def get_runs_count(self) -> int:
        return 3


def _settings(**overrides) -> Settings:
    return Settings.from_env(**overrides)


def _both(settings: Settings) -> tuple[dict, dict]:
    """(the doctor's checks by name, /health's checks by name), for the same settings; /health first."""
    health = HealthChecker(settings, Storage(settings.storage_uri), _Instance).run()
    doctor = {c.name: c for c in doctor_checks(settings, load_models=False)}
    return doctor, health


@pytest.fixture(autouse=True)
def _no_dagster_home(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # the doctor's instance check is then a SKIP
    for name in ("OCR_DEVICE", "OCR_ENGINE", "WHISPER_DEVICE", "WANDR_FRAME_DECODER"):
        monkeypatch.delenv(name, raising=False)


def test_a_broken_storage_root_and_model_folder_fail_in_both_with_the_same_reason(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = _settings(storage_uri=str(blocker / "store"), whisper_model=str(tmp_path))  # no model.bin there
    doctor, health = _both(settings)

    assert doctor["storage"].status == "FAIL" and "cannot be created" in doctor["storage"].detail
    assert health["storage"] == {"ok": False, "detail": doctor["storage"].detail}
    assert doctor["whisper"].status == "FAIL" and "model.bin" in doctor["whisper"].detail
    assert health["models"]["ok"] is False and doctor["whisper"].detail in health["models"]["detail"]
    assert doctor["ocr"].status == "PASS" and health["instance"]["ok"] is True


def test_health_writes_nothing_and_the_doctor_writes_a_probe(tmp_path):
    root = tmp_path / "new-root"
    settings = _settings(storage_uri=str(root))
    health = HealthChecker(settings, Storage(str(root)), _Instance).run()
    assert health["storage"] == {"ok": True, "detail": f"local folder {root} (created on first write)"}
    assert not root.exists()

    [storage] = [c for c in doctor_checks(settings, load_models=False) if c.name == "storage"]
    assert storage.status == "PASS" and "wrote, read back and deleted" in storage.detail
    assert root.is_dir() and not list(root.rglob("probe-*"))  # the doctor's probe is cleaned up


def test_a_crash_is_a_fail_with_its_reason_and_a_warning_is_still_healthy(tmp_path, monkeypatch):
    def crashing(settings, **mode):
        raise RuntimeError("model cache unreadable\nTraceback noise")

    monkeypatch.setattr(readiness, "check_whisper", crashing)
    monkeypatch.setattr(readiness, "check_ocr", lambda settings, **mode: (readiness.WARN, "slow OCR here"))
    doctor, health = _both(_settings(storage_uri=str(tmp_path)))
    assert (doctor["whisper"].status, doctor["whisper"].detail) == ("FAIL", "RuntimeError: model cache unreadable")
    assert doctor["ocr"].status == "WARN"
    assert health["models"] == {
        "ok": False,
        "detail": "whisper: RuntimeError: model cache unreadable; ocr: slow OCR here",
    }

    monkeypatch.setattr(readiness, "check_whisper", lambda settings, **mode: (readiness.PASS, "fine"))
    checker = HealthChecker(_settings(storage_uri=str(tmp_path)), Storage(str(tmp_path)), _Instance)
    assert checker.run()["models"] == {"ok": True, "detail": "whisper: fine; ocr: slow OCR here"}


def test_health_finds_the_models_and_the_doctor_also_picks_devices(tmp_path):
    doctor, health = _both(_settings(storage_uri=str(tmp_path)))
    assert health["models"]["ok"] is True and "(not loaded)" in health["models"]["detail"]
    whisper_for_health = health["models"]["detail"].split("; ocr: ")[0]
    assert " on cpu/" not in whisper_for_health and " on cuda/" not in whisper_for_health
    assert doctor["whisper"].status == "PASS" and (
        " on cpu/" in doctor["whisper"].detail or " on cuda/" in doctor["whisper"].detail
    )


def test_unknown_checks_and_a_missing_instance_factory_are_caller_errors():
    with pytest.raises(ValueError, match="unknown check"):
        readiness.run_checks(_settings(), ["storage", "disk"])
    with pytest.raises(ValueError, match="instance_factory"):
        readiness.run_checks(_settings(), ["instance"])


def test_the_module_never_imports_dagster():
    probe = "import sys, wandr_pipeline.engines.readiness; print(sorted(m for m in sys.modules if 'dagster' in m))"
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
