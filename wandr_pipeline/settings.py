"""Every environment variable of the pipeline, declared once: name, old aliases, type, bounds, default and doc.

`Settings.from_env()` reads them (pydantic-settings: the process environment, then a `.env` file in
the working directory, as `dagster dev` and the original service do). The original service's names
are accepted as aliases. Nothing reads the environment at import time: the code location, the CLI
and the API each build one `Settings` when they start and hand it down. A value outside its choices
(`Literal`) or bounds fails right there, in a message that names the environment variable, not when
the engine that uses it is first built.

Each setting is declared once, in the group it belongs to (`WhisperSettings`, `OcrSettings`, ...).
`Settings` inherits every group, so `settings.whisper_model` works everywhere, and hands out each group
as a frozen view (`settings.whisper`): a factory takes the group it needs, and, `Settings` being each
group too, the whole settings where a caller has only those.

The Dagster resources do not repeat these: a resource field says which setting feeds it
(`from_setting` in `defs/resources/`), and takes its default, bounds and description from here, so the
UI's launchpad documents the same knob the README does. The README's configuration tables are checked
against this class by a test.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from annotated_types import Ge, Gt, Le, Lt
from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _log_level(value: Any) -> Any:
    value = _strip(value).upper() if isinstance(value, str) else value
    return "WARNING" if value == "WARN" else value


def _switch(value: Any) -> Any:
    """auto | true | false, from the ways people write a switch (1/0, yes/no, on/off, a bool)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    value = _lower(value)
    return {"1": "true", "yes": "true", "on": "true", "0": "false", "no": "false", "off": "false"}.get(value, value)


# OCR_ENGINE names the engine as the ocr_text table's `engine` column does. The first names still work,
# with a message that says the new one (once per process and name).
OCR_ENGINE_OLD_NAMES = {"local": "rapidocr", "google": "google-vision"}
_ocr_names_explained: set[str] = set()


def ocr_engine_name(value: Any) -> Any:
    """The engine's name (`rapidocr`, `google-vision`) from what a setting or a run's config says."""
    value = _lower(value)
    if value in OCR_ENGINE_OLD_NAMES:
        new = OCR_ENGINE_OLD_NAMES[value]
        if value not in _ocr_names_explained:
            _ocr_names_explained.add(value)
            logging.getLogger(__name__).warning(
                f"OCR_ENGINE={value} is the old name of {new} (the ocr_text table's engine column says {new}); "
                f"it still works: set OCR_ENGINE={new}"
            )
        return new
    return value


# A comma-separated list in the environment ("a, b,c"), a tuple in code.
CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_commas)]
LowerStr = Annotated[str, BeforeValidator(_lower)]
StrippedStr = Annotated[str, BeforeValidator(_strip)]
# The choices of enum-like settings; written in any case and with spaces around, as people do.
Device = Annotated[Literal["auto", "cpu", "cuda"], BeforeValidator(_lower)]
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_log_level)]
ChineseScript = Annotated[Literal["simplified", "traditional", "as-is"], BeforeValidator(_lower)]
ComputeType = Annotated[
    Literal[
        "auto",
        "default",
        "int8",
        "int8_float32",
        "int8_float16",
        "int8_bfloat16",
        "int16",
        "float16",
        "bfloat16",
        "float32",
    ],
    BeforeValidator(_lower),
]  # CTranslate2's compute types
CrossClip = Annotated[Literal["auto", "true", "false"], BeforeValidator(_switch)]
ChunkCut = Annotated[Literal["limit", "pause"], BeforeValidator(_lower)]
HintMode = Annotated[Literal["hotwords", "prompt", "off"], BeforeValidator(_lower)]
OcrEngineName = Annotated[Literal["rapidocr", "google-vision"], BeforeValidator(ocr_engine_name)]
ExecutorName = Annotated[Literal["in_process", "k8s"], BeforeValidator(_lower)]


