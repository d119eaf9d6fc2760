"""Jobs: the whole graph for a batch of video partitions, run in one process (models load once)."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from wandr_pipeline.partitions import videos_partitions

PROCESS_VIDEOS_JOB = "process_videos"

process_videos_job = define_asset_job(
    PROCESS_VIDEOS_JOB,
    selection=AssetSelection.groups("videos"),
    partitions_def=videos_partitions,
    executor_def=in_process_executor,
    description="Every stage, raw video to video documents, for a batch of videos in one process.",
)

# The stage groups that run automatically (docs/INGESTION.md): the url_list sensor/schedule request
# `ingest_videos` runs; `downstream_batch_sensor` requests `extract_media`, `gpu_stages` and
# `refresh_documents` runs when their inputs are newer than their outputs.
INGEST_VIDEOS_JOB = "ingest_videos"
EXTRACT_MEDIA_JOB = "extract_media"
GPU_STAGES_JOB = "gpu_stages"
REFRESH_DOCUMENTS_JOB = "refresh_documents"
INGEST_ASSETS = ("raw_video", "audio", "sampled_frames")
MEDIA_ASSETS = ("audio", "sampled_frames")
# caption_spans sits between ocr_text and transcript (the captions are Whisper's hints): same run.
GPU_STAGE_ASSETS = ("transcript", "ocr_text", "caption_spans", "video_documents")
DOCUMENT_ASSETS = ("video_documents",)
# Run tags the run queue limits on (dagster_home/dagster.yaml `tag_concurrency_limits`).
COMPUTE_TAG = "wandr/compute"
STAGE_TAG = "wandr/stage"

ingest_videos_job = define_asset_job(
    INGEST_VIDEOS_JOB,
    selection=AssetSelection.assets(*INGEST_ASSETS),
    partitions_def=videos_partitions,
    executor_def=in_process_executor,
    tags={COMPUTE_TAG: "cpu", STAGE_TAG: "ingest"},
    description="Download, audio extraction and frame sampling for a batch of videos (CPU).",
)

extract_media_job = define_asset_job(
    EXTRACT_MEDIA_JOB,
    selection=AssetSelection.assets(*MEDIA_ASSETS),
    partitions_def=videos_partitions,
    executor_def=in_process_executor,
    tags={COMPUTE_TAG: "cpu", STAGE_TAG: "media"},
    description="Audio and frames again for videos whose download changed (e.g. a raw_video backfill).",
)

gpu_stages_job = define_asset_job(
    GPU_STAGES_JOB,
    selection=AssetSelection.assets(*GPU_STAGE_ASSETS),
    partitions_def=videos_partitions,
    executor_def=in_process_executor,
    tags={COMPUTE_TAG: "gpu", STAGE_TAG: "gpu"},
    description="OCR, caption spans and transcript (the model stages) plus the video documents, for a batch "
                "of videos.",
)

refresh_documents_job = define_asset_job(
    REFRESH_DOCUMENTS_JOB,
    selection=AssetSelection.assets(*DOCUMENT_ASSETS),
    partitions_def=videos_partitions,
    executor_def=in_process_executor,
    tags={COMPUTE_TAG: "cpu", STAGE_TAG: "documents"},
    description="Rebuild video documents whose inputs changed (e.g. after a transcript backfill).",
)

AUTOMATION_JOBS = [ingest_videos_job, extract_media_job, gpu_stages_job, refresh_documents_job]
