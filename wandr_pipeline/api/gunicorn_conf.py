"""gunicorn's configuration for the API, from the settings (see docs/API.md).

PORT and WANDR_API_HOST make the address; WEB_CONCURRENCY worker processes, each with
WANDR_API_THREADS threads. Each worker keeps one code server for submitting runs, so threads go
further than workers; a POST's thread mostly waits for its group's registration (api/registration.py),
so many threads are cheap, and enough of them keep /health from queueing behind a burst. gunicorn
reads this file as a module: its top-level names are its config.
"""

from wandr_pipeline.settings import Settings, load_dotenv_file

load_dotenv_file()
_settings = Settings.from_env()

bind = f"{_settings.api_host}:{_settings.api_port}"  # 127.0.0.1 unless WANDR_API_HOST says otherwise
workers = _settings.api_workers
worker_class = "wandr_pipeline.api.gunicorn_classes.JsonErrorsWorker"  # gthread, JSON for its own errors
logger_class = "wandr_pipeline.api.gunicorn_classes.EscapingLogger"
threads = _settings.api_threads
timeout = _settings.api_timeout_s
graceful_timeout = 20
accesslog = "-"
errorlog = "-"
loglevel = _settings.log_level.lower()
# gunicorn 25.1+ opens a control socket for `gunicornc` under $XDG_RUNTIME_DIR or ~/.gunicorn/: nothing here
# uses it (a container is stopped by its platform), and a service must not write into its user's home.
control_socket_disable = True
# Request size limits at the HTTP layer; the body limit is the app's (WANDR_API_MAX_BODY_BYTES). The
# line limit is gunicorn's largest, above the app's 2048-character target limit (app.MAX_REQUEST_TARGET),
# so the app answers an overlong id; longer lines still get a JSON 414 from the worker class.
limit_request_line = 8190
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
