"""Parsing the text of a URL list: one URL (or local path) per line, `#` comments, blank lines, CRLF, BOM.

Reading the list (local, gs://, https://) is `lib/ingestion.parse_list_bytes`; `decode_list` turns its
bytes into text (UTF-8 with or without a BOM, UTF-16/32 with a BOM, BOM-less UTF-16 guessed from its NULs).

Every line goes through one guarded parse: whatever a line holds, it ends accepted, a duplicate, or a
rejected line with its reason; no line can make the list fail."""

from __future__ import annotations

import codecs
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


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts with UTF-16 LE's
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_list(data: bytes) -> str:
    """A list file's text. Undecodable bytes become U+FFFD (that line is then rejected or kept as
    written, never the whole file refused)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    sample = data[:4096]
    if len(sample) >= 4 and sample.count(0) >= len(sample) // 4:  # ASCII text as UTF-16 without a BOM
        even_nuls, odd_nuls = sample[0::2].count(0), sample[1::2].count(0)
        if odd_nuls > 2 * even_nuls:
            return data.decode("utf-16-le", errors="replace")
        if even_nuls > 2 * odd_nuls:
            return data.decode("utf-16-be", errors="replace")
    return data.decode("utf-8", errors="replace")


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
        shown = _shown(stripped)
        try:
            ref = parse_video_url(stripped, base_dir=base_dir)
            problem = _local_problem(ref, allow_local_files, local_roots) if ref.platform == "file" else None
        except InvalidVideoUrl as exc:
            problem = str(exc)
        except Exception as exc:  # noqa: BLE001 - one odd line is a rejected line, never a failed list
            problem = f"not a usable URL or path ({type(exc).__name__}: {str(exc)[:200]})"
        if problem:
            result.rejected.append(RejectedLine(number, shown, problem))
            continue
        if ref.video_key in seen:
            result.duplicates += 1
            continue
        seen.add(ref.video_key)
        result.accepted.append(ref)
    return result


def _local_problem(ref: VideoRef, allow_local_files: bool, local_roots: tuple[str, ...]) -> str | None:
    if not allow_local_files:
        return "local files are not allowed here"
    return local_path_problem(Path(unquote(urlsplit(ref.download_url).path)), local_roots)


def _shown(line: str) -> str:
    """The line as logged and stored: credentials redacted, control characters escaped, at most 300 chars."""
    try:
        shown = redact_url(line)
    except Exception:  # noqa: BLE001 - a line the redactor cannot parse is not shown at all
        shown = "(unreadable line)"
    shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in shown)
    return shown[:300]
