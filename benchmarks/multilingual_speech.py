"""Speech in several languages: the multilingual `base` against the bundled English-only `tiny.en`.

    .venv/bin/python -m benchmarks.multilingual_speech [--speech ../shared/media/real/speech] [--models tiny.en,base]

Every clip of `references.json` with a reference text (FLEURS English, Spanish and Portuguese read
sentences, AISHELL Mandarin, JFK, LibriSpeech, the speechbrain Harvard sentences) is transcribed by
each model as the pipeline's `transcript` stage does (CPU int8, batched pipeline of 8, beam 5, VAD,
language detected, Chinese written in simplified characters, `WHISPER_CHINESE_SCRIPT`'s default), the
models taking turns clip by clip so that the machine's load falls on both alike. Per language:
WER after a basic normaliser (lower case, punctuation and symbols dropped, as Whisper's
`BasicTextNormalizer`), CER for Mandarin (the characters, spaces dropped), the language each clip was
detected as and with which probability, and the time per audio minute (transcription only; the load is
reported apart). Writes `benchmarks/out/multilingual_speech.json` and prints a Markdown summary.

    .venv/bin/python -m benchmarks.multilingual_speech --decoding default,beam10,patience2,prompt,seq,seq+cond

`--decoding`: decoding choices for non-English speech (issue 27), `base` with the settings' defaults and
one change each, on every real non-English clip alone and on the Spanish and Portuguese sentences laid
end to end (`benchmarks.speech_cost`'s tracks): `beamN` (beam size), `patienceN` (beam patience),
`chunkN` (`WHISPER_CHUNK_S`), `pause` / `limit` (`WHISPER_CHUNK_CUT`), `pausemsN`
(`WHISPER_CHUNK_PAUSE_MS`), `prompt` (the common simplified-Chinese initial prompt 以下是普通话的句子。
for Mandarin clips), `seq`
(faster-whisper's sequential decoding instead of the batched pipeline: temperature fallback, 30 s
windows), `+cond` (condition on the previous window's text). Scored with `benchmarks.real_media.normalise`
(numbers and "a.C." in their spoken form on both sides for Spanish and Portuguese) and, for comparison,
Whisper's basic normaliser alone; every clip's hypothesis beside its reference in
`benchmarks/out/multilingual_decoding.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import time
import unicodedata
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SPEECH = REPO.parent / "shared" / "media" / "real" / "speech"
CHARACTER_LANGUAGES = {"zh", "ja"}  # scored by characters (CER), not words


def basic_normalise(text: str) -> str:
    """Whisper's basic normaliser: lower case, bracketed asides gone, marks/symbols/punctuation as spaces."""
    text = re.sub(r"[<\[][^>\]]*[>\]]", "", text.lower())
    text = re.sub(r"\(([^)]+?)\)", "", text)
    text = "".join(" " if unicodedata.category(c)[0] in "MSP" else c for c in unicodedata.normalize("NFKC", text))
    return re.sub(r"\s+", " ", text).strip()


def error_rate(language: str, references: list[str], hypotheses: list[str]) -> tuple[str, float]:
    """("wer" | "cer", corpus-level rate over the clips of one language)."""
    import jiwer

    from benchmarks.real_media import normalise

    refs = [normalise(r, language) if language != "en" else basic_normalise(r) for r in references]
    hyps = [normalise(h, language) if language != "en" else basic_normalise(h) for h in hypotheses]
    if language in CHARACTER_LANGUAGES:
        return "cer", jiwer.cer([r.replace(" ", "") for r in refs], [h.replace(" ", "") for h in hyps])
    return "wer", jiwer.wer(refs, hyps)


def load_clips(speech: Path) -> list[dict]:
    from wandr_pipeline.engines.whisper import load_audio

    references = json.loads((speech / "references.json").read_text())
    clips = []
    for name, item in sorted(references.items()):
        if not item.get("text"):
            continue
        audio = load_audio(speech / name)
        clips.append({"file": name, "language": item["language"], "reference": item["text"], "audio": audio})
    return clips