def setting(default: Any, env: str, *aliases: str, doc: str, **bounds: float) -> Any:
    """A field read from `env` (or one of the old `aliases`), with its default, documentation and
    `bounds` (ge, gt, le, lt)."""
    return Field(
        default,
        validation_alias=AliasChoices(env, *aliases),
        description=doc,
        json_schema_extra={"env": env, "aliases": list(aliases)},
        **bounds,
    )


class SettingsGroup(BaseModel):
    """One group of settings; as `settings.<group>`, a read-only view of the values `Settings` read."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @classmethod
    def view_of(cls, settings: SettingsGroup) -> Self:
        """This group's values of `settings` (already validated there), frozen."""
        return cls.model_construct(**{name: getattr(settings, name) for name in cls.model_fields})


class StorageSettings(SettingsGroup):
    """Where the pipeline keeps its files (docs/WAREHOUSE.md)."""

    gcs_bucket: str = setting(
        "",
        "GCS_BUCKET",
        doc="original service's setting: when set and WANDR_STORAGE_URI "
        "is not, the storage root is gs://<bucket>/wandr",
    )
    storage_uri: str = setting("data", "WANDR_STORAGE_URI", doc="storage root: a local folder or gs://bucket/prefix")


class RunSettings(SettingsGroup):
    """How runs are cut and logged."""

    log_level: LogLevel = setting("INFO", "LOG_LEVEL", doc="log level of the CLI, the API and the runs' console logs")
    partitions_per_run: int = setting(
        50, "WANDR_PARTITIONS_PER_RUN", doc="most videos per run (backfills and the CLI)", ge=1
    )
    progress_every_s: float = setting(
        30.0,
        "WANDR_PROGRESS_EVERY_S",
        doc="`wandr-pipeline run` with its output not on a terminal: a progress line every this many seconds",
        gt=0,
    )
    videos_in_flight: int = setting(
        4,
        "WANDR_VIDEOS_IN_FLIGHT",
        doc="videos a run works on at once: each stage of a stage op works on its own video, a video moves on "
        "as soon as its previous stage is done; 1: one video at a time through every stage",
        ge=1,
    )


