"""Dagster resources: storage and the IO manager, the downloader, Whisper, OCR, frame sampling, captions.

`build_resources(settings)` builds each from its group of the settings (`Resource.from_settings(group)`):
every resource field that names its setting (`from_setting`) gets that setting's value, so there is no
hand-kept mapping to drift.
"""

from __future__ import annotations

from typing import Any

from dagster import ConfigurableIOManager, ConfigurableResource

from wandr_pipeline.defs.resources.captions import CaptionsResource
from wandr_pipeline.defs.resources.downloader import VideoDownloader
from wandr_pipeline.defs.resources.frames import FrameSamplingResource
from wandr_pipeline.defs.resources.ocr import OcrResource
from wandr_pipeline.defs.resources.storage import StorageResource, WarehouseIOManager
from wandr_pipeline.defs.resources.whisper import WhisperResource
from wandr_pipeline.settings import Settings

# Resource key (the asset parameter's name) -> class.
RESOURCE_CLASSES: dict[str, type[ConfigurableResource] | type[ConfigurableIOManager]] = {
    "storage": StorageResource,
    "warehouse_io_manager": WarehouseIOManager,
    "downloader": VideoDownloader,
    "whisper": WhisperResource,
    "frame_sampler": FrameSamplingResource,
    "ocr": OcrResource,
    "captions": CaptionsResource,
}


def fed_settings(resource_class: type) -> dict[str, str]:
    """Field name -> the setting that feeds it, for one resource class."""
    fed = {}
    for name, field in resource_class.model_fields.items():
        extra = field.json_schema_extra
        if isinstance(extra, dict) and "setting" in extra:
            fed[name] = str(extra["setting"])
    return fed


def build_resources(settings: Settings) -> dict[str, Any]:
    """Every resource, each built from its group of `settings`."""
    return {
        "storage": StorageResource.from_settings(settings.storage),
        "warehouse_io_manager": WarehouseIOManager.from_settings(settings.storage),
        "downloader": VideoDownloader.from_settings(settings.download),
        "whisper": WhisperResource.from_settings(settings.whisper),
        "frame_sampler": FrameSamplingResource.from_settings(settings.frames),
        "ocr": OcrResource.from_settings(settings.ocr),
        "captions": CaptionsResource.from_settings(settings.captions),
    }


__all__ = [
    "CaptionsResource",
    "FrameSamplingResource",
    "OcrResource",
    "RESOURCE_CLASSES",
    "StorageResource",
    "VideoDownloader",
    "WarehouseIOManager",
    "WhisperResource",
    "build_resources",
    "fed_settings",
]
