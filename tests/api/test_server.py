"""The HTTP API as deployed: `wandr-pipeline api` (gunicorn) and `dagster-daemon run` on loopback.

One temporary DAGSTER_HOME with the queued run coordinator is shared by the server, the daemon and
these tests. The API only registers; the daemon's registered_videos_sensor makes the runs. The daemon
runs only during the end-to-end test; elsewhere the sensor is evaluated in-process, as the daemon would,
to see which runs it would request.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from dagster import DagsterInstance, SkipReason, build_sensor_context

from tests.support.paths import REPO
from wandr_pipeline.defs.ingestion.registered_videos_sensor import evaluate_registered_videos
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME
from wandr_pipeline.lib.tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from wandr_pipeline.lib.urls import parse_video_url
from wandr_pipeline.settings import Settings

pytestmark = pytest.mark.slow

TOKEN = "server-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OPENAPI = REPO / "wandr_pipeline" / "api" / "openapi.yaml"
DOCS = REPO / "docs" / "API.md"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """A process group started for the test; stopped by its own id."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def tail(self, lines: int = 40) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        try:  # children (code servers) that outlived their parent
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, http_server):
    root = tmp_path_factory.mktemp("api-server")
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: QueuedRunCoordinator\n"
        "  config:\n    max_concurrent_runs: 2\n"
    )
    port = _free_port()
    (root / "home").mkdir()
    env = {
        **{key: value for key, value in os.environ.items() if key not in ("WANDR_API_HOST", "XDG_RUNTIME_DIR")},
        "DAGSTER_HOME": str(home),
        "WANDR_STORAGE_URI": str(root / "storage"),
        "WANDR_URL_LIST_DIRS": str(root / "url_lists"),  # the daemon's url_list_sensor: not the repo's lists
        "PORT": str(port),  # on 127.0.0.1: the default address
        "HOME": str(root / "home"),  # where gunicorn would put its control socket
        "WANDR_API_TOKEN": TOKEN,
        "WANDR_API_ALLOWED_NETWORKS": "127.0.0.1",  # the loopback clip server
        "WANDR_DOWNLOAD_ATTEMPTS": "1",
        "WANDR_SENSOR_INTERVAL_S": "5",  # the daemon's registered_videos_sensor looks every 5 s
        "HF_HUB_OFFLINE": "1",
        "ORT_DISABLE_TELEMETRY": "1",
    }
    server = Service("api", [sys.executable, "-m", "wandr_pipeline.cli", "api"], env, root / "api.log")
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                if requests.get(f"{base}/health", timeout=60).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if server.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the API did not come up:\n{server.tail()}")
            time.sleep(0.5)
        instance = DagsterInstance.from_config(str(home))
        yield {"base": base, "env": env, "root": root, "home": home, "instance": instance, "server": server}
    finally:
        server.stop()


@pytest.fixture()
def daemon(stack):
    service = Service(
        "daemon",
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(REPO / "workspace.yaml")],
        stack["env"],
        stack["root"] / "daemon.log",
    )
    yield service
    service.stop()


def _post(stack, body, headers=AUTH, **kwargs) -> requests.Response:
    return requests.post(
        f"{stack['base']}/process",
        headers=headers,
        timeout=60,
        **kwargs,
        **({"json": body} if body is not None else {}),
    )


def _get(stack, path, headers=AUTH) -> requests.Response:
    return requests.get(f"{stack['base']}{path}", headers=headers, timeout=30)


def _covers(order: list[str], start: str | None, end: str | None, key: str) -> bool:
    position = {k: i for i, k in enumerate(order)}
    return start in position and end in position and position[start] <= position[key] <= position[end]


def _runs_for(stack, key: str):
    """The runs whose partition range covers `key` (the sensor's runs cover the videos posted together)."""
    instance = stack["instance"]
    order = list(instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME))
    return [
        run
        for run in instance.get_runs()
        if _covers(order, run.tags.get(PARTITION_RANGE_START_TAG), run.tags.get(PARTITION_RANGE_END_TAG), key)
    ]


