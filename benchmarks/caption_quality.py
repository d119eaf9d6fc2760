"""Caption quality: frame skipping before OCR, caption spans, and caption hints for Whisper.

    .venv/bin/python -m benchmarks.caption_quality [--set benchmarks/out/caption_set] [--no-asr]

1. The caption set (`benchmarks/make_caption_set.py`; generated into `--set` when missing, which
   needs espeak-ng, ffmpeg with drawtext and the fonts named there) holds clips whose captions
   appear and change at known times.
2. Each clip is sampled like the pipeline does (every 30th frame, 960 px long side) and read by the
   local OCR engine twice: every frame, and through the frame gate (text-mask similarity). The
   engine is deterministic, so reads are cached per frame and the gated run reuses them; the gate
   still decides on the images alone.
3. The reads are merged into caption spans (`media/captions.py`) and scored against the ground
   truth: caption-line recall and precision (a span matches a caption when their folded texts are
   >= 0.8 alike and their times overlap; one span per caption), exact-text rate, start/end time
   errors, and the share of sampled frames that reached the engine.
4. With `--asr`: the clips (the caption set and `data/samples/`) are transcribed by the bundled
   tiny.en model without hints, and with the clip's caption text as `hotwords` or `initial_prompt`
   (raw, or ALL-CAPS lines in title case); word error rate overall and on the place names.

Writes `benchmarks/out/caption_quality.json` and prints a summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pickle
import platform
import re
import statistics
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from rapidfuzz import fuzz  # noqa: E402

from wandr_pipeline.media.captions import CaptionRules, build_spans, fold, hint_text, reads_from_rows  # noqa: E402
from wandr_pipeline.media.frame_gate import FrameGateConfig  # noqa: E402
from wandr_pipeline.media.frame_reading import read_frames  # noqa: E402
from wandr_pipeline.media.frames import sample_frames  # noqa: E402

DEFAULT_SET = REPO / "benchmarks" / "out" / "caption_set"
OUT = REPO / "benchmarks" / "out"
EVERY_N, LONG_SIDE = 30, 960  # the pipeline's FrameSamplingResource defaults
TEXT_MATCH = 0.8
OCR_CACHE = "caption_quality_ocr_cache_rapidocr_nocls.pkl"  # change the name when the engine's settings change
SAMPLE_NAMES = {
    "lisbon_pasteis.mp4": ["Lisbon"],
    "kyoto_temples.mp4": ["Kyoto"],
    "mexico_city_tacos.mp4": ["Mexico City"],
}


# -- OCR with a per-frame cache --------------------------------------------------------------------


class CachedEngine:
    """The OCR engine, with reads cached per (clip, frame) on disk: re-runs and the gated pass are free."""

    def __init__(self, engine, cache_path: Path):
        self.engine, self.name, self.cache_path = engine, engine.name, cache_path
        self.cache = pickle.loads(cache_path.read_bytes()) if cache_path.exists() else {}
        self.calls = 0
        self.seconds = 0.0
        self.clip = ""
        self.reads_regions = getattr(engine, "reads_regions", False)

    def read(self, images, regions=None):
        out = []
        for position, image in enumerate(images):
            region = regions[position] if regions is not None else None
            key = (self.clip, hashlib.sha1(image.tobytes()).hexdigest())
            if region:  # a read of the frame's text strips only (`read_frames(crop_to_text=True)`)
                key += (tuple(region),)
            if key not in self.cache:
                start = time.perf_counter()
                self.cache[key] = (
                    self.engine.read([image], regions=[region])[0] if region else self.engine.read([image])[0]
                )
                self.seconds += time.perf_counter() - start
                self.calls += 1
            out.append(self.cache[key])
        return out

    def save(self):
        self.cache_path.write_bytes(pickle.dumps(self.cache))


def ocr_rows(results) -> list[dict]:
    rows = []
    for r in results:
        base = {
            "frame_index": r.frame_index,
            "timestamp_s": r.timestamp_s,
            "status": "ok" if r.error is None else "failed",
        }
        if not r.boxes:
            rows.append(base)
        for b in r.boxes:
            rows.append(
                {
                    **base,
                    "text": b.text,
                    "confidence": b.confidence,
                    "box_x0": b.x0,
                    "box_y0": b.y0,
                    "box_x1": b.x1,
                    "box_y1": b.y1,
                }
            )
    return rows


# -- scoring ----------------------------------------------------------------------------------------


def text_alike(a: str, b: str) -> float:
    return fuzz.ratio(fold(a), fold(b)) / 100


def clip_spans(results, rules, item: dict) -> list[dict]:
    """The caption span rows a set clip's OCR results make (as the `caption_spans` stage builds them)."""
    times, reads = reads_from_rows(ocr_rows(results))
    spans = build_spans(times, reads, rules, duration_s=item["duration_s"], aspect=item["width"] / item["height"])
    return [span.as_row() for span in spans]


