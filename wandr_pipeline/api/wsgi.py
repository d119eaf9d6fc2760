"""The WSGI entry point for gunicorn: `gunicorn -c python:wandr_pipeline.api.gunicorn_conf wandr_pipeline.api.wsgi:app`.

`wandr-pipeline api` (or `make api`) runs exactly that.
"""

import logging

from wandr_pipeline.settings import load_dotenv_file

load_dotenv_file()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

from wandr_pipeline.api.app import create_app  # noqa: E402 - after .env is loaded

app = create_app()
