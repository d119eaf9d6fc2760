"""The Dagster code location: `defs` is built when Dagster loads it, from the settings of that moment.

Nothing happens at import: `build_definitions(settings)` takes its settings as an argument (the CLI,
the API and the tests pass their own), and `defs` reads the environment only when Dagster calls it.
"""

from __future__ import annotations

from dagster import Definitions, definitions

from wandr_pipeline.defs.automation.downstream_batch_sensor import build_downstream_sensor
from wandr_pipeline.defs.ingestion.registered_videos_sensor import build_registered_videos_sensor
from wandr_pipeline.defs.ingestion.tick import URL_LISTS_ASSET
from wandr_pipeline.defs.ingestion.url_list_schedule import build_url_list_schedule
from wandr_pipeline.defs.ingestion.url_list_sensor import build_url_list_sensor
from wandr_pipeline.defs.ingestion.video_requests import VIDEO_REQUESTS_ASSET
from wandr_pipeline.defs.jobs import build_jobs, job_executor
from wandr_pipeline.defs.lake import build_lake_asset, build_lake_job, build_lake_sensor
from wandr_pipeline.defs.resources import build_resources
from wandr_pipeline.defs.videos import build_stage_assets
from wandr_pipeline.settings import Settings


def build_definitions(settings: Settings) -> Definitions:
    jobs = build_jobs(settings)
    lake_job = build_lake_job()
    return Definitions(
        assets=[*build_stage_assets(settings), URL_LISTS_ASSET, VIDEO_REQUESTS_ASSET, build_lake_asset(settings)],
        resources=build_resources(settings),
        jobs=[*jobs.values(), lake_job],
        sensors=[
            build_url_list_sensor(settings, jobs),
            build_registered_videos_sensor(settings, jobs),
            build_downstream_sensor(settings, jobs),
            build_lake_sensor(settings, lake_job),
        ],
        schedules=[build_url_list_schedule(settings, jobs)],
        executor=job_executor(settings),
    )


@definitions
def defs() -> Definitions:
    return build_definitions(Settings.from_env())
