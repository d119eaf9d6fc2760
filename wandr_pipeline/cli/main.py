"""`wandr-pipeline run <url-list>`: register the videos and materialise every stage for them.
`wandr-pipeline doctor`: check that this machine can run them (GPU, models, storage).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

from dagster import DagsterInstance

from wandr_pipeline.cli.doctor import FAIL, doctor_checks, report
from wandr_pipeline.cli.interrupts import SignalWatch, exit_code
from wandr_pipeline.cli.progress import Progress
from wandr_pipeline.cli.runner import run_url_list
from wandr_pipeline.cli.summary import print_next_steps, print_summary
from wandr_pipeline.instance.sqlite_event_log import instance_overrides
from wandr_pipeline.settings import Settings, load_dotenv_file

log = logging.getLogger("wandr_pipeline")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wandr-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="process a URL list end to end")
    run.add_argument("url_list", type=Path, help="file with one URL or local path per line")
    run.add_argument("--storage", help="storage root (default: WANDR_STORAGE_URI or data/)")
    run.add_argument(
        "--partitions-per-run", type=int, help="videos per Dagster run (default: WANDR_PARTITIONS_PER_RUN)"
    )
    run.add_argument(
        "--reprocess",
        action="store_true",
        help="process every video again, also those an earlier run finished (by default a re-run "
        "resumes: only unfinished and failed videos are processed)",
    )
    doctor = commands.add_parser("doctor", help="check GPU, CUDA, ffmpeg, models, OCR, storage and credentials")
    doctor.add_argument("--require-gpu", action="store_true", help="fail when no GPU is usable (GPU workers)")
    doctor.add_argument("--quick", action="store_true", help="do not load the models")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    api = commands.add_parser("api", help="serve the HTTP API (gunicorn) on PORT (default 8080); see docs/API.md")
    api.add_argument("gunicorn_args", nargs=argparse.REMAINDER, help="extra gunicorn options, e.g. --workers 2")
    args = parser.parse_args(argv)

    load_dotenv_file()
    if args.command == "doctor":
        return _doctor(args)
    if args.command == "api":
        return _serve_api(args.gunicorn_args)
    overrides = {"storage_uri": args.storage, "partitions_per_run": args.partitions_per_run}
    settings = Settings.from_env(**{name: value for name, value in overrides.items() if value})
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    # Dagster's SQLite storage creates and stamps its schema with alembic, which logs each step at INFO
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
    if not args.url_list.is_file():
        print(f"error: no such URL list: {args.url_list}", file=sys.stderr)
        return 2
    try:
        with args.url_list.open("rb"):
            pass
    except OSError as exc:
        print(f"error: cannot read the URL list {args.url_list}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    with SignalWatch() as signals:
        code = _run(args, settings)
    if signals.received is not None:
        # threads stuck in native code (a transcription) would keep the interpreter from exiting
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_code(signals.received))
    return code


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if os.environ.get("DAGSTER_HOME"):
        instance = DagsterInstance.get()
    else:
        temp_home = tempfile.mkdtemp(prefix="wandr-dagster-home-")
        print(f"DAGSTER_HOME is not set: using a temporary instance in {temp_home}")
        instance = DagsterInstance.local_temp(temp_home, overrides=instance_overrides(temp_home))
    progress = Progress(settings.progress_every_s)
    with instance:
        try:
            outcome = run_url_list(
                args.url_list, settings, instance, reprocess=args.reprocess, on_progress=progress.update
            )
        except OSError as exc:  # a read-only or full storage root, a folder that cannot be made
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            print(
                f"error: cannot write to the storage root {settings.storage_uri}: {exc.strerror or exc}{where}",
                file=sys.stderr,
            )
            return 2
        finally:
            progress.close()
    print_summary(outcome)
    if outcome.keys:
        print_next_steps(
            settings.storage_uri,
            lake_synced=bool(outcome.lake) and not outcome.lake_error,
            dagster_home=os.environ.get("DAGSTER_HOME"),
        )
    return 0 if outcome.pipeline_ok else 1


def _doctor(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.ERROR)
    checks = doctor_checks(Settings.from_env(), require_gpu=args.require_gpu, load_models=not args.quick)
    print(report(checks, as_json=args.json))
    return 1 if any(check.status == FAIL for check in checks) else 0


def _serve_api(extra: list[str]) -> int:
    """Replace this process with gunicorn serving `wandr_pipeline.api.wsgi:app`."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:wandr_pipeline.api.gunicorn_conf",
        *extra,
        "wandr_pipeline.api.wsgi:app",
    ]
    if not os.environ.get("DAGSTER_HOME"):
        print("error: set DAGSTER_HOME to the instance the daemon and the UI use (make api does)", file=sys.stderr)
        return 2
    os.execv(sys.executable, command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