class WhisperSettings(SettingsGroup):
    """Speech (faster-whisper): the model and how it decodes."""

    whisper_model: str = setting(
        "base",
        "WHISPER_MODEL",
        doc="model name (base, multilingual, and tiny.en, English only, install with the package; others must be "
        "in the local Hugging Face cache) or a CTranslate2 model folder",
    )
    whisper_language: LowerStr = setting(
        "",
        "WHISPER_LANGUAGE",
        doc="force the speech language (a Whisper code: en, es, pt, zh, ...); empty: detected per video "
        "(always en with an English-only .en model)",
    )
    whisper_chinese_script: ChineseScript = setting(
        "simplified",
        "WHISPER_CHINESE_SCRIPT",
        doc="Chinese transcripts written in: simplified | traditional | as-is (as the model wrote them)",
    )
    whisper_device: Device = setting("auto", "WHISPER_DEVICE", doc="auto (CUDA when visible) | cpu | cuda")
    whisper_compute_type: ComputeType = setting(
        "auto", "WHISPER_COMPUTE_TYPE", doc="auto (float16 on CUDA, int8 on CPU) or a CTranslate2 compute type"
    )
    whisper_batch_size: int = setting(
        8, "WHISPER_BATCH_SIZE", doc="batch size of faster-whisper's batched pipeline (1 = sequential decoding)", ge=1
    )
    whisper_beam_size: int = setting(5, "WHISPER_BEAM_SIZE", doc="beam size", ge=1)
    whisper_cpu_threads: int = setting(0, "WHISPER_CPU_THREADS", doc="CTranslate2 CPU threads (0 = its default)", ge=0)
    whisper_num_workers: int = setting(1, "WHISPER_NUM_WORKERS", doc="parallel transcriptions on one model", ge=1)
    whisper_vad: bool = setting(
        True, "WHISPER_VAD", doc="Silero voice activity detection: skips silence, prevents hallucinated text"
    )
    whisper_cross_clip: CrossClip = setting(
        "auto",
        "WHISPER_CROSS_CLIP",
        doc="batch speech chunks of different clips "
        "together: auto (on with CUDA) | true | false; needs batch size > 1 and VAD",
    )
    whisper_chunk_s: int = setting(
        10,
        "WHISPER_CHUNK_S",
        doc="longest stretch of speech decoded as one piece (batched pipeline, 1-30 s); "
        "tiny.en drops sentences from longer chunks (docs/BENCHMARKS.md)",
        ge=1,
        le=30,
    )
    whisper_vad_threshold: float = setting(
        0.35,
        "WHISPER_VAD_THRESHOLD",
        doc="Silero speech probability from which audio counts as speech (0-1); faster-whisper's 0.5 "
        "cut quiet sentence starts and merged chunks that tiny.en half-decoded (docs/BENCHMARKS.md)",
        ge=0.0,
        le=1.0,
    )
    whisper_chunk_pause_ms: int = setting(
        0,
        "WHISPER_CHUNK_PAUSE_MS",
        doc="a pause at least this long ends a chunk: speech either side is decoded as separate pieces "
        "(fewer sentences dropped from long narration, worse on short clips: docs/BENCHMARKS.md); 0: speech "
        "is merged into chunks up to WHISPER_CHUNK_S",
        ge=0,
    )
    whisper_chunk_cut: ChunkCut = setting(
        "limit",
        "WHISPER_CHUNK_CUT",
        doc="where a chunk of speech ends: limit (where the next piece of speech would pass WHISPER_CHUNK_S, "
        "faster-whisper's merging) | pause (at the longest pause within the limit, `media.speech_chunks`)",
    )
    whisper_second_pass_chunk_s: int = setting(
        5,
        "WHISPER_SECOND_PASS_CHUNK_S",
        doc="chunk length of the second pass over detected speech that no decoded word covers "
        "(no hints); 0 turns the coverage check off",
        ge=0,
        le=30,
    )
    whisper_window_margin_s: int = setting(
        7,
        "WHISPER_WINDOW_MARGIN_S",
        doc="seconds of silence the encoder sees after each batch's longest chunk instead of padding every "
        "chunk to Whisper's 30 s window (cost; 5 s or less loses words at chunk ends: docs/BENCHMARKS.md); "
        "30 = always the full window; a batch of only chunks under 5 s always gets the full window",
        ge=0,
        le=30,
    )
    whisper_prefetch: int = setting(
        2, "WHISPER_PREFETCH", doc="clips whose audio is decoded ahead, on CPU threads, while one is transcribed", ge=0
    )
    whisper_translate: bool = setting(
        False,
        "WHISPER_TRANSLATE",
        doc="also write the trusted non-English speech in English (Whisper's translate task, multilingual "
        "models only): transcript_en; off by default, it costs more than the 30 % budget (docs/BENCHMARKS.md)",
    )
    whisper_translate_first_pass: bool = setting(
        False,
        "WHISPER_TRANSLATE_FIRST_PASS",
        doc="with WHISPER_TRANSLATE, translate each first-pass chunk from the encoder output its transcription "
        "computed (+28 to +32 % transcription CPU time instead of +76 to +78 %) instead of spans of up to 30 s "
        "encoded again; off by default: sentences cut at chunk edges translate worse (docs/BENCHMARKS.md, 27-D)",
    )