def _sensor_requests_for(stack, key: str) -> list:
    """What registered_videos_sensor would request for `key` now (evaluated here, as the daemon would)."""
    settings = Settings.from_env(storage_uri=str(stack["root"] / "storage"))
    result = evaluate_registered_videos(build_sensor_context(instance=stack["instance"]), settings)
    if isinstance(result, SkipReason):
        return []
    order = list(stack["instance"].get_dynamic_partitions(VIDEOS_PARTITIONS_NAME))
    return [
        request
        for request in result.run_requests
        if _covers(order, request.tags[PARTITION_RANGE_START_TAG], request.tags[PARTITION_RANGE_END_TAG], key)
    ]


def _wait_for_final(stack, key: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while (status := _get(stack, f"/status/{key}").json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, f"{key} not done after {timeout} s: {status}"
        time.sleep(1)
    return status


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split()


def test_health_is_open_and_the_rest_needs_the_token(stack):
    health = _get(stack, "/health", headers={})
    assert health.status_code == 200 and health.json()["status"] == "ok"
    detailed = _get(stack, "/health").json()
    assert detailed["checks"]["instance"]["ok"] and "tiny.en" in detailed["checks"]["models"]["detail"]
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = _post(stack, {"url": "https://example.com/clip.mp4"}, headers=headers)
        assert response.status_code == 401 and response.json()["error"] == "unauthorized"
        assert _get(stack, "/status/url-0000000000000000", headers=headers).status_code == 401


def test_the_api_listens_on_loopback_and_its_log_starts_with_its_own_lines(stack):
    """Default address 127.0.0.1; no control socket in the user's home; no alembic lines in the log."""
    port = int(stack["env"]["PORT"])
    with socket.socket() as probe:  # the port is taken on loopback, free on the machine's other addresses
        probe.settimeout(2)
        other = socket.gethostbyname(socket.gethostname())
        if not other.startswith("127."):
            assert probe.connect_ex((other, port)) != 0
    assert not (stack["root"] / "home" / ".gunicorn").exists()
    log = stack["server"].tail(400)
    assert "alembic" not in log and "Listening at: http://127.0.0.1:" in log, log


def test_bad_requests_get_a_clear_4xx_and_leave_nothing_behind(stack):
    instance = stack["instance"]
    partitions = instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME)
    runs = instance.get_runs_count()
    cases = [
        (dict(data=b""), 400, "no body"),
        (dict(data=b"{]", headers={**AUTH, "Content-Type": "application/json"}), 400, "not valid JSON"),
        (dict(json={"uri": "https://example.com/a.mp4"}), 400, "no 'url'"),
        (dict(json={"url": "just words"}), 400, "whitespace"),
        (dict(json={"url": "example.com/a.mp4"}), 400, "not a URL"),
        (dict(json={"url": "file:///etc/passwd"}), 400, "only http and https"),
        (dict(json={"url": "http://10.0.0.7/a.mp4"}), 400, "private address"),
        (dict(json={"url": "http://169.254.169.254/latest/meta-data/"}), 400, "link-local"),
        (dict(json={"url": "http://[::1]:8080/a.mp4"}), 400, "loopback"),  # only 127.0.0.1 is allowed
        (dict(json={"url": "http://127.0.0.2/a.mp4"}), 400, "loopback"),
        (dict(data=b'{"url": "https://example.com/' + b"a" * 40000 + b'"}'), 413, ""),
        (dict(json={"url": "https://example.com/fine.mp4"}, headers={}), 401, "missing"),
        (
            dict(json={"url": "https://example.com/fine.mp4"}, headers={"Authorization": "Bearer wrong"}),
            401,
            "invalid token",
        ),
    ]
    for kwargs, code, fragment in cases:
        headers = kwargs.pop("headers", AUTH)
        response = requests.post(f"{stack['base']}/process", headers=headers, timeout=30, **kwargs)
        assert response.status_code == code, (kwargs, response.text)
        assert response.headers["Content-Type"].startswith("application/json")
        assert fragment in response.json()["message"]
    for path in ("/status/url-ffffffffffffffff", "/result/url-ffffffffffffffff", "/result/..%2F..%2Fetc"):
        response = _get(stack, path)
        assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME) == partitions
    assert instance.get_runs_count() == runs
    assert not (stack["root"] / "storage" / "submissions").exists()


