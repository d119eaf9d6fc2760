"""Stage timings on a 30 s 1080x1920 clip, and Dagster's orchestration cost per video in a batch.

    .venv/bin/python -m benchmarks.bench_pipeline [--batch 50] [--out benchmarks/out/pipeline.json]

1. Builds a 30 s portrait 1080x1920 H.264/AAC clip from the sample clips (ffmpeg), serves it on loopback.
2. Times each stage's pure function on it (download via yt-dlp, probe, audio, transcription, frame
   sampling, OCR) and the whole graph as one Dagster run (in-process, like `wandr-pipeline run`).
3. Orchestration: runs a batch of short clips through Dagster in one run, and the same work by direct
   function calls; the difference divided by the batch size is the per-video orchestration cost.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.options import download_options  # noqa: E402  (what the tests use)
from tests.support.servers import LoopbackServer  # noqa: E402


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def make_long_clip(target: Path, seconds: int = 30) -> None:
    """Concatenate the sample clips (repeated as often as `seconds` needs), scaled to 1080x1920, cut to `seconds`."""
    samples = sorted((REPO / "data" / "samples").glob("*.mp4"))
    samples *= max(1, -(-seconds // 30))  # the three samples last 36 s together
    inputs = []
    for clip in samples:
        inputs += ["-i", str(clip)]
    n = len(samples)
    chains = "".join(f"[{i}:v]scale=1080:1920,setsar=1,fps=30[v{i}];" for i in range(n))
    concat = "".join(f"[v{i}][{i}:a]" for i in range(n)) + f"concat=n={n}:v=1:a=1[v][a]"
    subprocess.run(
        [
            ffmpeg(),
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            *inputs,
            "-filter_complex",
            chains + concat,
            "-map",
            "[v]",
            "-map",
            "[a]",
            "-t",
            str(seconds),
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
        ],
        check=True,
    )


def make_short_clip(target: Path) -> None:
    source = REPO / "data" / "samples" / "lisbon_pasteis.mp4"
    subprocess.run(
        [
            ffmpeg(),
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(source),
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            str(target),
        ],
        check=True,
    )


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def direct_work(url: str, workdir: Path, transcriber, ocr_engine, every_n: int = 30, long_side: int = 960) -> dict:
    """The pipeline's work for one video by direct calls (no Dagster), timed per stage."""
    from wandr_pipeline.engines.ytdlp import download_post
    from wandr_pipeline.media.audio import extract_audio
    from wandr_pipeline.media.frames import encode_jpeg, sample_frames
    from wandr_pipeline.media.probe import probe_media

    workdir.mkdir(parents=True, exist_ok=True)
    times = {}
    post, times["download"] = timed(lambda: download_post(url, workdir, download_options(http_retries=1)))
    _, times["probe"] = timed(lambda: probe_media(post.path))
    _, times["audio"] = timed(lambda: extract_audio(post.path, workdir / "audio.wav"))
    transcript, times["transcribe"] = timed(lambda: transcriber.transcribe(workdir / "audio.wav"))

    def frames():
        out = []
        for frame in sample_frames(post.path, every_n_frames=every_n, max_long_side=long_side):
            encode_jpeg(frame.image)
            out.append(frame.image)
        return out

    images, times["frames"] = timed(frames)
    boxes, times["ocr"] = timed(lambda: ocr_engine.read(images))
    return {
        "times": times,
        "frames": len(images),
        "audio_s": transcript.duration_s,
        "words": len(transcript.text.split()),
        "lines": sum(len(b) for b in boxes if isinstance(b, list)),
    }


