"""Parsing the text of a URL list: one URL (or local path) per line, `#` comments, blank lines, CRLF, BOM.

Reading the list (local, gs://, https://) and decoding it is `lib/ingestion.parse_list_bytes`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from wandr_pipeline.lib.network_policy import local_path_problem
from wandr_pipeline.lib.redaction import redact_url
from wandr_pipeline.lib.urls import InvalidVideoUrl, VideoRef, parse_video_url


@dataclass(frozen=True)
class RejectedLine:
    line_number: int
    text: str
    reason: str


@dataclass
class ParsedUrlList:
    accepted: list[VideoRef] = field(default_factory=list)
    rejected: list[RejectedLine] = field(default_factory=list)
    duplicates: int = 0


def parse_url_list(
    text: str, *, base_dir: Path | None = None, allow_local_files: bool = True, local_roots: tuple[str, ...] = ()
) -> ParsedUrlList:
    """Parse a list's text; duplicates (same video key) keep their first line.

    Local files must lie under `local_roots` when it is not empty. Rejected lines keep their text
    with any password or signed query value redacted (they are logged and stored).
    """

    result = ParsedUrlList()
    seen: set[str] = set()
    for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if " #" in stripped:  # trailing comment
            stripped = stripped.split(" #", 1)[0].strip()
        shown = redact_url(stripped)[:300]
        try:
            ref = parse_video_url(stripped, base_dir=base_dir)
        except InvalidVideoUrl as exc:
            result.rejected.append(RejectedLine(number, shown, str(exc)))
            continue
        if ref.platform == "file":
            problem = (
                "local files are not allowed here"
                if not allow_local_files
                else local_path_problem(Path(unquote(urlsplit(ref.download_url).path)), local_roots)
            )
            if problem:
                result.rejected.append(RejectedLine(number, shown, problem))
                continue
        if ref.video_key in seen:
            result.duplicates += 1
            continue
        seen.add(ref.video_key)
        result.accepted.append(ref)
    return result
