"""Downloading one post with yt-dlp into a local folder, with its metadata.

Bounded whatever the server says: the size limit is checked on the bytes actually received (a
progress hook, so a body without Content-Length or an endless one stops at the limit; pages, which it
does not see, end a little past it, `ytdlp_egress._bound`), and the
download ends at its deadline (the progress hook, plus a watchdog that shuts its connections, see
`ytdlp_egress.download_budget`). A `Retry-After` header on a 429/503 travels with the error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from wandr_pipeline.lib.network_policy import AllowList, host_problem, local_path_problem
from wandr_pipeline.lib.outcomes import PermanentError, StageError, TransientError
from wandr_pipeline.lib.redaction import Redactor, cookie_secrets, url_secrets
from wandr_pipeline.lib.stopping import raise_if_stopping
from wandr_pipeline.lib.stopping import sleep as stopping_sleep
from wandr_pipeline.lib.text import sanitize_text
from wandr_pipeline.media.ffmpeg_binary import ffmpeg_executable

if TYPE_CHECKING:
    from wandr_pipeline.media.slideshow import PostItem

_TRANSIENT_PATTERNS = re.compile(
    r"HTTP Error (429|5\d\d)|timed out|timeout|Connection (reset|refused|aborted)|Temporary failure"
    r"|Remote end closed|IncompleteRead|Read timed out|EOF occurred|Network is unreachable"
    r"|rate.?limit|Too Many Requests|bytes read, \d+ more expected|Connection broken",
    re.IGNORECASE,
)
_LOGIN_HINT = re.compile(r"\.?\s*Use --cookies-from-browser or --cookies for the authentication\..*$", re.DOTALL)
_MAX_FILESIZE = re.compile(r"File is larger than max-filesize \((\d+) bytes > (\d+) bytes\)")
# "; please report this issue on https://github.com/yt-dlp/yt-dlp/issues?q= , filling out the appropriate
# issue template. Confirm you are on the latest version using yt-dlp -U" (and its variants)
_REPORT_THIS = re.compile(r"[;.]?\s*(?:please report this issue|Confirm you are on the latest version).*$", re.I | re.S)
EMPTY_FILE = "the server sent an empty file (0 bytes)"
MAX_PICTURE_BYTES = 50 * 2**20  # one picture of a post, held in memory while fetched
TIKTOK_POST_URL = re.compile(r"https?://(?:www\.)?tiktok\.com/@[\w.-]*/(?:video|photo)/\d+", re.IGNORECASE)
_SAFE_EXT = re.compile(r"^[a-z0-9]{1,8}$")
_HASHTAG = re.compile(r"#(\w[\w.]*)", re.UNICODE)


@dataclass(kw_only=True)
class DownloadOptions:
    """What `download_post` may fetch and how; the resource (`VideoDownloader`) fills every knob."""

    format: str  # yt-dlp format selector
    max_filesize_bytes: int | None
    max_duration_s: float | None
    socket_timeout_s: float
    http_retries: int
    cookiefile: str | None
    allow_file_urls: bool
    # Local sources must lie under one of these folders (after resolving links); empty: anywhere.
    local_roots: tuple[str, ...]
    # Refuse loopback, private, link-local, ... addresses (redirects included), except `allowed_networks`.
    remote_only: bool
    allowed_networks: AllowList
    user_agent: str | None = None
    deadline_s: float | None = None  # wall clock per video, all tries together (for the messages)
    # Every platform request goes through this proxy (http://, https://, socks5://; may carry credentials).
    proxy: str | None = None
    # A PEM file of extra certificate authorities to trust (a proxy that re-signs TLS), besides certifi's.
    ca_bundle: str | None = None
    # Browser impersonation (curl_cffi) where an extractor asks for it (TikTok, Instagram).
    impersonate: bool = True
    cookies_max_bytes: int | None = None  # a bigger cookies file is refused
    request_interval_s: float = 0.0  # least time between two requests to one site (0: no pacing)
    extra_options: dict[str, Any] = field(default_factory=dict)


class PlatformPauses:
    """How long each platform asked to be left alone (HTTP 429 `Retry-After`), for every download that
    shares it: the next post of a platform that said "wait 30 s" waits too, instead of asking again at once."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def defer(self, platform: str, seconds: float) -> None:
        with self._lock:
            self._until[platform] = max(self._until.get(platform, 0.0), time.monotonic() + seconds)

    def wait_s(self, platform: str) -> float:
        with self._lock:
            return max(0.0, self._until.get(platform, 0.0) - time.monotonic())


