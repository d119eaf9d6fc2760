"""Environment variables -> settings, with the embedded offline defaults. Documented in the README.

A `.env` file in the working directory is read first (as `dagster dev` does), so the original
service's `.env` keeps working; names it used are accepted as aliases.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path


def _env(name: str, default: str, *aliases: str) -> str:
    for key in (name, *aliases):
        value = os.environ.get(key)
        if value not in (None, ""):
            return value
    return default


def _bool(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _default_url_list_dirs(storage_uri: str) -> list[str]:
    """`data/url_lists`, plus `<root>/url_lists` when the storage root is a bucket."""
    dirs = ["data/url_lists"]
    if "://" in storage_uri and not storage_uri.startswith("file://"):
        dirs.append(storage_uri.rstrip("/") + "/url_lists")
    return dirs


def load_dotenv_file(path: str | Path = ".env") -> None:
    """Load `KEY=value` lines from `path` into the environment, never overriding what is set."""
    path = Path(path)
    if path.is_file():
        from dotenv import load_dotenv

        load_dotenv(path, override=False)


@dataclass(frozen=True)
class Settings:
    storage_uri: str
    log_level: str
    whisper_model: str
    whisper_device: str
    whisper_compute_type: str
    whisper_batch_size: int
    whisper_beam_size: int
    whisper_cpu_threads: int
    whisper_num_workers: int
    whisper_vad: bool
    ocr_engine: str
    ocr_min_confidence: float
    frame_every_n: int
    frame_max_long_side: int
    max_video_duration_s: float
    max_video_mb: float
    download_timeout_s: float
    download_attempts: int
    ytdlp_format: str
    ytdlp_cookies_file: str
    allow_local_files: bool
    partitions_per_run: int
    # Cloud Vision (OCR_ENGINE=google); see docs/GCP.md.
    vision_api_endpoint: str = ""
    vision_max_concurrent_requests: int = 4
    vision_images_per_minute: int = 1800
    vision_attempts: int = 5
    vision_timeout_s: float = 60.0
    vision_language_hints: tuple[str, ...] = ()
    # Ingestion and automation (docs/INGESTION.md)
    url_list_dirs: tuple[str, ...] = ()
    url_list_suffixes: tuple[str, ...] = (".txt", ".list", ".urls")
    sensor_interval_s: int = 30
    ingest_max_videos_per_tick: int = 2000
    ingest_tick_budget_s: float = 20.0
    batch_max_wait_s: float = 120.0
    url_list_schedule_source: str = ""
    url_list_schedule_cron: str = "0 * * * *"
    # GPU execution (issue 4): engines' devices and where GPU stages run in production.
    ocr_device: str = "auto"
    whisper_cross_clip: str = "auto"
    frame_decoder: str = "auto"
    gpu_accelerator: str = "nvidia-l4"
    gpu_count: int = 1
    gpu_pod_cpu: str = "6"
    gpu_pod_memory: str = "24Gi"
    # on-screen text (issue 6)
    ocr_skip_similar: bool = True
    ocr_similarity_threshold: float = 0.8
    ocr_max_reused_frames: int = 8
    caption_min_confidence: float = 0.6
    caption_min_span_confidence: float = 0.7
    contact_sheet_frames: int = 36
    whisper_caption_hints: str = "hotwords"
    # bad input and faults (docs/RELIABILITY.md)
    download_backoff_s: float = 2.0
    local_input_roots: tuple[str, ...] = ()
    remote_only: bool = False
    download_allowed_networks: str = ""

    @classmethod
    def from_env(cls) -> "Settings":
        bucket = os.environ.get("GCS_BUCKET")
        default_root = f"gs://{bucket}/wandr" if bucket else "data"
        return cls(
            storage_uri=_env("WANDR_STORAGE_URI", default_root),
            log_level=_env("LOG_LEVEL", "INFO").upper(),
            whisper_model=_env("WHISPER_MODEL", "tiny.en"),
            whisper_device=_env("WHISPER_DEVICE", "auto"),
            whisper_compute_type=_env("WHISPER_COMPUTE_TYPE", "auto"),
            whisper_batch_size=int(_env("WHISPER_BATCH_SIZE", "8")),
            whisper_beam_size=int(_env("WHISPER_BEAM_SIZE", "5")),
            whisper_cpu_threads=int(_env("WHISPER_CPU_THREADS", "0")),
            whisper_num_workers=int(_env("WHISPER_NUM_WORKERS", "1")),
            whisper_vad=_bool(_env("WHISPER_VAD", "true")),
            ocr_engine=_env("OCR_ENGINE", "local").lower(),
            ocr_min_confidence=float(_env("OCR_MIN_CONFIDENCE", "0.5")),
            frame_every_n=int(_env("WANDR_FRAME_EVERY_N", "30", "FRAME_SAMPLE_RATE", "FRAME_INTERVAL")),
            frame_max_long_side=int(_env("WANDR_FRAME_MAX_LONG_SIDE", "960")),
            max_video_duration_s=float(_env("WANDR_MAX_VIDEO_DURATION_S", "600", "MAX_VIDEO_DURATION")),
            max_video_mb=float(_env("WANDR_MAX_VIDEO_MB", "500", "MAX_VIDEO_SIZE_MB")),
            download_timeout_s=float(_env("WANDR_DOWNLOAD_TIMEOUT_S", "30")),
            download_attempts=int(_env("WANDR_DOWNLOAD_ATTEMPTS", "3")),
            ytdlp_format=_env("YTDLP_FORMAT", "bv*[height<=1920]+ba/b[height<=1920]/bv*+ba/b"),
            ytdlp_cookies_file=_env("YTDLP_COOKIES_FILE", ""),
            allow_local_files=_bool(_env("WANDR_ALLOW_LOCAL_FILES", "true")),
            partitions_per_run=int(_env("WANDR_PARTITIONS_PER_RUN", "50")),
            vision_api_endpoint=_env("VISION_API_ENDPOINT", ""),
            vision_max_concurrent_requests=int(_env("VISION_MAX_CONCURRENT_REQUESTS", "4")),
            vision_images_per_minute=int(_env("VISION_IMAGES_PER_MINUTE", "1800")),
            vision_attempts=int(_env("VISION_ATTEMPTS", "5")),
            vision_timeout_s=float(_env("VISION_TIMEOUT_S", "60")),
            vision_language_hints=tuple(h.strip() for h in _env("VISION_LANGUAGE_HINTS", "").split(",") if h.strip()),
            url_list_dirs=_list(_env("WANDR_URL_LIST_DIRS", ",".join(_default_url_list_dirs(
                _env("WANDR_STORAGE_URI", default_root))))),
            url_list_suffixes=_list(_env("WANDR_URL_LIST_SUFFIXES", ".txt,.list,.urls")),
            sensor_interval_s=int(_env("WANDR_SENSOR_INTERVAL_S", "30")),
            ingest_max_videos_per_tick=int(_env("WANDR_INGEST_MAX_VIDEOS_PER_TICK", "2000")),
            ingest_tick_budget_s=float(_env("WANDR_INGEST_TICK_BUDGET_S", "20")),
            batch_max_wait_s=float(_env("WANDR_BATCH_MAX_WAIT_S", "120")),
            url_list_schedule_source=_env("WANDR_URL_LIST_SCHEDULE_SOURCE", ""),
            url_list_schedule_cron=_env("WANDR_URL_LIST_SCHEDULE_CRON", "0 * * * *"),
            ocr_device=_env("OCR_DEVICE", "auto").lower(),
            whisper_cross_clip=_env("WHISPER_CROSS_CLIP", "auto").lower(),
            frame_decoder=_env("WANDR_FRAME_DECODER", "auto").lower(),
            gpu_accelerator=_env("WANDR_GPU_ACCELERATOR", "nvidia-l4"),
            gpu_count=int(_env("WANDR_GPU_COUNT", "1")),
            gpu_pod_cpu=_env("WANDR_GPU_POD_CPU", "6"),
            gpu_pod_memory=_env("WANDR_GPU_POD_MEMORY", "24Gi"),
            ocr_skip_similar=_bool(_env("WANDR_OCR_SKIP_SIMILAR", "true")),
            ocr_similarity_threshold=float(_env("WANDR_OCR_SIMILARITY_THRESHOLD", "0.8")),
            ocr_max_reused_frames=int(_env("WANDR_OCR_MAX_REUSED_FRAMES", "8")),
            caption_min_confidence=float(_env("WANDR_CAPTION_MIN_CONFIDENCE", "0.6")),
            caption_min_span_confidence=float(_env("WANDR_CAPTION_MIN_SPAN_CONFIDENCE", "0.7")),
            contact_sheet_frames=int(_env("WANDR_CONTACT_SHEET_FRAMES", "36")),
            whisper_caption_hints=_env("WHISPER_CAPTION_HINTS", "hotwords").lower(),
            download_backoff_s=float(_env("WANDR_DOWNLOAD_BACKOFF_S", "2")),
            local_input_roots=_list(_env("WANDR_LOCAL_INPUT_ROOTS", "")),
            remote_only=_bool(_env("WANDR_REMOTE_ONLY", "false")),
            download_allowed_networks=_env("WANDR_DOWNLOAD_ALLOWED_NETWORKS", ""),
        )

    @property
    def accepts_local_files(self) -> bool:
        """Local paths in URL lists are accepted (allowed, and downloads are not remote-only)."""
        return self.allow_local_files and not self.remote_only

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
