"""A snapshot of every asset spec, job, sensor and schedule: a refactor that changes one shows up here.

The snapshot (`asset_specs.json`) was first written from the code before the package moved into its
current layout, and the moved code matches it. After a deliberate change, rewrite it with
`WANDR_UPDATE_SNAPSHOT=1 pytest tests/defs/test_asset_specs.py` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from wandr_pipeline.definitions import build_definitions
from wandr_pipeline.settings import Settings, environment_variables

SNAPSHOT = Path(__file__).with_name("asset_specs.json")


def describe(defs) -> dict:
    graph = defs.resolve_asset_graph()
    out: dict = {"assets": {}, "checks": [], "jobs": {}, "sensors": {}, "schedules": {}}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        policy = node.backfill_policy
        out["assets"][key.to_user_string()] = {
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": node.partitions_def.name if node.partitions_def else None,
            "backfill_policy": None
            if policy is None
            else {"type": str(policy.policy_type), "max": policy.max_partitions_per_run},
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "metadata": {k: str(getattr(v, "value", v)) for k, v in sorted(node.metadata.items())},
            "op": node.assets_def.node_def.name if node.is_executable else None,
            "op_tags": dict(node.assets_def.node_def.tags) if node.is_executable else None,
            "pool": node.assets_def.node_def.pool if node.is_executable else None,
            "description": node.description,
            "code_version": node.code_version,
            "io_manager": node.assets_def.get_io_manager_key_for_asset_key(key) if node.is_materializable else None,
            "checks": sorted(c.to_user_string() for c in node.check_keys),
            "is_executable": node.is_executable,
        }
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        out["jobs"][job.name] = {
            "tags": job.tags,
            "executor": job.executor_def.name,
            "partitions": getattr(job.partitions_def, "name", None),
            "assets": sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys),
        }
    for sensor in defs.sensors or []:
        out["sensors"][sensor.name] = {
            "jobs": sorted(j.name for j in sensor.jobs),
            "interval": sensor.minimum_interval_seconds,
            "default_status": str(sensor.default_status),
        }
    for schedule in defs.schedules or []:
        out["schedules"][schedule.name] = {
            "job": schedule.job_name,
            "cron": schedule.cron_schedule,
            "default_status": str(schedule.default_status),
        }
    out["resources"] = sorted((defs.resources or {}).keys())
    return json.loads(json.dumps(out, sort_keys=True, default=str))


def test_asset_specs_match_the_snapshot(monkeypatch, tmp_path):
    for env, aliases in environment_variables().values():
        for name in (env, *aliases):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env
    current = describe(build_definitions(Settings.from_env()))
    if os.environ.get("WANDR_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())
