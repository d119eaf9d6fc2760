"""On-screen text settings as a resource: frame skipping before OCR, caption merging, caption hints."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from wandr_pipeline.media.captions import CaptionRules
from wandr_pipeline.media.frame_gate import FrameGateConfig
from wandr_pipeline.settings import CaptionSettings, from_setting, setting_values

HINT_MODES = ("hotwords", "prompt", "off")


class CaptionsResource(ConfigurableResource):
    """How frames reach the OCR engine and how its reads become caption spans (see docs/CAPTIONS.md)."""

    skip_similar_frames: bool = from_setting("ocr_skip_similar")
    similarity_threshold: float = from_setting("ocr_similarity_threshold")
    max_reused_frames: int = from_setting("ocr_max_reused_frames")
    min_line_confidence: float = from_setting("caption_min_confidence")
    min_span_confidence: float = from_setting("caption_min_span_confidence")
    max_gap_frames: int = Field(
        default=1, ge=0, description="Sampled frames a caption may be missing from (an OCR miss) and still continue."
    )
    contact_sheet_frames: int = from_setting("contact_sheet_frames")
    transcript_hints: str = from_setting("whisper_caption_hints")

    @classmethod
    def from_settings(cls, captions: CaptionSettings) -> CaptionsResource:
        return cls(**setting_values(cls, captions))

    def frame_gate_config(self) -> FrameGateConfig | None:
        if not self.skip_similar_frames:
            return None
        return FrameGateConfig(threshold=self.similarity_threshold, max_reuse=self.max_reused_frames)

    def rules(self) -> CaptionRules:
        return CaptionRules(
            min_confidence=self.min_line_confidence,
            min_span_confidence=self.min_span_confidence,
            max_gap_frames=self.max_gap_frames,
        )

    def hint_mode(self) -> str:
        mode = (self.transcript_hints or "off").strip().lower()
        if mode not in HINT_MODES:
            raise ValueError(f"transcript_hints must be one of {', '.join(HINT_MODES)}, not {mode!r}")
        return mode
