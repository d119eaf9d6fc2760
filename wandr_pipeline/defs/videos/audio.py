"""`audio`: the soundtrack as 16 kHz mono WAV, for Whisper."""

import tempfile
from pathlib import Path

from dagster import AssetExecutionContext

from wandr_pipeline.defs.resources import StorageResource
from wandr_pipeline.defs.videos.stage import StageRun, first_row, stage_asset
from wandr_pipeline.lib.outcomes import OK, NotApplicable
from wandr_pipeline.media.audio import extract_audio


@stage_asset(
    kinds={"ffmpeg", "parquet"},
    description="16 kHz mono WAV of each video's soundtrack (ffmpeg); table `audio`.",
)
def audio(context: AssetExecutionContext, storage: StorageResource, raw_video: dict):
    store = storage.get()
    stage = StageRun(context, store=store)
    for key in stage.keys:
        upstream = raw_video[key]
        if stage.skip_unless_usable(key, upstream, "raw_video"):
            continue
        video = first_row(upstream)
        stage.run_one(key, lambda key=key, video=video: [_extract_one(store, key, video)])
    yield from stage.results()


def _extract_one(store, key: str, video: dict) -> dict:
    if not video.get("has_audio"):
        raise NotApplicable("video has no audio stream")
    with store.local_copy(video["video_uri"]) as local_video, tempfile.TemporaryDirectory(prefix="wandr-audio-") as tmp:
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