def score_clip(truth: list[dict], spans: list[dict]) -> dict:
    """Greedy one-to-one matching of ground-truth caption lines and predicted spans."""
    pairs = []
    for ti, cap in enumerate(truth):
        for si, span in enumerate(spans):
            overlap = min(cap["end_s"], span["end_s"]) - max(cap["start_s"], span["start_s"])
            alike = text_alike(cap["text"], span["text"])
            if alike >= TEXT_MATCH and overlap > 0:
                pairs.append((alike, overlap, ti, si))
    matched_t, matched_s, matches = set(), set(), []
    for _alike, _, ti, si in sorted(pairs, reverse=True):
        if ti in matched_t or si in matched_s:
            continue
        matched_t.add(ti)
        matched_s.add(si)
        cap, span = truth[ti], spans[si]
        matches.append(
            {
                "truth": cap["text"],
                "span": span["text"],
                "exact": fold(cap["text"]) == fold(span["text"]),
                "start_error_s": round(span["start_s"] - cap["start_s"], 3),
                "end_error_s": round(span["end_s"] - cap["end_s"], 3),
            }
        )
    return {
        "captions": len(truth),
        "spans": len(spans),
        "matched": len(matches),
        "missed": [truth[i]["text"] for i in range(len(truth)) if i not in matched_t],
        "extra": [spans[i]["text"] for i in range(len(spans)) if i not in matched_s],
        "matches": matches,
    }


def summarise(clips: dict[str, dict], key: str) -> dict:
    captions = sum(c[key]["captions"] for c in clips.values())
    spans = sum(c[key]["spans"] for c in clips.values())
    matched = sum(c[key]["matched"] for c in clips.values())
    matches = [m for c in clips.values() for m in c[key]["matches"]]
    frames = sum(c["frames"] for c in clips.values())
    reads = sum(c[f"{key}_reads"] for c in clips.values())
    starts = [abs(m["start_error_s"]) for m in matches]
    ends = [abs(m["end_error_s"]) for m in matches]

    def p90(values):
        return round(sorted(values)[int(0.9 * (len(values) - 1))], 3) if values else None

    return {
        "captions": captions,
        "spans": spans,
        "matched": matched,
        "recall": round(matched / captions, 4) if captions else None,
        "precision": round(matched / spans, 4) if spans else None,
        "exact_text": round(sum(m["exact"] for m in matches) / len(matches), 4) if matches else None,
        "start_error_mean_s": round(statistics.mean(starts), 3) if starts else None,
        "start_error_p90_s": p90(starts),
        "end_error_mean_s": round(statistics.mean(ends), 3) if ends else None,
        "end_error_p90_s": p90(ends),
        "frames": frames,
        "frames_read": reads,
        "share_read": round(reads / frames, 4) if frames else None,
        "missed": [(name, m) for name, c in clips.items() for m in c[key]["missed"]],
        "extra": [(name, e) for name, c in clips.items() for e in c[key]["extra"]],
    }


def ideal_reads(truth: list[dict], times: list[float]) -> int:
    """Reads a perfect gate needs: one per change of the set of captions on screen (and the first frame)."""
    states = [frozenset(c["text"] for c in truth if c["start_s"] <= t < c["end_s"]) for t in times]
    return sum(1 for i, s in enumerate(states) if i == 0 or s != states[i - 1])


# -- speech ----------------------------------------------------------------------------------------

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split()
)
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """'2500' -> 'two thousand five hundred' (0 <= n < 10**6), so '2 euros' and 'two euros' score alike."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    return number_words(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + number_words(n % 1000))


def words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 2,500 -> 2500
    text = re.sub(r"\d+", lambda m: f" {number_words(int(m.group()))} " if len(m.group()) <= 6 else m.group(), text)
    return re.sub(r"[^a-z0-9' ]+", " ", text.replace("-", " ")).split()


def name_word_errors(reference: str, hypothesis: str, names: list[str]) -> tuple[int, int]:
    """(name words of the reference not transcribed exactly, name words) using jiwer's alignment."""
    import jiwer

    ref, hyp = words(reference), words(hypothesis)
    positions: set[int] = set()
    for name in names:
        tokens = words(name)
        for i in range(len(ref) - len(tokens) + 1):
            if ref[i : i + len(tokens)] == tokens:
                positions.update(range(i, i + len(tokens)))
    if not positions:
        return 0, 0
    correct: set[int] = set()
    alignment = jiwer.process_words(" ".join(ref), " ".join(hyp) or "<empty>")
    for chunk in alignment.alignments[0]:
        if chunk.type == "equal":
            correct.update(range(chunk.ref_start_idx, chunk.ref_end_idx))
    return len(positions - correct), len(positions)


