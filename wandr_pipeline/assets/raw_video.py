"""`raw_video`: download each post with yt-dlp, probe it, keep the file and the post's metadata."""


import datetime as dt
import hashlib
import tempfile
from pathlib import Path

import pyarrow as pa
from dagster import AssetExecutionContext, BackfillPolicy, asset

from wandr_pipeline.assets._stage import StageRun, failed_videos_check
from wandr_pipeline.engines.download import post_metadata
from wandr_pipeline.media.probe import probe_media
from wandr_pipeline.outcomes import OK, PermanentError
from wandr_pipeline.partitions import videos_partitions
from wandr_pipeline.resources import StorageResource, VideoDownloader
from wandr_pipeline.schemas import VIDEOS
from wandr_pipeline.submissions import load_submission
from wandr_pipeline.settings import Settings

_SETTINGS = Settings.from_env()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@asset(
    partitions_def=videos_partitions,
    io_manager_key="warehouse_io_manager",
    metadata={"table": "videos"},
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=_SETTINGS.partitions_per_run),
    check_specs=[failed_videos_check("raw_video")],
    group_name="videos",
    kinds={"python", "parquet"},
    description="The downloaded post (yt-dlp) with its metadata; table `videos`.",
)
def raw_video(context: AssetExecutionContext, storage: StorageResource, downloader: VideoDownloader):
    store = storage.get()
    stage = StageRun(context, "videos", VIDEOS)
    for key in stage.keys:
        stage.run_one(key, lambda key=key: [_download_one(context, store, downloader, key)],
                      preview=lambda rows: rows[0].get("title") or "")
        _keep_submitted_url(stage, store, key)
    yield from stage.results({"storage_root": store.root})


def _keep_submitted_url(stage: StageRun, store, key: str) -> None:
    """A failure row still names what was submitted (`source_url` is not nullable in `videos`;
    without this, one failed download failed the whole run's output)."""
    table = stage.tables.get(key)
    if table is None or table.column("source_url").null_count == 0:
        return
    ref = load_submission(store, key)
    values = {"source_url": ref.source_url if ref else "", "download_url": ref.download_url if ref else None,
              "platform": ref.platform if ref else None}
    for name, value in values.items():
        index = table.schema.get_field_index(name)
        table = table.set_column(index, table.schema.field(index), pa.array([value] * table.num_rows,
                                                                            type=table.schema.field(index).type))
    stage.tables[key] = table


def _download_one(context, store, downloader: VideoDownloader, key: str) -> dict:
    ref = load_submission(store, key)
    if ref is None:
        raise PermanentError("no submission record for this key (add videos with the CLI, sensor or schedule)")
    row = {"source_url": ref.source_url, "download_url": ref.download_url, "platform": ref.platform}
    with tempfile.TemporaryDirectory(prefix=f"wandr-{key}-") as tmp:
        post = downloader.download(
            ref.download_url, tmp,
            log=lambda msg: context.log.debug(f"{key}: {msg}"),
            fetch_object=lambda uri, target: store.fs.get_file(uri, str(target)),
        )
        info = probe_media(post.path)
        if not info.has_video:
            raise PermanentError("no video stream (a photo slideshow or an audio-only post)")
        limit = downloader.max_duration_s
        if limit and info.duration_s and info.duration_s > limit:
            raise PermanentError(f"video is {info.duration_s:.0f} s long, over the {limit:.0f} s limit")
        metadata = post_metadata(post.info)
        ext = post.path.suffix.lstrip(".").lower() or "mp4"
        video_uri = store.put_file(post.path, f"{store.media_dir(key)}/video.{ext}")
        row.update(metadata)
        row.update(
            duration_s=info.duration_s or metadata["duration_s"],
            width=info.width, height=info.height, fps=info.fps or metadata["fps"],
            has_audio=info.has_audio, bytes=post.path.stat().st_size, sha256=_sha256(post.path),
            video_uri=video_uri, downloaded_at=dt.datetime.now(dt.timezone.utc),
            status=OK, error=None,
        )
        return row
