"""Frame sampling settings as a resource, so `WANDR_FRAME_EVERY_N` and the UI's launchpad both set them."""

from dagster import ConfigurableResource
from pydantic import Field


class FrameSampler(ConfigurableResource):
    every_n_frames: int = Field(default=30, ge=1, description="Keep frame 0, N, 2N, ...")
    max_long_side: int = Field(default=960, ge=0, description="Downscale stored frames to this long side (0 = keep).")
    jpeg_quality: int = Field(default=90, ge=10, le=100)
    max_frames_per_video: int = Field(default=2000, ge=1, description="Safety cap per video.")
    decoder: str = Field(default="auto", description="auto (NVDEC via torchcodec when usable) | cpu (PyAV) | cuda")
