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
    # on-screen text (issue 6)
    ocr_skip_similar: bool = True
    ocr_similarity_threshold: float = 0.8
    ocr_max_reused_frames: int = 8
    caption_min_confidence: float = 0.6
    caption_min_span_confidence: float = 0.7
    contact_sheet_frames: int = 36
    whisper_caption_hints: str = "hotwords"

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
            ocr_skip_similar=_bool(_env("WANDR_OCR_SKIP_SIMILAR", "true")),
            ocr_similarity_threshold=float(_env("WANDR_OCR_SIMILARITY_THRESHOLD", "0.8")),
            ocr_max_reused_frames=int(_env("WANDR_OCR_MAX_REUSED_FRAMES", "8")),
            caption_min_confidence=float(_env("WANDR_CAPTION_MIN_CONFIDENCE", "0.6")),
            caption_min_span_confidence=float(_env("WANDR_CAPTION_MIN_SPAN_CONFIDENCE", "0.7")),
            contact_sheet_frames=int(_env("WANDR_CONTACT_SHEET_FRAMES", "36")),
            whisper_caption_hints=_env("WHISPER_CAPTION_HINTS", "hotwords").lower(),
        )

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
