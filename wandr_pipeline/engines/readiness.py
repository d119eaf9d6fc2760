"""Readiness checks, once, for both `wandr-pipeline doctor` and the API's `GET /health`.

Each check answers PASS / WARN / FAIL / SKIP with a reason. The two callers want different depths of the
same question, so a check takes a mode rather than existing twice: the doctor loads the models and runs
a probe through them (`load=True`), picks the devices a stage would use on this machine (`devices=True`)
and writes a probe object (`write=True`); /health, answered often and on a machine that runs no stage,
only finds the model files and checks that the storage root is writable or reachable, and writes nothing.

No Dagster here: the instance check calls the `instance_factory` it is given.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from wandr_pipeline.engines.device import choose_whisper_device
from wandr_pipeline.engines.whisper_models import packaged_model_problems, resolve_model
from wandr_pipeline.engines.whisper_options import TranscriberOptions, transcriber_options
from wandr_pipeline.lib.lake import REBUILD_COMMAND, SYNC_COMMAND, Lake
from wandr_pipeline.lib.storage import Storage, storage_for
from wandr_pipeline.settings import FrameSettings, OcrSettings, Settings

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"
CHECK_NAMES = ("gpu", "cuda", "ffmpeg", "whisper", "frames", "ocr", "storage", "credentials", "instance", "lake")
OCR_PROBE_TEXT = "WANDR 42"

Outcome = tuple[str, str]  # (status, detail)


@dataclass
class Check:
    name: str
    status: str
    detail: str
    seconds: float = 0.0


def failure_reason(exc: BaseException) -> str:
    first_line = str(exc).splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__


def run_check(name: str, fn: Callable[[], Outcome]) -> Check:
    """Run one check, timed; a check that raises is a FAIL with its reason, never a crash of the caller."""
    start = time.perf_counter()
    try:
        status, detail = fn()
    except Exception as exc:  # noqa: BLE001 - a crashing check is a failed check, with its reason
        status, detail = FAIL, failure_reason(exc)
    return Check(name, status, detail, round(time.perf_counter() - start, 2))


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package (`google` for `google.cloud.vision`)
        return False


def check_gpu(require_gpu: bool = False) -> Outcome:
    from wandr_pipeline.engines.device import ctranslate2_cuda_devices, nvidia_smi

    gpus = nvidia_smi()
    cuda = ctranslate2_cuda_devices()
    if gpus:
        described = "; ".join(
            f"{g.name}, {g.memory_used_mib}/{g.memory_total_mib} MiB used, driver {g.driver}" for g in gpus
        )
        if cuda == 0:
            return FAIL, f"{described}; but CTranslate2 sees no CUDA device (CUDA/cuDNN libraries missing?)"
        return PASS, f"{described}; CTranslate2 sees {cuda} CUDA device(s)"
    if cuda:
        return PASS, f"CTranslate2 sees {cuda} CUDA device(s) (no nvidia-smi to describe them)"
    return (FAIL if require_gpu else WARN), "no NVIDIA GPU visible: every stage runs on the CPU"


def check_cuda_libraries() -> Outcome:
    """The CUDA runtime pieces the engines load: cuBLAS/cuDNN for CTranslate2, the CUDA provider for onnxruntime."""
    from wandr_pipeline.engines.device import ctranslate2_cuda_devices, onnxruntime_providers

    if ctranslate2_cuda_devices() == 0:
        return SKIP, "no CUDA device"
    import ctranslate2

    types = sorted(ctranslate2.get_supported_compute_types("cuda"))
    providers = onnxruntime_providers()
    detail = (
        f"CTranslate2 {ctranslate2.__version__} CUDA compute types: {', '.join(types)}; "
        f"onnxruntime providers: {', '.join(providers)}"
    )
    return (PASS if "float16" in types else WARN), detail


def check_ffmpeg() -> Outcome:
    from wandr_pipeline.media.ffmpeg_binary import ffmpeg_executable

    exe = ffmpeg_executable()
    out = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        return FAIL, f"{exe} -version exited {out.returncode}"
    return PASS, f"{out.stdout.splitlines()[0]} ({exe})"


def check_whisper(options: TranscriberOptions, *, load: bool = False, devices: bool = False) -> Outcome:
    """The Whisper model's files are here (a folder with model.bin, or the local model cache).

    `options`: the transcriber's (`whisper_options`), as a stage would build it.
    `devices`: also name the device and compute type a stage would use on this machine.
    `load`: also load the model there with these options (one by one, no VAD) and transcribe a second of
    audio (implies `devices`).
    """
    from wandr_pipeline.engines.whisper import WhisperTranscriber

    target, name = resolve_model(options.model)  # a folder without model.bin raises here
    if Path(target).is_dir():
        found = f"at {target}"
        problems = packaged_model_problems(target)  # the packaged base: its parts' sizes (digests: on load)
        if problems:
            return FAIL, f"{name}: missing or not the pinned size: {', '.join(problems)}"
    else:
        from faster_whisper.utils import download_model

        found = f"from the local model cache ({download_model(target, local_files_only=True)})"
    if not (load or devices):
        return PASS, f"{name} {found} (not loaded)"
    device, compute_type = choose_whisper_device(options.device, options.compute_type)
    where = f"{name} on {device}/{compute_type}"
    if not load:
        return PASS, f"{where} {found} (not loaded)"
    start = time.perf_counter()
    transcriber = WhisperTranscriber(replace(options, batch_size=1, beam_size=1, vad=False))
    loaded = time.perf_counter() - start
    tone = (0.05 * np.sin(2 * np.pi * 220 * np.arange(16_000) / 16_000)).astype(np.float32)
    transcriber.transcribe(tone)
    return PASS, f"{where}: loaded in {loaded:.1f} s and transcribed a 1 s probe"


def check_frame_decoder(settings: FrameSettings) -> Outcome:
    from wandr_pipeline.engines.device import choose_frame_decoder, torchcodec_cuda_available

    chosen = choose_frame_decoder(settings.frame_decoder)
    if chosen == "cuda":
        return PASS, "NVDEC through torchcodec"
    usable, why = torchcodec_cuda_available()
    return PASS, f"CPU (PyAV){'' if usable else f'; NVDEC unavailable: {why}'}"


def _rapidocr_models() -> tuple[list[str], str]:
    """(the bundled .onnx files, what is missing), found without importing RapidOCR or onnxruntime (seconds)."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        return [], "the rapidocr package is not installed"
    if not _installed("onnxruntime"):
        return [], "the onnxruntime package is not installed"
    models = Path(list(spec.submodule_search_locations)[0]) / "models"
    found = sorted(p.name for p in models.glob("*.onnx")) if models.is_dir() else []
    missing = [kind for kind in ("det", "rec") if not any(kind in n for n in found)]
    if missing:
        return found, f"RapidOCR models missing ({', '.join(missing)}) under {models}"
    return found, ""


