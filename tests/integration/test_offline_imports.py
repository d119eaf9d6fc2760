"""The default offline path (local storage, local OCR) never imports Google libraries nor needs
Google credentials: the `google` OCR engine and `gs://` storage load them only when chosen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from tests.support.paths import REPO, SAMPLES

GOOGLE_PREFIXES = ("google", "gcsfs", "grpc")

PROBE = textwrap.dedent("""
    import importlib.abc, json, sys

    attempted = []

    class Watch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {prefixes!r}:
                attempted.append(name)
            return None  # record only: a library that tries and falls back is caught too

    sys.meta_path.insert(0, Watch())

    import wandr_pipeline.definitions  # what `dagster dev` and `wandr-pipeline` load
    from wandr_pipeline.cli.main import main

    code = main(["run", sys.argv[1]]) if len(sys.argv) > 1 else 0
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in {prefixes!r})
    print("PROBE " + json.dumps({{"code": code, "attempted": sorted(set(attempted)), "loaded": loaded}}))
""").format(prefixes=GOOGLE_PREFIXES)


def _probe(tmp_path, *args: str) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STORAGE_EMULATOR", "VISION_", "GCS_", "OCR_ENGINE", "WANDR_STORAGE"))
    }
    env.update(
        GOOGLE_APPLICATION_CREDENTIALS=str(tmp_path / "no-such-credentials.json"),  # any use would fail
        GOOGLE_CLOUD_PROJECT="",
        WANDR_STORAGE_URI=str(tmp_path / "data"),
        DAGSTER_HOME=str(tmp_path / "home"),
        PYTHONPATH=str(REPO),
        WANDR_FRAME_EVERY_N="90",
    )
    (tmp_path / "home").mkdir(exist_ok=True)
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("PROBE ")]
    assert lines, completed.stdout[-3000:] + completed.stderr[-3000:]
    return json.loads(lines[-1][len("PROBE ") :])


def test_offline_run_never_imports_google(tmp_path):
    url_list = tmp_path / "list.txt"
    url_list.write_text(f"{SAMPLES / 'lisbon_pasteis.mp4'}\n")
    result = _probe(tmp_path, str(url_list))
    assert result["code"] == 0
    assert result["attempted"] == [] and result["loaded"] == []
    # ...and it really ran: the tables are on local disk.
    assert list((tmp_path / "data" / "warehouse" / "video_documents").glob("video_key=*/part-0.parquet"))
