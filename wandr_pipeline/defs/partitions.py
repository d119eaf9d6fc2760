"""The `videos` dynamic partitions: one partition per video, keyed by `urls.parse_video_url`."""

from dagster import DynamicPartitionsDefinition

VIDEOS_PARTITIONS_NAME = "videos"
videos_partitions = DynamicPartitionsDefinition(name=VIDEOS_PARTITIONS_NAME)