class OcrSettings(SettingsGroup):
    """On-screen text: the OCR engine (local RapidOCR or Cloud Vision) and its limits."""

    ocr_engine: OcrEngineName = setting(
        "rapidocr",
        "OCR_ENGINE",
        doc="rapidocr (RapidOCR, models inside its wheel) | google-vision (Cloud Vision); the old names local "
        "and google still work",
    )
    ocr_min_confidence: float = setting(
        0.5, "OCR_MIN_CONFIDENCE", doc="recognised lines below this are dropped", ge=0.0, le=1.0
    )
    ocr_device: Device = setting(
        "auto",
        "OCR_DEVICE",
        doc="local OCR: auto (CUDA when onnxruntime-gpu sees a GPU) | cpu | cuda (fails without one)",
    )
    vision_api_endpoint: str = setting(
        "",
        "VISION_API_ENDPOINT",
        doc="Cloud Vision endpoint; empty = Google's. An http:// endpoint (a local fake) is called without credentials",
    )
    vision_max_concurrent_requests: int = setting(
        4, "VISION_MAX_CONCURRENT_REQUESTS", doc="Vision requests in flight at once", ge=1
    )
    vision_images_per_minute: int = setting(
        1800,
        "VISION_IMAGES_PER_MINUTE",
        doc="pace images to this share of the project's TEXT_DETECTION quota (shared by all workers)",
        ge=1,
    )
    vision_attempts: int = setting(
        5, "VISION_ATTEMPTS", doc="tries per Vision request on 429/5xx/deadline errors", ge=1
    )
    vision_timeout_s: float = setting(60.0, "VISION_TIMEOUT_S", doc="deadline of one Vision request", gt=0)
    vision_language_hints: CommaList = setting(
        (), "VISION_LANGUAGE_HINTS", doc="comma-separated BCP-47 language hints for Vision, e.g. en,ja"
    )


class CaptionSettings(SettingsGroup):
    """Captions: which frames reach the OCR engine, how its reads become caption spans, how Whisper sees them."""

    ocr_skip_similar: bool = setting(
        True, "WANDR_OCR_SKIP_SIMILAR", doc="reuse the last OCR read for frames whose on-screen text looks the same"
    )
    ocr_similarity_threshold: float = setting(
        0.8,
        "WANDR_OCR_SIMILARITY_THRESHOLD",
        doc="text-mask similarity (0-1) at or above which a frame reuses the last read",
        ge=0.0,
        le=1.0,
    )
    ocr_max_reused_frames: int = setting(
        8, "WANDR_OCR_MAX_REUSED_FRAMES", doc="read a frame after this many reused ones in a row (0 = no limit)", ge=0
    )
    caption_min_confidence: float = setting(
        0.6,
        "WANDR_CAPTION_MIN_CONFIDENCE",
        doc="OCR lines under this confidence are not used for caption spans",
        ge=0.0,
        le=1.0,
    )
    caption_min_span_confidence: float = setting(
        0.7,
        "WANDR_CAPTION_MIN_SPAN_CONFIDENCE",
        doc="caption spans whose reads average under this are dropped",
        ge=0.0,
        le=1.0,
    )
    contact_sheet_frames: int = setting(
        36, "WANDR_CONTACT_SHEET_FRAMES", doc="frames on each video's contact sheet (0 = none)", ge=0
    )
    whisper_caption_hints: HintMode = setting(
        "hotwords",
        "WHISPER_CAPTION_HINTS",
        doc="give Whisper the video's caption text: hotwords | prompt (initial_prompt) | off",
    )


class FrameSettings(SettingsGroup):
    """Frames: which are sampled, their size, the decoder."""

    frame_every_n: int = setting(
        30, "WANDR_FRAME_EVERY_N", "FRAME_SAMPLE_RATE", "FRAME_INTERVAL", doc="keep frame 0, N, 2N, ...", ge=1
    )
    frame_max_long_side: int = setting(
        960, "WANDR_FRAME_MAX_LONG_SIDE", doc="stored frames are downscaled to this long side (0 = keep)", ge=0
    )
    frame_decoder: Device = setting(
        "auto", "WANDR_FRAME_DECODER", doc="auto (NVDEC via torchcodec when usable) | cpu (PyAV) | cuda"
    )


