"""`raw_video`: download each post with yt-dlp, probe it, keep the file and the post's metadata."""

import datetime as dt
import hashlib
import logging
from pathlib import Path

from wandr_pipeline.defs.resources import VideoDownloader
from wandr_pipeline.defs.videos.reporting import video_label
from wandr_pipeline.defs.videos.stage import StageRun, StageWorker
from wandr_pipeline.engines.ytdlp import SiteLimits, named, platform_of, post_metadata
from wandr_pipeline.lib.outcomes import FAILED, OK, PermanentError
from wandr_pipeline.lib.redaction import redact_url
from wandr_pipeline.lib.scratch import scratch_dir
from wandr_pipeline.lib.submissions import load_submission
from wandr_pipeline.media.probe import measured_duration_s, probe_media
from wandr_pipeline.media.slideshow import (
    PICTURE_ITEM,
    build_post_timeline,
    build_slideshow,
    slideshow_items,
)

# yt-dlp's chatter goes to the compute logs, not to Dagster's event log (one event per line).
_YTDLP_LOG = logging.getLogger("wandr_pipeline.yt_dlp")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RawVideoWorker(StageWorker):
    asset = "raw_video"
    kinds = frozenset({"python", "parquet"})
    description = "The downloaded post (yt-dlp) with its metadata; table `videos`."
    resources = frozenset({"storage", "downloader"})

    def __init__(self, run: StageRun, resources):
        super().__init__(run, resources)
        self.downloader: VideoDownloader = resources.downloader
        # Downloads of a run at once (each its own thread, its own yt-dlp and scratch folder; the pacing,
        # Retry-After pauses and per-site limits are the run's): a slow host holds one, not the run.
        self.workers = max(1, self.downloader.concurrent_downloads)
        # A site at its limit of downloads makes its next video wait, not the videos of other sites
        # behind it in the list: the run admits those first (lib/pipelining.py).
        self.per_group = max(1, self.downloader.downloads_per_site) if self.workers > 1 else 0
        self.site_limits = SiteLimits()
        run.configure(
            parameters={
                "max_duration_s": self.downloader.max_duration_s,
                "max_video_mb": self.downloader.max_filesize_mb,
                "max_frame_pixels": self.downloader.max_frame_pixels,
                "max_frame_rate": self.downloader.max_frame_rate,
                "max_streams": self.downloader.max_streams,
            }
        )

    def group_of(self, key: str) -> str:
        """The site the video is downloaded from (`SiteSlots`' key): `tiktok.com`, a host, or its key."""
        try:
            ref = load_submission(self.store, key)
        except Exception:  # noqa: BLE001 - an unreadable record: `process_one` records why; no group
            return key
        return platform_of(ref.download_url) if ref is not None and ref.download_url else key

    def process_one(self, key: str, inputs) -> None:
        ref = load_submission(self.store, key)
        if ref is None:
            self.run.record(
                key,
                [],
                status=FAILED,
                base={"source_url": ""},
                error="no submission record for this key (add videos with the CLI, sensor or schedule)",
            )
            return
        # Tables and metadata show URLs without passwords or signed query values; yt-dlp gets the real one.
        shown = {
            "source_url": redact_url(ref.source_url),
            "download_url": redact_url(ref.download_url),
            "platform": ref.platform,
        }
        self.run.run_one(
            key,
            lambda: [
                _download_one(self.run.log, self.store, self.downloader, self.site_limits, key, ref.download_url, shown)
            ],
            preview=lambda rows: rows[0].get("title") or "",
            base=shown,
        )

    def run_metadata(self) -> dict:
        return {"storage_root": self.store.root}


def _download_one(
    log, store, downloader: VideoDownloader, site_limits: SiteLimits, key: str, download_url: str, shown: dict
) -> dict:
    row = dict(shown)
    label = video_label(key, shown.get("source_url"))  # its title is known once it is downloaded
    with scratch_dir(key) as tmp:  # named after this process: a killed run's is removed later
        post = downloader.download(
            download_url,
            tmp,
            log=lambda msg: _YTDLP_LOG.debug("%s: %s", key, msg),
            warn=lambda msg: log.warning(f"{label}: {msg}"),
            fetch_object=store.fetch,
            site_limits=site_limits,
        )
        media, post_items = post.path, None
        if post.items:  # a photo post or carousel: its items as one video (media/slideshow.py)
            try:
                media, post_items = _post_video(post, Path(tmp), downloader.media_limits())
            except PermanentError as exc:  # a "picture" that is not one (an HTML page, a PDF)
                raise named(exc, "not_media") from None
            videos = sum(1 for item in post.items if item.kind != PICTURE_ITEM)
            log.info(
                f"{label}: {post.media_type} with {len(post.items) - videos} pictures and {videos} videos: "
                "one frame per picture"
            )
        try:
            info = probe_media(media, downloader.media_limits())  # media bombs refused before decoding
        except PermanentError as exc:
            raise named(exc, "not_media") from None
        if not info.has_video and not info.has_audio:
            raise named(PermanentError("the file has neither a video nor an audio stream"), "not_media")
        if not info.has_video:  # a photo slideshow's soundtrack, or an audio post: speech is still wanted
            log.info(f"{label}: no video stream (audio-only post, e.g. a photo slideshow): frames are skipped")
        limit = downloader.max_duration_s
        if limit and info.duration_s and info.duration_s > limit:
            raise named(
                PermanentError(
                    f"video is {info.duration_s:.0f} s long, over the {limit:g} s limit (WANDR_MAX_VIDEO_DURATION_S)"
                ),
                "too_long",
            )  # the platform did not say before the download
        if limit:  # the container's claim can be short (concatenated TS) or missing (raw H.264): measure
            played = measured_duration_s(media, stop_after_s=limit)
            if played and played > limit:
                claim = f"the file says {info.duration_s:.0f} s" if info.duration_s else "the file names no length"
                raise named(
                    PermanentError(
                        f"video plays over {limit:g} s ({claim}), over the {limit:g} s limit "
                        "(WANDR_MAX_VIDEO_DURATION_S)"
                    ),
                    "too_long",
                )
        metadata = post_metadata(post.info)
        ext = media.suffix.lstrip(".").lower() or "mp4"  # a plain word: download_post checks it
        video_uri = store.put_file(media, f"{store.media_dir(key)}/video.{ext}")
        row.update(metadata)
        row.update(
            duration_s=info.duration_s or metadata["duration_s"],
            width=info.width,
            height=info.height,
            fps=info.fps or metadata["fps"],
            has_audio=info.has_audio,
            has_video=info.has_video,
            bytes=media.stat().st_size,
            sha256=_sha256(media),
            media_type=post.media_type,
            post_items=[item.as_row() for item in post_items] if post_items is not None else None,
            video_uri=video_uri,
            downloaded_at=dt.datetime.now(dt.UTC),
            status=OK,
            error=None,
        )
        return row


def _post_video(post, folder: Path, limits):
    """The one video of a post made of items, and where each item lies in it: pictures only (and a
    soundtrack) a frame a picture; with video items, one timeline of stills and the videos' frames and sound."""
    if all(item.kind == PICTURE_ITEM for item in post.items):
        pictures = [item.path for item in post.items]
        return build_slideshow(pictures, post.path, folder / "slideshow.mp4"), slideshow_items(len(pictures))
    output = folder / "post.mp4"
    return output, build_post_timeline(post.items, output, limits)