def dagster_run(urls: list[str], root: Path, partitions_per_run: int) -> tuple[float, list]:
    """Register `urls` and run the whole graph once (in-process), as the CLI does."""
    from dagster import DagsterInstance

    from wandr_pipeline.cli.runner import materialize_videos, register_videos
    from wandr_pipeline.lib.storage import Storage
    from wandr_pipeline.lib.urls import parse_video_url
    from wandr_pipeline.settings import Settings

    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")  # the instance `make run` uses
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ["WANDR_STORAGE_URI"] = str(root / "storage")
    os.environ["WANDR_PARTITIONS_PER_RUN"] = str(partitions_per_run)
    os.environ["LOG_LEVEL"] = "WARNING"
    settings = Settings.from_env()
    instance = DagsterInstance.get()
    refs = [parse_video_url(url) for url in urls]
    register_videos(instance, Storage(settings.storage_uri), refs, source="benchmark")
    start = time.perf_counter()
    runs = materialize_videos(instance, [r.video_key for r in refs], settings)
    return time.perf_counter() - start, runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "pipeline.json")
    args = parser.parse_args()

    from wandr_pipeline.engines.rapidocr import RapidOcrEngine
    from wandr_pipeline.engines.whisper import WhisperTranscriber
    from wandr_pipeline.engines.whisper_models import BUNDLED_MODEL
    from wandr_pipeline.engines.whisper_options import transcriber_options
    from wandr_pipeline.settings import WhisperSettings

    results: dict = {
        "machine": f"{platform.node()} {os.cpu_count()} cores {platform.processor() or platform.machine()}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    with tempfile.TemporaryDirectory(prefix="wandr-bench-") as tmp:
        tmp = Path(tmp)
        media = tmp / "media"
        media.mkdir()
        make_long_clip(media / "long.mp4")
        make_short_clip(media / "short.mp4")
        server = LoopbackServer(media)
        try:
            transcriber, results["whisper_load_s"] = timed(
                lambda: WhisperTranscriber(transcriber_options(WhisperSettings(), model=BUNDLED_MODEL))
            )
            ocr, results["ocr_load_s"] = timed(lambda: RapidOcrEngine(min_confidence=0.5, use_cuda=False))
            direct_work(server.url("short.mp4"), tmp / "warmup", transcriber, ocr)  # warm caches

            long_run = direct_work(server.url("long.mp4"), tmp / "long", transcriber, ocr)
            results["clip_30s"] = long_run
            results["clip_30s"]["stage_total_s"] = sum(long_run["times"].values())
            results["clip_30s"]["transcribe_realtime_x"] = long_run["audio_s"] / long_run["times"]["transcribe"]
            results["clip_30s"]["frames_per_s_decode"] = 900 / long_run["times"]["frames"]
            results["clip_30s"]["ocr_s_per_frame"] = long_run["times"]["ocr"] / max(1, long_run["frames"])

            one_wall, _ = dagster_run([server.url("long.mp4")], tmp / "dagster_one", 50)
            results["clip_30s"]["dagster_run_wall_s"] = one_wall

            single_wall, _ = dagster_run([server.url("short.mp4?single=1")], tmp / "dagster_single", 50)
            single_direct = direct_work(server.url("short.mp4?d=single"), tmp / "ds", transcriber, ocr)
            results["single_video"] = {"dagster_wall_s": single_wall, "direct_s": sum(single_direct["times"].values())}
            results["single_video"]["orchestration_s"] = single_wall - results["single_video"]["direct_s"]

            urls = [server.url(f"short.mp4?n={i}") for i in range(args.batch)]
            direct_start = time.perf_counter()
            for i in range(args.batch):
                direct_work(server.url(f"short.mp4?d={i}"), tmp / f"direct{i}", transcriber, ocr)
                shutil.rmtree(tmp / f"direct{i}")
            direct_total = time.perf_counter() - direct_start
            batch_wall, runs = dagster_run(urls, tmp / "dagster_batch", args.batch)
            results["batch"] = {
                "videos": args.batch,
                "runs": len(runs),
                "dagster_wall_s": batch_wall,
                "direct_s": direct_total,
                "orchestration_s_per_video": (batch_wall - direct_total) / args.batch,
                "wall_s_per_video": batch_wall / args.batch,
            }
        finally:
            server.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
