"""One asset per stage, each partitioned by `videos`: a module per stage, built from the stage registry."""

from __future__ import annotations

from dagster import AssetsDefinition

from wandr_pipeline.defs.videos.audio import audio
from wandr_pipeline.defs.videos.caption_spans import caption_spans
from wandr_pipeline.defs.videos.ocr_text import ocr_text
from wandr_pipeline.defs.videos.raw_video import raw_video
from wandr_pipeline.defs.videos.sampled_frames import sampled_frames
from wandr_pipeline.defs.videos.stage import StageAsset
from wandr_pipeline.defs.videos.transcript import transcript
from wandr_pipeline.defs.videos.video_documents import video_documents
from wandr_pipeline.lib.stages import STAGE_ASSET_NAMES
from wandr_pipeline.settings import Settings

_BY_NAME: dict[str, StageAsset] = {
    s.stage.asset: s for s in (raw_video, audio, transcript, sampled_frames, ocr_text, caption_spans, video_documents)
}
# In registry order: a registered stage without a module fails here with a KeyError (a module whose
# function is not a registered stage already failed in `stage_asset`).
STAGE_ASSETS: tuple[StageAsset, ...] = tuple(_BY_NAME[name] for name in STAGE_ASSET_NAMES)


def build_stage_assets(settings: Settings) -> list[AssetsDefinition]:
    return [stage_asset.build(settings) for stage_asset in STAGE_ASSETS]