class DownloadSettings(SettingsGroup):
    """Downloads: limits, retries, yt-dlp, and which sources are accepted."""

    max_video_duration_s: float = setting(
        600.0, "WANDR_MAX_VIDEO_DURATION_S", "MAX_VIDEO_DURATION", doc="longer posts are refused (0 = no limit)", ge=0
    )
    max_video_mb: float = setting(
        500.0, "WANDR_MAX_VIDEO_MB", "MAX_VIDEO_SIZE_MB", doc="bigger files are refused (0 = no limit)", ge=0
    )
    # Media bombs: checked from the file's headers before anything is decoded (media/probe.py).
    max_frame_pixels: int = setting(
        7680 * 4320,
        "WANDR_MAX_FRAME_PIXELS",
        doc="videos with more pixels per frame are refused before decoding (default 8K UHD; 0 = no limit)",
        ge=0,
    )
    max_frame_rate: float = setting(
        240.0, "WANDR_MAX_FRAME_RATE", doc="videos with more frames per second are refused (0 = no limit)", ge=0
    )
    max_streams: int = setting(
        16,
        "WANDR_MAX_STREAMS",
        doc="files with more streams (video, audio, subtitles, data) are refused (0 = no limit)",
        ge=0,
    )
    download_timeout_s: float = setting(30.0, "WANDR_DOWNLOAD_TIMEOUT_S", doc="network timeout per request", gt=0)
    download_deadline_s: float = setting(
        600.0,
        "WANDR_DOWNLOAD_DEADLINE_S",
        doc="wall-clock limit per video, all tries, resumes and Retry-After waits together (0 = none)",
        ge=0,
    )
    download_attempts: int = setting(
        3,
        "WANDR_DOWNLOAD_ATTEMPTS",
        doc="tries per video on transient faults (HTTP 429/5xx, timeouts, rate limits)",
        ge=1,
    )
    download_backoff_s: float = setting(
        2.0, "WANDR_DOWNLOAD_BACKOFF_S", doc="base of the exponential backoff between tries (capped at 30 s)", ge=0
    )
    ytdlp_format: str = setting(
        "bv*[height<=1920]+ba/b[height<=1920]/bv*+ba/b", "YTDLP_FORMAT", doc="yt-dlp format selector"
    )
    ytdlp_cookies_file: str = setting(
        "",
        "YTDLP_COOKIES_FILE",
        doc="Netscape cookies file for login-walled posts "
        "(read-only is fine; its values and path are never logged or stored)",
    )
    ytdlp_cookies_max_mb: float = setting(
        16.0,
        "YTDLP_COOKIES_MAX_MB",
        doc="a bigger cookies file is refused (it is read once per run, copied for each download; 0 = no limit)",
        ge=0,
    )
    concurrent_downloads: int = setting(
        4,
        "WANDR_CONCURRENT_DOWNLOADS",
        doc="downloads of a run at once (the run admits at least as many videos): a slow host holds "
        "at most WANDR_DOWNLOADS_PER_SITE of them; 1: one after another",
        ge=1,
    )
    downloads_per_site: int = setting(
        2, "WANDR_DOWNLOADS_PER_SITE", doc="of those, downloads from one site (tiktok.com, ...) at once", ge=1
    )
    platform_request_interval_s: float = setting(
        0.0,
        "WANDR_PLATFORM_REQUEST_INTERVAL_S",
        doc="least seconds between two requests to one site (tiktok.com, its CDN, ...) across downloads (0 = none)",
        ge=0,
    )
    ytdlp_proxy: str = setting(
        "",
        "YTDLP_PROXY",
        doc="http://, https:// or socks5:// proxy for every platform request "
        "(credentials in it are never logged or stored)",
    )
    ytdlp_ca_bundle: str = setting(
        "", "YTDLP_CA_BUNDLE", doc="PEM file of extra certificate authorities to trust (a proxy that re-signs TLS)"
    )
    ytdlp_impersonate: bool = setting(
        True,
        "YTDLP_IMPERSONATE",
        doc="impersonate a browser (curl_cffi) where the extractor asks for it (TikTok, Instagram)",
    )
    allow_local_files: bool = setting(
        True, "WANDR_ALLOW_LOCAL_FILES", doc="accept local paths and file:// URLs as sources"
    )
    local_input_roots: CommaList = setting(
        (),
        "WANDR_LOCAL_INPUT_ROOTS",
        doc="comma-separated folders that local sources must lie under (links and .. resolved); empty: anywhere",
    )
    remote_only: bool = setting(
        False,
        "WANDR_REMOTE_ONLY",
        doc="refuse local files and loopback, private, link-local or reserved addresses, redirects included",
    )
    download_allowed_networks: str = setting(
        "",
        "WANDR_DOWNLOAD_ALLOWED_NETWORKS",
        doc="comma-separated addresses, networks or host names exempt from WANDR_REMOTE_ONLY",
    )

    @property
    def accepts_local_files(self) -> bool:
        """Local paths in URL lists are accepted (allowed, and downloads are not remote-only)."""
        return self.allow_local_files and not self.remote_only


