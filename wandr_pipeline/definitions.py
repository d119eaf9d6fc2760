"""The Dagster code location: `defs` is built when Dagster loads it, from the settings of that moment.

Nothing happens at import: `build_definitions(settings)` takes its settings as an argument (the CLI,
the API and the tests pass their own), and `defs` reads the environment only when Dagster calls it.

Two halves, merged. Dagster's own loader walks the `defs/` folder as `dg` projects do (pyproject.toml
`[tool.dg]`; `load_from_defs_folder` reads the same tree): whatever sits there at module level (the
`url_lists` and `video_requests` specs, or a component someone adds with `dg scaffold defs`) is found
by it. The rest is built by the factories in `defs/` from the settings, because every stage asset,
job, sensor and resource depends on them and the sensors name the very job objects the jobs factory
built: a module-level object per file could not read the settings a caller passes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg

import wandr_pipeline.defs
from wandr_pipeline.defs.automation.downstream_batch_sensor import build_downstream_sensor
from wandr_pipeline.defs.ingestion.registered_videos_sensor import build_registered_videos_sensor
from wandr_pipeline.defs.ingestion.url_list_schedule import build_url_list_schedule
from wandr_pipeline.defs.ingestion.url_list_sensor import build_url_list_sensor
from wandr_pipeline.defs.jobs import build_jobs, job_executor
from wandr_pipeline.defs.lake import build_lake_asset, build_lake_job, build_lake_sensor
from wandr_pipeline.defs.resources import build_resources
from wandr_pipeline.defs.videos import build_stage_assets
from wandr_pipeline.settings import Settings

# The folder above the package: pyproject.toml in a checkout (not needed: the tree is read from the module).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def defs_folder_definitions() -> dg.Definitions:
    """What Dagster's defs-folder loader finds in `defs/` (works from a wheel too: no pyproject.toml read).

    Built from the folder, not from the tree's root: the root also imports every installed package that
    offers component types (dagster-gcp, so Google's libraries) to list them in the UI, which an offline
    run must not import (tests/integration/test_offline_imports.py) and which `dg list components` shows.
    """
    with warnings.catch_warnings():
        # the loader's own calls to its preview helpers; `load_from_defs_folder` silences them the same way
        warnings.simplefilter("ignore", dg.PreviewWarning)
        tree = dg.ComponentTree.from_module(wandr_pipeline.defs, PROJECT_ROOT)
        return tree.build_defs(tree.defs_module_path)


def build_definitions(settings: Settings) -> dg.Definitions:
    jobs = build_jobs(settings)
    lake_job = build_lake_job()
    built = dg.Definitions(
        assets=[*build_stage_assets(settings), build_lake_asset(settings)],
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
    return dg.Definitions.merge(defs_folder_definitions(), built)


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())
