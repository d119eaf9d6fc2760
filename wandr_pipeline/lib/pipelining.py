"""Stages of a batch run working at once: each video moves on to its next stage as soon as it is ready.

Run one stage after another over a whole batch and the run takes the *sum* of the stages: while OCR
reads, the frame decoder idles, and the other way round. Here every stage has one worker thread of its
own (its model loads once and is never used by two threads), videos flow from stage to stage, and at
most `in_flight` videos are between their first stage and their last: a slow stage makes the stages
before it wait (back-pressure) instead of piling up decoded work. The run then takes about as long as
its slowest stage. The heavy work (ffmpeg, PyAV, ONNX Runtime, CTranslate2) releases the GIL.

A first stage may name each video's group (a download's site) and a limit per group: videos are then
admitted in list order except that one whose group is at its limit is passed over until a video of its
group is through that stage, so the videos of a slow site wait for each other, not the rest of the list.

No Dagster here: the stage functions record their own outcomes; a stage function that raises is
reported through `on_error` for the videos it was given, and those videos still move on (the next
stage sees the recorded failure as its input), so one bug never stalls the batch.

A stop request (lib/stopping.py: the CLI got SIGTERM) ends the loop with `PipelineStopped` within a
tick: no video is started any more, the workers' queued work is cancelled, and the loop does not wait
for the pieces of work still running (a download unwinds at its next progress hook; the process that
asked to stop decides how long to give them). The same holds when the caller is interrupted (Dagster
raises its interrupt in the calling thread): the loop never blocks on its workers then.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from wandr_pipeline.lib.stopping import StopRequested, stop_reason, stop_requested

ADMISSION_SCAN = 10_000  # videos looked at for one whose group has room (a long list of one full site: none)


class PipelineStopped(Exception):
    """The process was asked to stop (lib/stopping.py) before every video went through every stage."""


@dataclass(frozen=True)
class PipelineStage:
    """One stage: `process(keys)` does its work for those videos, once every stage in `after` did."""

    name: str
    process: Callable[[list[str]], None]
    after: tuple[str, ...] = ()  # stages of this pipeline each video must have finished first
    batch: int = 1  # most videos handed to one `process` call (more: the ones waiting at that moment)
    # `process` calls of this stage at once, each in its own thread (downloads: one slow host does not
    # hold the others); `process` must then be safe to call from several threads
    workers: int = 1
    # A first stage only: `group_of(key)` names a video's group (a download's site); at most `per_group`
    # videos of one group are admitted and not yet through this stage (0: no limit)
    group_of: Callable[[str], str] | None = None
    per_group: int = 0


@dataclass(frozen=True)
class StageDone:
    """Yielded when `stage` has finished the last video of the batch."""

    stage: str


def run_pipelined(
    keys: Sequence[str],
    stages: Sequence[PipelineStage],
    *,
    in_flight: int,
    on_error: Callable[[str, list[str], BaseException], None],
    tick_s: float = 1.0,
    on_tick: Callable[[], None] | None = None,
) -> Iterator[StageDone]:
    """Run every stage over every key; yields `StageDone` as each stage finishes its last video.

    `on_tick` is called on the calling thread at least every `tick_s` seconds and after each finished
    piece of work (e.g. to pass log lines queued by the workers on to a logger that wants one thread).
    """
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"stage names repeat: {names}")
    by_name = {s.name: s for s in stages}
    for s in stages:
        unknown = set(s.after) - set(by_name)
        if unknown:
            raise ValueError(f"stage {s.name} waits for stages not in this pipeline: {sorted(unknown)}")
        if s.group_of is not None and s.after:
            raise ValueError(f"stage {s.name} groups its videos but is not a first stage")
    keys = list(dict.fromkeys(keys))
    if not keys or not stages:
        yield from (StageDone(s.name) for s in stages)
        return

    pending = deque(keys)  # not admitted yet
    done: dict[str, set[str]] = {s.name: set() for s in stages}
    ready: dict[str, deque[str]] = {s.name: deque() for s in stages}
    queued: dict[str, set[str]] = {s.name: set() for s in stages}  # ready, running or done
    busy: dict[Future, tuple[str, list[str]]] = {}
    running = {s.name: 0 for s in stages}  # `process` calls under way
    admitted = 0
    # a stage with N workers needs N videos admitted to keep them busy
    in_flight = max(in_flight, *(s.workers for s in stages))
    grouped = [s for s in stages if s.group_of is not None and s.per_group > 0]
    group: dict[str, dict[str, str]] = {s.name: {} for s in grouped}  # stage -> key -> its group
    group_busy: Counter[tuple[str, str]] = Counter()  # (stage, group): admitted, not through the stage
    announced: set[str] = set()
    workers = {
        s.name: ThreadPoolExecutor(max_workers=max(1, s.workers), thread_name_prefix=f"stage-{s.name}") for s in stages
    }

    def release_ready(key: str) -> None:
        for s in stages:
            if key not in queued[s.name] and all(key in done[a] for a in s.after):
                queued[s.name].add(key)
                ready[s.name].append(key)

    def group_of(s: PipelineStage, key: str) -> str:
        if key not in group[s.name]:
            group[s.name][key] = s.group_of(key)
        return group[s.name][key]

    def next_admissible() -> str | None:
        if not grouped:
            return pending.popleft()
        for index, key in enumerate(itertools.islice(pending, ADMISSION_SCAN)):
            if all(group_busy[(s.name, group_of(s, key))] < s.per_group for s in grouped):
                del pending[index]
                for s in grouped:
                    group_busy[(s.name, group_of(s, key))] += 1
                return key
        return None  # every group near the head of the list is at its limit

    def admit() -> None:
        nonlocal admitted
        while pending and admitted < max(1, in_flight):
            key = next_admissible()
            if key is None:
                return
            admitted += 1
            release_ready(key)

    def start_idle() -> None:
        for s in stages:
            while running[s.name] < max(1, s.workers) and ready[s.name]:
                given = [ready[s.name].popleft() for _ in range(min(max(1, s.batch), len(ready[s.name])))]
                running[s.name] += 1
                busy[workers[s.name].submit(s.process, given)] = (s.name, given)

    completed = False
    try:
        admit()
        start_idle()
        while busy:
            finished, _ = wait(list(busy), timeout=tick_s, return_when=FIRST_COMPLETED)
            if stop_requested():
                raise PipelineStopped(stop_reason() or "stop requested")
            for future in finished:
                name, given = busy.pop(future)
                running[name] -= 1
                error = future.exception()
                if isinstance(error, StopRequested):  # the worker saw the request before this loop did
                    raise PipelineStopped(stop_reason() or str(error))
                if error is not None:
                    on_error(name, given, error)
                done[name].update(given)
                if name in group:
                    for key in given:
                        group_busy[(name, group[name][key])] -= 1
                for key in given:
                    if all(key in done[s.name] for s in stages):
                        admitted -= 1
                    release_ready(key)
            admit()
            start_idle()
            if on_tick is not None:
                on_tick()
            for s in stages:
                if s.name not in announced and len(done[s.name]) == len(keys):
                    announced.add(s.name)
                    yield StageDone(s.name)
        completed = True
    finally:
        for pool in workers.values():  # unwinding early: work still running is left to finish or stop on its own
            pool.shutdown(wait=completed, cancel_futures=True)
