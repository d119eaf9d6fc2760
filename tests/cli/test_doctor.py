"""`wandr-pipeline doctor`: real checks on this (GPU-less) machine, and clear failures when misconfigured."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from wandr_pipeline.cli.main import main
from wandr_pipeline.engines.device import ctranslate2_cuda_devices


def _lines(output: str) -> dict[str, str]:
    return {line.split()[1]: line for line in output.splitlines() if line[:4] in ("PASS", "WARN", "FAIL", "SKIP")}


@pytest.mark.slow
def test_doctor_passes_here_with_real_probes(tmp_path, monkeypatch, dagster_home):
    monkeypatch.setenv("WANDR_STORAGE_URI", str(tmp_path / "store"))
    for name in ("WHISPER_MODEL", "OCR_DEVICE", "OCR_ENGINE", "WANDR_FRAME_DECODER", "WHISPER_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    completed = subprocess.run(
        [sys.executable, "-m", "wandr_pipeline.cli", "doctor"], capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = _lines(completed.stdout)
    assert lines["ffmpeg"].startswith("PASS") and "ffmpeg version" in lines["ffmpeg"]
    assert lines["whisper"].startswith("PASS") and "base on" in lines["whisper"] and "transcribed" in lines["whisper"]
    assert lines["ocr"].startswith("PASS") and "WANDR 42" in lines["ocr"]
    assert lines["storage"].startswith("PASS")
    assert lines["dagster"].startswith("PASS") and "SqliteRunStorage" in lines["dagster"]
    if ctranslate2_cuda_devices() == 0:
        assert lines["gpu"].startswith("WARN") and "cpu/int8" in lines["whisper"]
    assert "all required checks passed" in completed.stdout
    assert not list((tmp_path / "store").rglob("probe-*"))  # the storage probe cleans up


def test_doctor_fails_clearly_when_misconfigured(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("WANDR_STORAGE_URI", str(blocker / "store"))
    monkeypatch.setenv("WHISPER_MODEL", "no-such-model")
    monkeypatch.setenv("OCR_DEVICE", "cuda")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    require_gpu = ctranslate2_cuda_devices() == 0
    code = main(["doctor", "--quick", "--json"] + (["--require-gpu"] if require_gpu else []))
    report = json.loads(capsys.readouterr().out)
    by_name = {check["name"]: check for check in report["checks"]}
    assert code == 1 and report["ok"] is False
    assert by_name["whisper"]["status"] == "FAIL" and "unknown WHISPER_MODEL" in by_name["whisper"]["detail"]
    assert by_name["storage"]["status"] == "FAIL"
    assert by_name["ffmpeg"]["status"] == "PASS"
    if require_gpu:
        assert by_name["gpu"]["status"] == "FAIL" and "no NVIDIA GPU" in by_name["gpu"]["detail"]
        assert by_name["ocr"]["status"] == "FAIL" and "onnxruntime-gpu" in by_name["ocr"]["detail"]
