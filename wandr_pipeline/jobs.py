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
