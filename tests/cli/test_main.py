"""`wandr-pipeline run` ends with a readable error, never a traceback, when its list or storage is unusable."""

from __future__ import annotations

from wandr_pipeline.cli.main import main


def test_a_storage_root_that_cannot_be_written_is_a_readable_error(tmp_path, monkeypatch, capsys):
    listing = tmp_path / "list.txt"
    listing.write_text("https://example.com/v.mp4\n")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # /proc accepts no new folders, whoever runs the test (root ignores file modes).
    code = main(["run", str(listing), "--storage", "/proc/wandr-storage-test"])
    err = capsys.readouterr().err
    assert code == 2 and "error: cannot write to the storage root /proc/wandr-storage-test" in err, err
    assert "Traceback" not in err


def test_a_list_with_hostile_lines_runs_without_a_traceback(tmp_path, monkeypatch, capsys):
    listing = tmp_path / "list.txt"
    listing.write_bytes("http://[::1/v.mp4\nhttp://h.example:99999/v.mp4\na\x00b\n".encode("utf-16"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    code = main(["run", str(listing), "--storage", str(tmp_path / "root")])
    out = capsys.readouterr().out
    assert code == 0 and out.count("rejected line") == 3 and "no videos to process" in out, out
