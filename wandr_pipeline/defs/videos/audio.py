"""`audio`: the soundtrack as 16 kHz mono WAV, for Whisper."""

from pathlib import Path

from wandr_pipeline.defs.videos.stage import StageRun, StageWorker, first_row
from wandr_pipeline.lib.outcomes import OK, NotApplicable
from wandr_pipeline.lib.scratch import scratch_dir
from wandr_pipeline.media.audio import extract_audio
from wandr_pipeline.media.probe import MediaLimits, check_media_limits


class AudioWorker(StageWorker):
    asset = "audio"
    kinds = frozenset({"ffmpeg", "parquet"})
    description = "16 kHz mono WAV of each video's soundtrack (ffmpeg); table `audio`."
    resources = frozenset({"storage", "downloader"})  # the downloader's media limits

    def __init__(self, run: StageRun, resources):
        super().__init__(run, resources)
        self.limits = resources.downloader.media_limits()

    def process_one(self, key: str, inputs) -> None:
        upstream = inputs["raw_video"][key]
        if self.run.skip_unless_usable(key, upstream, "raw_video"):
            return
        video = first_row(upstream)
        self.run.run_one(key, lambda: [_extract_one(self.store, key, video, self.limits)])


def _extract_one(store, key: str, video: dict, limits: MediaLimits | None = None) -> dict:
    if not video.get("has_audio"):
        raise NotApplicable("video has no audio stream")
    with store.local_copy(video["video_uri"]) as local_video, scratch_dir("audio") as tmp:
        # raw_video checked the limits; a file it stored before they existed (or were lowered) is
        # checked again here, since ffmpeg's stream probe decodes a video frame too
        if limits is not None:
            check_media_limits(local_video, limits)
        wav = Path(tmp) / "audio.wav"
        info = extract_audio(local_video, wav)
        audio_uri = store.put_file(wav, f"{store.media_dir(key)}/audio.wav")
    return {
        "audio_uri": audio_uri,
        "duration_s": info.duration_s,
        "sample_rate": info.sample_rate,
        "channels": info.channels,
        "status": OK,
        "error": None,
    }
