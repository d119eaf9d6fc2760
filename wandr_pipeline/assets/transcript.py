"""`transcript`: speech to text with faster-whisper; one model load serves every video of the run."""


import time

from dagster import AssetExecutionContext, AssetIn, BackfillPolicy, asset

from wandr_pipeline.assets._stage import StageRun, failed_videos_check, first_row
from wandr_pipeline.compute import gpu_tags_from_settings
from wandr_pipeline.engines.transcribe import load_audio
from wandr_pipeline.outcomes import OK
from wandr_pipeline.partitions import videos_partitions
from wandr_pipeline.resources import StorageResource, WhisperResource
from wandr_pipeline.schemas import TRANSCRIPT_SEGMENTS
from wandr_pipeline.settings import Settings

_SETTINGS = Settings.from_env()
# `wandr/compute=gpu` + the k8s GPU request (wandr_pipeline/compute.py): L4 pods in production.
GPU_TAGS = gpu_tags_from_settings(_SETTINGS)


@asset(
    partitions_def=videos_partitions,
    io_manager_key="warehouse_io_manager",
    metadata={"table": "transcript_segments"},
    ins={"audio": AssetIn()},
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=_SETTINGS.partitions_per_run),
    check_specs=[failed_videos_check("transcript")],
    op_tags=GPU_TAGS,
    group_name="videos",
    kinds={"pytorch", "parquet"},
    description="Speech segments with start/end times (faster-whisper, VAD on); table `transcript_segments`.",
)
def transcript(context: AssetExecutionContext, storage: StorageResource, whisper: WhisperResource, audio: dict):
    store = storage.get()
    stage = StageRun(context, "transcript_segments", TRANSCRIPT_SEGMENTS)
    ready = []
    for key in stage.keys:
        if not stage.skip_unless_usable(key, audio[key], "audio"):
            ready.append((key, first_row(audio[key])["audio_uri"]))
    if not ready:
        yield from stage.results()
        return

    load_start = time.perf_counter()
    transcriber = whisper.get_transcriber()
    context.log.info(
        f"whisper model {transcriber.model_name} on {transcriber.device}/{transcriber.compute_type} "
        f"ready in {time.perf_counter() - load_start:.1f} s; transcribing {len(ready)} clip(s)"
    )

    def load(uri: str):
        with store.local_copy(uri) as path:
            return load_audio(path)

    audio_seconds = 0.0
    busy_start = time.perf_counter()
    results = transcriber.transcribe_many(ready, load=load)
    for key, result in results:
        def rows(result=result):
            if isinstance(result, BaseException):
                raise result
            return [
                {"segment_index": s.index, "start_s": s.start_s, "end_s": s.end_s, "text": s.text,
                 "avg_logprob": s.avg_logprob, "no_speech_prob": s.no_speech_prob, "language": result.language,
                 "language_probability": result.language_probability, "model": transcriber.model_name,
                 "status": OK, "error": None}
                for s in result.segments
            ]
        if not isinstance(result, BaseException):
            audio_seconds += result.duration_s
        stage.run_one(key, rows, empty_reason="no speech detected",
                      preview=lambda rows: " ".join(r["text"] for r in rows)[:160],
                      elapsed_s=None if isinstance(result, BaseException) else result.elapsed_s)
    busy = time.perf_counter() - busy_start
    yield from stage.results({
        "whisper_model": transcriber.model_name,
        "device": f"{transcriber.device}/{transcriber.compute_type}",
        "audio_seconds": round(audio_seconds, 1),
        "realtime_factor": round(audio_seconds / busy, 1) if busy > 0 else 0.0,
    })
