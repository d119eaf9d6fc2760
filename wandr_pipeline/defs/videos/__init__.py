"""The stage assets, partitioned by `videos`: a worker module per stage, computed by the stage ops.

Each stage op (lib/stages.py `STAGE_OPS`) is one multi-asset over the stages that run in one place,
pipelined per video (`stage_op.py`); each stage stays its own asset.
"""

from __future__ import annotations

from dagster import AssetsDefinition

from wandr_pipeline.defs.videos.audio import AudioWorker
from wandr_pipeline.defs.videos.caption_spans import CaptionSpansWorker
from wandr_pipeline.defs.videos.ocr_text import OcrTextWorker
from wandr_pipeline.defs.videos.raw_video import RawVideoWorker
from wandr_pipeline.defs.videos.sampled_frames import SampledFramesWorker
from wandr_pipeline.defs.videos.stage import StageWorker
from wandr_pipeline.defs.videos.stage_op import build_stage_op
from wandr_pipeline.defs.videos.transcript import TranscriptWorker
from wandr_pipeline.defs.videos.video_documents import VideoDocumentsWorker
from wandr_pipeline.lib.stages import STAGE_ASSET_NAMES, STAGE_OPS
from wandr_pipeline.settings import Settings

_BY_NAME: dict[str, type[StageWorker]] = {
    w.asset: w
    for w in (
        RawVideoWorker,
        AudioWorker,
        TranscriptWorker,
        SampledFramesWorker,
        OcrTextWorker,
        CaptionSpansWorker,
        VideoDocumentsWorker,
    )
}
# In registry order: a registered stage without a worker fails here with a KeyError (a worker whose
# stage is not registered already failed when its class was made).
STAGE_WORKERS: tuple[type[StageWorker], ...] = tuple(_BY_NAME[name] for name in STAGE_ASSET_NAMES)


def build_stage_assets(settings: Settings) -> list[AssetsDefinition]:
    """One multi-asset per stage op, computing its stages."""
    return [build_stage_op(op, [_BY_NAME[name] for name in op.assets], settings) for op in STAGE_OPS]
