"""`video_documents`: one row per video joining post metadata, the transcript and on-screen text."""


import datetime as dt

from dagster import AssetExecutionContext, AssetIn, BackfillPolicy, asset

from wandr_pipeline.assets._stage import StageRun, failed_videos_check, first_row, upstream_status
from wandr_pipeline.media.text import distinct_lines
from wandr_pipeline.outcomes import FAILED, OK, PermanentError
from wandr_pipeline.partitions import videos_partitions
from wandr_pipeline.schemas import VIDEO_DOCUMENTS
from wandr_pipeline.settings import Settings

_SETTINGS = Settings.from_env()


@asset(
    partitions_def=videos_partitions,
    io_manager_key="warehouse_io_manager",
    metadata={"table": "video_documents"},
    ins={
        "raw_video": AssetIn(),
        "audio": AssetIn(),
        "transcript": AssetIn(),
        "sampled_frames": AssetIn(),
        "ocr_text": AssetIn(),
    },
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=_SETTINGS.partitions_per_run),
    check_specs=[failed_videos_check("video_documents")],
    group_name="videos",
    kinds={"parquet"},
    description="One row per video: post metadata, full transcript, distinct on-screen text; table `video_documents`.",
)
def video_documents(context: AssetExecutionContext, raw_video: dict, audio: dict, transcript: dict,
                    sampled_frames: dict, ocr_text: dict):
    stage = StageRun(context, "video_documents", VIDEO_DOCUMENTS)
    for key in stage.keys:
        stage.run_one(key, lambda key=key: [build_document(raw_video[key], audio[key], transcript[key],
                                                          sampled_frames[key], ocr_text[key])],
                      preview=lambda rows: (rows[0]["transcript_text"] or rows[0]["onscreen_text"] or "")[:160])
    yield from stage.results()


def build_document(video, audio, transcript, frames, ocr) -> dict:
    """Merge one video's stage outputs (pyarrow tables) into its document row."""
    statuses = {
        "raw_video": upstream_status(video), "audio": upstream_status(audio), "transcript": upstream_status(transcript),
        "sampled_frames": upstream_status(frames), "ocr_text": upstream_status(ocr),
    }
    if statuses["raw_video"][0] != OK:
        raise PermanentError(f"raw_video {statuses['raw_video'][0]}: {statuses['raw_video'][1]}")
    post = first_row(video)
    segments = [r for r in transcript.to_pylist() if r["status"] == OK]
    segments.sort(key=lambda r: r["segment_index"])
    lines = [r for r in ocr.to_pylist() if r["status"] == OK and r["text"]]
    lines.sort(key=lambda r: (r["timestamp_s"], r["box_y0"], r["box_x0"]))
    onscreen = distinct_lines(r["text"] for r in lines)
    problems = [f"{stage} {status}: {error}" for stage, (status, error) in statuses.items()
                if status == FAILED]
    return {
        "source_url": post["source_url"], "platform": post["platform"], "title": post["title"],
        "uploader": post["uploader"], "description": post["description"], "hashtags": post["hashtags"],
        "upload_date": post["upload_date"], "duration_s": post["duration_s"],
        "language": segments[0]["language"] if segments else None,
        "transcript_text": " ".join(r["text"] for r in segments).strip() or None,
        "onscreen_lines": onscreen,
        "onscreen_text": "\n".join(onscreen) or None,
        "whisper_model": segments[0]["model"] if segments else None,
        "ocr_engine": lines[0]["engine"] if lines else None,
        "stage_statuses": [(stage, status) for stage, (status, _) in statuses.items()],
        "processed_at": dt.datetime.now(dt.timezone.utc),
        "status": OK,
        "error": "; ".join(problems) or None,
    }
