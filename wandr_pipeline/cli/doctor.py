"""`wandr-pipeline doctor`: can this machine run the pipeline, and on which devices?

One line per check, `PASS` / `WARN` / `FAIL` / `SKIP`, and a non-zero exit when a required check
fails. The checks are `wandr_pipeline.engines.readiness`, the same ones `GET /health` runs, at their
deepest: they do the real thing on a tiny input (transcribe a second of audio, read a drawn word,
write and read back an object under the storage root), so a PASS means the stage will work.
This module only chooses them and prints the report.
"""

from __future__ import annotations

import dataclasses
import json
import platform

from wandr_pipeline.engines.readiness import CHECK_NAMES, FAIL, Check, run_checks
from wandr_pipeline.settings import Settings

# The doctor's label for each readiness check it runs, in report order.
LABELS = {name: ("dagster" if name == "instance" else name) for name in CHECK_NAMES}


def _open_instance():
    from dagster import DagsterInstance

    return DagsterInstance.get()


def doctor_checks(settings: Settings, *, require_gpu: bool = False, load_models: bool = True) -> list[Check]:
    checks = run_checks(
        settings,
        list(LABELS),
        require_gpu=require_gpu,
        load=load_models,
        devices=True,
        write=True,
        instance_factory=_open_instance,
        own_instance=True,
    )
    return [dataclasses.replace(check, name=LABELS[check.name]) for check in checks]


def report(checks: list[Check], as_json: bool = False) -> str:
    if as_json:
        return json.dumps(
            {
                "python": platform.python_version(),
                "checks": [dataclasses.asdict(c) for c in checks],
                "ok": not any(c.status == FAIL for c in checks),
            },
            indent=1,
        )
    width = max(len(c.name) for c in checks)
    lines = [f"{c.status:<4}  {c.name:<{width}}  {c.detail}" for c in checks]
    failed = [c.name for c in checks if c.status == FAIL]
    lines.append(
        f"doctor: {len(failed)} check(s) failed: {', '.join(failed)}"
        if failed
        else "doctor: all required checks passed"
    )
    return "\n".join(lines)
