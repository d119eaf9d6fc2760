"""Engine options as the pipeline's resources make them, for tests that call an engine directly."""

from __future__ import annotations

import dataclasses

from wandr_pipeline.defs.resources import VideoDownloader
from wandr_pipeline.engines.ytdlp import DownloadOptions


def download_options(**overrides) -> DownloadOptions:
    """`DownloadOptions` from the downloader resource's defaults (the settings'), with yt-dlp's own
    retries on (the resource leaves retrying to its own loop), and `overrides`."""
    return dataclasses.replace(VideoDownloader().options(), **{"http_retries": 3, **overrides})
