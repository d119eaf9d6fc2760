"""Jobs: the whole graph for a batch of video partitions, run in one process (models load once).

Jobs that hold a GPU stage carry the GPU run tags (`wandr_pipeline/compute.py`): `wandr/compute=gpu`
for the run queue's GPU limit, and the `dagster-k8s/config` that puts the run's pod on an L4 node.
`ingest_videos` (download + audio) is CPU only, so a deployment can keep the GPU for the model stages.
"""

from dagster import AssetSelection, define_asset_job, in_process_executor

from wandr_pipeline.compute import COMPUTE_TAG, CPU, as_run_tags, gpu_tags_from_settings
from wandr_pipeline.partitions import videos_partitions
from wandr_pipeline.settings import Settings

PROCESS_VIDEOS_JOB = "process_videos"
INGEST_VIDEOS_JOB = "ingest_videos"
GPU_STAGES_JOB = "gpu_stages"

GPU_RUN_TAGS = as_run_tags(gpu_tags_from_settings(Settings.from_env()))
CPU_RUN_TAGS = {COMPUTE_TAG: CPU}

process_videos_job = define_asset_job(
    PROCESS_VIDEOS_JOB,
    selection=AssetSelection.groups("videos"),
    partitions_def=videos_partitions,
    executor_def=in_process_executor,
    tags=GPU_RUN_TAGS,
    description="Every stage, raw video to video documents, for a batch of videos in one process.",
)

ingest_videos_job = define_asset_job(
    INGEST_VIDEOS_JOB,
    selection=AssetSelection.assets("raw_video", "audio"),
    partitions_def=videos_partitions,
    executor_def=in_process_executor,
    tags=CPU_RUN_TAGS,
    description="Download and audio extraction only (CPU): feeds the GPU stages.",
)

gpu_stages_job = define_asset_job(
    GPU_STAGES_JOB,
    selection=AssetSelection.assets("transcript", "sampled_frames", "ocr_text", "video_documents"),
    partitions_def=videos_partitions,
    executor_def=in_process_executor,
    tags=GPU_RUN_TAGS,
    description="Transcript, frames, OCR and documents for downloaded videos, on one GPU worker (L4 in production).",
)
