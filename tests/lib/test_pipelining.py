"""The stage pipeline: stages overlap across videos, each video keeps its stage order, back-pressure holds."""

from __future__ import annotations

import threading
import time

import pytest

from wandr_pipeline.lib.pipelining import PipelineStage, StageDone, run_pipelined


class Recorder:
    """Stages that sleep and record when each video started and ended in each stage."""

    def __init__(self, seconds: dict[str, float]):
        self.seconds = seconds
        self.spans: dict[tuple[str, str], tuple[float, float]] = {}
        self.threads: dict[str, set[int]] = {name: set() for name in seconds}
        self.lock = threading.Lock()
        self.in_flight_max = 0
        self._started: set[str] = set()
        self._finished: set[str] = set()

    def stage(self, name: str, *, first: bool = False, last: bool = False):
        def process(keys: list[str]) -> None:
            start = time.perf_counter()
            with self.lock:
                self.threads[name].add(threading.get_ident())
                if first:
                    self._started.update(keys)
                    self.in_flight_max = max(self.in_flight_max, len(self._started - self._finished))
            time.sleep(self.seconds[name] * len(keys))
            end = time.perf_counter()
            with self.lock:
                for key in keys:
                    self.spans[(name, key)] = (start, end)
                if last:
                    self._finished.update(keys)

        return process


def test_stages_overlap_and_the_run_takes_about_its_slowest_stage():
    rec = Recorder({"decode": 0.05, "read": 0.1, "speech": 0.05})
    stages = [
        PipelineStage("decode", rec.stage("decode", first=True)),
        PipelineStage("read", rec.stage("read"), after=("decode",)),
        PipelineStage("speech", rec.stage("speech", last=True), after=("read",)),
    ]
    keys = [f"v{i}" for i in range(8)]
    start = time.perf_counter()
    done = list(run_pipelined(keys, stages, in_flight=4, on_error=pytest.fail, tick_s=0.01))
    wall = time.perf_counter() - start
    assert [d.stage for d in done] == ["decode", "read", "speech"]
    # serial: 8 x 0.2 s = 1.6 s; pipelined: ~8 x 0.1 s (the slowest stage) + the other two once
    assert wall < 1.2, wall
    for key in keys:  # each video's own order holds
        assert rec.spans[("decode", key)][1] <= rec.spans[("read", key)][0]
        assert rec.spans[("read", key)][1] <= rec.spans[("speech", key)][0]
    assert all(len(threads) == 1 for threads in rec.threads.values())  # one thread per stage (models load once)
    assert len(set().union(*rec.threads.values())) == 3


def test_no_more_videos_in_flight_than_allowed():
    rec = Recorder({"fast": 0.0, "slow": 0.05})
    stages = [
        PipelineStage("fast", rec.stage("fast", first=True)),
        PipelineStage("slow", rec.stage("slow", last=True), after=("fast",)),
    ]
    list(run_pipelined([f"v{i}" for i in range(10)], stages, in_flight=2, on_error=pytest.fail, tick_s=0.01))
    assert rec.in_flight_max == 2  # the fast stage waits instead of running ahead of the slow one


def test_a_stage_that_raises_is_reported_and_the_videos_move_on():
    seen: list[tuple[str, str]] = []
    errors: list[tuple[str, list[str], str]] = []

    def flaky(keys):
        if "v1" in keys:
            raise RuntimeError("boom")
        seen.extend(("first", k) for k in keys)

    stages = [
        PipelineStage("first", flaky),
        PipelineStage("second", lambda keys: seen.extend(("second", k) for k in keys), after=("first",)),
    ]
    done = list(
        run_pipelined(
            ["v0", "v1", "v2"], stages, in_flight=3, on_error=lambda s, k, e: errors.append((s, k, str(e))), tick_s=0.01
        )
    )
    assert errors == [("first", ["v1"], "boom")]
    assert sorted(k for s, k in seen if s == "second") == ["v0", "v1", "v2"]  # v1 still reached the next stage
    assert done == [StageDone("first"), StageDone("second")]


