"""What `wandr-pipeline run` prints when it is done: readable at 5 videos and at 100,000.

A short list gets a line per video; a long one counts by outcome and its first failures, so that the
end of a 100,000-line run fits on a screen (everything else is in the tables). The runner
(cli/runner.py) decides and records; this module only prints its `PipelineOutcome`.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Sequence

from wandr_pipeline.cli.runner import FAILURES_LISTED_MAX, BatchRun, PipelineOutcome


def print_summary(outcome: PipelineOutcome) -> None:
    for run_id in outcome.orphaned_runs:
        print(f"run {run_id[:8]}: left running by a process that is gone (killed?): marked failed")
    if outcome.orphaned_folders:
        print(f"removed {outcome.orphaned_folders} temporary folder(s) left by killed runs")
    for line in outcome.rejected[:FAILURES_LISTED_MAX]:
        print(f"rejected line {line.line_number}: {line.text!r}: {line.reason}")
    if len(outcome.rejected) > FAILURES_LISTED_MAX:
        print(f"... and {len(outcome.rejected) - FAILURES_LISTED_MAX} more rejected lines; all in url_list_rejections")
    _print_runs(outcome.runs)
    if not outcome.keys:
        print("no videos to process")
        return
    if outcome.videos:
        _print_videos(outcome)
    else:
        _print_counts(outcome)
    if outcome.lake:
        tables = sorted({item.table for item in outcome.lake})
        seconds = sum(item.seconds + item.compact_seconds for item in outcome.lake)
        videos = sum(item.videos for item in outcome.lake if item.table == tables[0])
        print(f"lake/ updated for {videos} video(s): {', '.join(tables)} ({seconds:.1f} s)")
    if outcome.lake_error:
        print(f"lake/ NOT updated: {outcome.lake_error} (the next run or lake_sync_sensor catches up)")
    if outcome.already_done:
        print(
            f"{len(outcome.already_done)} of them were finished by an earlier run and were not processed again "
            f"(--reprocess redoes them)"
        )
    if outcome.failed_before:
        print(
            f"{len(outcome.failed_before)} of them had failed for good in an earlier run (404, private, over a "
            f"limit) and were not tried again (--reprocess tries them)"
        )
    if outcome.stopped_by:
        print(
            f"STOPPED ({outcome.stopped_by}): {len(outcome.interrupted)} video(s) interrupted, "
            f"{len(outcome.not_started)} not started; run the same list again to finish them"
        )


def _print_runs(runs: Sequence[BatchRun]) -> None:
    if len(runs) > FAILURES_LISTED_MAX:
        ok = sum(run.success for run in runs)
        seconds = sum(run.seconds for run in runs)
        print(f"{len(runs)} runs in {seconds:.1f} s: {ok} ok, {len(runs) - ok} failed")
        runs = [run for run in runs if not run.success][:FAILURES_LISTED_MAX]
    for run in runs:
        state = "ok" if run.success else f"FAILED: {run.error}"
        print(f"run {run.run_id[:8]}: {len(run.keys)} video(s) in {run.seconds:.1f} s: {state}")


def _print_videos(outcome: PipelineOutcome) -> None:
    header = f"{'video_key':<28} {'download':<9} {'transcript':<10} {'ocr':<8} {'words':>5} {'lines':>5}  detail"
    print(header)
    print("-" * len(header))
    for item in outcome.videos:
        detail = item.get("error") or item.get("text", "")
        if item.get("already_done"):
            detail = f"(already done, not re-run) {detail}"
        if item.get("busy"):
            detail = f"(being processed by another run: left to it) {detail}"
        print(
            f"{item['video_key']:<28} {item['download']:<9} {item['transcript']:<10} {item['ocr']:<8} "
            f"{item.get('words', 0):>5} {item.get('onscreen_lines', 0):>5}  {detail}"
        )
    ok = sum(1 for item in outcome.videos if item["download"] == "ok")
    print(f"{ok}/{len(outcome.videos)} video(s) processed")


def _print_counts(outcome: PipelineOutcome) -> None:
    """The summary of a long list: counts by outcome, then the first failures."""
    counts = {
        "finished now": len(outcome.finished),
        "failed now": len(outcome.failed),
        "interrupted": len(outcome.interrupted),
        "not started": len(outcome.not_started),
        "already done": len(outcome.already_done),
        "failed for good before": len(outcome.failed_before),
        "busy (another run has them)": len(outcome.busy),
    }
    print(f"{len(outcome.keys)} video(s) in the list:")
    for label, count in counts.items():
        if count:
            print(f"  {label:<28} {count:>8}")
    if outcome.failures:
        print(f"failures ({len(outcome.failed)}):")
        for key, error in outcome.failures:
            print(f"  {key:<28} {error[:160]}")
        if len(outcome.failed) > len(outcome.failures):
            print(f"  ... and {len(outcome.failed) - len(outcome.failures)} more; all in the videos table")
    processed = len(outcome.finished) + len(outcome.already_done)
    print(f"{processed}/{len(outcome.keys)} video(s) finished")


def where_root(storage_uri: str) -> str:
    """The storage root as a path a person can open (absolute), or its URI (gs://...)."""
    return storage_uri if "://" in storage_uri else os.path.abspath(storage_uri)


def query_command(storage_uri: str) -> str:
    """A shell command that prints the lake's documents (works for local and gs:// roots alike)."""
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd() + os.sep) else sys.executable
    code = (  # double quotes inside: the shell's single quotes then wrap it without escapes
        "from wandr_pipeline.lib.lake import Lake; from wandr_pipeline.lib.storage import storage_for; "
        f'print(Lake(storage_for({json.dumps(where_root(storage_uri))})).read_pandas("video_documents")'
        '[["video_key", "status", "title", "transcript_text"]].head(20).to_string(max_colwidth=50))'
    )
    return f"{shlex.quote(python)} -c {shlex.quote(code)}"


def print_next_steps(storage_uri: str, *, lake_synced: bool, dagster_home: str | None) -> None:
    """Where the results are and the two things to do next: look at them in the UI, query them."""
    root = where_root(storage_uri)
    print(f"tables (one Parquet file per video and table): {root.rstrip('/')}/warehouse/")
    lake_state = "" if lake_synced else " (not updated by this run: WANDR_LAKE_SYNC is off or it failed)"
    print(f"lake (the analysts' Delta tables, one per table): {root.rstrip('/')}/lake/{lake_state}")
    print("next:")
    if not dagster_home:
        print("  make dev    # the Dagster UI (this run used a temporary instance: set DAGSTER_HOME to see it there)")
    elif os.path.abspath(dagster_home) == os.path.abspath("dagster_home"):  # make's own, in the checkout
        print("  make dev    # the Dagster UI on http://127.0.0.1:3000: these runs and assets")
    else:
        print(f"  DAGSTER_HOME={shlex.quote(dagster_home)} make dev    # the Dagster UI on http://127.0.0.1:3000")
    print(f"  {query_command(storage_uri)}")