def asr_experiment(clips: list[dict]) -> dict:
    """Each clip without hints, with the raw caption lines, and with the pipeline's shaped hints (+ echo guard)."""
    import jiwer

    from wandr_pipeline.engines.whisper import WhisperTranscriber
    from wandr_pipeline.engines.whisper_models import BUNDLED_MODEL
    from wandr_pipeline.engines.whisper_options import transcriber_options
    from wandr_pipeline.media.captions import echoes_hints
    from wandr_pipeline.settings import WhisperSettings

    transcriber = WhisperTranscriber(transcriber_options(WhisperSettings(), model=BUNDLED_MODEL))
    modes = ["off", "hotwords_raw", "prompt_raw", "hotwords", "prompt"]
    results: dict = {mode: {"clips": {}} for mode in modes}
    for clip in clips:
        plain = None
        for mode in modes:
            hints = clip["raw_hints"] if mode.endswith("_raw") else clip["hints"]
            hints = ", ".join(hints.split("\n")) if hints else ""
            kind = "hotwords" if mode.startswith("hotwords") else "initial_prompt"
            start = time.perf_counter()
            redone = False
            if mode == "off" or not hints:
                transcript = plain or transcriber.transcribe(clip["path"])
            else:
                transcript = transcriber.transcribe(clip["path"], **{kind: hints})
                if not mode.endswith("_raw") and echoes_hints(transcript.text, hints):
                    transcript, redone = plain, True  # the pipeline transcribes again without hints
            plain = plain or (transcript if mode == "off" else None)
            seconds = time.perf_counter() - start
            ref, hyp = " ".join(words(clip["speech"])), " ".join(words(transcript.text))
            errors, total = name_word_errors(clip["speech"], transcript.text, clip["names"])
            results[mode]["clips"][clip["name"]] = {
                "wer": round(jiwer.wer(ref, hyp or "<empty>"), 4),
                "name_errors": errors,
                "name_words": total,
                "text": transcript.text,
                "seconds": round(seconds, 2),
                "set": clip["set"],
                "redone": redone,
                "hints": hints,
            }
            print(
                f"  {mode:13s} {clip['name']:24s} wer {results[mode]['clips'][clip['name']]['wer']:.3f} "
                f"names {errors}/{total}{' (echo: redone without hints)' if redone else ''}  {transcript.text[:80]}",
                flush=True,
            )
    for data in results.values():
        for subset in ("caption_set", "samples", "all"):
            names = [n for n, c in data["clips"].items() if subset == "all" or c["set"] == subset]
            refs = [" ".join(words(next(x["speech"] for x in clips if x["name"] == n))) for n in names]
            hyps = [" ".join(words(data["clips"][n]["text"])) or "<empty>" for n in names]
            name_err = sum(data["clips"][n]["name_errors"] for n in names)
            name_total = sum(data["clips"][n]["name_words"] for n in names)
            data[subset] = {
                "wer": round(jiwer.wer(refs, hyps), 4),
                "name_wer": round(name_err / name_total, 4) if name_total else None,
                "name_errors": name_err,
                "name_words": name_total,
                "redone": sum(data["clips"][n]["redone"] for n in names),
            }
    return results


# -- main --------------------------------------------------------------------------------------------