def _chunks(size: int, piece: int = 64 * 1024):
    """A JSON body of about `size` bytes sent chunked (a generator: requests sends no Content-Length)."""
    yield b'{"url": "https://example.com/'
    for start in range(0, size, piece):
        yield b"a" * min(piece, size - start)
    yield b'"}'


def _raw_request(stack, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """One request written as bytes (what `requests` would refuse or re-encode), its answer parsed."""
    host, port = stack["base"].removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head_text, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head_text.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


def test_hostile_inputs_get_their_status_and_a_json_body_from_the_real_server(stack):
    """Through gunicorn: what it refuses itself and what the app refuses, each answered in JSON."""
    json_type = {**AUTH, "Content-Type": "application/json"}
    posts = [
        (dict(data=b'{"url": "https://example.com/\\ud800.mp4"}', headers=json_type), 400, "lone surrogate"),
        (dict(json={"url": "https://example.com/a\u202e4pm.exe"}), 400, "U+202E RIGHT-TO-LEFT OVERRIDE"),
        (dict(data=b'{"url": "https://example.com/a.mp4"}', headers={**AUTH, "Content-Type": "text/plain"}), 415, ""),
        (dict(data=_chunks(40_000), headers=json_type), 413, "larger than 16384 bytes"),
        (dict(data=_chunks(50_000_000), headers=json_type), 413, "larger than 16384 bytes"),
        (dict(data=b"{" + b" " * 60_000 + b"}", headers=json_type), 413, "larger than 16384 bytes"),
    ]
    for kwargs, code, fragment in posts:
        headers = kwargs.pop("headers", AUTH)
        started = time.monotonic()
        response = requests.post(f"{stack['base']}/process", headers=headers, timeout=60, **kwargs)
        assert response.status_code == code, (code, response.text)
        assert response.headers["Content-Type"] == "application/json", response.text
        assert fragment in response.json()["message"] and time.monotonic() - started < 10
    for path, code, error in (
        ("/status/" + "a" * 10_000, 414, "uri_too_long"),  # over gunicorn's line limit: its 414, in JSON
        ("/result/" + "a" * 3_000, 414, "uri_too_long"),  # under it: the app's
    ):
        response = _get(stack, path)
        assert (response.status_code, response.json()["error"]) == (code, error), response.text
        assert response.headers["Content-Type"] == "application/json"
    many_headers = {**AUTH, **{f"X-Filler-{i}": "x" for i in range(120)}}
    response = _get(stack, "/status/url-0000000000000000", headers=many_headers)
    assert response.status_code == 431 and response.json()["error"] == "request_header_fields_too_large"
    code, headers, body = _raw_request(stack, b"GET /status/\x1b[2J\xe2\x80\xae HTTP/1.1\r\nHost: x\r\n\r\n")
    assert code == 400 and headers["content-type"] == "application/json" and json.loads(body)["error"] == "bad_request"

    # The API's log: gunicorn's lines and the app's, hidden characters escaped.
    code, _, _ = _raw_request(
        stack,
        b"GET /status/url-0000000000000000 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + TOKEN.encode()
        + b"\r\nUser-Agent: spoof\x85forged line\r\nConnection: close\r\n\r\n",  # U+0085: next line
    )
    assert code == 404
    log = stack["server"].tail(400)
    assert "spoof\\x85forged line" in log
    assert not [ch for ch in log if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf")], log


def test_the_same_video_twice_at_once_makes_one_run(stack, http_server):
    """Concurrent submissions of one video (spelled two ways): one job id, and the sensor requests one run."""
    urls = [http_server.url("gone.mp4"), http_server.url("gone.mp4") + "?utm_source=share"]
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda u: _post(stack, {"url": u}), urls * 2))
    assert [r.status_code for r in responses] == [202] * 4, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    key = parse_video_url(urls[0]).video_key
    assert {b["job_id"] for b in bodies} == {key}
    assert sum(b["created"] for b in bodies) == 1
    assert {b["status"] for b in bodies} == {"queued"} and {b["run_id"] for b in bodies} == {None}
    assert responses[0].headers["Location"] == f"/status/{key}"
    status = _get(stack, f"/status/{key}").json()
    assert status["status"] == "queued" and "registered_videos_sensor" in status["detail"]
    assert {s["state"] for s in status["stages"].values()} == {"queued"}
    assert _get(stack, f"/result/{key}").status_code == 409
    assert _runs_for(stack, key) == []  # the API makes no run: the daemon does
    [request] = _sensor_requests_for(stack, key)
    assert request.job_name == "process_videos" and request.asset_selection is None
    again = _post(stack, {"url": urls[1]}).json()
    assert again["created"] is False and again["status"] == "queued"


