"""Dagster resources: storage + IO manager, downloader, Whisper, OCR, frame sampling settings."""

from wandr_pipeline.defs.resources.captions import CaptionSettings
from wandr_pipeline.defs.resources.downloader import VideoDownloader
from wandr_pipeline.defs.resources.frames import FrameSampler
from wandr_pipeline.defs.resources.ocr import OcrReader
from wandr_pipeline.defs.resources.storage import StorageResource, WarehouseIOManager
from wandr_pipeline.defs.resources.whisper import WhisperResource

__all__ = ["CaptionSettings", "FrameSampler", "OcrReader", "StorageResource", "VideoDownloader", "WarehouseIOManager", "WhisperResource"]
