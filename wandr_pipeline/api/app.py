"""The Flask app: the original service's four endpoints, backed by the Dagster instance.

    GET  /health            200 when the instance, the storage root and the models are reachable, else 503
    POST /process           {"url": "..."} -> 202 {"job_id": <video key>, "status": ...}; the daemon runs it
    GET  /status/<job_id>   overall state and per stage
    GET  /result/<job_id>   post metadata, transcript, on-screen text, video document (409 until done)

Every answer, errors included, is JSON. The OpenAPI description is `openapi.yaml` beside this file.
Inputs are bounded here, before anything reads them whole: a request target over
`MAX_REQUEST_TARGET` characters is a 414, a body over WANDR_API_MAX_BODY_BYTES a 413 however it is
framed (Content-Length or chunked), a body that is not `application/json` a 415 (a browser's
cross-site "simple" POST can only send text/plain, form or multipart bodies). What gunicorn refuses
before the app sees it is answered in JSON by `gunicorn_classes.py`.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from wandr_pipeline.api.registration import RegistrationFailed
from wandr_pipeline.api.service import InstanceUnavailable, JobService
from wandr_pipeline.api.validation import ResolverUnavailable, UrlRejected
from wandr_pipeline.lib.redaction import redact_text
from wandr_pipeline.settings import Settings

log = logging.getLogger("wandr_pipeline.api")

EXTENSION = "wandr"
_OPEN_PATHS = {"/health"}
# Path and query together; a job id is at most 128 characters. gunicorn's own line limit is above
# this (gunicorn_conf.py), so the app answers first.
MAX_REQUEST_TARGET = 2048
_READ_CHUNK = 64 * 1024


class ApiError(Exception):
    def __init__(self, http_status: int, error: str, message: str, **extra: Any):
        super().__init__(message)
        self.http_status, self.error, self.message, self.extra = http_status, error, message, extra


def _error(http_status: int, error: str, message: str, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    response = jsonify({"error": error, "message": redact_text(message), **extra})
    response.status_code = http_status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _token_ok(expected: str) -> tuple[bool, str]:
    header = request.headers.get("Authorization", "")
    if not header:
        return False, "missing 'Authorization: Bearer <token>' header"
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False, "the Authorization header must be 'Bearer <token>'"
    if not hmac.compare_digest(token.strip().encode("utf-8"), expected.encode("utf-8")):
        return False, "invalid token"
    return True, ""


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, "request_entity_too_large", f"the body is larger than {limit} bytes (WANDR_API_MAX_BODY_BYTES)"
    )


def _read_body(limit: int) -> bytes:
    """At most `limit` bytes of the body, whether it came with a Content-Length or chunked; 413 past it.

    Werkzeug stops a chunked body at the limit without a word (the truncated JSON then read as
    "not valid JSON"), so the bytes are counted here; the app's MAX_CONTENT_LENGTH is one byte more
    than `limit`, so reading one byte past the limit is possible and tells a body of exactly `limit`
    bytes from a longer one.
    """
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    stream = request.stream
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise _too_large(limit)
    return b"".join(chunks)


def _json_body(limit: int) -> dict[str, Any]:
    raw = _read_body(limit)
    if not raw.strip():
        raise ApiError(400, "bad_request", 'the request has no body: send JSON like {"url": "https://..."}')
    if not _is_json(request.mimetype):
        shown = request.mimetype or "none"
        raise ApiError(
            415,
            "unsupported_media_type",
            f"the body must be sent as 'Content-Type: application/json' (got {shown!r})",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "bad_request", f"the body is not valid UTF-8 (byte {exc.start})") from None
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise ApiError(400, "bad_request", 'the body is not valid JSON: send {"url": "https://..."}') from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object with a 'url' field")
    return body


def create_app(settings: Settings | None = None, service: JobService | None = None) -> Flask:
    """The app; `settings` default to the environment (see docs/API.md)."""
    settings = settings or Settings.from_env()
    service = service or JobService(settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.api_max_body_bytes + 1  # see _read_body
    app.json.sort_keys = False
    app.extensions[EXTENSION] = service

    @app.before_request
    def bounded_target():
        target = request.full_path.rstrip("?")
        if len(target) > MAX_REQUEST_TARGET:
            return _error(
                414,
                "uri_too_long",
                f"the request target is {len(target)} characters long, over {MAX_REQUEST_TARGET} "
                "(a job id is at most 128 characters)",
            )
        return None

    @app.before_request
    def authenticate():
        if settings.api_token and request.path not in _OPEN_PATHS:
            ok, reason = _token_ok(settings.api_token)
            if not ok:
                return _error(401, "unauthorized", reason, headers={"WWW-Authenticate": 'Bearer realm="wandr"'})
        return None

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return _error(exc.http_status, exc.error, exc.message, **exc.extra)

    @app.errorhandler(InstanceUnavailable)
    def instance_unavailable(exc: InstanceUnavailable):
        return _error(503, "unavailable", str(exc), headers={"Retry-After": "10"})

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        name = (exc.name or "error").lower().replace(" ", "_")
        response = _error(exc.code or 500, name, exc.description or exc.name or "error")
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(500, "internal_error", f"unexpected error: {type(exc).__name__}")

    @app.get("/health")
    def health():
        checks = service.check_health()
        healthy = all(check["ok"] for check in checks.values())
        if settings.api_token and not _token_ok(settings.api_token)[0]:
            # Open to probes, but paths and error texts only for callers with the token.
            checks = {
                name: {"ok": c["ok"], "detail": "reachable" if c["ok"] else "not reachable"}
                for name, c in checks.items()
            }
        body: dict[str, Any] = {"status": "ok" if healthy else "unavailable"}
        if not healthy:
            body["reason"] = "; ".join(
                f"{name}: {check['detail']}" for name, check in checks.items() if not check["ok"]
            )
        body["checks"] = checks
        body["daemon"] = service.daemon_info() if not settings.api_token or _token_ok(settings.api_token)[0] else {}
        return jsonify(body), (200 if healthy else 503)

    @app.post("/process")
    def process():
        body = _json_body(settings.api_max_body_bytes)
        if "url" not in body:
            raise ApiError(400, "bad_request", "the JSON body has no 'url' field")
        try:
            ref = service.validate(body["url"])
        except UrlRejected as exc:
            raise ApiError(400, "invalid_url", str(exc)) from None
        except ResolverUnavailable as exc:
            return _error(503, "unavailable", f"{exc}; try again", headers={"Retry-After": "5"})
        try:
            submitted = service.submit(ref)
        except RegistrationFailed as exc:
            return _error(503, "unavailable", str(exc), headers={"Retry-After": "10"})
        status = submitted.status
        response = jsonify(
            {
                "job_id": submitted.job_id,
                "status": status.status,
                "created": submitted.created,
                "run_id": status.run_id,
                "status_url": f"/status/{submitted.job_id}",
                "result_url": f"/result/{submitted.job_id}",
            }
        )
        response.status_code = 202
        response.headers["Location"] = f"/status/{submitted.job_id}"
        return response

    @app.get("/status/<job_id>")
    def status(job_id: str):
        found = service.status(job_id)
        if found is None:
            raise ApiError(404, "not_found", f"no job {job_id!r}: submit the video with POST /process")
        return jsonify(found.as_dict())

    @app.get("/result/<job_id>")
    def result(job_id: str):
        found, payload = service.result(job_id)
        if found is None:
            raise ApiError(404, "not_found", f"no job {job_id!r}: submit the video with POST /process")
        if payload is None:
            detail = f": {found.error}" if found.error else ""
            raise ApiError(
                409, "not_done", f"job {job_id} is {found.status}{detail}", job_id=job_id, status=found.status
            )
        return jsonify(payload)

    return app
