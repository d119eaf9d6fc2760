"""A queued run coordinator that copies chosen op tags onto the run, so the run queue can limit on them.

The run queue's `tag_concurrency_limits` look at *run* tags. Our jobs set `wandr/compute` on their
runs, but a run launched another way (a backfill from the UI, a materialize button, the backfill
daemon) only carries the tags its launcher gave it. The GPU-stage assets carry the op tag
`wandr/compute: gpu`; this coordinator finds it in the run's execution plan when the run is
submitted and adds it as a run tag, so `wandr/compute: gpu` caps every GPU run however launched.

Configure it in `dagster.yaml`:

    run_coordinator:
      module: wandr_pipeline.instance.run_coordinator
      class: OpTagRunCoordinator
      config:
        max_concurrent_runs: 4
        tag_concurrency_limits: [{key: wandr/compute, value: gpu, limit: 1}]
        propagate_op_tags: [wandr/compute]     # default
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagster import DagsterRun, Field
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._serdes import ConfigurableClassData

from wandr_pipeline.lib.tags import COMPUTE_TAG

DEFAULT_PROPAGATED_TAGS = (COMPUTE_TAG,)
# When steps of one run disagree (a run with CPU and GPU stages), the first value here wins.
PREFERRED_VALUES = ("gpu",)


def tags_from_steps(
    step_tags: Sequence[Mapping[str, str] | None], keys: Sequence[str], run_tags: Mapping[str, str]
) -> dict[str, str]:
    """Run tags to add: for each key in `keys` the run lacks, the value some step carries."""
    added: dict[str, str] = {}
    for key in keys:
        if key in run_tags:
            continue
        values = {tags[key] for tags in step_tags if tags and key in tags}
        if not values:
            continue
        preferred = [v for v in PREFERRED_VALUES if v in values]
        added[key] = preferred[0] if preferred else sorted(values)[0]
    return added


class OpTagRunCoordinator(QueuedRunCoordinator):
    """`QueuedRunCoordinator` that adds `propagate_op_tags` found on the run's steps as run tags."""

    def __init__(self, propagate_op_tags: Sequence[str] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._propagate_op_tags = tuple(propagate_op_tags or DEFAULT_PROPAGATED_TAGS)

    @classmethod
    def config_type(cls):
        return {
            **super().config_type(),
            "propagate_op_tags": Field(
                [str], is_required=False, description="Op tags copied onto the run (default: wandr/compute)."
            ),
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]):
        config = dict(config_value)
        propagate = config.pop("propagate_op_tags", None)
        base = super().from_config_value(inst_data, config)
        base._propagate_op_tags = tuple(propagate or DEFAULT_PROPAGATED_TAGS)
        return base

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        try:
            added = self._tags_to_add(run)
        except Exception as exc:  # noqa: BLE001 - tagging must never block a run
            self._logger.warning(f"could not read step tags of run {run.run_id}: {exc}")
            added = {}
        if added:
            self._instance.add_run_tags(run.run_id, added)
            run = self._instance.get_run_by_id(run.run_id) or run
            context = SubmitRunContext(run, context.workspace)
        return super().submit_run(context)

    def _tags_to_add(self, run: DagsterRun) -> dict[str, str]:
        missing = [key for key in self._propagate_op_tags if key not in run.tags]
        if not missing or not run.execution_plan_snapshot_id:
            return {}
        plan = self._instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        selected = set(plan.step_keys_to_execute or [])
        steps = [s for s in plan.steps if not selected or s.key in selected]
        return tags_from_steps([s.tags for s in steps], missing, run.tags)