def test_end_to_end_one_clip_through_the_daemon(stack, daemon, http_server, manifest):
    clip = next(item for item in manifest if item["file"] == "kyoto_temples.mp4")
    url = http_server.url(clip["file"])
    started = time.monotonic()
    response = _post(stack, {"url": url})
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    assert job_id == parse_video_url(url).video_key
    duplicate = _post(stack, {"url": url}).json()
    assert (duplicate["job_id"], duplicate["created"]) == (job_id, False)

    seen = []
    while True:
        status = _get(stack, f"/status/{job_id}").json()
        seen.append(status["status"])
        if status["status"] in ("done", "failed"):
            break
        if time.monotonic() - started > 300:
            pytest.fail(f"not done after 300 s: {status}\ndaemon:\n{daemon.tail()}\napi:\n{stack['server'].tail()}")
        time.sleep(1)
    elapsed = time.monotonic() - started
    print(f"\none clip through the API and the daemon: {elapsed:.1f} s; states seen: {sorted(set(seen))}")
    assert status["status"] == "done", status
    # Done once every stage is materialised; the run may still be closing (checks, run end events).
    assert status["run_status"] in ("STARTED", "SUCCESS") and status["error"] is None
    assert {name: (s["state"], s["outcome"]) for name, s in status["stages"].items()} == {
        name: ("done", "ok")
        for name in (
            "raw_video",
            "audio",
            "transcript",
            "sampled_frames",
            "ocr_text",
            "caption_spans",
            "video_documents",
        )
    }
    assert "running" in seen or "queued" in seen

    response = _get(stack, f"/result/{job_id}")
    assert response.status_code == 200
    result = response.json()
    import schemathesis

    schema = schemathesis.openapi.from_path(str(OPENAPI))
    schema["/result/{job_id}"]["GET"].validate_response(response)
    schema["/status/{job_id}"]["GET"].validate_response(_get(stack, f"/status/{job_id}"))

    assert result["post"]["source_url"] == url and result["post"]["duration_s"] == pytest.approx(12, abs=1)
    spoken = _words(" ".join(s["text"] for s in result["transcript"]["segments"]))
    expected = _words(clip["speech"])
    hits = sum(1 for word in expected if word in spoken)
    assert hits / len(expected) >= 0.8, (spoken, expected)
    assert result["transcript"]["segments"][0]["start_s"] < 1.5
    lines = [line.upper() for line in result["onscreen_text"]["lines"]]
    for caption in clip["captions"]:
        assert caption["text"] in lines, (caption, lines)
    assert result["document"]["transcript_text"] and result["document"]["status"] == "ok"
    assert result["document"]["stage_statuses"]["transcript"] == "ok"
    assert len(_runs_for(stack, job_id)) == 1
    assert _runs_for(stack, job_id)[0].remote_job_origin.location_name == "wandr_pipeline"  # as in the UI
    # Submitting it once more after it is done: same job, no new run.
    again = _post(stack, {"url": url}).json()
    assert again["created"] is False and again["status"] == "done"
    assert len(_runs_for(stack, job_id)) == 1

    # The video of the previous test got its run from the same daemon; a 404 is final: posted again,
    # nothing is asked of the daemon.
    gone = parse_video_url(http_server.url("gone.mp4")).video_key
    status = _wait_for_final(stack, gone, timeout=120)
    assert status["status"] == "failed" and "404" in status["error"], status
    runs = len(_runs_for(stack, gone))
    repost = _post(stack, {"url": http_server.url("gone.mp4")}).json()
    assert repost["created"] is False and repost["status"] == "failed"
    assert _sensor_requests_for(stack, gone) == [] and len(_runs_for(stack, gone)) == runs == 1