def run(speech: Path, models: list[str]) -> dict:
    import numpy as np

    from wandr_pipeline.engines.whisper import WhisperTranscriber
    from wandr_pipeline.engines.whisper_options import transcriber_options
    from wandr_pipeline.settings import WhisperSettings

    uptime_before = _uptime()
    clips = load_clips(speech)
    on_cpu = transcriber_options(WhisperSettings(), device="cpu", compute_type="int8")
    transcribers, load_s = {}, {}
    for model in models:
        started = time.perf_counter()
        transcribers[model] = WhisperTranscriber(replace(on_cpu, model=model))
        load_s[model] = round(time.perf_counter() - started, 2)
        transcribers[model].transcribe(np.zeros(16_000, np.float32))  # warm-up: VAD session, first allocations
    results = {model: [] for model in models}
    for clip in clips:
        for model in models:
            result = transcribers[model].transcribe(clip["audio"])
            results[model].append(
                {
                    "file": clip["file"],
                    "language": clip["language"],
                    "audio_s": round(result.duration_s, 2),
                    "elapsed_s": round(result.elapsed_s, 3),
                    "detected": result.language,
                    "probability": result.language_probability,
                    "text": result.text,
                    "reference": clip["reference"],
                }
            )
    summary = {}
    for model, rows in results.items():
        by_language = {}
        for language in sorted({r["language"] for r in rows}):
            mine = [r for r in rows if r["language"] == language]
            metric, rate = error_rate(language, [r["reference"] for r in mine], [r["text"] for r in mine])
            audio_min = sum(r["audio_s"] for r in mine) / 60
            by_language[language] = {
                "clips": len(mine),
                "audio_s": round(audio_min * 60, 1),
                metric: round(rate, 3),
                "detected_right": sum(r["detected"] == language for r in mine),
                "detected": sorted({r["detected"] for r in mine}),
                "min_probability": min((r["probability"] for r in mine if r["probability"] is not None), default=None),
                "s_per_audio_min": round(sum(r["elapsed_s"] for r in mine) / audio_min, 2),
            }
        audio_min = sum(r["audio_s"] for r in rows) / 60
        summary[model] = {
            "load_s": load_s[model],
            "s_per_audio_min": round(sum(r["elapsed_s"] for r in rows) / audio_min, 2),
            "languages": by_language,
        }
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
        "uptime_before": uptime_before,
        "knobs": {k: v for k, v in asdict(on_cpu).items() if k != "model"},
        "summary": summary,
        "clips": results,
    }


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except OSError:
        return ""


def markdown(report: dict) -> str:
    models = list(report["summary"])
    lines = [
        f"{report['date']}, {report['machine']}",
        f"load before: `{report['uptime_before']}`; after: `{report['uptime_after']}`",
        "",
        "| language (clips, audio) | " + " | ".join(models) + " |",
        "|---|" + "---|" * len(models),
    ]
    languages = report["summary"][models[0]]["languages"]
    for language, info in languages.items():
        cells = []
        for model in models:
            mine = report["summary"][model]["languages"][language]
            metric = "cer" if "cer" in mine else "wer"
            probability = "" if mine["min_probability"] is None else f", p ≥ {mine['min_probability']:.2f}"
            cells.append(
                f"{metric.upper()} {mine[metric]:.3f}; detected {'/'.join(mine['detected'])} "
                f"{mine['detected_right']}/{mine['clips']}{probability}; {mine['s_per_audio_min']:.1f} s/audio min"
            )
        lines.append(f"| {language} ({info['clips']}, {info['audio_s']:.0f} s) | " + " | ".join(cells) + " |")
    lines.append(
        "| all: s per audio minute (load) | "
        + " | ".join(
            f"{report['summary'][m]['s_per_audio_min']:.1f} ({report['summary'][m]['load_s']:.1f} s)" for m in models
        )
        + " |"
    )
    return "\n".join(lines)


MANDARIN_PROMPT = "以下是普通话的句子。"


