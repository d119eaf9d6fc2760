"""How frames are sampled, as a resource, so `WANDR_FRAME_EVERY_N` and the UI's launchpad both set it."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from wandr_pipeline.settings import FrameSettings, from_setting, setting_values


class FrameSamplingResource(ConfigurableResource):
    """Which frames `sampled_frames` keeps, their size, and the decoder that reads them."""

    every_n_frames: int = from_setting("frame_every_n")
    max_long_side: int = from_setting("frame_max_long_side")
    jpeg_quality: int = Field(default=90, ge=10, le=100)
    max_frames_per_video: int = Field(default=2000, ge=1, description="Safety cap per video.")
    decoder: str = from_setting("frame_decoder")

    @classmethod
    def from_settings(cls, frames: FrameSettings) -> FrameSamplingResource:
        return cls(**setting_values(cls, frames))
