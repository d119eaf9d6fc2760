"""The OCR engine as a resource: `rapidocr` (offline) by default, `google-vision` (Cloud Vision); a run's
config may still say `local` or `google`, the first names (settings.ocr_engine_name)."""

from __future__ import annotations

import threading

from dagster import ConfigurableResource
from pydantic import Field

from wandr_pipeline.engines.ocr import OcrEngine
from wandr_pipeline.settings import OcrSettings, from_setting, ocr_engine_name, setting_values

_LOADED: dict[tuple, OcrEngine] = {}
_LOCK = threading.Lock()


class OcrResource(ConfigurableResource):
    """Which engine reads on-screen text, and its thresholds."""

    engine: str = from_setting("ocr_engine")
    min_confidence: float = from_setting("ocr_min_confidence")
    det_limit_side_len: int = Field(default=960, description="Text detection works on images at most this long.")
    threads: int = Field(default=0, description="onnxruntime threads for the local engine (0 = all cores).")
    device: str = from_setting("ocr_device")
    # The `google-vision` engine (Cloud Vision TEXT_DETECTION); see docs/GCP.md.
    vision_api_endpoint: str = from_setting("vision_api_endpoint")
    vision_transport: str = Field(default="rest", description="rest | grpc")
    vision_max_concurrent_requests: int = from_setting("vision_max_concurrent_requests")
    vision_images_per_minute: int = from_setting("vision_images_per_minute")
    vision_requests_per_minute: int = Field(
        default=1800, ge=1, description="Pace requests to this share of the project's request quota."
    )
    vision_attempts: int = from_setting("vision_attempts")
    vision_base_delay_s: float = Field(default=1.0, ge=0, description="First backoff; doubles up to the max.")
    vision_max_delay_s: float = Field(default=32.0, ge=0, description="Longest backoff between tries.")
    vision_timeout_s: float = from_setting("vision_timeout_s")
    vision_max_long_side: int = Field(
        default=1024,
        ge=0,
        description="Frames are downsized to fit this x "
        "vision_max_short_side (Vision's OCR recommendation: 1024 x 768).",
    )
    vision_max_short_side: int = Field(default=768, ge=0)
    vision_language_hints: list[str] = from_setting("vision_language_hints")

    @classmethod
    def from_settings(cls, ocr: OcrSettings) -> OcrResource:
        return cls(**setting_values(cls, ocr))

    def get_engine(self) -> OcrEngine:
        # Key on the device `auto` resolves to, not the word `auto`: an engine built for the CPU must
        # not be handed out where CUDA is usable (or the other way round).
        key = (
            self.engine,
            self.min_confidence,
            self.det_limit_side_len,
            self.threads,
            self._resolved_device(),
            *(repr(getattr(self, name)) for name in sorted(type(self).model_fields) if name.startswith("vision_")),
        )
        with _LOCK:
            if key not in _LOADED:
                _LOADED[key] = self._build()
            return _LOADED[key]

    def _resolved_device(self) -> str:
        if ocr_engine_name(self.engine) != "rapidocr":
            return self.device
        from wandr_pipeline.engines.device import choose_ocr_cuda

        return "cuda" if choose_ocr_cuda(self.device) else "cpu"

    def _build(self) -> OcrEngine:
        engine = ocr_engine_name(self.engine)
        if engine == "rapidocr":
            from wandr_pipeline.engines.rapidocr import RapidOcrEngine

            return RapidOcrEngine(
                min_confidence=self.min_confidence,
                det_limit_side_len=self.det_limit_side_len,
                threads=self.threads,
                use_cuda=self._resolved_device() == "cuda",
            )
        if engine == "google-vision":
            # Imported here only: the offline default never loads Google libraries.
            from wandr_pipeline.engines.vision import VisionOcrEngine, VisionOptions

            return VisionOcrEngine(
                VisionOptions(
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
                )
            )
        raise ValueError(f"unknown OCR engine {self.engine!r} (expected 'rapidocr' or 'google-vision')")
