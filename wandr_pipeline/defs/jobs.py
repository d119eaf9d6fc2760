"""Jobs: the whole graph for a batch of video partitions, run in one process (models load once).

Jobs that hold a GPU stage carry the GPU run tags (`wandr_pipeline/lib/tags.py`): `wandr/compute=gpu`
for the run queue's GPU limit, and the `dagster-k8s/config` that puts the run's pod on an L4 node.
`ingest_videos` (download + audio) is CPU only, so a deployment keeps the GPU for the model stages.
"""

from dagster import AssetSelection, define_asset_job, in_process_executor

from wandr_pipeline.lib.tags import COMPUTE_TAG, CPU, as_run_tags, gpu_tags_from_settings
from wandr_pipeline.defs.partitions import videos_partitions
from wandr_pipeline.settings import Settings

PROCESS_VIDEOS_JOB = "process_videos"
STAGE_TAG = "wandr/stage"

GPU_RUN_TAGS = as_run_tags(gpu_tags_from_settings(Settings.from_env()))
CPU_RUN_TAGS = {COMPUTE_TAG: CPU}


def _batch_job(name: str, selection: AssetSelection, tags: dict[str, str], description: str):
    """A job over a batch of `videos` partitions, all in one process (each model loads once per run)."""
    return define_asset_job(name, selection=selection, partitions_def=videos_partitions,
                            executor_def=in_process_executor, tags=tags, description=description)


process_videos_job = _batch_job(
    PROCESS_VIDEOS_JOB, AssetSelection.groups("videos"), GPU_RUN_TAGS,
    "Every stage, raw video to video documents, for a batch of videos in one process.",
)

# The stage groups that run automatically (docs/INGESTION.md): the url_list sensor/schedule request
# `ingest_videos` runs; `downstream_batch_sensor` requests `extract_media`, `gpu_stages` and
# `refresh_documents` runs when their inputs are newer than their outputs.
INGEST_VIDEOS_JOB = "ingest_videos"
EXTRACT_MEDIA_JOB = "extract_media"
GPU_STAGES_JOB = "gpu_stages"
REFRESH_DOCUMENTS_JOB = "refresh_documents"
INGEST_ASSETS = ("raw_video", "audio")
MEDIA_ASSETS = ("audio",)
# Frames are decoded on the GPU worker too (NVDEC there), next to the OCR that reads them; caption_spans
# sits between ocr_text and transcript (the captions are Whisper's hints), so it runs there as well.
GPU_STAGE_ASSETS = ("transcript", "sampled_frames", "ocr_text", "caption_spans", "video_documents")
DOCUMENT_ASSETS = ("video_documents",)

ingest_videos_job = _batch_job(
    INGEST_VIDEOS_JOB, AssetSelection.assets(*INGEST_ASSETS), {**CPU_RUN_TAGS, STAGE_TAG: "ingest"},
    "Download and audio extraction for a batch of videos (CPU): feeds the GPU stages.",
)

extract_media_job = _batch_job(
    EXTRACT_MEDIA_JOB, AssetSelection.assets(*MEDIA_ASSETS), {**CPU_RUN_TAGS, STAGE_TAG: "media"},
    "Audio again for videos whose download changed (e.g. a raw_video backfill).",
)

gpu_stages_job = _batch_job(
    GPU_STAGES_JOB, AssetSelection.assets(*GPU_STAGE_ASSETS), {**GPU_RUN_TAGS, STAGE_TAG: "gpu"},
    "Transcript, frames, OCR, caption spans and documents for downloaded videos, on one GPU worker "
    "(L4 in production).",
)

refresh_documents_job = _batch_job(
    REFRESH_DOCUMENTS_JOB, AssetSelection.assets(*DOCUMENT_ASSETS), {**CPU_RUN_TAGS, STAGE_TAG: "documents"},
    "Rebuild video documents whose inputs changed (e.g. after a transcript backfill).",
)

AUTOMATION_JOBS = [ingest_videos_job, extract_media_job, gpu_stages_job, refresh_documents_job]
