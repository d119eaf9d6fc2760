"""The lake from the command line: a plain run completes a table an earlier partial sync left out, and
`doctor`, `GET /health` and `wandr-pipeline lake` fail on a damaged or lagging lake, name the fix, and pass
after it (lib/lake.py, cli/lake.py, docs/WAREHOUSE.md "Healing")."""

from __future__ import annotations

import pytest

pytest.importorskip("deltalake")

from deltalake.exceptions import TableNotFoundError  # noqa: E402

from tests.lib.test_lake import damage_table, write_video, write_words  # noqa: E402
from wandr_pipeline.api.health import HealthChecker  # noqa: E402
from wandr_pipeline.cli.doctor import report  # noqa: E402
from wandr_pipeline.cli.main import main  # noqa: E402
from wandr_pipeline.cli.runner import PipelineOutcome, update_lake  # noqa: E402
from wandr_pipeline.cli.summary import print_summary  # noqa: E402
from wandr_pipeline.engines.readiness import FAIL, PASS, run_checks  # noqa: E402
from wandr_pipeline.lib.lake import Lake, lake_tables  # noqa: E402
from wandr_pipeline.lib.storage import Storage  # noqa: E402
from wandr_pipeline.settings import Settings  # noqa: E402


def _videos(storage: Storage, keys: list[str]) -> None:
    for key in keys:
        write_video(storage, key, segments=2)
        write_words(storage, key, words=7)


def test_a_plain_run_after_a_partial_sync_completes_every_table(tmp_path, capsys):
    storage = Storage(tmp_path)
    settings = Settings(storage_uri=str(tmp_path))
    keys = [f"tiktok-{i}" for i in range(5)]
    _videos(storage, keys)
    lake = Lake.from_settings(storage, settings.lake)
    lake.sync(keys, tables=[table for table in lake_tables() if table != "transcript_words"])  # the crash
    with pytest.raises(TableNotFoundError):
        lake.read_arrow("transcript_words")

    outcome = PipelineOutcome(keys=keys, already_done=keys)  # a re-run: every video finished before
    update_lake(storage, settings, outcome)
    assert outcome.lake_error is None
    assert [(item.table, item.videos) for item in outcome.lake] == [("transcript_words", 5)]
    assert len(lake.read_arrow("transcript_words")) == 35
    for table in lake_tables():
        assert sorted(set(lake.read_arrow(table, ["video_key"]).column(0).to_pylist())) == keys, table
    print_summary(outcome)
    assert "lake/ updated for 5 video(s): transcript_words" in capsys.readouterr().out


def test_a_damaged_lake_fails_doctor_health_and_status_with_the_fix_and_passes_after_the_rebuild(tmp_path, capsys):
    storage = Storage(tmp_path)
    settings = Settings(storage_uri=str(tmp_path), lake_max_behind_videos=2)
    keys = [f"tiktok-{i}" for i in range(6)]
    _videos(storage, keys[:3])
    lake = Lake.from_settings(storage, settings.lake)
    for key in keys[:3]:
        lake.sync([key])
    health = HealthChecker(settings, storage, instance_factory=lambda: None)
    assert run_checks(settings, ["lake"])[0].status == PASS and health.lake()["ok"] is True

    damage_table(lake, "videos", "truncated last entry")
    (check,) = run_checks(settings, ["lake"])
    assert check.status == FAIL and "lake/videos: its log cannot be read" in check.detail
    assert "Json error" in check.detail and "fix: wandr-pipeline lake rebuild" in check.detail
    assert "doctor: 1 check(s) failed: lake" in report([check])
    fresh = HealthChecker(settings, storage, instance_factory=lambda: None)
    assert fresh.lake() == {"ok": False, "detail": check.detail}
    assert main(["lake", "status", "--storage", str(tmp_path)]) == 1
    assert "DAMAGED  lake/videos: its log cannot be read" in capsys.readouterr().out

    assert main(["lake", "rebuild", "--storage", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "lake/videos: rebuilt from the warehouse (its log cannot be read" in out and "3 video(s)" in out
    assert run_checks(settings, ["lake"])[0].status == PASS

    # Behind by more than WANDR_LAKE_MAX_BEHIND_VIDEOS: fail, naming `lake sync`; pass after it.
    _videos(storage, keys[3:])
    (check,) = run_checks(settings, ["lake"])
    assert check.status == FAIL and "3 video(s) behind the warehouse" in check.detail
    assert "fix: wandr-pipeline lake sync" in check.detail
    assert main(["lake", "sync", "--storage", str(tmp_path)]) == 0
    assert run_checks(settings, ["lake"])[0].status == PASS
    assert all(sorted(set(lake.read_pandas(table).video_key)) == keys for table in lake_tables())


def test_the_lake_check_is_skipped_when_the_lake_is_off(tmp_path):
    (check,) = run_checks(Settings(storage_uri=str(tmp_path), lake_sync=False), ["lake"])
    assert check.status == "SKIP"
