"""Which accelerator each engine can use, detected without loading a model or touching the GPU much.

Every function answers from what is installed and visible; none raises when there is no GPU.
`auto` picks the GPU when the engine can use it, `cpu` never does, `cuda` insists (and fails
loudly when it cannot, so a misconfigured GPU worker does not silently run at CPU speed).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass

DEVICE_CHOICES = ("auto", "cpu", "cuda")


class DeviceUnavailable(RuntimeError):
    """`cuda` was asked for, and this engine cannot use a GPU here."""


def _check_choice(name: str, value: str) -> str:
    value = (value or "auto").strip().lower()
    if value not in DEVICE_CHOICES:
        raise ValueError(f"{name} must be one of {', '.join(DEVICE_CHOICES)}, got {value!r}")
    return value


def ctranslate2_cuda_devices() -> int:
    """CUDA devices CTranslate2 (faster-whisper) can use; 0 without a GPU or a CUDA build."""
    try:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count())
    except Exception:  # noqa: BLE001 - no driver, no CUDA runtime: no GPU for us
        return 0


def onnxruntime_providers() -> list[str]:
    try:
        import onnxruntime

        return list(onnxruntime.get_available_providers())
    except Exception:  # noqa: BLE001
        return []


def onnxruntime_cuda_available() -> bool:
    """onnxruntime-gpu installed (it lists CUDAExecutionProvider) and a CUDA device visible."""
    return "CUDAExecutionProvider" in onnxruntime_providers() and ctranslate2_cuda_devices() > 0


def torchcodec_cuda_available() -> tuple[bool, str]:
    """(usable, why not): NVDEC decoding needs torch with CUDA and torchcodec, both optional."""
    if importlib.util.find_spec("torch") is None:
        return False, "torch is not installed"
    if importlib.util.find_spec("torchcodec") is None:
        return False, "torchcodec is not installed"
    try:
        import torch

        if not torch.cuda.is_available():
            return False, "torch sees no CUDA device"
        from torchcodec.decoders import VideoDecoder  # noqa: F401 - loads torchcodec's FFmpeg libraries
    except Exception as exc:  # noqa: BLE001 - a broken install is "not usable", with the reason
        return False, f"torchcodec cannot load: {str(exc).splitlines()[0][:200]}"
    return True, ""


def choose_whisper_device(device: str = "auto", compute_type: str = "auto") -> tuple[str, str]:
    """(device, compute type) for faster-whisper: `cuda`+`float16` when a CUDA device is visible, else
    `cpu`+`int8`; explicit values win."""
    if device == "auto":
        device = "cuda" if ctranslate2_cuda_devices() > 0 else "cpu"
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


def choose_ocr_cuda(device: str = "auto") -> bool:
    """Whether the local OCR engine (RapidOCR on onnxruntime) runs on CUDA."""
    device = _check_choice("OCR_DEVICE", device)
    if device == "cpu":
        return False
    available = onnxruntime_cuda_available()
    if device == "cuda" and not available:
        raise DeviceUnavailable(
            "OCR_DEVICE=cuda but onnxruntime has no usable CUDAExecutionProvider "
            f"(providers: {onnxruntime_providers()}); install onnxruntime-gpu in place of onnxruntime"
        )
    return available


def choose_frame_decoder(decoder: str = "auto") -> str:
    """`cuda` (NVDEC through torchcodec) or `cpu` (PyAV) for frame sampling."""
    decoder = _check_choice("WANDR_FRAME_DECODER", decoder)
    if decoder == "cpu":
        return "cpu"
    usable, why = torchcodec_cuda_available()
    if decoder == "cuda" and not usable:
        raise DeviceUnavailable(f"WANDR_FRAME_DECODER=cuda but NVDEC decoding is unavailable: {why}")
    return "cuda" if usable else "cpu"


@dataclass(frozen=True)
class GpuInfo:
    name: str
    memory_total_mib: int
    memory_used_mib: int
    driver: str


def nvidia_smi() -> list[GpuInfo]:
    """GPUs as nvidia-smi reports them; empty when there is no nvidia-smi or no GPU."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,memory.used,driver_version", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.stdout.strip().splitlines() if out.returncode == 0 else []:
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 4:
            try:
                gpus.append(GpuInfo(parts[0], int(float(parts[1])), int(float(parts[2])), parts[3]))
            except ValueError:
                continue
    return gpus
