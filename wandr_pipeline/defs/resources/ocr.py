"""The OCR engine as a resource: `local` (RapidOCR, offline) by default, `google` (Cloud Vision)."""

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
    device: str = Field(default="auto", description="local engine: auto (CUDA when onnxruntime-gpu sees a GPU) | cpu | cuda")
    # The `google` engine (Cloud Vision TEXT_DETECTION); see docs/GCP.md.
    vision_api_endpoint: str = Field(default="", description="Vision endpoint; empty = Google's. "
                                     "An http:// endpoint (a local fake) is called without credentials.")
    vision_transport: str = Field(default="rest", description="rest | grpc")
    vision_max_concurrent_requests: int = Field(default=4, ge=1, description="Vision requests in flight at once.")
    vision_images_per_minute: int = Field(default=1800, ge=1, description="Pace images to this share of the "
                                          "project's TEXT_DETECTION quota (shared by all workers).")
    vision_requests_per_minute: int = Field(default=1800, ge=1, description="Pace requests to this share of "
                                            "the project's request quota.")
    vision_attempts: int = Field(default=5, ge=1, description="Tries per request on 429/5xx/deadline errors.")
    vision_base_delay_s: float = Field(default=1.0, ge=0, description="First backoff; doubles up to the max.")
    vision_max_delay_s: float = Field(default=32.0, ge=0, description="Longest backoff between tries.")
    vision_timeout_s: float = Field(default=60.0, gt=0, description="Deadline of one Vision request.")
    vision_max_long_side: int = Field(default=1024, ge=0, description="Frames are downsized to fit this x "
                                      "vision_max_short_side (Vision's OCR recommendation: 1024 x 768).")
    vision_max_short_side: int = Field(default=768, ge=0)
    vision_language_hints: list[str] = Field(default_factory=list, description="BCP-47 hints, e.g. ['en', 'ja'].")

    def get_engine(self) -> OcrEngine:
        # Key on the device `auto` resolves to, not the word `auto`: an engine built for the CPU must
        # not be handed out where CUDA is usable (or the other way round).
        key = (self.engine, self.min_confidence, self.det_limit_side_len, self.threads, self._resolved_device(),
               *(repr(getattr(self, name)) for name in sorted(type(self).model_fields) if name.startswith("vision_")))
        with _LOCK:
            if key not in _LOADED:
                _LOADED[key] = self._build()
            return _LOADED[key]

    def _resolved_device(self) -> str:
        if self.engine != "local":
            return self.device
        from wandr_pipeline.engines.device import choose_ocr_cuda

        return "cuda" if choose_ocr_cuda(self.device) else "cpu"

    def _build(self) -> OcrEngine:
        if self.engine == "local":
            from wandr_pipeline.engines.rapidocr import RapidOcrEngine

            return RapidOcrEngine(min_confidence=self.min_confidence, det_limit_side_len=self.det_limit_side_len,
                                  threads=self.threads, use_cuda=self._resolved_device() == "cuda")
        if self.engine == "google":
            # Imported here only: the offline default never loads Google libraries.
            from wandr_pipeline.engines.vision import VisionOcrEngine, VisionOptions

            return VisionOcrEngine(VisionOptions(
                api_endpoint=self.vision_api_endpoint,
                transport=self.vision_transport,
                max_concurrent_requests=self.vision_max_concurrent_requests,
                images_per_minute=self.vision_images_per_minute,
                requests_per_minute=self.vision_requests_per_minute,
                attempts=self.vision_attempts,
                base_delay_s=self.vision_base_delay_s,
                max_delay_s=self.vision_max_delay_s,
                timeout_s=self.vision_timeout_s,
                max_long_side=self.vision_max_long_side,
                max_short_side=self.vision_max_short_side,
                min_confidence=self.min_confidence,
                language_hints=tuple(self.vision_language_hints),
            ))
        raise ValueError(f"unknown OCR engine {self.engine!r} (expected 'local' or 'google')")