class IngestionSettings(SettingsGroup):
    """Ingestion and automation: the URL-list sensor and schedule, batching (docs/INGESTION.md)."""

    url_list_dirs: CommaList = setting(
        (),
        "WANDR_URL_LIST_DIRS",
        doc="folders or gs:// prefixes the sensor watches; empty: data/url_lists, plus <root>/url_lists on GCS",
    )
    url_list_suffixes: CommaList = setting(
        (".txt", ".list", ".urls"), "WANDR_URL_LIST_SUFFIXES", doc="file endings treated as URL lists"
    )
    sensor_interval_s: int = setting(30, "WANDR_SENSOR_INTERVAL_S", doc="seconds between sensor ticks", ge=1)
    ingest_max_videos_per_tick: int = setting(
        2000, "WANDR_INGEST_MAX_VIDEOS_PER_TICK", doc="new videos registered per tick (large lists are chunked)", ge=1
    )
    ingest_tick_budget_s: float = setting(
        20.0,
        "WANDR_INGEST_TICK_BUDGET_S",
        doc="seconds a tick may spend writing submission records and reading the warehouse for the planner",
        ge=0,
    )
    batch_max_wait_s: float = setting(
        120.0, "WANDR_BATCH_MAX_WAIT_S", doc="how long a short batch waits for in-flight neighbours to join it", ge=0
    )
    url_list_schedule_source: str = setting(
        "",
        "WANDR_URL_LIST_SCHEDULE_SOURCE",
        doc="the list the schedule ingests (local path, gs:// or http(s)://); empty: schedule off",
    )
    url_list_schedule_cron: str = setting("0 * * * *", "WANDR_URL_LIST_SCHEDULE_CRON", doc="the schedule's cadence")


class LakeSettings(SettingsGroup):
    """The analysts' lake: Delta tables under <root>/lake/ (docs/WAREHOUSE.md)."""

    lake_sync: bool = setting(
        True, "WANDR_LAKE_SYNC", doc="keep lake/ in step: the CLI after its runs, the daemon's lake_sync_sensor"
    )
    lake_sync_interval_s: int = setting(
        15,
        "WANDR_LAKE_SYNC_INTERVAL_S",
        doc="seconds between lake_sync_sensor ticks: the longest a documented video waits for its sync to be "
        "requested (documents of the meantime sync together)",
        ge=1,
    )
    lake_commit_videos: int = setting(500, "WANDR_LAKE_COMMIT_VIDEOS", doc="most videos per lake commit", ge=1)
    lake_compact_min_files: int = setting(
        32,
        "WANDR_LAKE_COMPACT_MIN_FILES",
        doc="a lake table with more small files (under half the target) than this is compacted after a sync",
        ge=0,
    )
    lake_compact_target_mb: int = setting(
        2, "WANDR_LAKE_COMPACT_TARGET_MB", doc="target size of the files compaction writes", ge=1
    )
    lake_vacuum_retention_h: float = setting(
        24.0,
        "WANDR_LAKE_VACUUM_RETENTION_H",
        doc="files older versions need are kept this long for running readers",
        ge=0,
    )
    lake_max_behind_videos: int = setting(
        100,
        "WANDR_LAKE_MAX_BEHIND_VIDEOS",
        doc="doctor and /health fail when a lake table is more videos than this behind the warehouse",
        ge=0,
    )