def decoding(settings: list[str]) -> dict:
    """Each decoding setting on every real non-English clip and the es/pt tracks (see the module doc)."""
    from whisper_normalizer.basic import BasicTextNormalizer

    from benchmarks.real_media import load, references, speech_track, transcriber
    from benchmarks.speech_cost import PORTUGUESE, SPANISH

    refs = references()
    names = [n for n, item in sorted(refs.items()) if item["language"] != "en" and item.get("text")]
    clips = [(n, refs[n]["language"], refs[n]["text"], load(n)) for n in names]
    for label, parts, language in (("es track", SPANISH, "es"), ("pt track", PORTUGUESE, "pt")):
        reference = " ".join(refs[n]["text"] for n, _ in parts)
        clips.append((label, language, reference, speech_track(parts).audio))
    model = transcriber(model="base")
    defaults = dict(chunk_s=model.chunk_s, chunk_cut=model.chunk_cut)
    batched, sequential = model.pipeline.transcribe, model.model.transcribe
    report = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "uptime_before": _uptime(), "settings": {}}
    for setting in settings:
        parts = setting.split("+")
        extra = {}
        chunking = dict(chunk_s=defaults["chunk_s"], chunk_cut=defaults["chunk_cut"], chunk_pause_ms=0)
        for part in parts:
            if part.startswith("chunk"):
                chunking["chunk_s"] = int(part[5:])
            elif part == "pause":
                chunking["chunk_cut"] = "pause"
            elif part == "limit":
                chunking["chunk_cut"] = "limit"
            elif part.startswith("pausems"):
                chunking["chunk_pause_ms"] = int(part[7:])
            if part.startswith("beam"):
                extra["beam_size"] = int(part[4:])
            elif part.startswith("patience"):
                extra["patience"] = float(part[8:])
            elif part == "cond":
                extra["condition_on_previous_text"] = True

        def with_extra(call, extra=extra):
            return lambda samples, **options: call(samples, **{**options, **extra})

        model.pipeline.transcribe, model.model.transcribe = with_extra(batched), with_extra(sequential)
        for attribute, value in chunking.items():  # read by the transcriber at each call
            setattr(model, attribute, value)
        pipeline = model.pipeline
        if "seq" in parts:
            model.pipeline = None
        rows, started = [], time.perf_counter()
        try:
            for name, language, reference, audio in clips:
                prompt = MANDARIN_PROMPT if "prompt" in parts and language == "zh" else None
                result = model.transcribe(audio, initial_prompt=prompt)
                rows.append(
                    {
                        "file": name,
                        "language": language,
                        "detected": result.language,
                        "trusted": result.assessment.trusted,
                        "reference": reference,
                        "text": result.text,
                        "error": round(error_rate(language, [reference], [result.text])[1], 3),
                    }
                )
        finally:
            model.pipeline = pipeline
            model.pipeline.transcribe, model.model.transcribe = batched, sequential
        summary = {"seconds": round(time.perf_counter() - started, 1)}
        for language in ("es", "pt", "zh"):
            mine = [r for r in rows if r["language"] == language and "track" not in r["file"]]
            summary[language] = round(
                error_rate(language, [r["reference"] for r in mine], [r["text"] for r in mine])[1], 3
            )
            basic = BasicTextNormalizer()
            plain_refs = [basic(r["reference"]) for r in mine]
            plain_hyps = [basic(r["text"]) or " " for r in mine]
            summary[f"{language} (basic normaliser)"] = round(
                error_rate(language, plain_refs, plain_hyps)[1] if language == "zh" else _wer(plain_refs, plain_hyps), 3
            )
        summary["AISHELL alone"] = next(r["error"] for r in rows if r["file"].startswith("aishell"))
        for label in ("es track", "pt track"):
            summary[label] = next(r["error"] for r in rows if r["file"] == label)
        summary["untrusted"] = [r["file"] for r in rows if not r["trusted"]]
        report["settings"][setting] = {"summary": summary, "clips": rows}
        print(setting, json.dumps(summary, ensure_ascii=False), flush=True)
    report["uptime_after"] = _uptime()
    return report


def _wer(references: list[str], hypotheses: list[str]) -> float:
    import jiwer

    return jiwer.wer(references, hypotheses)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speech", type=Path, default=DEFAULT_SPEECH, help="folder with references.json")
    parser.add_argument("--models", default="tiny.en,base", help="comma-separated WHISPER_MODEL values")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "multilingual_speech.json")
    parser.add_argument("--decoding", default="", help="compare decoding settings instead (see the module doc)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.decoding:
        report = decoding([s.strip() for s in args.decoding.split(",") if s.strip()])
        out = args.out.with_name("multilingual_decoding.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, ensure_ascii=False, indent=1))
        print(f"written: {out}")
        return
    report = run(args.speech, [m.strip() for m in args.models.split(",") if m.strip()])
    report["uptime_after"] = _uptime()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1))
    print(markdown(report))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
