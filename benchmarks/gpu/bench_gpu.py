"""GPU-path benchmark: transcription over many short clips, frame sampling, OCR, videos per hour.

    python -m benchmarks.gpu.bench_gpu [--clips 60] [--videos 8] [--out benchmarks/out/gpu.json]

Runs on whatever the machine has (device choice is `auto`, as in production) and says which device
each figure came from, so the same script gives the CPU figures here and the GPU figures on an L4
(benchmarks/gpu/run_on_device.sh). Figures:

1. transcription: `--clips` short clips (10-16 s, variants of the sample clips), through
   `WhisperTranscriber.transcribe_many` (what the `transcript` asset calls: CPU threads load,
   VAD-split and featurise the next clips while the model decodes batches that mix chunks of
   different clips); realtime factor = audio seconds / wall seconds. On a subset, for comparison:
   one clip at a time, and prefetch without cross-clip batching.
2. frame sampling: a 60 s 1080x1920 H.264 clip, every 30th frame at a 960 px long side, with the
   CPU decoder (PyAV) and, where usable, NVDEC (torchcodec): decoded frames/s and sampled frames/s.
3. OCR: seconds per sampled frame on the chosen OCR device.
4. end to end: `--videos` one-minute 1080x1920 videos through the real Dagster graph in one
   in-process run (`wandr_pipeline.cli.runner`); videos per hour = videos / wall time x 3600.
5. GPU memory: peak used memory reported by nvidia-smi, polled every 0.2 s during each part.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

SAMPLES = REPO / "data" / "samples"


def ffmpeg() -> str:
    from wandr_pipeline.media.ffmpeg_binary import ffmpeg_executable

    return ffmpeg_executable()


def run_ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg(), "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def make_short_clips(folder: Path, count: int) -> list[Path]:
    """`count` 16 kHz WAV clips of 8-16 s: the sample clips' speech at a few tempos and offsets."""
    sources = sorted(SAMPLES.glob("*.mp4"))
    clips = []
    for i in range(count):
        source = sources[i % len(sources)]
        tempo = (0.9, 1.0, 1.1, 0.95, 1.05)[(i // len(sources)) % 5]
        start = (i // (len(sources) * 5)) % 3 * 0.5
        target = folder / f"clip{i:03d}.wav"
        run_ffmpeg(
            "-ss",
            str(start),
            "-i",
            str(source),
            "-vn",
            "-af",
            f"atempo={tempo}",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-c:a",
            "pcm_s16le",
            str(target),
        )
        clips.append(target)
    return clips


def make_minute_video(target: Path, variant: int = 0) -> None:
    """A 60 s 1080x1920 30 fps H.264/AAC video: the sample clips (with captions and speech) looped."""
    sources = sorted(SAMPLES.glob("*.mp4"))
    order = sources[variant % len(sources) :] + sources[: variant % len(sources)]
    inputs: list[str] = []
    for clip in order * 2:
        inputs += ["-i", str(clip)]
    n = len(order) * 2
    chains = "".join(f"[{i}:v]scale=1080:1920,setsar=1,fps=30[v{i}];" for i in range(n))
    concat = "".join(f"[v{i}][{i}:a]" for i in range(n)) + f"concat=n={n}:v=1:a=1[v][a]"
    run_ffmpeg(
        *inputs,
        "-filter_complex",
        chains + concat,
        "-map",
        "[v]",
        "-map",
        "[a]",
        "-t",
        "60",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-movflags",
        "+faststart",
        str(target),
    )


class GpuMemoryPoller:
    """Peak GPU memory in use (MiB, all processes) while the block runs; None without nvidia-smi/GPU."""

    def __init__(self, interval_s: float = 0.2):
        self.interval_s = interval_s
        self.peak_mib: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        from wandr_pipeline.engines.device import nvidia_smi

        while not self._stop.is_set():
            gpus = nvidia_smi()
            if gpus:
                used = max(g.memory_used_mib for g in gpus)
                self.peak_mib = max(self.peak_mib or 0, used)
            self._stop.wait(self.interval_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)


def bench_transcription(clips: list[Path], batch_size: int) -> dict:
    from wandr_pipeline.engines.whisper import WhisperTranscriber, load_audio
    from wandr_pipeline.engines.whisper_models import BUNDLED_MODEL
    from wandr_pipeline.engines.whisper_options import transcriber_options
    from wandr_pipeline.settings import Settings

    settings = Settings()  # WHISPER_DEVICE, WHISPER_COMPUTE_TYPE, WHISPER_NUM_WORKERS, ... as the pipeline reads them
    model = os.environ.get("WHISPER_MODEL", BUNDLED_MODEL)  # here the bundled model unless one is named
    cross_clip = "true" if "WHISPER_CROSS_CLIP" not in os.environ else settings.whisper_cross_clip
    start = time.perf_counter()
    transcriber = WhisperTranscriber(
        transcriber_options(settings, model=model, batch_size=batch_size, beam_size=5, vad=True, cross_clip=cross_clip)
    )
    load_s = time.perf_counter() - start
    transcriber.transcribe(load_audio(clips[0]))  # warm-up (CUDA context, kernels)
    audio_s = sum(len(load_audio(c)) / 16_000 for c in clips)

    with GpuMemoryPoller() as memory:
        start = time.perf_counter()
        results = list(transcriber.transcribe_many([(c.name, c) for c in clips]))
        pipelined_s = time.perf_counter() - start
    failures = [str(r) for _, r in results if isinstance(r, BaseException)]
    words = sum(len(r.text.split()) for _, r in results if not isinstance(r, BaseException))

    subset = clips[: max(10, len(clips) // 4)]
    subset_audio = sum(len(load_audio(c)) / 16_000 for c in subset)
    start = time.perf_counter()
    for clip in subset:
        transcriber.transcribe(load_audio(clip))
    sequential_s = time.perf_counter() - start
    cross_clip, transcriber._cross_clip = transcriber._cross_clip, None  # prefetch only, batches within a clip
    start = time.perf_counter()
    list(transcriber.transcribe_many([(c.name, c) for c in subset]))
    per_clip_s = time.perf_counter() - start
    transcriber._cross_clip = cross_clip
    return {
        "model": transcriber.model_name,
        "device": f"{transcriber.device}/{transcriber.compute_type}",
        "batch_size": batch_size,
        "clips": len(clips),
        "audio_s": round(audio_s, 1),
        "load_s": round(load_s, 2),
        "wall_s": round(pipelined_s, 2),
        "realtime_x": round(audio_s / pipelined_s, 1),
        "words": words,
        "failures": failures[:5],
        "cross_clip_batching": transcriber._cross_clip is not None,
        "comparison_clips": len(subset),
        "one_at_a_time_realtime_x": round(subset_audio / sequential_s, 1),
        "prefetch_no_cross_clip_realtime_x": round(subset_audio / per_clip_s, 1),
        "gpu_memory_peak_mib": memory.peak_mib,
    }


def bench_frames(video: Path, decoder: str) -> dict:
    from wandr_pipeline.media.frames import encode_jpeg, sample_frames
    from wandr_pipeline.media.probe import probe_media

    probe = probe_media(video)
    list(sample_frames(video, every_n_frames=30, max_long_side=960, decoder=decoder, max_frames=2))  # warm-up
    with GpuMemoryPoller() as memory:
        start = time.perf_counter()
        frames = list(sample_frames(video, every_n_frames=30, max_long_side=960, decoder=decoder))
        decode_s = time.perf_counter() - start
        for frame in frames:
            encode_jpeg(frame.image)
        total_s = time.perf_counter() - start
    decoded = frames[-1].frame_index + 1 if frames else 0
    return {
        "decoder_asked": decoder,
        "decoder_used": sorted({f.decoder for f in frames}),
        "video": f"{probe.width}x{probe.height} {probe.duration_s:.0f} s",
        "decoded_frames": decoded,
        "sampled_frames": len(frames),
        "decode_s": round(decode_s, 2),
        "decoded_frames_per_s": round(decoded / decode_s, 1),
        "sampled_frames_per_s": round(len(frames) / decode_s, 1),
        "with_jpeg_s": round(total_s, 2),
        "gpu_memory_peak_mib": memory.peak_mib,
    }, frames


def bench_ocr(frames) -> dict:
    from wandr_pipeline.defs.resources.ocr import OcrResource

    reader = OcrResource(device=os.environ.get("OCR_DEVICE", "auto"))
    engine = reader.get_engine()
    images = [f.image for f in frames]
    engine.read(images[:2])  # warm-up
    with GpuMemoryPoller() as memory:
        start = time.perf_counter()
        results = engine.read(images)
        seconds = time.perf_counter() - start
    lines = sum(len(r) for r in results if isinstance(r, list))
    return {
        "engine": engine.name,
        "device": "cuda" if getattr(engine, "use_cuda", False) else "cpu",
        "frames": len(images),
        "lines": lines,
        "s_per_frame": round(seconds / max(1, len(images)), 3),
        "gpu_memory_peak_mib": memory.peak_mib,
    }


def bench_end_to_end(videos: list[Path], root: Path) -> dict:
    from dagster import DagsterInstance

    from wandr_pipeline.cli.runner import run_url_list
    from wandr_pipeline.settings import Settings

    home = root / "home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ.update(
        DAGSTER_HOME=str(home),
        WANDR_STORAGE_URI=str(root / "store"),
        LOG_LEVEL="WARNING",
        WANDR_PARTITIONS_PER_RUN=str(len(videos)),
    )
    url_list = root / "videos.txt"
    url_list.write_text("".join(f"{v}\n" for v in videos))
    with GpuMemoryPoller() as memory:
        start = time.perf_counter()
        outcome = run_url_list(url_list, Settings.from_env(), instance=DagsterInstance.get())
        wall = time.perf_counter() - start
    ok = sum(1 for v in outcome.videos if v.get("document") == "ok" and v.get("transcript") == "ok")
    return {
        "videos": len(videos),
        "video_length_s": 60,
        "runs": len(outcome.runs),
        "ok": ok,
        "pipeline_ok": outcome.pipeline_ok,
        "wall_s": round(wall, 1),
        "s_per_video": round(wall / len(videos), 2),
        "videos_per_hour": round(len(videos) / wall * 3600),
        "gpu_memory_peak_mib": memory.peak_mib,
    }


def machine() -> dict:
    from wandr_pipeline.engines.device import ctranslate2_cuda_devices, nvidia_smi, onnxruntime_providers

    gpus = nvidia_smi()
    return {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "gpus": [f"{g.name} ({g.memory_total_mib} MiB, driver {g.driver})" for g in gpus],
        "ctranslate2_cuda_devices": ctranslate2_cuda_devices(),
        "onnxruntime_providers": onnxruntime_providers(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=60, help="short clips to transcribe (>= 50 for the report)")
    parser.add_argument("--videos", type=int, default=8, help="one-minute videos through the whole pipeline")
    parser.add_argument("--batch-size", type=int, default=int(os.environ.get("WHISPER_BATCH_SIZE", "16")))
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: transcribe,frames,ocr,e2e")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "gpu.json")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    from wandr_pipeline.engines.device import choose_frame_decoder

    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine()}

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))

    with tempfile.TemporaryDirectory(prefix="wandr-gpu-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "clips").mkdir()
        minute = tmp / "minute.mp4"
        make_minute_video(minute)
        if "transcribe" not in skip:
            clips = make_short_clips(tmp / "clips", args.clips)
            results["transcription"] = bench_transcription(clips, args.batch_size)
            print(json.dumps(results["transcription"]), flush=True)
            save()
        frames = []
        if "frames" not in skip or "ocr" not in skip:
            results["frames"] = []
            decoders = ["cpu"] + (["cuda"] if choose_frame_decoder("auto") == "cuda" else [])
            for decoder in decoders:
                figures, frames = bench_frames(minute, decoder)
                results["frames"].append(figures)
                print(json.dumps(figures), flush=True)
            save()
        if "ocr" not in skip:
            results["ocr"] = bench_ocr(frames)
            print(json.dumps(results["ocr"]), flush=True)
            save()
        if "e2e" not in skip and args.videos > 0:
            videos = []
            for i in range(args.videos):
                video = tmp / f"video{i:03d}.mp4"
                if i < 3:
                    make_minute_video(video, variant=i)
                else:  # distinct files (distinct partition keys), same content as an earlier one
                    os.link(tmp / f"video{i % 3:03d}.mp4", video)
                videos.append(video)
            results["end_to_end"] = bench_end_to_end(videos, tmp / "e2e")
            print(json.dumps(results["end_to_end"]), flush=True)
            save()
    save()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
