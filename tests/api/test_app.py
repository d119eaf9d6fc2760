"""The API in-process: status read from real Dagster records, and every error path as JSON.

Nothing here loads the code location (no run is submitted): that is `test_api_server.py`'s job.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pytest
from dagster import (
    AssetSpec,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    asset,
    define_asset_job,
    multi_asset,
)
from dagster._core.execution.api import create_execution_plan

from wandr_pipeline.api.app import create_app
from wandr_pipeline.api.run_queue import QUEUE_PARTITIONS_NAME
from wandr_pipeline.api.service import JobService
from wandr_pipeline.api.status import read_status
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME, videos_partitions
from wandr_pipeline.lib.stages import STAGES_BY_ASSET
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.submissions import record_submissions
from wandr_pipeline.lib.tags import LAUNCHED_BY_TAG, range_tags
from wandr_pipeline.lib.urls import parse_video_url
from wandr_pipeline.settings import Settings

TOKEN = "unit-test-token"
STAGES = [STAGES_BY_ASSET["raw_video"], STAGES_BY_ASSET["audio"], STAGES_BY_ASSET["sampled_frames"]]


@pytest.fixture(scope="module")
def storage_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("api-storage") / "storage"


@pytest.fixture(scope="module")
def instance(tmp_path_factory, storage_root):
    """One SQLite instance for the module (a fresh one costs ~3 s); tests use their own video keys."""
    home = tmp_path_factory.mktemp("api-dagster-home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home))
        patch.setenv("WANDR_STORAGE_URI", str(storage_root))
        with DagsterInstance.get() as inst:
            yield inst


def _submissions(storage_root: Path) -> set[str]:
    folder = storage_root / "submissions"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def _settings(storage_root: Path, **overrides) -> Settings:
    values = dict(storage_uri=str(storage_root), api_token="", api_allowed_networks="", api_warm_workspace=False)
    values.update(overrides)
    return Settings.from_env(**values)


@pytest.fixture()
def client_for(instance, storage_root):
    def make(**overrides):
        settings = _settings(storage_root, **overrides)
        app = create_app(settings, JobService(settings, instance_factory=lambda: instance))
        return app.test_client()

    return make


def _register(instance, storage: Storage, url: str) -> str:
    ref = parse_video_url(url)
    record_submissions(storage, [ref], source="test")
    instance.add_dynamic_partitions(VIDEOS_PARTITIONS_NAME, [ref.video_key])
    return ref.video_key


def _failing_job():
    """Steps named like the real stage ops: `ingest_stages` (raw_video, audio) fails, `model_stages` never runs."""

    @multi_asset(
        name="ingest_stages",
        specs=[AssetSpec("raw_video"), AssetSpec("audio", deps=["raw_video"])],
        partitions_def=videos_partitions,
    )
    def ingest_stages():
        raise RuntimeError("bucket gs://nowhere is not reachable")

    @multi_asset(
        name="model_stages", specs=[AssetSpec("sampled_frames", deps=["raw_video"])], partitions_def=videos_partitions
    )
    def model_stages():
        return None

    return Definitions(
        assets=[ingest_stages, model_stages],
        jobs=[define_asset_job("process_videos", partitions_def=videos_partitions)],
    ).resolve_job_def("process_videos")


def test_a_failed_step_is_reported_with_its_error(instance, storage_root):
    storage = Storage(str(storage_root))
    key = _register(instance, storage, "https://example.com/clip.mp4")
    result = _failing_job().execute_in_process(instance=instance, partition_key=key, raise_on_error=False)
    assert not result.success

    status = read_status(instance, storage, key, STAGES)
    assert status.status == "failed"
    assert status.run_id == result.run_id and status.run_status == "FAILURE"
    raw = status.stages["raw_video"]
    assert raw.state == "failed" and "bucket gs://nowhere is not reachable" in raw.error
    assert status.stages["audio"].state == "failed"  # computed by the same step
    assert status.stages["sampled_frames"].state == "not_run"
    assert status.error.startswith("raw_video: ") and "not reachable" in status.error
    assert status.submission["source_url"] == "https://example.com/clip.mp4"
    assert status.as_dict()["stages"]["raw_video"]["error"] == raw.error


def test_runs_over_a_partition_range_count_for_each_video(instance, storage_root):
    """Runs made by the CLI, a backfill or a sensor cover key ranges: each video still sees its run."""
    storage = Storage(str(storage_root))
    keys = [_register(instance, storage, f"https://example.com/range-{i}.mp4") for i in range(3)]
    result = _failing_job().execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[1]},
    )
    for key in keys[:2]:
        status = read_status(instance, storage, key, STAGES)
        assert status.run_id == result.run_id and status.status == "failed"
        assert "not reachable" in status.stages["raw_video"].error
    assert read_status(instance, storage, keys[2], STAGES).status == "queued"


def test_registered_then_queued_then_unknown(instance, storage_root):
    storage = Storage(str(storage_root))
    key = _register(instance, storage, "https://example.com/other.mp4")
    status = read_status(instance, storage, key, STAGES)
    assert status.status == "queued" and status.run_id is None
    assert {s.state for s in status.stages.values()} == {"pending"}

    job = _failing_job()
    # A run created but not started yet (planned materialisations, no steps): queued.
    plan = create_execution_plan(job, instance_ref=instance.get_ref(), tags={"dagster/partition": key})
    run = instance.create_run_for_job(
        job, execution_plan=plan, tags={"dagster/partition": key}, status=DagsterRunStatus.NOT_STARTED
    )
    status = read_status(instance, storage, key, STAGES)
    assert status.status == "queued" and status.run_id == run.run_id
    assert {s.state for s in status.stages.values()} == {"queued"}

    assert read_status(instance, storage, "url-0000000000000000", STAGES) is None


def test_errors_are_json_and_leave_nothing_behind(client_for, instance, storage_root):
    client = client_for()
    partitions = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
    runs = instance.get_runs_count()
    submissions = _submissions(storage_root)
    cases = [
        (dict(data=b""), 400, "no body"),
        (dict(data=b"{not json", content_type="application/json"), 400, "not valid JSON"),
        (dict(json=["https://example.com/a.mp4"]), 400, "JSON object"),
        (dict(json={"link": "https://example.com/a.mp4"}), 400, "no 'url'"),
        (dict(json={"url": 42}), 400, "must be a string"),
        (dict(json={"url": "not a url"}), 400, "whitespace"),
        (dict(json={"url": "file:///etc/passwd"}), 400, "only http and https"),
        (dict(json={"url": "http://192.168.0.10/clip.mp4"}), 400, "private address"),
        (dict(json={"url": "http://127.0.0.1:9/clip.mp4"}), 400, "loopback"),
        (dict(json={"url": "http://169.254.169.254/latest/"}), 400, "link-local"),
        (dict(data=b'{"url": "' + b"a" * 20000 + b'"}', content_type="application/json"), 413, ""),
    ]
    for kwargs, code, fragment in cases:
        response = client.post("/process", **kwargs)
        assert response.status_code == code, (kwargs, response.get_data(as_text=True))
        body = response.get_json()
        assert set(body) >= {"error", "message"} and fragment in body["message"], body
    assert instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME) == partitions
    assert instance.get_runs_count() == runs
    assert _submissions(storage_root) == submissions

    for path, code in (
        ("/status/url-0000000000000000", 404),
        ("/result/nope", 404),
        ("/status/a%2Fb", 404),
        ("/no-such-endpoint", 404),
    ):
        response = client.get(path)
        assert response.status_code == code and response.is_json and response.get_json()["error"] == "not_found"
    response = client.delete("/process")
    assert response.status_code == 405 and response.get_json()["error"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


def test_result_is_409_until_done(client_for, instance, storage_root):
    key = _register(instance, Storage(str(storage_root)), "https://example.com/pending.mp4")
    client = client_for()
    response = client.get(f"/result/{key}")
    assert response.status_code == 409
    assert response.get_json() == {
        "error": "not_done",
        "message": f"job {key} is queued",
        "job_id": key,
        "status": "queued",
    }
    status = client.get(f"/status/{key}").get_json()
    assert status["status"] == "queued" and status["source_url"] == "https://example.com/pending.mp4"
    assert list(status["stages"]) == [
        "raw_video",
        "audio",
        "transcript",
        "sampled_frames",
        "ocr_text",
        "caption_spans",
        "video_documents",
    ]


def test_bearer_token(client_for, instance, storage_root):
    key = _register(instance, Storage(str(storage_root)), "https://example.com/secret.mp4")
    client = client_for(api_token=TOKEN)
    for headers, reason in (
        ({}, "missing"),
        ({"Authorization": "Bearer wrong"}, "invalid token"),
        ({"Authorization": f"Basic {TOKEN}"}, "must be 'Bearer"),
        ({"Authorization": "Bearer"}, "must be 'Bearer"),
    ):
        for method, path in (("get", f"/status/{key}"), ("get", f"/result/{key}"), ("post", "/process")):
            response = getattr(client, method)(path, headers=headers, json={"url": "https://example.com/x.mp4"})
            assert response.status_code == 401, (headers, path)
            assert reason in response.get_json()["message"]
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)[-1] == key
    ok = client.get(f"/status/{key}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.get_json()["job_id"] == key

    health = client.get("/health")  # open to probes, without details
    assert health.status_code == 200
    assert {c["detail"] for c in health.get_json()["checks"].values()} == {"reachable"}
    detailed = client.get("/health", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert "storage" in detailed["checks"] and "local folder" in detailed["checks"]["storage"]["detail"]


def test_health_reports_what_is_unreachable(instance, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("WHISPER_MODEL", str(tmp_path))  # a folder without model.bin
    settings = _settings(blocker / "storage")
    client = create_app(settings, JobService(settings, instance_factory=lambda: instance)).test_client()
    response = client.get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["instance"]["ok"] is True
    assert body["checks"]["storage"]["ok"] is False and body["checks"]["models"]["ok"] is False
    assert "storage:" in body["reason"] and "cannot be created" in body["reason"]
    assert "model.bin" in body["reason"]
    assert body["daemon"]["running"] is False


def test_health_ok_with_the_bundled_models(client_for):
    response = client_for().get("/health")
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and "tiny.en" in body["checks"]["models"]["detail"]
    assert "RapidOCR" in body["checks"]["models"]["detail"]
    json.dumps(body)


def _job(states: dict[str, tuple[str, str | None, str | None]], run_status: str = "SUCCESS"):
    from wandr_pipeline.api.status import JobStatus, StageStatus, _summarise

    status = JobStatus(
        "url-1234567890abcdef",
        "queued",
        run_id="r1",
        run_status=run_status,
        stages={
            name: StageStatus(state, outcome=outcome, error=error) for name, (state, outcome, error) in states.items()
        },
    )
    _summarise(status)
    return status


def test_overall_state_and_when_a_resubmission_runs_again():
    from wandr_pipeline.api.service import JobService

    ok = ("done", "ok", None)
    done = _job({"raw_video": ok, "transcript": ("done", "skipped", "no audio stream"), "video_documents": ok})
    assert (done.status, done.error) == ("done", None)
    assert not JobService._needs_run(done)

    gone = _job(
        {
            "raw_video": ("done", "failed", "HTTP Error 404: Not Found"),
            "video_documents": ("done", "failed", "raw_video failed: HTTP Error 404: Not Found"),
        }
    )
    assert gone.status == "failed" and gone.error == "raw_video failed: HTTP Error 404: Not Found"
    assert not JobService._needs_run(gone)  # the video's outcome is final: no second run

    throttled = _job(
        {
            "raw_video": ("done", "failed", "HTTP Error 429 (transient; gave up after 2 tries)"),
            "video_documents": (
                "done",
                "failed",
                "raw_video failed: HTTP Error 429 (transient; gave up after 3 tries)",
            ),
        }
    )
    assert throttled.status == "failed" and JobService._needs_run(throttled)  # a passing failure: run again
    vision = _job(
        {
            "raw_video": ok,
            "ocr_text": ("done", "failed", "Vision request failed: ServiceUnavailable: 503 (transient)"),
            "video_documents": ("done", "ok", None),
        }
    )
    assert vision.status == "done" and JobService._needs_run(vision)  # its OCR is redone
    # done with the transcript, but the lost OCR is said at the top, not only in its stage
    assert vision.error == "ocr_text failed: Vision request failed: ServiceUnavailable: 503 (transient)"

    crashed = _job(
        {
            "raw_video": ok,
            "transcript": ("failed", None, "MemoryError: out of memory"),
            "video_documents": ("not_run", None, "run ended"),
        },
        run_status="FAILURE",
    )
    assert crashed.status == "failed" and crashed.error == "transcript: MemoryError: out of memory"
    assert JobService._needs_run(crashed)

    running = _job(
        {"raw_video": ok, "transcript": ("running", None, None), "video_documents": ("waiting", None, None)},
        run_status="STARTED",
    )
    assert running.status == "running" and not JobService._needs_run(running)
    queued = _job({"raw_video": ("queued", None, None), "video_documents": ("queued", None, None)}, run_status="QUEUED")
    assert queued.status == "queued" and not JobService._needs_run(queued)


def test_no_instance_is_a_503_with_the_reason(storage_root):
    def broken():
        raise RuntimeError("DAGSTER_HOME is not set")

    settings = _settings(storage_root)
    client = create_app(settings, JobService(settings, instance_factory=broken)).test_client()
    response = client.get("/status/url-1234567890abcdef")
    assert response.status_code == 503 and "DAGSTER_HOME is not set" in response.get_json()["message"]
    health = client.get("/health")
    assert health.status_code == 503 and "instance: " in health.get_json()["reason"]


def test_status_never_shows_signed_url_values_or_secrets_in_errors(client_for, instance, storage_root):
    """`GET /status/<id>` with a submitted URL full of credentials, and a step error quoting one."""
    storage = Storage(str(storage_root))
    url = (
        "https://cdn.example/v.mp4?token=SENTINEL-tok1&X-Amz-Signature=SENTINEL-sig2&auth_token=SENTINEL-at3"
        "&client_secret=SENTINEL-cs4&hdnts=SENTINEL-ak5&quality=720"
    )
    key = _register(instance, storage, url)

    @asset(partitions_def=videos_partitions, name="raw_video")
    def raw_video():
        raise RuntimeError(f"cannot fetch {url} (Authorization: Bearer SENTINEL-bearer6)")

    job = Definitions(
        assets=[raw_video], jobs=[define_asset_job("process_videos", partitions_def=videos_partitions)]
    ).resolve_job_def("process_videos")
    job.execute_in_process(instance=instance, partition_key=key, raise_on_error=False)
    response = client_for().get(f"/status/{key}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "SENTINEL" not in body, body
    data = response.get_json()
    assert "quality=720" in data["source_url"] and "token=REDACTED" in data["source_url"]
    assert "cannot fetch https://cdn.example/v.mp4" in data["stages"]["raw_video"]["error"]


class SlowSubmitter:
    """Creates real runs (planned materialisations included; NOT_STARTED, since a QUEUED run needs a
    code location origin) of the two-stage job, each taking `delay` seconds as run creation does on a
    busy SQLite instance; `gate` holds creation back."""

    def __init__(self, instance, delay: float = 1.0):
        self.instance = instance
        self.delay = delay
        self.runs: list[list[str]] = []
        self.resubmitted: list[str] = []
        self.creating = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        self.job = _failing_job()

    def check(self):
        pass

    def create_and_submit(self, keys, run_id, tags=None):
        self.creating.set()
        self.gate.wait(30)
        time.sleep(self.delay)
        run_tags = {**range_tags(keys), LAUNCHED_BY_TAG: "api"}
        plan = create_execution_plan(self.job, instance_ref=self.instance.get_ref(), tags=run_tags)
        run = self.instance.create_run_for_job(
            self.job, execution_plan=plan, tags=run_tags, status=DagsterRunStatus.NOT_STARTED, run_id=run_id
        )
        self.runs.append(list(keys))
        return run

    def resubmit(self, run_id):
        self.resubmitted.append(run_id)

    def close(self):
        pass


def _queued_service(instance, storage_root, submitter_delay: float = 1.0):
    settings = _settings(storage_root, api_allowed_networks="127.0.0.1", api_batch_window_s=0.3, api_queue_poll_s=60.0)
    service = JobService(settings, instance_factory=lambda: instance)
    service.stages = STAGES
    service._submitter = SlowSubmitter(instance, submitter_delay)
    return service


def _wait_for(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_videos_posted_together_share_a_run_and_no_post_waits_for_it(instance, storage_root):
    """Six POSTs arrive while the run of an earlier video is being created: each is answered at once
    (nothing waits for run creation), /health answers meanwhile, and the six share the next run.
    Their status is `queued` before the run exists and the run's state after."""
    service = _queued_service(instance, storage_root)
    submitter = service._submitter
    client = create_app(service.settings, service).test_client()
    assert client.get("/health").status_code == 200  # model checks cached before the burst
    submitter.gate.clear()
    first = service.validate("http://127.0.0.1:9/together-first.mp4")
    refs = [service.validate(f"http://127.0.0.1:9/together-{i}.mp4") for i in range(6)]
    keys = {ref.video_key for ref in refs}
    answers: dict[str, tuple[float, object]] = {}

    def submit(ref):
        began = time.perf_counter()
        submitted = service.submit(ref)
        answers[ref.video_key] = (time.perf_counter() - began, submitted)

    try:
        submit(first)
        assert submitter.creating.wait(5)  # the first video's run is being created (held at the gate)
        threads = [threading.Thread(target=submit, args=(ref,)) for ref in refs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(answers[key][1].created and answers[key][1].status.status == "queued" for key in keys)
        assert max(seconds for seconds, _ in answers.values()) < 1.0, answers
        waiting = client.get(f"/status/{refs[0].video_key}").get_json()
        assert waiting["status"] == "queued" and waiting["run_id"] is None
        assert {s["state"] for s in waiting["stages"].values()} == {"queued"}
        began = time.perf_counter()
        assert client.get("/health").status_code == 200
        assert time.perf_counter() - began < 0.5

        submitter.gate.set()
        _wait_for(lambda: not service.queue.waiting())
        assert len(submitter.runs) == 2
        assert submitter.runs[0] == [first.video_key] and set(submitter.runs[1]) == keys
        statuses = [client.get(f"/status/{key}").get_json() for key in keys]
        run_ids = {status["run_id"] for status in statuses}
        assert len(run_ids) == 1 and None not in run_ids
        assert all(status["status"] == "queued" and status["run_status"] == "NOT_STARTED" for status in statuses)
        run = instance.get_run_by_id(run_ids.pop())
        assert run.tags["dagster/asset_partition_range_start"] == submitter.runs[1][0]
        assert run.tags["dagster/asset_partition_range_end"] == submitter.runs[1][-1]
        assert run.tags["wandr/launched_by"] == "api" and run.tags["wandr/videos"].startswith("6 videos:")
        again = service.submit(refs[2])
        assert not again.created and again.status.run_id == run.run_id
    finally:
        submitter.gate.set()
        service.close()


def test_the_same_video_posted_at_once_is_one_job_and_one_run(instance, storage_root):
    service = _queued_service(instance, storage_root, submitter_delay=0.2)
    urls = ["http://127.0.0.1:9/same.mp4", "http://127.0.0.1:9/same.mp4?utm_source=share"] * 4
    refs = [service.validate(url) for url in urls]
    results = []
    threads = [threading.Thread(target=lambda r=ref: results.append(service.submit(r))) for ref in refs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert {r.job_id for r in results} == {refs[0].video_key} and len(results) == 8
        assert sum(r.created for r in results) == 1
        _wait_for(lambda: not service.queue.waiting())
        assert service._submitter.runs == [[refs[0].video_key]]
    finally:
        service.close()


def test_a_retried_video_is_queued_until_its_run_and_a_dead_workers_queue_is_submitted(instance, storage_root):
    """A video whose run failed shows `queued` (not the old failure) while it waits again; the keys a
    worker left in the queue when it died get their run from the next worker's start-up drain, and a
    key whose run was created before the death is not run twice."""
    storage = Storage(str(storage_root))
    failed = _register(instance, storage, "http://127.0.0.1:9/retried.mp4")
    _failing_job().execute_in_process(instance=instance, partition_key=failed, raise_on_error=False)
    service = _queued_service(instance, storage_root, submitter_delay=0.0)
    service._submitter.gate.clear()
    try:
        assert service.status(failed).status == "failed"
        submitted = service.submit(service.validate("http://127.0.0.1:9/retried.mp4"))
        assert submitted.created
        assert service._submitter.creating.wait(5)
        waiting = service.status(failed)
        assert (waiting.status, waiting.error, waiting.run_id) == ("queued", None, None)
        service._submitter.gate.set()
        _wait_for(lambda: not service.queue.waiting())
        after = service.status(failed)
        assert after.status == "queued" and after.run_status == "NOT_STARTED" and after.run_id is not None
    finally:
        service.close()

    # A worker died after registering two videos and creating the run of one of them.
    orphan = _register(instance, storage, "http://127.0.0.1:9/orphan.mp4")
    covered = _register(instance, storage, "http://127.0.0.1:9/covered.mp4")
    SlowSubmitter(instance, delay=0.0).create_and_submit([covered], str(uuid.uuid4()))
    instance.add_dynamic_partitions(QUEUE_PARTITIONS_NAME, [orphan, covered])
    restarted = _queued_service(instance, storage_root, submitter_delay=0.0)
    try:
        restarted.queue.start()
        _wait_for(lambda: not restarted.queue.waiting())
        assert restarted._submitter.runs == [[orphan]]
        assert restarted.queue.last_drain.dropped == [covered]
        assert restarted.status(orphan).run_id is not None
    finally:
        restarted.close()