def ensure_set(path: Path) -> list[dict]:
    manifest = path / "manifest.json"
    if not manifest.exists():
        print(f"generating the caption set into {path} ...", flush=True)
        subprocess.run(
            [sys.executable, str(REPO / "benchmarks" / "make_caption_set.py"), "--out", str(path)], check=True
        )
    return json.loads(manifest.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET)
    parser.add_argument("--asr", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--threshold", type=float, default=FrameGateConfig().threshold)
    parser.add_argument("--out", type=Path, default=OUT / "caption_quality.json")
    args = parser.parse_args()

    from wandr_pipeline.engines.rapidocr import RapidOcrEngine

    manifest = ensure_set(args.set)
    OUT.mkdir(parents=True, exist_ok=True)
    engine = CachedEngine(RapidOcrEngine(min_confidence=0.5, use_cuda=False), OUT / OCR_CACHE)
    gate = FrameGateConfig(threshold=args.threshold)
    rules = CaptionRules()
    clips: dict[str, dict] = {}
    asr_clips = []
    gate_seconds = 0.0
    for item in manifest:
        path = args.set / item["file"]
        engine.clip = item["file"]
        frames = [
            (f.frame_index, f.timestamp_s, f.image)
            for f in sample_frames(path, every_n_frames=EVERY_N, max_long_side=LONG_SIDE)
        ]
        source = [(i, t, (lambda image=image: image)) for i, t, image in frames]
        every = read_frames(source, engine, config=None)
        start, engine_before = time.perf_counter(), engine.seconds
        gated = read_frames(source, engine, config=gate)
        # whole-frame reads are cache hits by now, text-strip reads are new: the rest is the gate's cost
        gate_seconds += time.perf_counter() - start - (engine.seconds - engine_before)
        entry = {"frames": len(frames), "ideal_reads": ideal_reads(item["captions"], [t for _, t, _ in frames])}
        for key, results in (("every_frame", every), ("gated", gated)):
            spans = clip_spans(results, rules, item)
            entry[key] = score_clip(item["captions"], spans)
            entry[f"{key}_reads"] = sum(r.read for r in results)
            if key == "gated":
                entry["spans"] = [(s["text"], s["start_s"], s["end_s"]) for s in spans]
                asr_clips.append(
                    {
                        "name": item["file"],
                        "path": path,
                        "speech": item["speech"],
                        "names": item["names"],
                        "hints": hint_text([s["text"] for s in spans]),
                        "raw_hints": "\n".join(dict.fromkeys(s["text"] for s in spans)),
                        "set": "caption_set",
                    }
                )
        clips[item["file"]] = entry
        g = entry["gated"]
        print(
            f"{item['file']:24s} frames {len(frames):3d} read {entry['gated_reads']:3d} "
            f"(ideal {entry['ideal_reads']:3d})"
            f"  matched {g['matched']}/{g['captions']} spans {g['spans']}  missed {g['missed']} extra {g['extra']}",
            flush=True,
        )
        engine.save()

    report = {
        "machine": f"{platform.node()}, {os.cpu_count()} cores, {platform.machine()}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "set": str(args.set),
        "clips": len(manifest),
        "every_n_frames": EVERY_N,
        "long_side": LONG_SIDE,
        "gate": dataclasses.asdict(gate),
        "every_frame": summarise(clips, "every_frame"),
        "gated": summarise(clips, "gated"),
        "ideal_share_read": round(
            sum(c["ideal_reads"] for c in clips.values()) / sum(c["frames"] for c in clips.values()), 4
        ),
        "gate_ms_per_frame": round(1000 * gate_seconds / sum(c["frames"] for c in clips.values()), 2),
        "ocr_s_per_read": round(engine.seconds / engine.calls, 3) if engine.calls else None,
        "clips_detail": clips,
    }
    print(
        json.dumps(
            {k: report[k] for k in ("every_frame", "gated", "ideal_share_read", "gate_ms_per_frame", "ocr_s_per_read")},
            indent=1,
        )
    )
    if args.asr:
        samples = json.loads((REPO / "data" / "samples" / "manifest.json").read_text())
        for item in samples:
            path = REPO / "data" / "samples" / item["file"]
            engine.clip = item["file"]
            source = [
                (f.frame_index, f.timestamp_s, (lambda image=f.image: image))
                for f in sample_frames(path, every_n_frames=EVERY_N, max_long_side=LONG_SIDE)
            ]
            times, reads = reads_from_rows(ocr_rows(read_frames(source, engine, config=gate)))
            spans = build_spans(
                times, reads, rules, duration_s=item["duration_s"], aspect=item["width"] / item["height"]
            )
            asr_clips.append(
                {
                    "name": item["file"],
                    "path": path,
                    "speech": item["speech"],
                    "names": SAMPLE_NAMES.get(item["file"], []),
                    "hints": hint_text([s.text for s in spans]),
                    "raw_hints": "\n".join(dict.fromkeys(s.text for s in spans)),
                    "set": "samples",
                }
            )
        engine.save()
        report["asr"] = asr_experiment(asr_clips)
        print(
            json.dumps(
                {mode: {k: v for k, v in data.items() if k != "clips"} for mode, data in report["asr"].items()},
                indent=1,
            )
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
