"""Frame sampling against its floor, on a one-minute 1080x1920 H.264 clip: the old loop and the new one side by side.

    PYTHONPATH=. .venv/bin/python -m benchmarks.bench_frames [--rounds 3] [--out benchmarks/out/frames.json]

1. Builds a one-minute portrait 1080x1920 H.264 clip from the sample clips (`bench_pipeline.make_long_clip`,
   x264 `veryfast`, B-frames as x264 sets them).
2. Alternating rounds, each timing: `ffmpeg -f null` (decode every frame, nothing else: the floor),
   `ffmpeg -skip_frame noref -vf scale=540:960 -f null` (the floor with non-reference frames skipped and
   scaling in the decoder), the old sampling loop (decode every frame, `to_ndarray` + OpenCV resize of the
   sampled ones; copied here verbatim) and `media.frames.sample_frames` (unsampled non-reference frames
   left out of decoding, one swscale pass per sampled frame), both at the pipeline's defaults (every
   30th frame, 960 px long side).
3. Checks both give the same frame indices and timestamps, and reports the pixel difference of their
   images (mean absolute BGR difference, PSNR) and, with `--ocr`, whether the local OCR engine reads the
   same lines on both.

Writes `--out` (JSON) and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import av  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.bench_pipeline import ffmpeg, make_long_clip  # noqa: E402
from wandr_pipeline.media import frames as frames_module  # noqa: E402
from wandr_pipeline.media.frames import SampledFrame, resize_long_side, sample_frames  # noqa: E402

EVERY_N, LONG_SIDE = 30, 960


def old_sample_frames(path, every_n_frames: int, max_long_side: int):
    """The CPU sampling loop before skipping (commit 7dfeeec), for the side-by-side comparison."""
    container = av.open(str(path), metadata_errors="ignore")
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        index = -1
        for frame in frames_module._decode_tolerant(container, stream):
            index += 1
            if index % every_n_frames:
                continue
            if frame.time is not None:
                timestamp = float(frame.time) - start
            else:
                timestamp = index / float(stream.average_rate or 30)
            image = frame.to_ndarray(format="bgr24")
            image = frames_module._upright(image, int(getattr(frame, "rotation", 0) or 0))
            if max_long_side:
                image = resize_long_side(image, max_long_side)
            yield SampledFrame(index, max(0.0, timestamp), image, decoder="cpu")


def ffmpeg_null(path: Path, *extra_input: str, filters: str | None = None) -> None:
    command = [ffmpeg(), "-nostdin", "-loglevel", "error", *extra_input, "-i", str(path)]
    if filters:
        command += ["-vf", filters]
    subprocess.run([*command, "-an", "-f", "null", "-"], check=True)


def timed(run) -> tuple[float, float, object]:
    """(wall s, CPU s of this process and its children, result)."""
    wall, cpu = time.perf_counter(), _cpu()
    result = run()
    return time.perf_counter() - wall, _cpu() - cpu, result


def _cpu() -> float:
    own, children = os.times(), os.times()
    return own.user + own.system + children.children_user + children.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--clip", type=Path, help="use this clip instead of building one")
    parser.add_argument("--ocr", action="store_true", help="also compare the OCR lines read on both")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "frames.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        clip = args.clip
        if clip is None:
            clip = Path(tmp) / "minute.mp4"
            make_long_clip(clip, args.seconds)
        width, height = (lambda s: (s.width, s.height))(av.open(str(clip)).streams.video[0])
        cases = {
            "ffmpeg_null": lambda: ffmpeg_null(clip),
            "ffmpeg_noref_scaled": lambda: ffmpeg_null(clip, "-skip_frame", "noref", filters="scale=540:960"),
            "old_sampler": lambda: list(old_sample_frames(clip, EVERY_N, LONG_SIDE)),
            "new_sampler": lambda: list(sample_frames(clip, every_n_frames=EVERY_N, max_long_side=LONG_SIDE)),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        outputs = {}
        loads = [os.getloadavg()[0]]
        for round_ in range(args.rounds):
            order = list(cases) if round_ % 2 == 0 else list(reversed(cases))
            for name in order:
                wall, used, result = timed(cases[name])
                times[name].append(round(wall, 3))
                cpu[name].append(round(used, 3))
                if result is not None:
                    outputs[name] = result
            loads.append(os.getloadavg()[0])
            print(f"round {round_ + 1}: " + ", ".join(f"{n} {times[n][-1]:.2f} s" for n in cases), flush=True)

        old, new = outputs["old_sampler"], outputs["new_sampler"]
        same_frames = [(f.frame_index, f.timestamp_s) for f in old] == [(f.frame_index, f.timestamp_s) for f in new]
        differences = [np.abs(a.image.astype(np.int16) - b.image.astype(np.int16)) for a, b in zip(old, new)]
        mse = [float((d.astype(np.float64) ** 2).mean()) for d in differences]
        report = {
            "machine": f"{platform.node()}, {os.cpu_count()} cores, {platform.machine()}, PyAV {av.__version__}",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_1min": [round(x, 2) for x in loads],
            "clip": {"width": width, "height": height, "seconds": args.seconds, "sampled": len(new)},
            "seconds": {n: {"median": statistics.median(t), "runs": t} for n, t in times.items()},
            "cpu_seconds": {n: statistics.median(c) for n, c in cpu.items()},
            "same_indices_and_timestamps": same_frames,
            "pixels": {
                "mean_abs_diff": round(float(np.mean([d.mean() for d in differences])), 3),
                "max_abs_diff": int(max(d.max() for d in differences)),
                "min_psnr_db": round(min(10 * np.log10(255**2 / m) if m else 99.0 for m in mse), 1),
            },
        }
        report["speedup_new_vs_old"] = round(
            report["seconds"]["old_sampler"]["median"] / report["seconds"]["new_sampler"]["median"], 2
        )
        if args.ocr:
            from wandr_pipeline.engines.rapidocr import RapidOcrEngine

            engine = RapidOcrEngine(min_confidence=0.5, use_cuda=False)
            picks = list(range(0, len(new), max(1, len(new) // 12)))
            old_lines = [[b.text for b in r] for r in engine.read([old[i].image for i in picks])]
            new_lines = [[b.text for b in r] for r in engine.read([new[i].image for i in picks])]
            report["ocr"] = {
                "frames": len(picks),
                "same_lines": sum(a == b for a, b in zip(old_lines, new_lines)),
                "differences": [(a, b) for a, b in zip(old_lines, new_lines) if a != b],
            }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(json.dumps({k: v for k, v in report.items()}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