def test_a_batching_stage_gets_the_videos_waiting_together():
    calls: list[list[str]] = []

    def many(keys):
        calls.append(list(keys))
        time.sleep(0.2)  # meanwhile the upstream stage finishes the other videos

    stages = [
        PipelineStage("upstream", lambda keys: time.sleep(0.01)),
        PipelineStage("many", many, after=("upstream",), batch=8),
    ]
    list(run_pipelined([f"v{i}" for i in range(4)], stages, in_flight=4, on_error=pytest.fail, tick_s=0.01))
    assert calls == [["v0"], ["v1", "v2", "v3"]]


def test_stage_names_and_dependencies_are_checked():
    with pytest.raises(ValueError, match="repeat"):
        list(run_pipelined(["a"], [PipelineStage("x", print), PipelineStage("x", print)], in_flight=1, on_error=print))
    with pytest.raises(ValueError, match="not in this pipeline"):
        list(run_pipelined(["a"], [PipelineStage("x", print, after=("y",))], in_flight=1, on_error=print))


def test_a_stage_with_several_workers_lets_the_others_pass_a_slow_video():
    """Downloads (`workers` 3): the slow video holds one worker; the other videos go on to the next stage."""
    started: dict[str, float] = {}
    ended: dict[tuple[str, str], float] = {}

    def download(keys: list[str]) -> None:
        [key] = keys
        started[key] = time.perf_counter()
        time.sleep(1.0 if key == "slow" else 0.05)
        ended[("download", key)] = time.perf_counter()

    def audio(keys: list[str]) -> None:
        for key in keys:
            ended[("audio", key)] = time.perf_counter()

    stages = [
        PipelineStage("download", download, workers=3),
        PipelineStage("audio", audio, after=("download",)),
    ]
    keys = ["slow", "a", "b", "c", "d"]
    list(run_pipelined(keys, stages, in_flight=4, on_error=lambda *a: pytest.fail(str(a))))
    assert started["a"] - started["slow"] < 0.5  # not one after another
    for key in "abcd":
        assert ended[("audio", key)] < ended[("download", "slow")]  # done before the slow one arrives


def test_one_worker_is_still_one_video_at_a_time():
    spans: list[tuple[float, float]] = []

    def download(keys: list[str]) -> None:
        start = time.perf_counter()
        time.sleep(0.05)
        spans.append((start, time.perf_counter()))

    list(run_pipelined(list("abc"), [PipelineStage("download", download)], in_flight=3, on_error=lambda *a: None))
    spans.sort()
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:]))


def test_the_videos_of_a_site_at_its_limit_wait_not_the_list_behind_them():
    """Two slow sites (2 at once each) first in the list, 6 workers: the slow sites hold 4, the other
    site's videos pass them; a slow site's third video waits for one of its own."""
    started: dict[str, float] = {}
    ended: dict[str, float] = {}
    lock = threading.Lock()
    busy: dict[str, int] = {}
    most: dict[str, int] = {}

    def download(keys: list[str]) -> None:
        [key] = keys
        site = key.split("-")[0]
        with lock:
            started[key] = time.perf_counter()
            busy[site] = busy.get(site, 0) + 1
            most[site] = max(most.get(site, 0), busy[site])
        time.sleep(0.6 if site.startswith("slow") else 0.02)
        with lock:
            busy[site] -= 1
            ended[key] = time.perf_counter()

    stage = PipelineStage("download", download, workers=6, group_of=lambda key: key.split("-")[0], per_group=2)
    keys = [f"slow1-{i}" for i in range(3)] + [f"slow2-{i}" for i in range(3)] + [f"good-{i}" for i in range(8)]
    start = time.perf_counter()
    list(run_pipelined(keys, [stage], in_flight=4, on_error=lambda *a: pytest.fail(str(a))))
    assert most == {"slow1": 2, "slow2": 2, "good": 2}
    first_slow_done = min(ended[k] for k in keys if k.startswith("slow"))
    assert max(ended[k] for k in keys if k.startswith("good")) < first_slow_done, "good videos waited"
    assert started["slow1-2"] >= min(ended["slow1-0"], ended["slow1-1"]) - 0.01
    assert time.perf_counter() - start < 1.6  # two rounds of the slow ones, not one after another


def test_a_grouped_stage_must_come_first():
    with pytest.raises(ValueError, match="not a first stage"):
        stages = [
            PipelineStage("a", lambda keys: None),
            PipelineStage("b", lambda keys: None, after=("a",), group_of=str, per_group=1),
        ]
        list(run_pipelined(["x"], stages, in_flight=1, on_error=lambda *a: None))
