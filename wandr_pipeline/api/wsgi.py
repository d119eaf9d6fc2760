"""The WSGI entry point for gunicorn: `gunicorn -c python:wandr_pipeline.api.gunicorn_conf wandr_pipeline.api.wsgi:app`.

`wandr-pipeline api` (or `make api`) runs exactly that. gunicorn imports this module to get `app`, so
building the app here, once per worker, is the point of the module.
"""

import logging

from wandr_pipeline.api.app import create_app
from wandr_pipeline.api.log_lines import escape_handlers
from wandr_pipeline.settings import load_dotenv_file

load_dotenv_file()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
escape_handlers(logging.getLogger())  # client text in the app's lines (paths, URLs) shown escaped
# Dagster's SQLite storages check their schema with alembic, which logs a dozen INFO lines per worker start.
logging.getLogger("alembic").setLevel(logging.WARNING)
app = create_app()
