"""The local instance that `make run` and `make dev` use, in a temporary DAGSTER_HOME."""

from __future__ import annotations

import shutil

import pytest

from tests.support.paths import REPO


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A DAGSTER_HOME holding a copy of dagster_home/dagster.yaml, the instance of `make run`."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home
