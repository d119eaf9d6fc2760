"""Creating a `process_videos` run over a range of video partitions and handing it to the run queue.

This does what `dagster job launch` does: it loads the code locations of `workspace.yaml` (a code
server subprocess, like the UI's and the daemon's), builds the run from that location's job (snapshot,
execution plan, origins), creates it in the instance and submits it to the instance's run coordinator.
With the queued run coordinator the daemon then dequeues and launches it, and the UI shows it like
any other run.

The workspace is loaded once per process (on first use or by `warm()`) and kept; `close()` stops its
code server. A location that fails to load is retried on the next call. The job's snapshot and
execution plan are the same for every partition: they are fetched from the code server once and kept
with the workspace, so a submission is two writes to the instance (the lock covers only loading the
workspace and the job, never a run's creation or submission). Which videos go into which run is
`run_queue.py`'s business: it calls this from its own thread, never from a request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence

from dagster import DagsterInstance
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster.version import __version__ as dagster_version

from wandr_pipeline.lib.tags import LAUNCHED_BY_TAG, range_tags


class SubmitUnavailable(RuntimeError):
    """The code location cannot be loaded (or lacks the job): nothing can be submitted right now."""


class RunSubmitter:
    def __init__(self, instance: DagsterInstance, workspace_file: str, job_name: str, location_name: str = ""):
        self.instance = instance
        self.workspace_file = workspace_file
        self.job_name = job_name
        self.location_name = location_name
        self._lock = threading.RLock()
        self._context: WorkspaceProcessContext | None = None
        self._job = None  # (request context, location, repository, remote job, plan snapshot), kept
        self.load_seconds: float | None = None

    # -- workspace ----------------------------------------------------------------------------
    def _workspace(self) -> WorkspaceProcessContext:
        with self._lock:
            if self._context is None:
                start = time.perf_counter()
                try:
                    self._context = WorkspaceProcessContext(
                        self.instance,
                        WorkspaceFileTarget(paths=[self.workspace_file]),
                        version=dagster_version,
                        read_only=False,
                    )
                except Exception as exc:  # noqa: BLE001 - reported as 503 by the caller
                    raise SubmitUnavailable(f"cannot load the workspace {self.workspace_file}: {exc}") from exc
                self.load_seconds = time.perf_counter() - start
            return self._context

    def warm(self) -> None:
        """Load the workspace now (a background thread at start-up calls this)."""
        try:
            self._remote_job()
        except SubmitUnavailable:
            pass

    def close(self) -> None:
        with self._lock:
            self._job = None
            if self._context is not None:
                context, self._context = self._context, None
                context.__exit__(None, None, None)

    def _remote_job(self):
        context = self._workspace()
        request = context.create_request_context()
        entries = request.get_code_location_entries()
        names = [self.location_name] if self.location_name else list(entries)
        problems = []
        for name in names:
            entry = entries.get(name)
            if entry is None:
                problems.append(f"no code location named {name!r} in {self.workspace_file}")
                continue
            if entry.code_location is None:
                error = entry.load_error.message.strip().splitlines()[-1] if entry.load_error else "not loaded"
                problems.append(f"code location {name!r} failed to load: {error}")
                continue
            location = entry.code_location
            for repo in location.get_repositories().values():
                if repo.has_job(self.job_name):
                    return request, location, repo
            problems.append(f"code location {name!r} has no job {self.job_name!r}")
        if problems and all("failed to load" in p for p in problems):
            # A broken location stays broken until reloaded: reload on the next call.
            self.close()
        raise SubmitUnavailable("; ".join(problems) or f"no code location in {self.workspace_file}")

    def check(self) -> None:
        """Raise `SubmitUnavailable` unless the job can be built now."""
        self._prepared()

    def _prepared(self):
        """The job and its execution plan, fetched from the code server once (under the lock) and kept."""
        job = self._job
        if job is not None:
            return job
        with self._lock:
            if self._job is None:
                request, location, repo = self._remote_job()
                remote_job = location.get_job(
                    JobSubsetSelector(
                        location_name=location.name,
                        repository_name=repo.name,
                        job_name=self.job_name,
                        op_selection=None,
                    )
                )
                plan = location.get_execution_plan(
                    remote_job, {}, step_keys_to_execute=None, known_state=None, instance=self.instance
                ).execution_plan_snapshot
                self._job = (request, location, repo, remote_job, plan)
            return self._job

    # -- runs ---------------------------------------------------------------------------------
    def create_and_submit(
        self, video_keys: Sequence[str], run_id: str, tags: Mapping[str, str] | None = None
    ) -> DagsterRun:
        """Create one run over the adjacent partitions `video_keys` (first..last, with the same range
        tags the CLI and the sensors set) with id `run_id`, and submit it to the run coordinator.

        Raises `DagsterRunAlreadyExists` when a run with that id exists.
        """
        request, location, repo, remote_job, plan = self._prepared()
        run_tags = {**remote_job.tags, **range_tags(video_keys), LAUNCHED_BY_TAG: "api", **(tags or {})}
        run = self.instance.create_run(
            job_name=self.job_name,
            run_id=run_id,
            run_config={},
            status=None,
            tags=run_tags,
            root_run_id=None,
            parent_run_id=None,
            step_keys_to_execute=plan.step_keys_to_execute,
            execution_plan_snapshot=plan,
            job_snapshot=remote_job.job_snapshot,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            asset_selection=None,
            asset_check_selection=None,
            resolved_op_selection=remote_job.resolved_op_selection,
            op_selection=None,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            asset_graph=repo.asset_graph,
        )
        return self.instance.submit_run(run.run_id, request)

    def resubmit(self, run_id: str) -> DagsterRun:
        """Submit a run that was created but never submitted (a process died in between)."""
        request = self._prepared()[0]
        return self.instance.submit_run(run_id, request)
