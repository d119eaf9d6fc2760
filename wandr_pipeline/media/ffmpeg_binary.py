"""Locate an ffmpeg executable: `FFMPEG_BINARY`, then the system's, then the one imageio-ffmpeg ships."""

from __future__ import annotations

import functools
import os
import shutil


@functools.lru_cache(maxsize=1)
def ffmpeg_executable() -> str:
    """Path of the ffmpeg binary to run."""
    configured = os.environ.get("FFMPEG_BINARY")
    if configured:
        return configured
    system = shutil.which("ffmpeg")
    if system:
        return system
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()
