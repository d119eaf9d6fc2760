"""gunicorn settings for the API, from environment variables (see docs/API.md).

PORT (8080) and WANDR_API_HOST (0.0.0.0) make the address; WEB_CONCURRENCY worker processes (1),
each with WANDR_API_THREADS threads (4). Each worker keeps one code server for submitting runs, so
a few threads go further than many workers.
"""

import os

bind = f"{os.environ.get('WANDR_API_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_class = "gthread"
threads = int(os.environ.get("WANDR_API_THREADS", "4"))
timeout = int(os.environ.get("WANDR_API_TIMEOUT_S", "120"))
graceful_timeout = 20
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Request size limits at the HTTP layer; the body limit is the app's (WANDR_API_MAX_BODY_BYTES).
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190


def _close_code_server() -> None:
    import sys

    module = sys.modules.get("wandr_pipeline.api.wsgi")
    if module is not None:
        module.app.extensions["wandr"].close()


def worker_exit(server, worker):  # noqa: ARG001 - gunicorn hook signature
    """Stop the worker's code server with it (graceful stop: SIGTERM)."""
    _close_code_server()


def worker_int(worker):  # noqa: ARG001 - gunicorn hook signature
    """Quick stop (SIGINT, Ctrl-C): the code server's threads would otherwise keep the worker alive."""
    _close_code_server()
