"""Device choice and CPU fallbacks of the GPU code paths, on a machine without a GPU.

What needs a real GPU (NVDEC decoding, OCR on CUDA, Whisper float16) is exercised by
benchmarks/gpu/run_on_device.sh on a GPU machine; here every `auto` must land on the CPU, every
explicit `cuda` must fail with a reason, and the results must not depend on which path ran.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tests.support.paths import SAMPLES
from wandr_pipeline.engines import device
from wandr_pipeline.engines.device import DeviceUnavailable, choose_frame_decoder, choose_ocr_cuda
from wandr_pipeline.media.frames import sample_frames

CUDA_PROVIDERS = ["CUDAExecutionProvider", "CPUExecutionProvider"]


def _no_gpu_here():
    if device.ctranslate2_cuda_devices() > 0:
        pytest.skip("this machine has a GPU: the no-GPU fallbacks are not what runs here")


def test_ocr_device_choice(monkeypatch):
    assert choose_ocr_cuda("cpu") is False
    with pytest.raises(ValueError, match="OCR_DEVICE"):
        choose_ocr_cuda("tpu")
    # onnxruntime-gpu installed and a GPU visible: auto and cuda use it
    monkeypatch.setattr(device, "onnxruntime_providers", lambda: CUDA_PROVIDERS)
    monkeypatch.setattr(device, "ctranslate2_cuda_devices", lambda: 1)
    assert choose_ocr_cuda("auto") is True and choose_ocr_cuda("cuda") is True
    assert choose_ocr_cuda("cpu") is False
    # the CPU build of onnxruntime: auto falls back, cuda says what to install
    monkeypatch.setattr(device, "onnxruntime_providers", lambda: ["CPUExecutionProvider"])
    assert choose_ocr_cuda("auto") is False
    with pytest.raises(DeviceUnavailable, match="onnxruntime-gpu"):
        choose_ocr_cuda("cuda")
    # onnxruntime-gpu but no GPU visible: still the CPU
    monkeypatch.setattr(device, "onnxruntime_providers", lambda: CUDA_PROVIDERS)
    monkeypatch.setattr(device, "ctranslate2_cuda_devices", lambda: 0)
    assert choose_ocr_cuda("auto") is False


def test_frame_decoder_choice_without_gpu():
    _no_gpu_here()
    usable, why = device.torchcodec_cuda_available()
    assert not usable and why
    assert choose_frame_decoder("auto") == "cpu"
    assert choose_frame_decoder("cpu") == "cpu"
    with pytest.raises(DeviceUnavailable, match="NVDEC decoding is unavailable"):
        choose_frame_decoder("cuda")


def test_frame_decoder_choice_with_nvdec(monkeypatch):
    monkeypatch.setattr(device, "torchcodec_cuda_available", lambda: (True, ""))
    assert choose_frame_decoder("auto") == "cuda"
    assert choose_frame_decoder("cpu") == "cpu"


def test_whisper_device_choice_without_gpu():
    _no_gpu_here()
    from wandr_pipeline.engines.device import choose_whisper_device

    assert choose_whisper_device("auto", "auto") == ("cpu", "int8")
    assert choose_whisper_device("cuda", "auto") == ("cuda", "float16")
    assert choose_whisper_device("cpu", "float32") == ("cpu", "float32")


def test_nvdec_request_falls_back_to_identical_cpu_frames(caplog):
    """Asking for NVDEC where it cannot open the video gives exactly the CPU frames, and says so."""
    clip = SAMPLES / "kyoto_temples.mp4"
    with caplog.at_level(logging.WARNING, logger="wandr_pipeline.media.frames"):
        gpu_asked = list(sample_frames(clip, every_n_frames=45, max_long_side=480, decoder="cuda"))
    cpu = list(sample_frames(clip, every_n_frames=45, max_long_side=480, decoder="cpu"))
    if gpu_asked and gpu_asked[0].decoder == "cuda":
        pytest.skip("NVDEC works here: nothing to fall back from")
    assert "NVDEC cannot decode" in caplog.text
    assert len(cpu) >= 5
    assert [(f.frame_index, f.timestamp_s) for f in gpu_asked] == [(f.frame_index, f.timestamp_s) for f in cpu]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(gpu_asked, cpu))
    assert {f.decoder for f in gpu_asked} == {"cpu"}


def test_unknown_decoder_is_refused():
    with pytest.raises(ValueError, match="decoder must be"):
        list(sample_frames(SAMPLES / "kyoto_temples.mp4", decoder="vulkan"))


@pytest.mark.slow
def test_ocr_engine_built_for_cuda_still_reads_where_only_cpu_exists(monkeypatch, manifest):
    """OCR_DEVICE=auto on a box whose onnxruntime claims CUDA: our CUDA options are valid RapidOCR
    config and the engine still reads the caption (RapidOCR drops to the CPU provider itself)."""
    from wandr_pipeline.defs.resources.ocr import OcrResource

    monkeypatch.setattr(device, "onnxruntime_providers", lambda: CUDA_PROVIDERS)
    monkeypatch.setattr(device, "ctranslate2_cuda_devices", lambda: 1)
    clip = next(item for item in manifest if item["file"].startswith("kyoto"))
    caption = clip["captions"][0]
    frame = next(
        f
        for f in sample_frames(SAMPLES / clip["file"], every_n_frames=15, max_long_side=960)
        if caption["start_s"] + 0.3 < f.timestamp_s < caption["end_s"] - 0.3
    )
    engine = OcrResource(device="auto", min_confidence=0.5).get_engine()
    assert engine.use_cuda is True
    [boxes] = engine.read([frame.image])
    text = " ".join(box.text for box in boxes).lower()
    first_word = caption["text"].split()[0].lower().strip(".,!?")
    assert first_word in text, (caption["text"], text)
    cpu_engine = OcrResource(device="cpu", min_confidence=0.5).get_engine()
    assert cpu_engine.use_cuda is False


def test_gpu_batch_conversion_matches_cpu_resize():
    """The GPU path's tensor -> BGR conversion, run on CPU tensors where torch is installed."""
    torch = pytest.importorskip("torch")
    from wandr_pipeline.media.frames import gpu_batch_to_bgr, resize_long_side

    frame = next(sample_frames(SAMPLES / "lisbon_pasteis.mp4", every_n_frames=1))
    rgb = torch.from_numpy(frame.image[:, :, ::-1].copy()).permute(2, 0, 1).unsqueeze(0)
    [converted] = gpu_batch_to_bgr(rgb, 480)
    expected = resize_long_side(frame.image, 480)
    assert converted.shape == expected.shape
    assert np.abs(converted.astype(int) - expected.astype(int)).mean() < 2.0


def test_settings_reach_the_resources(monkeypatch):
    from wandr_pipeline.defs.resources import build_resources
    from wandr_pipeline.settings import Settings

    monkeypatch.setenv("OCR_DEVICE", "cpu")
    monkeypatch.setenv("WANDR_FRAME_DECODER", "cuda")
    resources = build_resources(Settings.from_env())
    assert resources["ocr"].device == "cpu"
    assert resources["frame_sampler"].decoder == "cuda"
