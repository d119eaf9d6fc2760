"""The OCR engine as a resource: `local` (RapidOCR, offline) by default."""

from __future__ import annotations

import threading

from dagster import ConfigurableResource
from pydantic import Field

from wandr_pipeline.engines.ocr import OcrEngine

_LOADED: dict[tuple, OcrEngine] = {}
_LOCK = threading.Lock()


class OcrReader(ConfigurableResource):
    """Which engine reads on-screen text, and its thresholds."""

    engine: str = Field(default="local", description="local (RapidOCR, bundled models) | google (Cloud Vision)")
    min_confidence: float = Field(default=0.5, description="Drop recognised lines below this confidence.")
    det_limit_side_len: int = Field(default=960, description="Text detection works on images at most this long.")
    threads: int = Field(default=0, description="onnxruntime threads for the local engine (0 = all cores).")
    device: str = Field(default="auto", description="auto (CUDA when onnxruntime-gpu sees a GPU) | cpu | cuda")

    def get_engine(self) -> OcrEngine:
        key = (self.engine, self.min_confidence, self.det_limit_side_len, self.threads, self.device)
        with _LOCK:
            if key not in _LOADED:
                _LOADED[key] = self._build()
            return _LOADED[key]

    def _build(self) -> OcrEngine:
        if self.engine == "local":
            from wandr_pipeline.engines.device import choose_ocr_cuda
            from wandr_pipeline.engines.ocr import RapidOcrEngine

            return RapidOcrEngine(min_confidence=self.min_confidence, det_limit_side_len=self.det_limit_side_len,
                                  threads=self.threads, use_cuda=choose_ocr_cuda(self.device))
        raise ValueError(f"unknown OCR engine {self.engine!r} (expected 'local'; 'google' comes with the gcp extra)")
