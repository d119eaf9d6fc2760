"""The stage registry: every per-video stage once, with its table, its inputs and the runs it belongs to.

The stage assets, the jobs, both sensors, the CLI summary and the API's job status derive their
lists from here, so that adding or moving a stage is one edit. No Dagster import: names are strings.

Runs group stages by where they run. `ingest_videos` downloads and extracts audio on a CPU worker;
`gpu_stages` holds every model stage (frames are decoded next to the OCR that reads them, and the
caption spans feed Whisper's hints); `extract_media` and `refresh_documents` redo one stage after an
upstream backfill. `process_videos` runs all of them in one run (the CLI, the API, and the URL lists
wherever whole runs do not go to GPU nodes: defs/jobs.new_videos_job).

Stage ops group stages by what is computed together: each op is one Dagster multi-asset whose stages
work at once, video by video (lib/pipelining.py); every stage is in exactly one op.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from wandr_pipeline.lib.schemas import (
    AUDIO,
    CAPTION_SPANS,
    FRAMES,
    OCR_TEXT,
    TRANSCRIPT_SEGMENTS,
    VIDEO_DOCUMENTS,
    VIDEOS,
)
from wandr_pipeline.lib.tags import CPU, GPU


@dataclass(frozen=True)
class Stage:
    """One asset partitioned by video, and the warehouse table it writes."""

    asset: str
    table: str
    schema: pa.Schema
    inputs: tuple[str, ...]  # upstream stage assets, loaded as this stage's inputs
    summary_label: str | None = None  # its column in the CLI's per-video summary, if it has one


STAGES: tuple[Stage, ...] = (
    Stage("raw_video", "videos", VIDEOS, (), "download"),
    Stage("audio", "audio", AUDIO, ("raw_video",)),
    Stage("transcript", "transcript_segments", TRANSCRIPT_SEGMENTS, ("audio", "caption_spans"), "transcript"),
    Stage("sampled_frames", "frames", FRAMES, ("raw_video",)),
    Stage("ocr_text", "ocr_text", OCR_TEXT, ("sampled_frames",), "ocr"),
    Stage("caption_spans", "caption_spans", CAPTION_SPANS, ("ocr_text", "raw_video", "sampled_frames")),
    Stage(
        "video_documents",
        "video_documents",
        VIDEO_DOCUMENTS,
        ("raw_video", "audio", "transcript", "sampled_frames", "ocr_text", "caption_spans"),
        "document",
    ),
)
STAGES_BY_ASSET: dict[str, Stage] = {stage.asset: stage for stage in STAGES}
STAGE_ASSET_NAMES: tuple[str, ...] = tuple(stage.asset for stage in STAGES)
# The first stage (a video is ingested once it ran) and the last (a video is finished once it ran).
FIRST_STAGE = STAGES[0]
LAST_STAGE = STAGES[-1]


@dataclass(frozen=True)
class StageOp:
    """Stages computed by one Dagster op (a multi-asset that can subset), pipelined over its batch: each
    stage in its own thread, each video moving on as soon as it is ready (lib/pipelining.py). An op holds
    the stages that run in one place; GPU: its op tags send it to an L4 in production."""

    name: str
    assets: tuple[str, ...]  # in registry order
    compute: str
    description: str


STAGE_OPS: tuple[StageOp, ...] = (
    StageOp("ingest_stages", ("raw_video", "audio"), CPU, "Download (yt-dlp) and audio extraction (ffmpeg)."),
    StageOp(
        "model_stages",
        ("transcript", "sampled_frames", "ocr_text", "caption_spans"),
        GPU,
        "Frames, OCR, caption spans and the transcript (the captions are its hints), pipelined per video.",
    ),
    StageOp("document_stage", ("video_documents",), CPU, "The per-video document joining every stage."),
)
STAGE_OPS_BY_ASSET: dict[str, StageOp] = {asset: op for op in STAGE_OPS for asset in op.assets}


def stage(asset: str) -> Stage:
    try:
        return STAGES_BY_ASSET[asset]
    except KeyError:
        raise KeyError(f"{asset!r} is not a stage (known: {', '.join(STAGE_ASSET_NAMES)})") from None


@dataclass(frozen=True)
class StageGroup:
    """A job over some stages. With `follows`, the downstream sensor requests it for a video once any
    `follows` asset has a newer outcome than the oldest of `assets` (docs/INGESTION.md)."""

    job: str
    assets: tuple[str, ...]
    compute: str
    stage_tag: str | None  # the `wandr/stage` run tag (None: the all-stages job)
    description: str
    follows: tuple[str, ...] = ()


PROCESS_VIDEOS = StageGroup(
    "process_videos",
    STAGE_ASSET_NAMES,
    GPU,
    None,
    "Every stage, raw video to video documents, for a batch of videos in one process.",
)
INGEST_VIDEOS = StageGroup(
    "ingest_videos",
    ("raw_video", "audio"),
    CPU,
    "ingest",
    "Download and audio extraction for a batch of videos (CPU): feeds the GPU stages.",
)
EXTRACT_MEDIA = StageGroup(
    "extract_media",
    ("audio",),
    CPU,
    "media",
    "Audio again for videos whose download changed (e.g. a raw_video backfill).",
    follows=("raw_video",),
)
GPU_STAGES = StageGroup(
    "gpu_stages",
    ("transcript", "sampled_frames", "ocr_text", "caption_spans", "video_documents"),
    GPU,
    "gpu",
    "Transcript, frames, OCR, caption spans and documents for downloaded videos, on one GPU worker (L4 in production).",
    follows=("audio",),
)
REFRESH_DOCUMENTS = StageGroup(
    "refresh_documents",
    ("video_documents",),
    CPU,
    "documents",
    "Rebuild video documents whose inputs changed (e.g. after a transcript backfill).",
    follows=LAST_STAGE.inputs,
)
STAGE_GROUPS: tuple[StageGroup, ...] = (PROCESS_VIDEOS, INGEST_VIDEOS, EXTRACT_MEDIA, GPU_STAGES, REFRESH_DOCUMENTS)
# The groups the downstream sensor requests by itself, following an upstream stage (the URL-list
# sensor/schedule start PROCESS_VIDEOS, or INGEST_VIDEOS where whole runs go to GPU nodes).
FOLLOW_UP_GROUPS: tuple[StageGroup, ...] = tuple(group for group in STAGE_GROUPS if group.follows)
GROUPS_BY_JOB: dict[str, StageGroup] = {group.job: group for group in STAGE_GROUPS}
