"""The API in-process: status read from real Dagster records, every error path as JSON, and the API's
road to a run: a POST registers, `registered_videos_sensor` (evaluated here as the daemon would)
requests the run.

No daemon runs here: `test_server.py` runs the API under gunicorn with a real daemon.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from pathlib import Path

import pytest
from dagster import (
    AssetSpec,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    Definitions,
    RunsFilter,
    SkipReason,
    asset,
    build_sensor_context,
    define_asset_job,
    multi_asset,
)
from dagster._core.execution.api import create_execution_plan

from tests.support.warehouse_rows import write_row
from wandr_pipeline.api.app import create_app
from wandr_pipeline.api.log_lines import escape_handlers
from wandr_pipeline.api.service import JobService
from wandr_pipeline.api.status import read_status
from wandr_pipeline.defs.ingestion.registered_videos_sensor import evaluate_registered_videos
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME, videos_partitions
from wandr_pipeline.lib.outcomes import FAILED, OK
from wandr_pipeline.lib.stages import STAGE_ASSET_NAMES, STAGES_BY_ASSET
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.lib.submissions import record_submissions
from wandr_pipeline.lib.tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG, range_tags
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
    values = dict(storage_uri=str(storage_root), api_token="", api_allowed_networks="")
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
        (dict(data=b'{"url": "' + b"a" * 20000 + b'"}', content_type="application/json"), 413, "larger than"),
        # JSON's escape for a lone surrogate: no UTF-8 can carry it (was a 500 UnicodeEncodeError)
        (
            dict(data=b'{"url": "https://example.com/\\ud800.mp4"}', content_type="application/json"),
            400,
            "lone surrogate",
        ),
        # right-to-left override: shows ".../a<RLO>4pm.exe" as ".../aexe.mp4"
        (dict(json={"url": "https://example.com/a\u202e4pm.exe"}), 400, "U+202E RIGHT-TO-LEFT OVERRIDE"),
        (dict(json={"url": "https://example.com/a\u2066b.mp4"}), 400, "U+2066 LEFT-TO-RIGHT ISOLATE"),
        (dict(json={"url": "https://example.com/\u200bclip.mp4"}), 400, "U+200B ZERO WIDTH SPACE"),
        (dict(json={"url": "https://example.com/\x1b[31mclip.mp4"}), 400, "U+001B"),
        (dict(json={"url": "https://example.com/a\u3000b.mp4"}), 400, "whitespace"),
        (
            dict(data=b'{"url": "https://example.com/\xff.mp4"}', content_type="application/json"),
            400,
            "not valid UTF-8",
        ),
        # what a cross-site "simple" request (no preflight) can send: refused before it is read as JSON
        (dict(data=b'{"url": "https://example.com/a.mp4"}', content_type="text/plain"), 415, "application/json"),
        (dict(data=b'{"url": "https://example.com/a.mp4"}'), 415, "application/json"),
        (dict(data={"url": "https://example.com/a.mp4"}), 415, "x-www-form-urlencoded"),
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


def _chunked(client, body: bytes):
    """A body with no Content-Length, as gunicorn hands a chunked one to the app."""
    return client.post(
        "/process",
        input_stream=io.BytesIO(body),
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_bodies_over_the_limit_are_413_however_framed(client_for):
    client = client_for(api_max_body_bytes=1000)
    fits = b'{"url": "ftp://example.com/' + b"a" * (1000 - 29) + b'"}'
    assert len(fits) == 1000
    for body, code in (
        (fits, 400),  # exactly the limit: read and judged (ftp is refused)
        (fits + b" ", 413),
        (b'{"url": "https://example.com/' + b"a" * 40_000 + b'"}', 413),
        (b"[" * 5_000_000, 413),
    ):
        for response in (_chunked(client, body), client.post("/process", data=body, content_type="application/json")):
            assert response.status_code == code, response.get_data(as_text=True)[:200]
            assert response.is_json and ("larger than 1000 bytes" in response.get_json()["message"]) == (code == 413)


def test_request_targets_over_the_limit_are_414_in_json(client_for):
    client = client_for()
    for path in ("/status/" + "a" * 10_000, "/result/" + "a" * 3000, "/status/x?" + "q" * 2100):
        response = client.get(path)
        assert response.status_code == 414 and response.is_json
        assert response.get_json()["error"] == "uri_too_long" and "at most 128" in response.get_json()["message"]
    assert client.get("/status/" + "a" * 2000).status_code == 404


def test_log_lines_show_hidden_characters_escaped(client_for, instance, storage_root, monkeypatch):
    """A path that reaches a log line (here an unexpected error's) is written with U+202E and ESC escaped."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        escape_handlers(root)
        client = client_for()
        service = client.application.extensions["wandr"]
        monkeypatch.setattr(service, "status", lambda job_id: 1 / 0)
        response = client.get("/status/abc%E2%80%AEfdp.exe%1B[2J")
        assert response.status_code == 500 and response.get_json()["error"] == "internal_error"
    finally:
        root.removeHandler(handler)
    written = stream.getvalue()
    assert "unhandled error on GET /status/abc\\u202efdp.exe\\x1b[2J" in written, written
    assert "\u202e" not in written and "\x1b" not in written


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
    assert body["daemon"]["running"] is False  # no daemon here: posted videos would stay queued
    assert "no daemon heartbeat" in body["daemon"]["detail"] and "dagster-daemon run" in body["daemon"]["detail"]


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


def test_overall_state():
    ok = ("done", "ok", None)
    done = _job({"raw_video": ok, "transcript": ("done", "skipped", "no audio stream"), "video_documents": ok})
    assert (done.status, done.error) == ("done", None)

    gone = _job(
        {
            "raw_video": ("done", "failed", "HTTP Error 404: Not Found"),
            "video_documents": ("done", "failed", "raw_video failed: HTTP Error 404: Not Found"),
        }
    )
    assert gone.status == "failed" and gone.error == "raw_video failed: HTTP Error 404: Not Found"

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
    assert throttled.status == "failed"
    vision = _job(
        {
            "raw_video": ok,
            "ocr_text": ("done", "failed", "Vision request failed: ServiceUnavailable: 503 (transient)"),
            "video_documents": ("done", "ok", None),
        }
    )
    assert vision.status == "done"
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

    running = _job(
        {"raw_video": ok, "transcript": ("running", None, None), "video_documents": ("waiting", None, None)},
        run_status="STARTED",
    )
    assert running.status == "running"
    queued = _job({"raw_video": ("queued", None, None), "video_documents": ("queued", None, None)}, run_status="QUEUED")
    assert queued.status == "queued"


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


# ---------------------------------------------------------------------------------------------
# The API's road to a run: POST registers, registered_videos_sensor requests, nothing twice
# ---------------------------------------------------------------------------------------------
class Daemon:
    """registered_videos_sensor evaluated as the daemon would, keeping its cursor between ticks."""

    def __init__(self, instance, settings: Settings):
        self.instance, self.settings, self.cursor = instance, settings, None

    def tick(self) -> list:
        result = evaluate_registered_videos(
            build_sensor_context(instance=self.instance, cursor=self.cursor), self.settings
        )
        if isinstance(result, SkipReason):
            return []
        self.cursor = result.cursor or self.cursor
        for event in result.asset_events or []:
            self.instance.report_runless_asset_event(event)
        return list(result.run_requests or [])

    def requests_for(self, key: str) -> list:
        """This tick's requests whose partition range covers `key` (other tests' videos share the instance)."""
        order = self.instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
        position = {k: i for i, k in enumerate(order)}
        return [
            r
            for r in self.tick()
            if position[r.tags[PARTITION_RANGE_START_TAG]] <= position[key] <= position[r.tags[PARTITION_RANGE_END_TAG]]
        ]

    def create_run(self, key: str):
        """The run the daemon creates for a request: planned materialisations and range tags, not started."""
        job = _failing_job()
        tags = range_tags([key])
        plan = create_execution_plan(job, instance_ref=self.instance.get_ref(), tags=tags)
        return self.instance.create_run_for_job(
            job, execution_plan=plan, tags=tags, status=DagsterRunStatus.NOT_STARTED, run_id=str(uuid.uuid4())
        )


@pytest.fixture()
def road(instance, storage_root):
    settings = _settings(storage_root, api_allowed_networks="127.0.0.1")
    service = JobService(settings, instance_factory=lambda: instance)
    service.stages = STAGES
    yield service, Daemon(instance, settings), Storage(str(storage_root))
    service.close()


def test_a_post_is_registered_and_the_sensor_requests_one_run_for_it(road, instance):
    service, daemon, _ = road
    ref = service.validate("http://127.0.0.1:9/road-new.mp4")
    key = ref.video_key
    first = service.submit(ref)
    assert first.created and first.status.status == "queued" and first.status.run_id is None
    assert "registered_videos_sensor" in first.status.detail
    assert instance.get_runs_count(RunsFilter(tags=range_tags([key]))) == 0  # the API makes no run
    again = service.submit(service.validate("http://127.0.0.1:9/road-new.mp4?utm_source=share"))
    assert not again.created and again.status.status == "queued"
    waiting = service.status(key).as_dict()
    assert waiting["status"] == "queued" and "registered_videos_sensor" in waiting["detail"]

    [request] = daemon.requests_for(key)
    assert request.job_name == "process_videos" and request.asset_selection is None
    run = daemon.create_run(key)

    # Posted again while its run is queued (or started): that run is the answer, nothing is requested.
    queued = service.submit(ref)
    assert not queued.created and queued.status.run_id == run.run_id and queued.status.status == "queued"
    assert queued.status.detail is None
    assert daemon.requests_for(key) == []
    instance.add_run(
        DagsterRun(
            job_name="process_videos", run_id=str(uuid.uuid4()), status=DagsterRunStatus.STARTED, tags=range_tags([key])
        )
    )
    assert not service.submit(ref).created and daemon.requests_for(key) == []


def test_a_failure_worth_retrying_is_requested_again_and_a_404_is_not(road, instance):
    service, daemon, storage = road
    throttled = service.validate("http://127.0.0.1:9/road-429.mp4")
    gone = service.validate("http://127.0.0.1:9/road-404.mp4")
    ocr = service.validate("http://127.0.0.1:9/road-ocr.mp4")
    for ref in (throttled, gone, ocr):
        assert service.submit(ref).created
        daemon.requests_for(ref.video_key)
        instance.report_run_canceled(daemon.create_run(ref.video_key))  # its run ended
    write_row(
        storage,
        "videos",
        throttled.video_key,
        FAILED,
        "HTTP Error 429: gave up after 3 tries",
        retryable=True,
        source_url="x",
    )
    write_row(storage, "videos", gone.video_key, FAILED, "HTTP Error 404: Not Found", source_url="x")
    write_row(storage, "videos", ocr.video_key, OK, source_url="x")
    statuses = [(stage, FAILED if stage == "ocr_text" else OK) for stage in STAGE_ASSET_NAMES[:-1]]
    write_row(storage, "video_documents", ocr.video_key, OK, source_url="x", stage_statuses=statuses)
    write_row(storage, "ocr_text", ocr.video_key, FAILED, "Vision: ServiceUnavailable: 503", retryable=True)

    # 404: final. No request is left for the sensor, and it requests nothing.
    final = service.submit(gone)
    assert not final.created and final.status.detail is None
    assert daemon.requests_for(gone.video_key) == []

    # 429: a request, the job shows queued (waiting for the sensor), and the sensor redoes every stage.
    retried = service.submit(throttled)
    assert retried.created and service.status(throttled.video_key).status == "queued"
    assert not service.submit(throttled).created  # the request is waiting: not asked twice
    [request] = daemon.requests_for(throttled.video_key)
    assert request.job_name == "process_videos" and request.asset_selection is None
    daemon.create_run(throttled.video_key)
    assert service.status(throttled.video_key).detail is None  # its run now

    # A Vision 503 in a finished video: only OCR and what depends on it, in the GPU stages' job.
    assert service.submit(ocr).created
    [request] = daemon.requests_for(ocr.video_key)
    assert request.job_name == "gpu_stages"
    assert {k.to_user_string() for k in request.asset_selection} == {
        "ocr_text",
        "caption_spans",
        "transcript",
        "video_documents",
    }


def test_a_request_the_sensor_does_not_run_is_answered(road, instance):
    """A video asked for again, then covered by a run another road made before the sensor's tick: the
    sensor answers the request, so the status shows that run, not a wait for the sensor."""
    service, daemon, storage = road
    ref = service.validate("http://127.0.0.1:9/road-covered.mp4")
    key = ref.video_key
    service.submit(ref)
    daemon.requests_for(key)
    instance.report_run_canceled(daemon.create_run(key))
    assert service.submit(ref).created  # never processed: asked for again
    other = daemon.create_run(key)  # e.g. a backfill from the UI
    assert daemon.requests_for(key) == []
    status = service.status(key)
    assert status.run_id == other.run_id and status.detail is None
