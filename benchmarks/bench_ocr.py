"""OCR seconds per sampled frame and caption recall, whole-frame reads against text-strip reads, side by side.

    PYTHONPATH=. .venv/bin/python -m benchmarks.bench_ocr [--set benchmarks/out/caption_set] [--clips 6]

1. Caption set (`benchmarks/make_caption_set.py`): each clip sampled like the pipeline (every 30th frame,
   960 px), then read through the frame gate by the local engine twice, in alternating order per clip:
   `read_frames(crop_to_text=False)` (every read looks at the whole frame: the behaviour before) and
   `crop_to_text=True` (reads look only at the strips where the gate saw text, see
   `media/frame_reading.py`). No cache: the seconds are the engine's. Caption recall/precision and the
   share of frames read are scored as in `benchmarks/caption_quality.py`. The same for the three
   sample clips in `data/samples/` (720x1280 captions the integration tests check).
2. Real OCR images (`data/real/images`, shown as inserts on a portrait background, as in
   `benchmarks/real_media.py`): caption recall per script both ways, against the lines the engine reads
   on the whole frame; and, as the worst case, each insert frame read only inside the gate's text strips,
   with no earlier whole-frame read to add its rows.

Writes `--out` (JSON) and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from benchmarks.caption_quality import DEFAULT_SET, clip_spans, ensure_set, score_clip, summarise  # noqa: E402
from benchmarks.real_media import IMAGES, onscreen_benchmark, portrait_frames  # noqa: E402
from wandr_pipeline.media.captions import CaptionRules, fold  # noqa: E402
from wandr_pipeline.media.frame_gate import FrameGate  # noqa: E402
from wandr_pipeline.media.frame_reading import read_frames  # noqa: E402
from wandr_pipeline.media.frames import sample_frames  # noqa: E402

EVERY_N, LONG_SIDE = 30, 960
MODES = {"whole": False, "strips": True}


def caption_set(engine, set_path: Path, clips: int | None, manifest: list[dict] | None = None) -> dict:
    if manifest is None:
        manifest = ensure_set(set_path)[:clips] if clips else ensure_set(set_path)
    rules = CaptionRules()
    per_clip: dict[str, dict] = {}
    seconds = dict.fromkeys(MODES, 0.0)
    for number, item in enumerate(manifest):
        images = [
            (f.frame_index, f.timestamp_s, f.image)
            for f in sample_frames(set_path / item["file"], every_n_frames=EVERY_N, max_long_side=LONG_SIDE)
        ]
        source = [(i, t, (lambda image=image: image)) for i, t, image in images]
        entry: dict = {"frames": len(images)}
        for mode in MODES if number % 2 == 0 else reversed(MODES):
            start = time.perf_counter()
            results = read_frames(source, engine, crop_to_text=MODES[mode])
            seconds[mode] += time.perf_counter() - start
            entry[mode] = score_clip(item["captions"], clip_spans(results, rules, item))
            entry[f"{mode}_reads"] = sum(r.read for r in results)
            entry[f"{mode}_whole_reads"] = sum(r.read and r.whole for r in results)
        per_clip[item["file"]] = entry
        print(
            f"{item['file']:24s} frames {len(images):3d} "
            + "  ".join(
                f"{m}: read {entry[f'{m}_reads']} (whole {entry[f'{m}_whole_reads']}) "
                f"matched {entry[m]['matched']}/{entry[m]['captions']}"
                for m in MODES
            ),
            flush=True,
        )
    frames = sum(c["frames"] for c in per_clip.values())
    out = {}
    for mode in MODES:
        summary = summarise(per_clip, mode)
        reads = sum(c[f"{mode}_reads"] for c in per_clip.values())
        out[mode] = {
            **{k: summary[k] for k in ("recall", "precision", "exact_text", "share_read", "missed", "extra")},
            "whole_reads": sum(c[f"{mode}_whole_reads"] for c in per_clip.values()),
            "reads": reads,
            "ocr_s_per_frame": round(seconds[mode] / frames, 3),
            "ocr_s_per_read": round(seconds[mode] / reads, 3) if reads else None,
        }
    out["clips"], out["frames"] = len(per_clip), frames
    return out


def strips_only(engine) -> dict:
    """Each image's insert frame read inside the gate's text strips alone, against its whole-frame read."""
    from rapidfuzz import fuzz

    found = total = 0
    missed = []
    for path in sorted(IMAGES.glob("*.jpg")):
        frame = portrait_frames(path, shown=range(1, 4))[2]
        decision = FrameGate().decide(frame)
        whole = [b.text for b in engine.read([frame])[0] if len(fold(b.text)) >= 2 and b.confidence >= 0.6]
        strips = [b.text for b in engine.read([frame], regions=[decision.text_rows])[0]]
        for line in whole:
            total += 1
            if any(fuzz.ratio(fold(line), fold(s)) >= 80 for s in strips):
                found += 1
            else:
                missed.append((path.name, line))
    return {"lines": total, "found": found, "recall": round(found / total, 3) if total else None, "missed": missed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET)
    parser.add_argument("--clips", type=int, help="only the first N clips of the set")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "ocr.json")
    args = parser.parse_args()
    from wandr_pipeline.engines.rapidocr import RapidOcrEngine

    engine = RapidOcrEngine(min_confidence=0.5, use_cuda=False)
    report = {
        "machine": f"{platform.node()}, {os.cpu_count()} cores, {platform.machine()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_1min_start": round(os.getloadavg()[0], 2),
    }
    samples = REPO / "data" / "samples"
    report["samples"] = caption_set(engine, samples, None, json.loads((samples / "manifest.json").read_text()))
    report["caption_set"] = caption_set(engine, args.set, args.clips)
    real = {}
    for mode in MODES:
        start = time.perf_counter()
        result = onscreen_benchmark(engine, crop_to_text=MODES[mode])
        real[mode] = {"seconds": round(time.perf_counter() - start, 2), **result}
    real["strips_only_worst_case"] = strips_only(engine)
    report["real_images"] = real
    report["load_1min_end"] = round(os.getloadavg()[0], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    summary = {
        "samples": {m: report["samples"][m] for m in MODES},
        "caption_set": {m: report["caption_set"][m] for m in MODES},
        "real_images": {m: {"scripts": real[m]["scripts"], "seconds": real[m]["seconds"]} for m in MODES},
        "strips_only_worst_case": real["strips_only_worst_case"],
    }
    print(json.dumps(summary, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
