"""yt-dlp downloads (and `gs://` objects) with retries on transient faults."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from dagster import ConfigurableResource, EnvVar

from wandr_pipeline.engines.ytdlp import (
    DeadlineReached,
    DownloadedPost,
    DownloadOptions,
    SiteLimits,
    download_post,
    named,
    platform_of,
    safe_extension,
)
from wandr_pipeline.lib import stopping
from wandr_pipeline.lib.network_policy import AllowList
from wandr_pipeline.lib.outcomes import PermanentError, TransientError
from wandr_pipeline.lib.redaction import redact_url
from wandr_pipeline.lib.retry import RetryPastDeadline, call_with_retries
from wandr_pipeline.media.probe import MediaLimits
from wandr_pipeline.settings import DownloadSettings, environment_variables, from_setting, setting_values


class VideoDownloader(ConfigurableResource):
    """Downloads one post per call into a local folder."""

    format: str = from_setting("ytdlp_format")
    max_duration_s: float = from_setting("max_video_duration_s")
    max_filesize_mb: float = from_setting("max_video_mb")
    max_frame_pixels: int = from_setting("max_frame_pixels")
    max_frame_rate: float = from_setting("max_frame_rate")
    max_streams: int = from_setting("max_streams")
    socket_timeout_s: float = from_setting("download_timeout_s")
    deadline_s: float = from_setting("download_deadline_s")
    attempts: int = from_setting("download_attempts")
    backoff_s: float = from_setting("download_backoff_s")
    cookies_file: str = from_setting("ytdlp_cookies_file")
    cookies_max_mb: float = from_setting("ytdlp_cookies_max_mb")
    request_interval_s: float = from_setting("platform_request_interval_s")
    concurrent_downloads: int = from_setting("concurrent_downloads")
    downloads_per_site: int = from_setting("downloads_per_site")
    proxy: str = from_setting("ytdlp_proxy")
    ca_bundle: str = from_setting("ytdlp_ca_bundle")
    impersonate: bool = from_setting("ytdlp_impersonate")
    allow_local_files: bool = from_setting("allow_local_files")
    local_input_roots: list[str] = from_setting("local_input_roots")
    remote_only: bool = from_setting("remote_only")
    allowed_networks: str = from_setting("download_allowed_networks")

    @classmethod
    def from_settings(cls, download: DownloadSettings) -> VideoDownloader:
        """The downloader of these settings; the cookies file and the proxy (which may carry a password)
        as `EnvVar`s, so the UI shows the variables' names, not their values."""
        values = setting_values(cls, download)
        if download.ytdlp_cookies_file:
            values["cookies_file"] = EnvVar(environment_variables()["ytdlp_cookies_file"][0])
        if download.ytdlp_proxy:
            values["proxy"] = EnvVar(environment_variables()["ytdlp_proxy"][0])
        return cls(**values)

    def media_limits(self) -> MediaLimits:
        """What a downloaded file may hold before anything decodes it (checked by `probe_media`)."""
        return MediaLimits(self.max_frame_pixels, self.max_frame_rate, self.max_streams)

    def options(self) -> DownloadOptions:
        return DownloadOptions(
            format=self.format,
            max_filesize_bytes=int(self.max_filesize_mb * 1024 * 1024) or None,
            max_duration_s=self.max_duration_s or None,
            socket_timeout_s=self.socket_timeout_s,
            http_retries=1,  # our own retry loop below does the backoff
            cookiefile=self.cookies_file or None,
            allow_file_urls=self.allow_local_files,
            local_roots=tuple(self.local_input_roots),
            remote_only=self.remote_only,
            allowed_networks=AllowList.parse(self.allowed_networks),
            deadline_s=self.deadline_s or None,
            proxy=self.proxy or None,
            ca_bundle=self.ca_bundle or None,
            impersonate=self.impersonate,
            cookies_max_bytes=int(self.cookies_max_mb * 2**20) or None,
            request_interval_s=self.request_interval_s,
        )

    def download(
        self,
        url: str,
        dest_dir: str | Path,
        *,
        log: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
        fetch_object: Callable[[str, Path], None] | None = None,
        site_limits: SiteLimits | None = None,
    ) -> DownloadedPost:
        """Download `url` into `dest_dir`; `gs://` objects are copied with `fetch_object`.

        `log` receives yt-dlp's progress lines, `warn` the retries of transient faults. `site_limits`: the
        pauses, pacing and slots this download shares with the rest of its run (none shared when omitted).
        """

        def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
            if warn:
                warn(f"transient download error (try {attempt}/{self.attempts}), retrying in {delay:.1f} s: {exc}")

        if urlsplit(url).scheme != "gs":  # the first import takes seconds on a busy machine: not the server's time
            from yt_dlp.extractor import gen_extractor_classes

            gen_extractor_classes()

        if urlsplit(url).scheme == "gs":
            if fetch_object is None:
                raise PermanentError("gs:// sources need a storage client")
            return self._with_retries(lambda deadline: _fetch_gcs_object(url, Path(dest_dir), fetch_object), on_retry)
        options = self.options()
        limits = site_limits or SiteLimits()
        # One of the site's download slots for all the tries: the deadline starts once the run's own
        # queue is behind the video (waiting for a slot is not the server's slowness).
        with limits.slots.hold(platform_of(url), self.downloads_per_site):
            return self._with_retries(
                lambda deadline: _paced_download(url, dest_dir, options, limits, log, deadline), on_retry
            )

    def _with_retries(self, try_once: Callable[[float | None], DownloadedPost], on_retry) -> DownloadedPost:
        """`try_once(deadline)` with the retry loop, within the video's deadline (WANDR_DOWNLOAD_DEADLINE_S)."""
        deadline = time.monotonic() + self.deadline_s if self.deadline_s > 0 else None
        attempts = max(1, self.attempts)
        try:
            return call_with_retries(
                lambda: try_once(deadline),
                attempts=attempts,
                base_delay_s=self.backoff_s,
                on_retry=on_retry,
                deadline=deadline,
            )
        except DeadlineReached as exc:
            raise named(TransientError(f"{exc} (transient)"), exc.kind) from None
        except RetryPastDeadline as exc:
            cause = exc.__cause__
            if isinstance(cause, DeadlineReached):  # the try itself ran into the deadline
                raise named(TransientError(f"{cause} (transient)"), cause.kind) from None
            raise named(
                TransientError(
                    f"{exc} (transient; no time for another try before the {self.deadline_s:g} s download "
                    "deadline, WANDR_DOWNLOAD_DEADLINE_S)"
                ),
                getattr(cause, "kind", None),
            ) from None
        except TransientError as exc:
            raise named(
                TransientError(f"{exc} (transient; gave up after {attempts} tr{'y' if attempts == 1 else 'ies'})"),
                exc.kind,
            ) from None