class RequestPacer:
    """At most one request per `interval_s` to each site, across the downloads that share it: a long list of
    one platform's posts asks its pages and CDN at a steady, polite rate instead of in bursts."""

    def __init__(self) -> None:
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, url: str, interval_s: float) -> None:
        site = platform_of(url)
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(site, 0.0))
            self._next[site] = slot + interval_s
        if slot > now:
            stopping_sleep(slot - now)


class SiteSlots:
    """At most `limit` downloads from one site at once, across the threads that share it."""

    def __init__(self) -> None:
        self._busy: dict[str, int] = {}
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def hold(self, site: str, limit: int):
        with self._changed:
            while self._busy.get(site, 0) >= max(1, limit):
                self._changed.wait(timeout=1.0)
                raise_if_stopping()
            self._busy[site] = self._busy.get(site, 0) + 1
        try:
            yield
        finally:
            with self._changed:
                self._busy[site] -= 1
                self._changed.notify_all()


@dataclass
class SiteLimits:
    """What the downloads of one run share about each site: the pauses it asked for, the pacing of
    requests and the download slots. One per run, not per process: a test's or another run's hour-long
    `Retry-After` is not this run's business."""

    pauses: PlatformPauses = field(default_factory=PlatformPauses)
    pacer: RequestPacer = field(default_factory=RequestPacer)
    slots: SiteSlots = field(default_factory=SiteSlots)


def platform_of(url: str) -> str:
    """The site a URL belongs to, for pacing: `www.tiktok.com` and `m.tiktok.com` are both `tiktok.com`."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not re.search(r"[a-z]", host.split(".")[-1]):  # an address literal (127.0.0.1, ::1) is its own site
        return host
    return ".".join(host.split(".")[-2:])


@dataclass
class DownloadedPost:
    path: Path | None  # the video; of a picture post its soundtrack, or None
    info: dict[str, Any]
    items: list[PostItem] = field(default_factory=list)  # a picture post's items (a carousel's videos too), in order
    media_type: str = "video"  # video | photo_post | carousel


class _CollectingLogger:
    """yt-dlp logger that keeps error lines (for the recorded reason) and forwards the rest."""

    def __init__(self, forward: Callable[[str], None] | None, redact: Callable[[str], str]):
        self.forward = forward
        self.redact = redact
        self.errors: list[str] = []
        self.oversize: tuple[int, int] | None = None

    def debug(self, msg: str) -> None:
        match = _MAX_FILESIZE.search(msg)
        if match:
            self.oversize = (int(match.group(1)), int(match.group(2)))
        if self.forward and not msg.startswith("[debug]"):
            self.forward(self.redact(msg))

    def info(self, msg: str) -> None:
        self.debug(msg)

    def warning(self, msg: str) -> None:
        if self.forward:
            self.forward(self.redact(f"warning: {msg}"))

    def error(self, msg: str) -> None:
        self.errors.append(self.redact(msg))


class DeadlineReached(TransientError):
    """The video's download deadline passed (a drip-feeding or stalling server); not tried again now."""

    kind = "timeout"


def _slow_server_message(waited_s: float) -> str:
    return (
        f"the server sent its response too slowly and then no data (its headers took {waited_s:.0f} s: "
        "a server sending a byte at a time, or stalling)"
    )


def deadline_message(deadline_s: float | None, received: int | None = None) -> str:
    got = f" after {_size(received)}" if received else ""
    limit = f"the {deadline_s:g} s" if deadline_s else "its"
    return (
        f"download stopped at {limit} deadline{got} (WANDR_DOWNLOAD_DEADLINE_S): the server sends too slowly "
        "or never finishes"
    )


