"""One asset per stage, each partitioned by `videos`."""

from wandr_pipeline.defs.videos.audio import audio
from wandr_pipeline.defs.videos.caption_spans import caption_spans
from wandr_pipeline.defs.videos.ocr_text import ocr_text
from wandr_pipeline.defs.videos.raw_video import raw_video
from wandr_pipeline.defs.videos.sampled_frames import sampled_frames
from wandr_pipeline.defs.videos.transcript import transcript
from wandr_pipeline.defs.videos.video_documents import video_documents

STAGE_ASSETS = [raw_video, audio, transcript, sampled_frames, ocr_text, caption_spans, video_documents]

__all__ = ["STAGE_ASSETS", "audio", "caption_spans", "ocr_text", "raw_video", "sampled_frames", "transcript", "video_documents"]
