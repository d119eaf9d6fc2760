"""On-screen text settings as a resource: frame skipping before OCR, caption merging, caption hints."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from wandr_pipeline.media.captions import CaptionRules
from wandr_pipeline.media.frame_gate import FrameGateConfig

HINT_MODES = ("hotwords", "prompt", "off")


class CaptionSettings(ConfigurableResource):
    """How frames reach the OCR engine and how its reads become caption spans (see docs/CAPTIONS.md)."""

    skip_similar_frames: bool = Field(
        default=True, description="Reuse the last OCR result for frames whose on-screen text looks the same.")
    similarity_threshold: float = Field(
        default=0.8, ge=0.0, le=1.0, description="Text-mask similarity at or above which a frame reuses the last read.")
    max_reused_frames: int = Field(
        default=8, ge=0, description="Read a frame after this many reused ones in a row (0 = no limit).")
    min_line_confidence: float = Field(default=0.6, ge=0.0, le=1.0, description="Drop single OCR reads below this.")
    min_span_confidence: float = Field(
        default=0.7, ge=0.0, le=1.0, description="Drop caption spans whose reads average below this.")
    max_gap_frames: int = Field(
        default=1, ge=0, description="Sampled frames a caption may be missing from (an OCR miss) and still continue.")
    contact_sheet_frames: int = Field(
        default=36, ge=0, description="Frames on each video's contact sheet (0 = no contact sheet).")
    transcript_hints: str = Field(
        default="hotwords",
        description="Give the video's caption text to Whisper: hotwords | prompt (initial_prompt) | off.")

    def similarity_config(self) -> FrameGateConfig | None:
        if not self.skip_similar_frames:
            return None
        return FrameGateConfig(threshold=self.similarity_threshold, max_reuse=self.max_reused_frames)

    def rules(self) -> CaptionRules:
        return CaptionRules(min_confidence=self.min_line_confidence, min_span_confidence=self.min_span_confidence,
                            max_gap_frames=self.max_gap_frames)

    def hint_mode(self) -> str:
        mode = (self.transcript_hints or "off").strip().lower()
        if mode not in HINT_MODES:
            raise ValueError(f"transcript_hints must be one of {', '.join(HINT_MODES)}, not {mode!r}")
        return mode