class GpuSettings(SettingsGroup):
    """Where GPU stages run in production (docs/DEPLOY.md)."""

    gpu_accelerator: str = setting("nvidia-l4", "WANDR_GPU_ACCELERATOR", doc="GKE accelerator label of GPU pods")
    gpu_count: int = setting(1, "WANDR_GPU_COUNT", doc="GPUs per GPU pod", ge=1)
    gpu_pod_cpu: str = setting("6", "WANDR_GPU_POD_CPU", doc="CPU request of GPU pods")
    gpu_pod_memory: str = setting("24Gi", "WANDR_GPU_POD_MEMORY", doc="memory of GPU pods")
    k8s_gpu_tags: bool = setting(
        False,
        "WANDR_K8S_GPU_TAGS",
        doc="give GPU stages and runs the dagster-k8s/config tag (GPU request, L4 node selector): on where runs "
        "go to Kubernetes (deploy/), off locally",
    )
    executor: ExecutorName = setting(
        "in_process",
        "WANDR_EXECUTOR",
        doc="in_process: every step of a run in its process (local, CLI) | k8s: dagster-k8s's k8s_job_executor, "
        "each step its own pod, the GPU stage's on an L4 (deploy/)",
    )


class ApiSettings(SettingsGroup):
    """The HTTP API (docs/API.md)."""

    api_token: StrippedStr = setting("", "WANDR_API_TOKEN", doc="bearer token the API requires; empty: no token")
    api_allowed_networks: str = setting(
        "",
        "WANDR_API_ALLOWED_NETWORKS",
        doc="comma-separated addresses, networks or host names that submitted URLs may point at although private",
    )
    api_reject_unresolved: bool = setting(
        False, "WANDR_API_REJECT_UNRESOLVED", doc="refuse URLs whose host does not resolve"
    )
    api_resolve_timeout_s: float = setting(3.0, "WANDR_API_RESOLVE_TIMEOUT_S", doc="DNS look-up time limit", gt=0)
    api_max_body_bytes: int = setting(16 * 1024, "WANDR_API_MAX_BODY_BYTES", doc="largest request body accepted", ge=1)
    api_host: str = setting(
        "127.0.0.1", "WANDR_API_HOST", doc="address gunicorn binds (0.0.0.0: every interface, as a container needs)"
    )
    api_port: int = setting(8080, "PORT", doc="port gunicorn binds (Cloud Run sets it)", ge=1, le=65535)
    api_workers: int = setting(1, "WEB_CONCURRENCY", doc="gunicorn worker processes", ge=1)
    api_threads: int = setting(128, "WANDR_API_THREADS", doc="threads per gunicorn worker", ge=1)
    api_timeout_s: int = setting(120, "WANDR_API_TIMEOUT_S", doc="gunicorn worker timeout", ge=0)


