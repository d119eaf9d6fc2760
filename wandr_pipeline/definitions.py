"""The Dagster code location: assets, resources (from environment variables), jobs."""

from __future__ import annotations

from dagster import Definitions, EnvVar

from wandr_pipeline.defs.videos import STAGE_ASSETS
from wandr_pipeline.defs.jobs import AUTOMATION_JOBS, process_videos_job
from wandr_pipeline.defs.resources import (
    CaptionSettings,
    FrameSampler,
    OcrReader,
    StorageResource,
    VideoDownloader,
    WarehouseIOManager,
    WhisperResource,
)
from wandr_pipeline.defs.ingestion.url_list_schedule import build_schedules
from wandr_pipeline.defs.ingestion.url_list_sensor import URL_LISTS_ASSET, build_sensors
from wandr_pipeline.settings import Settings, load_dotenv_file


def build_resources(settings: Settings) -> dict[str, object]:
    """Resources configured from `settings` (environment variables with offline defaults)."""
    return {
        "storage": StorageResource(storage_uri=settings.storage_uri),
        "warehouse_io_manager": WarehouseIOManager(storage_uri=settings.storage_uri),
        "downloader": VideoDownloader(
            format=settings.ytdlp_format,
            max_duration_s=settings.max_video_duration_s,
            max_filesize_mb=settings.max_video_mb,
            socket_timeout_s=settings.download_timeout_s,
            attempts=settings.download_attempts,
            backoff_s=settings.download_backoff_s,
            # As an EnvVar the UI shows the variable's name, not the file's path.
            cookies_file=EnvVar("YTDLP_COOKIES_FILE") if settings.ytdlp_cookies_file else "",
            allow_local_files=settings.allow_local_files,
            local_input_roots=list(settings.local_input_roots),
            remote_only=settings.remote_only,
            allowed_networks=settings.download_allowed_networks,
        ),
        "whisper": WhisperResource(
            model=settings.whisper_model,
            device=settings.whisper_device,
            compute_type=settings.whisper_compute_type,
            batch_size=settings.whisper_batch_size,
            beam_size=settings.whisper_beam_size,
            cpu_threads=settings.whisper_cpu_threads,
            num_workers=settings.whisper_num_workers,
            vad=settings.whisper_vad,
            cross_clip=settings.whisper_cross_clip,
        ),
        "frame_sampler": FrameSampler(
            every_n_frames=settings.frame_every_n,
            max_long_side=settings.frame_max_long_side,
            decoder=settings.frame_decoder,
        ),
        "ocr": OcrReader(
            engine=settings.ocr_engine,
            min_confidence=settings.ocr_min_confidence,
            device=settings.ocr_device,
            vision_api_endpoint=settings.vision_api_endpoint,
            vision_max_concurrent_requests=settings.vision_max_concurrent_requests,
            vision_images_per_minute=settings.vision_images_per_minute,
            vision_attempts=settings.vision_attempts,
            vision_timeout_s=settings.vision_timeout_s,
            vision_language_hints=list(settings.vision_language_hints),
        ),
        "captions": CaptionSettings(
            skip_similar_frames=settings.ocr_skip_similar,
            similarity_threshold=settings.ocr_similarity_threshold,
            max_reused_frames=settings.ocr_max_reused_frames,
            min_line_confidence=settings.caption_min_confidence,
            min_span_confidence=settings.caption_min_span_confidence,
            contact_sheet_frames=settings.contact_sheet_frames,
            transcript_hints=settings.whisper_caption_hints,
        ),
    }


def build_definitions(settings: Settings | None = None) -> Definitions:
    settings = settings or Settings.from_env()
    return Definitions(
        assets=[*STAGE_ASSETS, URL_LISTS_ASSET],
        resources=build_resources(settings),
        jobs=[process_videos_job, *AUTOMATION_JOBS],
        sensors=build_sensors(settings),
        schedules=build_schedules(settings),
    )


load_dotenv_file()
defs = build_definitions()
