"""`wandr-pipeline doctor`: can this machine run the pipeline, and on which devices?

One line per check, `PASS` / `WARN` / `FAIL` / `SKIP`, and a non-zero exit when a required check
fails. Checks do the real thing on a tiny input (transcribe a second of audio, read a drawn word,
write and read back an object under the storage root), so a PASS means the stage will work.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from wandr_pipeline.settings import Settings

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"
OCR_PROBE_TEXT = "WANDR 42"


@dataclass
class Check:
    name: str
    status: str
    detail: str
    seconds: float = 0.0


def _timed(name: str, fn: Callable[[], tuple[str, str]]) -> Check:
    start = time.perf_counter()
    try:
        status, detail = fn()
    except Exception as exc:  # noqa: BLE001 - a crashing check is a failed check, with its reason
        status, detail = FAIL, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
    return Check(name, status, detail, round(time.perf_counter() - start, 2))


def check_gpu(require_gpu: bool) -> tuple[str, str]:
    from wandr_pipeline.engines.device import ctranslate2_cuda_devices, nvidia_smi

    gpus = nvidia_smi()
    cuda = ctranslate2_cuda_devices()
    if gpus:
        described = "; ".join(f"{g.name}, {g.memory_used_mib}/{g.memory_total_mib} MiB used, driver {g.driver}"
                              for g in gpus)
        if cuda == 0:
            return FAIL, f"{described}; but CTranslate2 sees no CUDA device (CUDA/cuDNN libraries missing?)"
        return PASS, f"{described}; CTranslate2 sees {cuda} CUDA device(s)"
    if cuda:
        return PASS, f"CTranslate2 sees {cuda} CUDA device(s) (no nvidia-smi to describe them)"
    return (FAIL if require_gpu else WARN), "no NVIDIA GPU visible: every stage runs on the CPU"


def check_cuda_libraries() -> tuple[str, str]:
    """The CUDA runtime pieces the engines load: cuBLAS/cuDNN for CTranslate2, the CUDA provider for onnxruntime."""
    from wandr_pipeline.engines.device import ctranslate2_cuda_devices, onnxruntime_providers

    if ctranslate2_cuda_devices() == 0:
        return SKIP, "no CUDA device"
    import ctranslate2

    types = sorted(ctranslate2.get_supported_compute_types("cuda"))
    providers = onnxruntime_providers()
    detail = f"CTranslate2 {ctranslate2.__version__} CUDA compute types: {', '.join(types)}; onnxruntime providers: {', '.join(providers)}"
    return (PASS if "float16" in types else WARN), detail


def check_ffmpeg() -> tuple[str, str]:
    from wandr_pipeline.media.ffmpeg_binary import ffmpeg_executable

    exe = ffmpeg_executable()
    out = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        return FAIL, f"{exe} -version exited {out.returncode}"
    return PASS, f"{out.stdout.splitlines()[0]} ({exe})"


def check_whisper(settings: Settings, load: bool) -> tuple[str, str]:
    from wandr_pipeline.engines.whisper import WhisperTranscriber, choose_device, resolve_model

    path, name = resolve_model(settings.whisper_model)
    device, compute_type = choose_device(settings.whisper_device, settings.whisper_compute_type)
    where = f"{name} on {device}/{compute_type}"
    if not load:
        return PASS, f"{where} (resolved to {path}; not loaded)"
    start = time.perf_counter()
    transcriber = WhisperTranscriber(settings.whisper_model, device=settings.whisper_device,
                                     compute_type=settings.whisper_compute_type, batch_size=1, beam_size=1,
                                     vad=False)
    loaded = time.perf_counter() - start
    tone = (0.05 * np.sin(2 * np.pi * 220 * np.arange(16_000) / 16_000)).astype(np.float32)
    transcriber.transcribe(tone)
    return PASS, f"{where}: loaded in {loaded:.1f} s and transcribed a 1 s probe"


def check_frame_decoder(settings: Settings) -> tuple[str, str]:
    from wandr_pipeline.engines.device import choose_frame_decoder, torchcodec_cuda_available

    chosen = choose_frame_decoder(settings.frame_decoder)
    if chosen == "cuda":
        return PASS, "NVDEC through torchcodec"
    usable, why = torchcodec_cuda_available()
    return PASS, f"CPU (PyAV){'' if usable else f'; NVDEC unavailable: {why}'}"


def check_ocr(settings: Settings, load: bool) -> tuple[str, str]:
    if settings.ocr_engine == "google":
        import importlib.util

        if importlib.util.find_spec("google.cloud.vision") is None:
            return FAIL, "OCR_ENGINE=google but google-cloud-vision is not installed (the gcp extra)"
        return PASS, "Google Cloud Vision (credentials: see the credentials check)"
    if settings.ocr_engine != "local":
        return FAIL, f"unknown OCR_ENGINE {settings.ocr_engine!r}"
    from wandr_pipeline.engines.device import choose_ocr_cuda

    cuda = choose_ocr_cuda(settings.ocr_device)
    where = f"RapidOCR on {'CUDA' if cuda else 'CPU'}"
    if not load:
        return PASS, f"{where} (not loaded)"
    import cv2

    from wandr_pipeline.engines.rapidocr import RapidOcrEngine

    image = np.full((200, 720, 3), 255, np.uint8)
    cv2.putText(image, OCR_PROBE_TEXT, (30, 130), cv2.FONT_HERSHEY_SIMPLEX, 2.6, (0, 0, 0), 6, cv2.LINE_AA)
    [result] = RapidOcrEngine(min_confidence=settings.ocr_min_confidence, use_cuda=cuda).read([image])
    if isinstance(result, BaseException):
        raise result
    text = " ".join(box.text for box in result)
    if "42" not in text or "WANDR" not in text.upper().replace(" ", ""):
        return FAIL, f"{where} read {text!r} on a probe image showing {OCR_PROBE_TEXT!r}"
    return PASS, f"{where}: read {text!r} on a probe image"


def check_storage(settings: Settings) -> tuple[str, str]:
    from wandr_pipeline.lib.storage import Storage

    storage = Storage(settings.storage_uri)
    probe = f"doctor/probe-{uuid.uuid4().hex}.txt"
    payload = f"wandr doctor {time.time()}".encode()
    storage.write_bytes(probe, payload)
    try:
        if storage.read_bytes(probe) != payload:
            return FAIL, f"{storage.path(probe)} read back different bytes"
    finally:
        storage.fs.rm(storage.path(probe))
    return PASS, f"wrote, read back and deleted an object under {storage.root_uri}"


def check_credentials(settings: Settings) -> tuple[str, str]:
    import os

    needs = []
    if settings.storage_uri.startswith(("gs://", "gcs://")) and not os.environ.get("STORAGE_EMULATOR_HOST"):
        needs.append("GCS storage")
    if settings.ocr_engine == "google":
        needs.append("Cloud Vision")
    if not needs:
        return SKIP, "no Google service configured (local storage, local OCR)"
    import google.auth

    credentials, project = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    who = getattr(credentials, "service_account_email", None) or type(credentials).__name__
    return PASS, f"application default credentials for {', '.join(needs)}: {who}, project {project or '(none)'}"


def check_dagster_instance() -> tuple[str, str]:
    import os

    if not os.environ.get("DAGSTER_HOME"):
        return SKIP, "DAGSTER_HOME is not set (the CLI uses a temporary instance)"
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        storage = type(instance.run_storage).__name__
        runs = instance.get_runs_count()
        launcher = type(instance.run_launcher).__name__
    return PASS, f"{os.environ['DAGSTER_HOME']}: {storage} ({runs} runs), launcher {launcher}"


def run_checks(settings: Settings, *, require_gpu: bool = False, load_models: bool = True) -> list[Check]:
    return [
        _timed("gpu", lambda: check_gpu(require_gpu)),
        _timed("cuda", check_cuda_libraries),
        _timed("ffmpeg", check_ffmpeg),
        _timed("whisper", lambda: check_whisper(settings, load_models)),
        _timed("frames", lambda: check_frame_decoder(settings)),
        _timed("ocr", lambda: check_ocr(settings, load_models)),
        _timed("storage", lambda: check_storage(settings)),
        _timed("credentials", lambda: check_credentials(settings)),
        _timed("dagster", check_dagster_instance),
    ]


def report(checks: list[Check], as_json: bool = False) -> str:
    if as_json:
        return json.dumps({"python": platform.python_version(), "checks": [asdict(c) for c in checks],
                           "ok": not any(c.status == FAIL for c in checks)}, indent=1)
    width = max(len(c.name) for c in checks)
    lines = [f"{c.status:<4}  {c.name:<{width}}  {c.detail}" for c in checks]
    failed = [c.name for c in checks if c.status == FAIL]
    lines.append(f"doctor: {len(failed)} check(s) failed: {', '.join(failed)}" if failed else "doctor: all required checks passed")
    return "\n".join(lines)