class Settings(
    StorageSettings,
    RunSettings,
    WhisperSettings,
    OcrSettings,
    CaptionSettings,
    FrameSettings,
    DownloadSettings,
    IngestionSettings,
    LakeSettings,
    GpuSettings,
    ApiSettings,
    BaseSettings,
):
    """The pipeline's configuration (docs: README "Configuration", docs/API.md, docs/GCP.md): every group's
    settings as flat attributes, each group as a view (`settings.whisper`, `settings.ocr`, ...)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", populate_by_name=True, frozen=False
    )

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """The settings of this process's environment (and `.env`), with `overrides` by field name."""
        return cls(**overrides)

    @model_validator(mode="after")
    def _derived_defaults(self) -> Settings:
        """Defaults that depend on other settings: the bucket root, the watched folders."""
        if "storage_uri" not in self.model_fields_set and self.gcs_bucket:
            self.storage_uri = f"gs://{self.gcs_bucket}/wandr"
        if not self.url_list_dirs:
            dirs = ["data/url_lists"]
            if "://" in self.storage_uri and not self.storage_uri.startswith("file://"):
                dirs.append(self.storage_uri.rstrip("/") + "/url_lists")
            self.url_list_dirs = tuple(dirs)
        return self

    @property
    def storage(self) -> StorageSettings:
        return StorageSettings.view_of(self)

    @property
    def runs(self) -> RunSettings:
        return RunSettings.view_of(self)

    @property
    def whisper(self) -> WhisperSettings:
        return WhisperSettings.view_of(self)

    @property
    def ocr(self) -> OcrSettings:
        return OcrSettings.view_of(self)

    @property
    def captions(self) -> CaptionSettings:
        return CaptionSettings.view_of(self)

    @property
    def frames(self) -> FrameSettings:
        return FrameSettings.view_of(self)

    @property
    def download(self) -> DownloadSettings:
        return DownloadSettings.view_of(self)

    @property
    def ingestion(self) -> IngestionSettings:
        return IngestionSettings.view_of(self)

    @property
    def lake(self) -> LakeSettings:
        return LakeSettings.view_of(self)

    @property
    def gpu(self) -> GpuSettings:
        return GpuSettings.view_of(self)

    @property
    def api(self) -> ApiSettings:
        return ApiSettings.view_of(self)


_BOUNDS = {Ge: "ge", Gt: "gt", Le: "le", Lt: "lt"}


def from_setting(name: str, **constraints: Any) -> Any:
    """A resource field fed by the setting `name`: its default, bounds and description are the setting's
    (`constraints` add to the bounds)."""
    field = Settings.model_fields[name]
    default = field.default
    bounds = {_BOUNDS[type(m)]: getattr(m, _BOUNDS[type(m)]) for m in field.metadata if type(m) in _BOUNDS}
    constraints = {**bounds, **constraints}
    if isinstance(default, tuple):
        return Field(
            default_factory=lambda: list(default),
            description=field.description,
            json_schema_extra={"setting": name},
            **constraints,
        )
    return Field(default, description=field.description, json_schema_extra={"setting": name}, **constraints)


def setting_values(model: type[BaseModel], settings: SettingsGroup) -> dict[str, Any]:
    """The values of `settings` for the fields of `model` that name a setting (`from_setting`): what a
    factory hands a resource built from its group (tuples as lists)."""
    values = {}
    for field_name, field in model.model_fields.items():
        extra = field.json_schema_extra
        if isinstance(extra, dict) and "setting" in extra:
            value = getattr(settings, str(extra["setting"]))
            values[field_name] = list(value) if isinstance(value, tuple) else value
    return values


def environment_variables() -> dict[str, tuple[str, list[str]]]:
    """Field name -> (environment variable, old aliases), for the docs and their test."""
    return {
        name: (field.json_schema_extra["env"], field.json_schema_extra["aliases"])
        for name, field in Settings.model_fields.items()
    }


def load_dotenv_file(path: str | Path = ".env") -> None:
    """Load `KEY=value` lines from `path` into the process environment, never overriding what is set.

    `Settings` reads `.env` itself; the CLI and the API also put it into the environment for the
    libraries that read their own variables (Google's credentials, DAGSTER_HOME, FFMPEG_BINARY).
    """
    path = Path(path)
    if path.is_file():
        from dotenv import load_dotenv

        load_dotenv(path, override=False)
