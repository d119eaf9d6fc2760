"""`sampled_frames`: every Nth frame of each video as JPEG, timestamped by presentation time."""

from wandr_pipeline.defs.resources import FrameSamplingResource
from wandr_pipeline.defs.videos.stage import StageRun, StageWorker, first_row
from wandr_pipeline.engines.device import choose_frame_decoder
from wandr_pipeline.lib.media_versions import new_version, remove_old_versions, version_of
from wandr_pipeline.lib.outcomes import OK, NotApplicable
from wandr_pipeline.lib.stages import STAGES_BY_ASSET
from wandr_pipeline.media.frames import encode_jpeg, sample_frames
from wandr_pipeline.media.probe import MediaLimits, check_media_limits
from wandr_pipeline.media.slideshow import PICTURE_POSTS, VIDEO_ITEM, frames_to_read


class SampledFramesWorker(StageWorker):
    asset = "sampled_frames"
    kinds = frozenset({"opencv", "parquet"})
    description = "Every Nth frame (default 30) as JPEG with its presentation timestamp; table `frames`."
    resources = frozenset({"storage", "frame_sampler", "downloader"})  # the downloader's media limits

    def __init__(self, run: StageRun, resources):
        super().__init__(run, resources)
        self.sampler: FrameSamplingResource = resources.frame_sampler
        self.decoder = choose_frame_decoder(self.sampler.decoder)
        self.limits = resources.downloader.media_limits()
        run.configure(
            parameters={
                "every_n_frames": self.sampler.every_n_frames,
                "max_long_side": self.sampler.max_long_side,
                "decoder": self.decoder,
            }
        )

    def process_one(self, key: str, inputs) -> None:
        upstream = inputs["raw_video"][key]
        if self.run.skip_unless_usable(key, upstream, "raw_video"):
            return
        video = first_row(upstream)
        self.run.run_one(
            key,
            lambda: _sample_one(self.store, self.sampler, key, video, self.decoder, self.limits),
            empty_reason="no decodable frames",
        )


def _sample_one(
    store,
    sampler: FrameSamplingResource,
    key: str,
    video: dict,
    decoder: str = "cpu",
    limits: MediaLimits | None = None,
) -> list[dict]:
    if video.get("has_video") is False:  # None: a row written before the column existed
        raise NotApplicable("no video stream (audio-only post, e.g. a photo slideshow)")
    # A new folder per write, never the one a concurrent reader may be reading (lib/media_versions.py):
    # the frames partition written after this returns switches readers to it.
    frames_root = f"{store.media_dir(key)}/frames"
    published = _published_version(store, key)
    if published is not _UNKNOWN:
        remove_old_versions(store, frames_root, keep={published})
    frames_dir = f"{frames_root}/{new_version()}"
    rows = []
    # A picture post's video has one frame per picture: every one is read, once. A carousel with videos
    # is a timeline: one frame of each picture, the video items' every Nth frame (media/slideshow.py).
    every_n = sampler.every_n_frames
    read_under = None
    items = video.get("post_items") or []
    if any(item["kind"] == VIDEO_ITEM for item in items):
        read_under = frames_to_read(items, sampler.every_n_frames)
    elif video.get("media_type") in PICTURE_POSTS:
        every_n = 1
    limit = sampler.max_frames_per_video
    with store.local_copy(video["video_uri"]) as local_video:
        if limits is not None:  # as in `audio`: a file stored before the limits existed is checked here
            check_media_limits(local_video, limits)
        for frame in sample_frames(
            local_video,
            every_n_frames=1 if read_under else every_n,
            max_long_side=sampler.max_long_side,
            max_frames=None if read_under else limit,
            decoder=decoder,
        ):
            if read_under:
                every_n = read_under(frame.frame_index)
                if every_n is None:
                    continue
                if limit is not None and len(rows) >= limit:
                    break
            uri = store.write_bytes(
                f"{frames_dir}/{frame.frame_index:06d}.jpg", encode_jpeg(frame.image, sampler.jpeg_quality)
            )
            height, width = frame.image.shape[:2]
            rows.append(
                {
                    "frame_index": frame.frame_index,
                    "timestamp_s": round(frame.timestamp_s, 4),
                    "width": width,
                    "height": height,
                    "image_uri": uri,
                    "every_n_frames": every_n,
                    "status": OK,
                    "error": None,
                }
            )
    return rows


_UNKNOWN = object()
FRAMES_TABLE = STAGES_BY_ASSET["sampled_frames"].table


def _published_version(store, key: str):
    """The frames version the video's `frames` partition points to now (None: no partition or no
    frame; `_UNKNOWN`: unreadable, so nothing is removed)."""
    try:
        if not store.has_partition(FRAMES_TABLE, key):
            return None
        uris = [uri for uri in store.read_partition(FRAMES_TABLE, key).column("image_uri").to_pylist() if uri]
    except Exception:  # noqa: BLE001 - unreadable: keep every version rather than guess
        return _UNKNOWN
    return version_of(uris[0], "frames") if uris else None
