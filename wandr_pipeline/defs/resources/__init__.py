"""Dagster resources: storage and the IO manager, the downloader, Whisper, OCR, frame sampling, captions.

`build_resources(settings)` configures each from the settings: every resource field that names its
setting (`from_setting`) gets that setting's value, so there is no hand-kept mapping to drift.
"""

from __future__ import annotations

from typing import Any

from dagster import ConfigurableIOManager, ConfigurableResource, EnvVar

from wandr_pipeline.defs.resources.captions import CaptionsResource
from wandr_pipeline.defs.resources.downloader import VideoDownloader
from wandr_pipeline.defs.resources.frames import FrameSamplingResource
from wandr_pipeline.defs.resources.ocr import OcrResource
from wandr_pipeline.defs.resources.storage import StorageResource, WarehouseIOManager
from wandr_pipeline.defs.resources.whisper import WhisperResource
from wandr_pipeline.settings import Settings, environment_variables

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
# Settings that hold a secret's location: the resource gets an EnvVar, so the UI shows the variable's
# name, not the value.
SECRET_SETTINGS = {"ytdlp_cookies_file"}


def fed_settings(resource_class: type) -> dict[str, str]:
    """Field name -> the setting that feeds it, for one resource class."""
    fed = {}
    for name, field in resource_class.model_fields.items():
        extra = field.json_schema_extra
        if isinstance(extra, dict) and "setting" in extra:
            fed[name] = str(extra["setting"])
    return fed


def build_resources(settings: Settings) -> dict[str, Any]:
    """Every resource, configured from `settings`."""
    env_names = environment_variables()
    resources: dict[str, Any] = {}
    for key, resource_class in RESOURCE_CLASSES.items():
        values: dict[str, Any] = {}
        for field_name, setting_name in fed_settings(resource_class).items():
            value = getattr(settings, setting_name)
            if setting_name in SECRET_SETTINGS and value:
                value = EnvVar(env_names[setting_name][0])
            values[field_name] = list(value) if isinstance(value, tuple) else value
        resources[key] = resource_class(**values)
    return resources


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
