"""The original Flask service's HTTP API (health, process, status, result), backed by Dagster."""

from wandr_pipeline.api.app import create_app

__all__ = ["create_app"]