def check_ocr(settings: OcrSettings, *, load: bool = False, devices: bool = False) -> Outcome:
    """The OCR engine is installed with its models (RapidOCR's bundled det/rec models, or the Vision client).

    `devices`: also choose CUDA or CPU for RapidOCR as a stage would (OCR_DEVICE=cuda without a CUDA
    provider fails). `load`: also load RapidOCR and read a drawn word (implies `devices`). Cloud Vision is
    never called here: its credentials are the credentials check.
    """
    if settings.ocr_engine == "google-vision":
        if not _installed("google.cloud.vision"):
            return FAIL, "OCR_ENGINE=google-vision but google-cloud-vision is not installed (the gcp extra)"
        return PASS, "Google Cloud Vision client installed (not called)"
    found, missing = _rapidocr_models()
    if missing:
        return FAIL, missing
    models = f"with {', '.join(found)}"
    if not (load or devices):
        return PASS, f"RapidOCR {models} (not loaded)"
    from wandr_pipeline.engines.device import choose_ocr_cuda

    cuda = choose_ocr_cuda(settings.ocr_device)
    where = f"RapidOCR on {'CUDA' if cuda else 'CPU'}"
    if not load:
        return PASS, f"{where} {models} (not loaded)"
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


def check_storage(storage: Storage, *, write: bool = False) -> Outcome:
    """The storage root can be written: a writable local folder (or one that can be created), or a reachable bucket.

    `write`: also write, read back and delete a probe object under the root.
    """
    if storage.is_local:
        root = Path(storage.root)
        if root.is_dir():
            if not os.access(root, os.W_OK | os.X_OK):
                return FAIL, f"storage root {root} is not writable"
            where = f"local folder {root}"
        elif root.exists():
            return FAIL, f"storage root {root} is not a folder"
        else:
            parent = next((p for p in root.parents if p.exists()), None)
            if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
                return FAIL, f"storage root {root} does not exist and cannot be created"
            where = f"local folder {root} (created on first write)"
    else:
        protocol, rest = storage.root.split("://", 1)
        bucket = rest.split("/", 1)[0]
        if not storage.fs.exists(f"{protocol}://{bucket}"):
            return FAIL, f"bucket {bucket} is not reachable or does not exist"
        where = f"bucket {bucket} reachable"
    if not write:
        return PASS, where
    probe = f"doctor/probe-{uuid.uuid4().hex}.txt"
    payload = f"wandr readiness probe {time.time()}".encode()
    storage.write_bytes(probe, payload)
    try:
        if storage.read_bytes(probe) != payload:
            return FAIL, f"{storage.path(probe)} read back different bytes"
    finally:
        storage.fs.rm(storage.path(probe))
    return PASS, f"wrote, read back and deleted an object under {storage.root_uri}"