def _doc_curl_commands() -> list[str]:
    text = DOCS.read_text()
    block = re.search(r"```(?:sh|bash|console)?\n(curl .*?)```", text, re.DOTALL)
    assert block, "docs/API.md has no block of curl commands"
    return [line for line in block.group(1).splitlines() if line.startswith("curl ")]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_documented_curl_commands_work(stack):
    commands = _doc_curl_commands()
    assert commands == [
        "curl http://localhost:8080/health",
        'curl -X POST http://localhost:8080/process -H "Content-Type: application/json" '
        '-d \'{"url": "https://tiktok.com/..."}\'',
        "curl http://localhost:8080/status/{job_id}",
        "curl http://localhost:8080/result/{job_id}",
    ]
    port = stack["base"].rsplit(":", 1)[1]
    job_id = None
    answers = []
    for command in commands:
        argv = [arg.replace("localhost:8080", f"127.0.0.1:{port}") for arg in shlex.split(command)]
        argv = [arg.replace("{job_id}", job_id) if job_id else arg for arg in argv]
        argv[1:1] = ["-sS", "-H", f"Authorization: Bearer {TOKEN}", "-w", "\n%{http_code}"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        body, code = done.stdout.rsplit("\n", 1)
        answers.append((int(code), json.loads(body)))
        if "/process" in command:
            job_id = answers[-1][1]["job_id"]
    (health, _), (process, submitted), (status, state), (result, pending) = answers
    assert (health, process, status) == (200, 202, 200), answers
    assert state["job_id"] == submitted["job_id"] and state["status"] == "queued"
    assert result == 409 and pending["error"] == "not_done"  # the daemon is not running in this test
    assert "registered_videos_sensor" in state["detail"] and _runs_for(stack, job_id) == []


def test_schemathesis_finds_no_server_errors(stack):
    """Property-based requests from the OpenAPI description against the running server."""
    st = Path(sys.executable).with_name("st")
    command = [
        str(st) if st.exists() else "st",
        "run",
        str(OPENAPI),
        "--url",
        stack["base"],
        "-H",
        f"Authorization: Bearer {TOKEN}",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--max-examples",
        os.environ.get("WANDR_SCHEMATHESIS_EXAMPLES", "15"),
        "--seed",
        os.environ.get("WANDR_SCHEMATHESIS_SEED", "20261123"),
        "--generation-database",
        "none",
        "--no-color",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=400, cwd=stack["root"])
    summary = done.stdout[-3000:]
    print(summary)
    assert done.returncode == 0, f"{summary}\n{done.stderr[-2000:]}\napi log:\n{stack['server'].tail(60)}"
    assert re.search(r"\d+ generated, \d+ passed", done.stdout), summary
