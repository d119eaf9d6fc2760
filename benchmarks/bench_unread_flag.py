"""What the unread-script flag costs: OCR CPU seconds per sampled frame, before and after, side by side.

    PYTHONPATH=. .venv/bin/python -m benchmarks.bench_unread_flag

The three sample clips' frames (every 30th, 960 px, every third of them) are read by the engine as it
was before issue 26 (RapidOCR filtering by `text_score` itself, no per-character boxes) and as it is now
(`RapidOcrEngine`: every line back with its per-character scores and boxes, judged by
`media/unread_text.py`), in alternating order over four rounds. CPU time (`time.process_time`, the
onnxruntime threads included) rather than wall time, so other work on the machine moves it less.
Also prints whether any line the old configuration read is missing or flagged now.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from rapidocr import RapidOCR

from wandr_pipeline.engines.rapidocr import RapidOcrEngine
from wandr_pipeline.media.frames import sample_frames

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
OLD_PARAMS = {
    "Global.log_level": "error",
    "Global.text_score": 0.5,
    "Det.limit_type": "max",
    "Det.limit_side_len": 960,
    "Global.use_cls": False,
    "EngineConfig.onnxruntime.use_cuda": False,
}


def main() -> None:
    frames = []
    for clip in sorted(SAMPLES.glob("*.mp4")):
        frames += [f.image for f in sample_frames(clip, every_n_frames=30, max_long_side=960, max_frames=2000)]
    frames = frames[::3]
    old, new = RapidOCR(params=OLD_PARAMS), RapidOcrEngine(min_confidence=0.5, use_cuda=False)
    lost = []
    for image in frames:  # warm-up, and the check that nothing read before is lost now
        before = [t.strip() for t in (old(image).txts or ()) if t.strip()]
        [after] = new.read([image])
        lost += [t for t in before if t not in [b.text for b in after if not b.unread_reason]]
    rounds: dict[str, list[float]] = {"before": [], "now": []}
    for number in range(4):
        for name in ("before", "now") if number % 2 == 0 else ("now", "before"):
            started = time.process_time()
            for image in frames:
                old(image) if name == "before" else new.read([image])
            rounds[name].append((time.process_time() - started) / len(frames) * 1000)
    print(
        f"{len(frames)} frames; CPU ms per frame per round: "
        + str({k: [round(v, 1) for v in vs] for k, vs in rounds.items()})
    )
    print("median: " + ", ".join(f"{k} {statistics.median(vs):.1f} ms" for k, vs in rounds.items()))
    print(f"lines read before and missing or flagged now: {lost or 'none'}")


if __name__ == "__main__":
    main()
