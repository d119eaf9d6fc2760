"""The HTTP API's settings, from environment variables (documented in docs/API.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from wandr_pipeline.api.validation import AllowList, UrlPolicy
from wandr_pipeline.settings import Settings, _bool, _env


def _default_workspace() -> str:
    """`workspace.yaml` in the working directory, else the one next to the package (a source checkout)."""
    here = Path("workspace.yaml")
    if here.is_file():
        return str(here.resolve())
    return str(Path(__file__).resolve().parents[2] / "workspace.yaml")


@dataclass(frozen=True)
class ApiSettings:
    token: str = ""
    allowed_networks: str = ""
    reject_unresolved: bool = False
    resolve_timeout_s: float = 3.0
    max_body_bytes: int = 16 * 1024
    workspace_file: str = field(default_factory=_default_workspace)
    location_name: str = ""  # empty: the workspace's location that has the job
    job_name: str = "process_videos"
    warm_workspace: bool = True
    health_cache_s: float = 60.0
    pipeline: Settings = field(default_factory=Settings.from_env)

    @classmethod
    def from_env(cls) -> "ApiSettings":
        return cls(
            token=os.environ.get("WANDR_API_TOKEN", "").strip(),
            allowed_networks=_env("WANDR_API_ALLOWED_NETWORKS", ""),
            reject_unresolved=_bool(_env("WANDR_API_REJECT_UNRESOLVED", "false")),
            resolve_timeout_s=float(_env("WANDR_API_RESOLVE_TIMEOUT_S", "3")),
            max_body_bytes=int(_env("WANDR_API_MAX_BODY_BYTES", str(16 * 1024))),
            workspace_file=_env("WANDR_WORKSPACE_FILE", "") or _default_workspace(),
            location_name=_env("WANDR_API_LOCATION", ""),
            warm_workspace=_bool(_env("WANDR_API_WARM_WORKSPACE", "true")),
            pipeline=Settings.from_env(),
        )

    def url_policy(self) -> UrlPolicy:
        return UrlPolicy(allow=AllowList.parse(self.allowed_networks), reject_unresolved=self.reject_unresolved,
                         resolve_timeout_s=self.resolve_timeout_s)
