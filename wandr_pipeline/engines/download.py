"""Downloading one post with yt-dlp into a local folder, with its metadata."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from wandr_pipeline.media.ffmpeg_binary import ffmpeg_executable
from wandr_pipeline.outcomes import PermanentError, TransientError

_TRANSIENT_PATTERNS = re.compile(
    r"HTTP Error (429|5\d\d)|timed out|timeout|Connection (reset|refused|aborted)|Temporary failure"
    r"|Remote end closed|IncompleteRead|Read timed out|EOF occurred|Network is unreachable"
    r"|rate.?limit|Too Many Requests",
    re.IGNORECASE,
)
_HASHTAG = re.compile(r"#(\w[\w.]*)", re.UNICODE)


@dataclass
class DownloadSettings:
    format: str = "bv*[height<=1920]+ba/b[height<=1920]/bv*+ba/b"
    max_filesize_bytes: int | None = 500 * 1024 * 1024
    max_duration_s: float | None = 600.0
    socket_timeout_s: float = 30.0
    http_retries: int = 3
    cookiefile: str | None = None
    allow_file_urls: bool = True
    user_agent: str | None = None
    extra_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DownloadedPost:
    path: Path
    info: dict[str, Any]


class _CollectingLogger:
    """yt-dlp logger that keeps error lines (for the recorded reason) and forwards the rest."""

    def __init__(self, forward: Callable[[str], None] | None):
        self.forward = forward
        self.errors: list[str] = []

    def debug(self, msg: str) -> None:
        if self.forward and not msg.startswith("[debug]"):
            self.forward(msg)

    def info(self, msg: str) -> None:
        self.debug(msg)

    def warning(self, msg: str) -> None:
        if self.forward:
            self.forward(f"warning: {msg}")

    def error(self, msg: str) -> None:
        self.errors.append(msg)


def classify_download_error(message: str) -> type[PermanentError] | type[TransientError]:
    """Transient for throttling, server errors and network faults; permanent for everything else."""
    return TransientError if _TRANSIENT_PATTERNS.search(message) else PermanentError


def _clean_message(message: str) -> str:
    message = re.sub(r"^ERROR:\s*", "", message.strip())
    message = re.sub(r"\x1b\[[0-9;]*m", "", message)
    message = re.sub(r"\s*\(caused by .*\)\s*$", "", message, flags=re.DOTALL)
    return message.splitlines()[0] if message else "download failed"


def download_post(url: str, dest_dir: str | Path, settings: DownloadSettings,
                  log: Callable[[str], None] | None = None) -> DownloadedPost:
    """Download `url` into `dest_dir` as `video.<ext>`; returns the file and yt-dlp's info dict.

    Raises `TransientError` (worth a retry) or `PermanentError`, each with a readable reason.
    """
    import yt_dlp

    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    logger = _CollectingLogger(log)
    options: dict[str, Any] = {
        "outtmpl": str(dest_dir / "video.%(ext)s"),
        "format": settings.format,
        "merge_output_format": "mp4",
        "ffmpeg_location": ffmpeg_executable(),
        "noplaylist": True,
        "playlist_items": "1",
        "quiet": True,
        "no_warnings": False,
        "noprogress": True,
        "logger": logger,
        "socket_timeout": settings.socket_timeout_s,
        "retries": settings.http_retries,
        "fragment_retries": settings.http_retries,
        "extractor_retries": settings.http_retries,
        "enable_file_urls": settings.allow_file_urls,
        "overwrites": True,
        "cachedir": False,
        "writeinfojson": False,
    }
    if settings.max_filesize_bytes:
        options["max_filesize"] = settings.max_filesize_bytes
    if settings.max_duration_s:
        limit = settings.max_duration_s
        options["match_filter"] = lambda info, *, incomplete=False: (
            f"video is {info['duration']:.0f} s long, over the {limit:.0f} s limit"
            if info.get("duration") and info["duration"] > limit else None
        )
    if settings.cookiefile:
        options["cookiefile"] = settings.cookiefile
    if settings.user_agent:
        options["http_headers"] = {"User-Agent": settings.user_agent}
    options.update(settings.extra_options)

    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info = ydl.extract_info(url, download=True)
    except yt_dlp.utils.DownloadError as exc:
        message = _clean_message(logger.errors[-1] if logger.errors else str(exc))
        raise classify_download_error(message)(message) from None
    except (OSError, TimeoutError) as exc:
        raise TransientError(f"network error: {exc}") from None

    if info is None:
        raise PermanentError(_clean_message(logger.errors[-1]) if logger.errors else "nothing to download")
    if info.get("_type") == "playlist":
        entries = [entry for entry in info.get("entries") or [] if entry]
        if not entries:
            raise PermanentError("the URL is a playlist with no downloadable video")
        info = entries[0]
    files = [p for p in dest_dir.glob("video.*") if not p.name.endswith((".part", ".ytdl", ".json"))]
    if not files:
        size = info.get("filesize") or info.get("filesize_approx")
        if size and settings.max_filesize_bytes and size > settings.max_filesize_bytes:
            raise PermanentError(f"file is {size} bytes, over the {settings.max_filesize_bytes} byte limit")
        reason = "; ".join(_clean_message(m) for m in logger.errors) or "yt-dlp wrote no file (over a limit, or no media)"
        raise PermanentError(reason)
    return DownloadedPost(path=max(files, key=lambda p: p.stat().st_size), info=info)


def post_metadata(info: dict[str, Any]) -> dict[str, Any]:
    """The post fields we keep, from yt-dlp's info dict."""
    description = info.get("description") or None
    tags = [t for t in (info.get("tags") or []) if isinstance(t, str)]
    hashtags: list[str] = []
    for tag in _HASHTAG.findall(description or "") + tags:
        tag = tag.strip("#").strip()
        if tag and tag.casefold() not in {h.casefold() for h in hashtags}:
            hashtags.append(tag)
    return {
        "post_id": str(info["id"]) if info.get("id") is not None else None,
        "title": info.get("title") or info.get("fulltitle"),
        "uploader": info.get("uploader") or info.get("channel") or info.get("creator"),
        "uploader_id": info.get("uploader_id") or info.get("channel_id"),
        "description": description,
        "hashtags": hashtags,
        "upload_date": _upload_date(info),
        "duration_s": float(info["duration"]) if info.get("duration") else None,
        "fps": float(info["fps"]) if info.get("fps") else None,
    }


def _upload_date(info: dict[str, Any]) -> dt.date | None:
    text = info.get("upload_date")
    if isinstance(text, str) and re.fullmatch(r"\d{8}", text):
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    stamp = info.get("timestamp") or info.get("release_timestamp")
    if isinstance(stamp, (int, float)):
        return dt.datetime.fromtimestamp(stamp, tz=dt.timezone.utc).date()
    return None