def check_lake(settings: Settings, storage: Storage) -> Outcome:
    """The analysts' lake (lib/lake.py): every table readable whole, none more than `lake_max_behind_videos`
    behind the warehouse; a failure names the command that fixes it."""
    if not settings.lake_sync:
        return SKIP, "WANDR_LAKE_SYNC is off: lake/ is not kept"
    states = Lake.from_settings(storage, settings.lake).inspect()
    damaged = [state for state in states if state.damage]
    if damaged:
        found = "; ".join(f"lake/{state.table}: {state.damage}" for state in damaged)
        return FAIL, f"{found}; fix: {REBUILD_COMMAND} (or the next sync rebuilds it from the warehouse)"
    worst, limit = max(states, key=lambda state: state.behind), settings.lake_max_behind_videos
    if worst.behind > limit:
        return FAIL, (
            f"lake/{worst.table} is {worst.behind} video(s) behind the warehouse (WANDR_LAKE_MAX_BEHIND_VIDEOS="
            f"{limit}); fix: {SYNC_COMMAND}"
        )
    held = max(state.held for state in states)
    return PASS, f"{len(states)} tables readable, {held} video(s), at most {worst.behind} behind the warehouse"


def check_credentials(settings: Settings) -> Outcome:
    needs = []
    if settings.storage_uri.startswith(("gs://", "gcs://")) and not os.environ.get("STORAGE_EMULATOR_HOST"):
        needs.append("GCS storage")
    if settings.ocr_engine == "google-vision":
        needs.append("Cloud Vision")
    if not needs:
        return SKIP, "no Google service configured (local storage, local OCR)"
    import google.auth

    credentials, project = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    who = getattr(credentials, "service_account_email", None) or type(credentials).__name__
    return PASS, f"application default credentials for {', '.join(needs)}: {who}, project {project or '(none)'}"


def check_instance(instance_factory: Callable[[], Any], *, own: bool = False) -> Outcome:
    """The Dagster instance answers (its run storage counts the runs).

    `own=False`: a long-lived instance the caller keeps (the API's); only its run storage is touched.
    `own=True`: the check opens the instance for itself from DAGSTER_HOME (SKIP when that is unset), also
    builds its run launcher, and disposes of it afterwards.
    """
    home = os.environ.get("DAGSTER_HOME")
    if own and not home:
        return SKIP, "DAGSTER_HOME is not set (the CLI uses a temporary instance)"
    instance = instance_factory()
    try:
        detail = f"{type(instance.run_storage).__name__} ({instance.get_runs_count()} runs)"
        if own:
            detail += f", launcher {type(instance.run_launcher).__name__}"
    finally:
        if own:
            instance.dispose()
    return PASS, f"{home}: {detail}" if home else detail


def run_checks(
    settings: Settings,
    names: Sequence[str] = CHECK_NAMES,
    *,
    require_gpu: bool = False,
    load: bool = False,
    devices: bool = False,
    write: bool = False,
    storage: Storage | None = None,
    instance_factory: Callable[[], Any] | None = None,
    own_instance: bool = False,
) -> list[Check]:
    """Run the named checks (from `CHECK_NAMES`, in the given order) for `settings`, each guarded and timed.

    The modes are those of the single checks; `storage` defaults to `storage_for(settings.storage_uri)`, and
    the instance check needs `instance_factory`.
    """
    unknown = [name for name in names if name not in CHECK_NAMES]
    if unknown:
        raise ValueError(f"unknown check(s) {', '.join(unknown)}: choose from {', '.join(CHECK_NAMES)}")
    if "instance" in names and instance_factory is None:
        raise ValueError("the instance check needs an instance_factory")

    def storage_check() -> Outcome:
        return check_storage(storage or storage_for(settings.storage_uri), write=write)

    checks: dict[str, Callable[[], Outcome]] = {
        "gpu": lambda: check_gpu(require_gpu),
        "cuda": check_cuda_libraries,
        "ffmpeg": check_ffmpeg,
        "whisper": lambda: check_whisper(transcriber_options(settings), load=load, devices=devices),
        "frames": lambda: check_frame_decoder(settings.frames),
        "ocr": lambda: check_ocr(settings.ocr, load=load, devices=devices),
        "storage": storage_check,
        "credentials": lambda: check_credentials(settings),
        "instance": lambda: check_instance(instance_factory, own=own_instance),
        "lake": lambda: check_lake(settings, storage or storage_for(settings.storage_uri)),
    }
    return [run_check(name, checks[name]) for name in names]