def _size(n: int) -> str:
    if n < 2**10:
        return f"{n} bytes"
    if n < 2**20:
        return f"{n / 2**10:.0f} KB"
    return f"{n / 2**20:.1f} MB"


def _oversize_message(received: int, limit: int) -> str:
    return (
        f"file is over the {limit / 2**20:g} MB limit (WANDR_MAX_VIDEO_MB): stopped after receiving "
        f"{received / 2**20:.1f} MB (the server did not announce its size)"
    )


def retry_after_s(exc: BaseException) -> float | None:
    """The seconds a `Retry-After` header asked for, from the HTTP error behind a yt-dlp error."""
    seen: set[int] = set()
    pending: list[Any] = [exc]
    exc_info = getattr(exc, "exc_info", None)
    if exc_info:
        pending.append(exc_info[1])
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        response = getattr(error, "response", None)
        headers = getattr(response, "headers", None)
        if headers is not None:
            value = headers.get("Retry-After")
            if value:
                return _parse_retry_after(str(value))
        pending += [getattr(error, "cause", None), error.__cause__, error.__context__]
    return None


def _parse_retry_after(value: str) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        from email.utils import parsedate_to_datetime

        when = parsedate_to_datetime(value)
        return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
    except (TypeError, ValueError, IndexError):
        return None


def classify_download_error(message: str) -> type[PermanentError] | type[TransientError]:
    """Transient for throttling, server errors and network faults; permanent for everything else."""
    return TransientError if _TRANSIENT_PATTERNS.search(message) else PermanentError


def _clean_message(message: str) -> str:
    message = re.sub(r"^ERROR:\s*", "", message.strip())
    message = re.sub(r"\x1b\[[0-9;]*m", "", message)
    message = re.sub(r"\s*\(caused by .*\)\s*$", "", message, flags=re.DOTALL)
    message = re.sub(r"\.? Giving up after \d+ retries$", "", message)  # our own retry loop reports the tries
    if _REPORT_THIS.search(message):  # yt-dlp's bug-report plea says nothing about the video
        message = _REPORT_THIS.sub("", message).rstrip(" ;.") + (
            " (yt-dlp could not read the site's page: it may have changed; a newer yt-dlp may read it)"
        )
    # yt-dlp's login hint names its own command-line flags; ours is a setting.
    message = _LOGIN_HINT.sub(" (set YTDLP_COOKIES_FILE to a cookies.txt of an account that has access)", message)
    if message.endswith("Did not get any data blocks"):
        message = EMPTY_FILE
    return message.splitlines()[0] if message else "download failed"


def _too_large(size: int, limit: int) -> str:
    return f"file is {size / 2**20:.1f} MB, over the {limit / 2**20:g} MB limit (WANDR_MAX_VIDEO_MB)"


def _too_long(duration: float, limit: float) -> str:
    return f"video is {duration:.0f} s long, over the {limit:g} s limit (WANDR_MAX_VIDEO_DURATION_S)"