def _paced_download(
    url: str,
    dest_dir: str | Path,
    options: DownloadOptions,
    limits: SiteLimits,
    log: Callable[[str], None] | None,
    deadline: float | None,
) -> DownloadedPost:
    """One try, after the pause its platform asked for (`Retry-After`, remembered across the run's videos)."""
    platform = platform_of(url)
    pause = limits.pauses.wait_s(platform)
    if pause > 0:
        if deadline is not None and time.monotonic() + pause >= deadline:
            error = named(
                TransientError(f"{platform} asked to wait {pause:.0f} s more before the next request (HTTP 429)"),
                "rate_limited",
            )
            error.retry_after_s = pause
            raise error
        stopping.sleep(pause)
    try:
        return download_post(url, dest_dir, options, log=log, deadline=deadline, pacer=limits.pacer)
    except TransientError as exc:
        if exc.retry_after_s:
            limits.pauses.defer(platform, exc.retry_after_s)
        raise


def _fetch_gcs_object(url: str, dest_dir: Path, fetch_object: Callable[[str, Path], None]) -> DownloadedPost:
    """Copy a `gs://` source object; a missing or forbidden object is permanent, other faults transient."""
    name = Path(urlsplit(url).path)
    target = dest_dir / f"video.{safe_extension(name.suffix, default='mp4')}"
    dest_dir.mkdir(parents=True, exist_ok=True)
    try:
        fetch_object(url, target)
    except FileNotFoundError:
        raise PermanentError(f"no such object: {redact_url(url)}") from None
    except PermissionError as exc:
        raise PermanentError(f"access to {redact_url(url)} denied: {exc}") from None
    except OSError as exc:
        raise TransientError(f"reading {redact_url(url)} failed: {type(exc).__name__}: {exc}") from None
    return DownloadedPost(target, {"id": name.stem, "title": name.stem})