def check_source_allowed(url: str, options: DownloadOptions) -> None:
    """Raise `PermanentError` when `url` is a source this configuration refuses.

    Local files must be allowed and lie under `local_roots` (links resolved); with `remote_only`,
    local files are refused and a host must not be (or resolve to) a non-public address.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("file", ""):
        if options.remote_only:
            raise named(
                PermanentError("local files are refused: downloads are remote-only (WANDR_REMOTE_ONLY)"),
                "source_refused",
            )
        if not options.allow_file_urls:
            raise named(
                PermanentError("local files are not allowed by configuration (WANDR_ALLOW_LOCAL_FILES)"),
                "source_refused",
            )
        problem = local_path_problem(Path(unquote(parts.path) if scheme else url), options.local_roots)
        if problem:
            raise named(PermanentError(problem), "source_refused")
        return
    if options.remote_only and scheme in ("http", "https") and parts.hostname:
        problem = host_problem(parts.hostname, options.allowed_networks)
        if problem:
            raise named(
                PermanentError(
                    f"refusing to download from {parts.hostname}: {problem} (downloads are "
                    "remote-only; exempt a host or network with WANDR_DOWNLOAD_ALLOWED_NETWORKS)"
                ),
                "address_refused",
            )


def _url_judge(options: DownloadOptions) -> Callable[[str], str | None]:
    """Why a request to `url` is refused in remote-only mode (its host as this machine resolves it), or None."""

    def judge(url: str) -> str | None:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None
        problem = host_problem(parts.hostname, options.allowed_networks, resolve_timeout_s=2.0)
        return f"refusing to connect to {parts.hostname}: {problem} (remote-only downloads)" if problem else None

    return judge


@contextlib.contextmanager
def _private_cookie_copy(cookiefile: str | None, folder: Path, max_bytes: int | None = None):
    """yt-dlp writes its cookie jar back to the cookies file when it closes: give it a private copy,
    so the configured file (often a read-only secret mount) is never written or named in errors.
    The file is read once while it stays the same (`read_cookies`), within `max_bytes`."""
    if not cookiefile:
        yield None
        return
    content = read_cookies(cookiefile, max_bytes)
    copy = folder / ".cookies.txt"
    try:
        descriptor = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        yield str(copy)
    finally:
        copy.unlink(missing_ok=True)


_cookies_lock = threading.Lock()
_cookies_cache: dict[str, tuple[tuple[int, int], bytes]] = {}  # path -> ((size, mtime_ns), content)


def read_cookies(cookiefile: str, max_bytes: int | None) -> bytes:
    """The cookies file's content, read once for as long as its size and modification time stay the same
    (a run's downloads share one read); refused above `max_bytes` (`YTDLP_COOKIES_MAX_MB`)."""
    try:
        stat = os.stat(cookiefile)
    except OSError as exc:
        raise _unreadable_cookies(exc) from None
    if max_bytes and stat.st_size > max_bytes:
        raise named(
            PermanentError(
                f"the configured cookies file is {stat.st_size / 2**20:.1f} MB, over the {max_bytes / 2**20:g} MB "
                "limit (YTDLP_COOKIES_MAX_MB): export only the platforms' cookies"
            ),
            "cookies_refused",
        )
    stamp = (stat.st_size, stat.st_mtime_ns)
    with _cookies_lock:
        cached = _cookies_cache.get(cookiefile)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            with open(cookiefile, "rb") as handle:
                content = handle.read((max_bytes or stat.st_size) + 1)
        except OSError as exc:
            raise _unreadable_cookies(exc) from None
        if max_bytes and len(content) > max_bytes:
            raise named(PermanentError("the configured cookies file grew over its limit while read"), "cookies_refused")
        _cookies_cache.clear()  # one configured file: keep only its newest content
        _cookies_cache[cookiefile] = (stamp, content)
        return content


def _unreadable_cookies(exc: OSError) -> StageError:
    reason = exc.strerror or type(exc).__name__
    return named(PermanentError(f"the configured cookies file cannot be read ({reason})"), "cookies_refused")


def download_post(
    url: str,
    dest_dir: str | Path,
    options: DownloadOptions,
    log: Callable[[str], None] | None = None,
    *,
    deadline: float | None = None,
    pacer: RequestPacer | None = None,
) -> DownloadedPost:
    """Download `url` into `dest_dir` as `video.<ext>`; returns the file and yt-dlp's info dict.

    `deadline` (`time.monotonic()`): the download ends then at the latest, `DeadlineReached`.
    `pacer`: spaces the requests to each site by `options.request_interval_s` (shared by a run's downloads).
    Raises `TransientError` (worth a retry) or `PermanentError`, each with a readable reason and, where
    it is one, the refusal's `kind` (engines/ytdlp_refusals.py). A media URL that the CDN refuses (an
    expired signature) is extracted again once, for a fresh URL.
    """
    try:
        return _download_once(url, dest_dir, options, log, deadline=deadline, pacer=pacer)
    except PermanentError as exc:
        if exc.kind != "expired_media_url":
            raise
        if log:
            log("the media URL was refused (HTTP 403): extracting the post again for a fresh one")
    try:
        return _download_once(url, dest_dir, options, log, deadline=deadline, pacer=pacer)
    except PermanentError as exc:
        if exc.kind == "expired_media_url":
            raise named(PermanentError(f"{exc} (also after extracting the post again)"), exc.kind) from None
        raise


def named(error: StageError, kind: str | None) -> StageError:
    """`error` with its refusal kind (`videos.error_kind`)."""
    error.kind = kind
    return error


def _download_once(
    url: str,
    dest_dir: str | Path,
    options: DownloadOptions,
    log: Callable[[str], None] | None,
    *,
    deadline: float | None,
    pacer: RequestPacer | None,
) -> DownloadedPost:
    import yt_dlp

    from wandr_pipeline.engines.ytdlp_egress import GuardedYoutubeDL, download_budget, proxy_endpoint, remote_only
    from wandr_pipeline.engines.ytdlp_refusals import name_refusal
    from wandr_pipeline.media.slideshow import VIDEO

    check_source_allowed(url, options)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    redact = Redactor(url_secrets(url) + cookie_secrets(options.cookiefile) + url_secrets(options.proxy or ""))
    logger = _CollectingLogger(log, redact)
    ydl_options: dict[str, Any] = {
        "outtmpl": str(dest_dir / "video.%(ext)s"),
        "format": options.format,
        "merge_output_format": "mp4",
        "ffmpeg_location": ffmpeg_executable(),
        "noplaylist": True,
        "playlist_items": "1",
        "quiet": True,
        "no_warnings": False,
        "noprogress": True,
        "logger": logger,
        "socket_timeout": options.socket_timeout_s,
        "retries": options.http_retries,
        "fragment_retries": options.http_retries,
        "extractor_retries": options.http_retries,
        "enable_file_urls": options.allow_file_urls,
        "overwrites": True,
        "cachedir": False,
        "writeinfojson": False,
    }
    if options.max_filesize_bytes:
        ydl_options["max_filesize"] = options.max_filesize_bytes
    if options.max_duration_s:
        limit = options.max_duration_s
        ydl_options["match_filter"] = lambda info, *, incomplete=False: (
            _too_long(info["duration"], limit) if info.get("duration") and info["duration"] > limit else None
        )
    if options.user_agent:
        ydl_options["http_headers"] = {"User-Agent": options.user_agent}
    if options.proxy:
        ydl_options["proxy"] = options.proxy
    received = {"bytes": 0}

    def on_progress(status: dict[str, Any]) -> None:
        """Runs for every block received: the byte limit and the deadline, whatever the headers said."""
        got = int(status.get("downloaded_bytes") or 0)
        received["bytes"] = max(received["bytes"], got)
        if options.max_filesize_bytes and got > options.max_filesize_bytes:
            raise named(PermanentError(_oversize_message(got, options.max_filesize_bytes)), "too_large")
        if deadline is not None and time.monotonic() >= deadline:
            raise DeadlineReached(deadline_message(options.deadline_s, got))
        raise_if_stopping()  # the process is shutting down (SIGTERM): lib/stopping.py

    ydl_options["progress_hooks"] = [on_progress]
    ydl_options.update(options.extra_options)

    try:
        proxy = proxy_endpoint(options.proxy) if options.proxy else None
    except ValueError as exc:
        raise PermanentError(f"YTDLP_PROXY is not usable: {exc}") from None
    guard = remote_only(options.allowed_networks, proxy=proxy) if options.remote_only else contextlib.nullcontext()
    # Behind a proxy the guard sees only the connection to the proxy: each request's URL is judged instead.
    judge_url = _url_judge(options) if options.remote_only and proxy else None
    budget = None
    ydl = None
    media_type, items = VIDEO, []
    # TikTok and Instagram posts may be pictures (photo posts, image posts, carousels): engines/ytdlp_photos.py
    platform_post = bool(TIKTOK_POST_URL.match(url)) or platform_of(url) == "instagram.com"
    if platform_post:
        ydl_options["ignore_no_formats_error"] = True  # an image post: its pictures are the media
    try:
        with (
            _private_cookie_copy(options.cookiefile, dest_dir, options.cookies_max_bytes) as cookiefile,
            guard,
            download_budget(deadline, options.max_filesize_bytes) as budget,
        ):
            if cookiefile:
                ydl_options["cookiefile"] = cookiefile
            pace = (
                (lambda u: pacer.wait(u, options.request_interval_s)) if pacer and options.request_interval_s else None
            )
            ydl = GuardedYoutubeDL(
                ydl_options,
                ca_bundle=options.ca_bundle,
                judge_url=judge_url,
                pace=pace,
                impersonating_handler=_impersonating_handler() if options.impersonate else None,
            )
            with ydl:
                if platform_post:
                    info, media_type, items = _download_platform_post(ydl, url, dest_dir, options)
                else:
                    info = ydl.extract_info(url, download=True)
    except (yt_dlp.utils.DownloadError, yt_dlp.utils.ExtractorError) as exc:
        raise_if_stopping()  # its connections were shut because the process is stopping: not the server's fault
        if budget is not None and budget.oversize and options.max_filesize_bytes:
            size, announced = budget.oversize  # a response (a page, or in libcurl) was stopped at the limit
            message = (
                _too_large(size, options.max_filesize_bytes)
                if announced
                else _oversize_message(size, options.max_filesize_bytes)
            )
            raise named(PermanentError(message), "too_large") from None
        if budget is not None and budget.passed():
            raise DeadlineReached(deadline_message(options.deadline_s, received["bytes"])) from None
        message = _clean_message(logger.errors[-1] if logger.errors else redact(str(exc)))
        if "refusing to connect to" in message:  # the egress guard, after a redirect or a second lookup
            refused = message[message.index("refusing to connect to") :]
            raise named(PermanentError(refused), "address_refused") from None
        asked = retry_after_s(exc)
        refusal = name_refusal(exc, on_page=not (ydl is not None and ydl.downloading), retry_after_s=asked)
        waited = ydl.last_headers_wait_s if ydl is not None else 0.0
        if message == EMPTY_FILE and waited >= options.socket_timeout_s:
            # no body after headers that took long: the server was slow (a byte at a time), not empty
            error_class, kind, message = TransientError, "timeout", _slow_server_message(waited)
        elif refusal is None:
            error_class = classify_download_error(message)
            kind = "not_media" if message == EMPTY_FILE else ("network" if error_class.transient else "other")
        else:
            error_class = TransientError if refusal.transient else PermanentError
            message = redact(refusal.reason) if refusal.reason else message
            kind = refusal.kind
        error = named(error_class(message), kind)
        error.retry_after_s = asked
        raise error from None
    except StageError:
        raise  # the progress hook's limits
    except (OSError, TimeoutError, yt_dlp.networking.exceptions.RequestError) as exc:
        # yt-dlp lets a transport's error out of a media read unwrapped (`_bound`'s stop at the deadline)
        raise_if_stopping()
        if budget is not None and budget.passed():
            raise DeadlineReached(deadline_message(options.deadline_s, received["bytes"])) from None
        raise named(TransientError(redact(f"network error: {exc}")), "network") from None

    if info is None:
        raise PermanentError(_clean_message(logger.errors[-1]) if logger.errors else "nothing to download")
    if media_type != VIDEO:
        if not items:
            raise named(PermanentError("the post has no video and no pictures"), "not_media")
        soundtrack = [p for p in dest_dir.glob("video.*") if not p.name.endswith((".part", ".ytdl", ".json"))]
        return DownloadedPost(path=soundtrack[0] if soundtrack else None, info=info, items=items, media_type=media_type)
    if info.get("_type") == "playlist":
        entries = [entry for entry in info.get("entries") or [] if entry]
        if not entries:
            raise PermanentError("the URL is a playlist with no downloadable video")
        info = entries[0]
    files = [p for p in dest_dir.glob("video.*") if not p.name.endswith((".part", ".ytdl", ".json"))]
    if not files:
        size = info.get("filesize") or info.get("filesize_approx")
        if logger.oversize:
            size = logger.oversize[0]
        duration = info.get("duration")
        if options.max_duration_s and isinstance(duration, (int, float)) and duration > options.max_duration_s:
            raise named(PermanentError(_too_long(duration, options.max_duration_s)), "too_long")
        if size and options.max_filesize_bytes and size > options.max_filesize_bytes:
            raise named(PermanentError(_too_large(size, options.max_filesize_bytes)), "too_large")
        reason = (
            "; ".join(_clean_message(m) for m in logger.errors) or "yt-dlp wrote no file (over a limit, or no media)"
        )
        raise PermanentError(reason)
    path = max(files, key=lambda p: p.stat().st_size)
    safe = safe_extension(path.suffix, default="bin")
    if path.suffix != f".{safe}":
        path = path.rename(path.with_name(f"video.{safe}"))
    return DownloadedPost(path=path, info=info)


def _impersonating_handler():
    """yt-dlp's curl_cffi transport under the egress limits, or None where curl_cffi cannot be used."""
    try:
        from wandr_pipeline.engines.ytdlp_impersonation import GuardedCurlCFFIRH
    except ImportError:  # curl_cffi is not installed, or not a version this yt-dlp supports
        return None
    return GuardedCurlCFFIRH


def _download_platform_post(ydl, url: str, dest_dir: Path, options: DownloadOptions):
    """A TikTok or Instagram post: its video as any other, or its items (pictures, a carousel's videos) and
    a photo post's soundtrack. Returns (info, media type, item files)."""
    from wandr_pipeline.engines.ytdlp_photos import WandrTikTokIE, post_items
    from wandr_pipeline.media.slideshow import PHOTO_POST, VIDEO

    ie_key = None
    if TIKTOK_POST_URL.match(url):
        ydl.add_info_extractor(WandrTikTokIE())
        ie_key = WandrTikTokIE.ie_key()
    raw = ydl.extract_info(url, download=False, process=False, ie_key=ie_key)
    media_type, items = post_items(raw or {})
    if media_type == VIDEO:
        return ydl.process_ie_result(raw, download=True), VIDEO, []
    info = raw
    if media_type == PHOTO_POST and raw.get("formats"):  # a TikTok photo post's soundtrack
        info = ydl.process_ie_result(raw, download=True)
    return info, media_type, _fetch_items(ydl, items, dest_dir / "items", options)


def _fetch_items(ydl, items: list[tuple[str, Any]], folder: Path, options: DownloadOptions) -> list[PostItem]:
    """Each picture through yt-dlp's transports (proxy, cookies, egress guard, deadline), each video item by
    yt-dlp itself (its limits and progress hook), all of them together within the size limit."""
    import yt_dlp
    from yt_dlp.networking.common import Request
    from yt_dlp.networking.exceptions import RequestError

    from wandr_pipeline.media.slideshow import PICTURE_ITEM, PostItem

    ydl.downloading = True  # errors from here on are the media's, not the post page's
    folder.mkdir(parents=True, exist_ok=True)
    limit = options.max_filesize_bytes or 2**62
    received, files = 0, []
    for index, (kind, source) in enumerate(items):
        if kind != PICTURE_ITEM:
            path = _download_video_item(ydl, source, folder / f"{index:03d}")
            received += path.stat().st_size
            if received > limit:
                raise named(PermanentError(_oversize_message(received, limit)), "too_large")
            files.append(PostItem(kind, path))
            continue
        url = source
        try:
            response = ydl.urlopen(Request(url, headers={"Referer": "https://www.instagram.com/"}))
            try:
                data = response.read(min(limit - received, MAX_PICTURE_BYTES) + 1)
            finally:
                response.close()
        except RequestError as exc:
            message = f"unable to download the picture of item {index + 1} of {len(items)}: {exc}"
            raise yt_dlp.utils.DownloadError(message, (type(exc), exc, exc.__traceback__)) from None
        if len(data) > MAX_PICTURE_BYTES:
            message = f"picture {index + 1} is over {MAX_PICTURE_BYTES // 2**20} MB: not a picture a post shows"
            raise named(PermanentError(message), "too_large")
        received += len(data)
        if received > limit:
            raise named(PermanentError(_oversize_message(received, limit)), "too_large")
        path = folder / f"{index:03d}.img"
        path.write_bytes(data)
        files.append(PostItem(kind, path))
    return files


def _download_video_item(ydl, entry: dict[str, Any], stem: Path) -> Path:
    """A carousel's video item, downloaded by yt-dlp as `<stem>.<ext>` (the post's own file is `video.*`)."""
    template = ydl.params["outtmpl"]["default"]
    ydl.params["outtmpl"]["default"] = f"{stem}.%(ext)s"
    try:
        ydl.process_ie_result(dict(entry), download=True)
    finally:
        ydl.params["outtmpl"]["default"] = template
    files = [p for p in stem.parent.glob(f"{stem.name}.*") if not p.name.endswith((".part", ".ytdl", ".json"))]
    if not files:
        raise PermanentError(f"yt-dlp wrote no file for the post's video item {int(stem.name) + 1}")
    path = max(files, key=lambda p: p.stat().st_size)
    safe = safe_extension(path.suffix, default="bin")
    return path if path.suffix == f".{safe}" else path.rename(path.with_name(f"{stem.name}.{safe}"))


def safe_extension(suffix: str, default: str) -> str:
    """A file extension from the internet as a plain lower-case word (`.MP4` -> `mp4`), else `default`."""
    ext = suffix.lstrip(".").lower()
    return ext if _SAFE_EXT.match(ext) else default


# Where each extractor puts the account's handle (the @name) and its display name: TikTok's `uploader` is
# the handle and `channel` the nickname; Instagram's are the other way round (`channel` = username).
_HANDLE_FIELDS = {"Instagram": ("channel", "uploader"), "TikTok": ("uploader", "channel")}


def post_metadata(info: dict[str, Any]) -> dict[str, Any]:
    """The post fields we keep, from yt-dlp's info dict (the `videos` columns of the same names)."""
    description = sanitize_text(info.get("description")) or None
    tags = [sanitize_text(t) for t in (info.get("tags") or []) if isinstance(t, str) and sanitize_text(t)]
    hashtags: list[str] = []
    for tag in _HASHTAG.findall(description or "") + tags:
        tag = tag.strip("#").strip()
        if tag and tag.casefold() not in {h.casefold() for h in hashtags}:
            hashtags.append(tag)
    handle_field, name_field = _HANDLE_FIELDS.get(str(info.get("extractor_key")), ("uploader", "channel"))
    handle = info.get(handle_field) or info.get("uploader") or info.get("channel") or info.get("creator")
    name = info.get(name_field) if info.get(name_field) != handle else None
    artists = info.get("artists") or ([info["artist"]] if info.get("artist") else [])
    stamp = info.get("timestamp") or info.get("release_timestamp")
    location = info.get("location")
    return {
        "post_id": sanitize_text(str(info["id"])) if info.get("id") is not None else None,
        "title": sanitize_text(info.get("title") or info.get("fulltitle")),
        "uploader": sanitize_text(handle),
        "uploader_name": sanitize_text(name) or None,
        "uploader_id": sanitize_text(str(info.get("uploader_id") or info.get("channel_id") or "")) or None,
        "description": description,
        "hashtags": hashtags,
        "upload_date": _upload_date(info),
        "upload_time": dt.datetime.fromtimestamp(stamp, tz=dt.UTC) if isinstance(stamp, (int, float)) else None,
        "duration_s": float(info["duration"]) if info.get("duration") else None,
        "fps": float(info["fps"]) if info.get("fps") else None,
        "music_title": sanitize_text(info.get("track")) or None,
        "music_artist": sanitize_text(", ".join(str(a) for a in artists if a)) or None,
        "view_count": _count(info.get("view_count")),
        "like_count": _count(info.get("like_count")),
        "comment_count": _count(info.get("comment_count")),
        "share_count": _count(info.get("repost_count")),
        "location": sanitize_text(location) or None if isinstance(location, str) else None,
    }


def _count(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else None


def _upload_date(info: dict[str, Any]) -> dt.date | None:
    text = info.get("upload_date")
    if isinstance(text, str) and re.fullmatch(r"\d{8}", text):
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    stamp = info.get("timestamp") or info.get("release_timestamp")
    if isinstance(stamp, (int, float)):
        return dt.datetime.fromtimestamp(stamp, tz=dt.UTC).date()
    return None
