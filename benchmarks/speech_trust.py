"""Does the transcript's status follow the evidence? Garbage must come out `suspect` (or `empty`), clean
speech `ok`.

    PYTHONPATH=. .venv/bin/python -m benchmarks.speech_trust [--out benchmarks/out/speech_trust.json] [--dump]
    PYTHONPATH=. .venv/bin/python -m benchmarks.speech_trust --replay benchmarks/out/speech_trust.json --out ...

Cases (issue 27), each transcribed through `WhisperTranscriber.transcribe` with the settings' defaults:

- *garbage*: four clips that change language (a real FLEURS English sentence, a real FLEURS Spanish one,
  then German and Arabic read by espeak-ng; other sentences in the order Spanish, Arabic, English,
  German; Portuguese, German, Mandarin, English, Arabic; Arabic, English, Spanish, Arabic), Arabic
  alone (espeak-ng; `base` heard it as Thai at 0.24 and looped), and music without speech (synthesised
  chords and a beat; tiny.en wrote "Thank you."). A mixed clip is caught when every row it
  keeps lies in one part and is in that part's language (`parts_kept`); which parts it kept is reported.
  Without espeak-ng the Arabic and German parts are left out and the report says so.
- *clean*: every real clip of `data/real/speech/` (FLEURS en/es/pt, LibriSpeech, LJSpeech, Harvard,
  AISHELL, JFK), the ten-sentence English track of `benchmarks.real_media`, and the TTS samples of
  `data/samples/`, also with tiny.en at beam 1 (the Lisbon clip that used to lose all its text).

For each: the clip's status as the `transcript` stage would record it (`ok` / `suspect` / `empty`),
the reason, how many segments were left out, and the error rate of the kept text against the reference.
`--dump` prints every segment's decoder signals (the evidence the rule reads); the report records them
too, and `--replay` judges a report's recorded signals again with today's rule, in a second and without the
models (a rule change measured on the same decodings).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks.real_media import ENGLISH_TRACK, REPO, SPEECH, error_rate, load, load_any, references, speech_track

SAMPLE_RATE = 16_000
GERMAN = "Guten Tag und willkommen in Berlin. Dieses Museum ist jeden Tag geöffnet, der Eintritt kostet zehn Euro."
ARABIC = "مرحبا بكم في السوق. هذا المطعم يبيع أفضل الحلويات في المدينة. السعر خمسة دنانير."
GERMAN_2 = "Entschuldigung, wo ist der Bahnhof? Die Fahrkarte zum Flughafen kostet drei Euro fünfzig."
ARABIC_2 = "شكرا جزيلا. أين محطة القطار؟ التذكرة إلى المطار بعشرة دراهم فقط."


def espeak(text: str, voice: str) -> np.ndarray | None:
    """`text` read by espeak-ng in `voice`, 16 kHz; None when espeak-ng is not installed."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        subprocess.run([binary, "-v", voice, "-s", "150", "-w", str(path), text], check=True, capture_output=True)
        return load_any(path)


def music(seconds: float = 20.0, seed: int = 3) -> np.ndarray:
    """Chords of harmonic tones over a kick-and-hat beat, no voice: what a travel clip's backing track is."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    out = np.zeros_like(t)
    chords = ((220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (196.0, 246.9, 311.1))
    bar = 2.0
    for number, chord in enumerate(chords * int(seconds // (bar * len(chords)) + 1)):
        lo, hi = int(number * bar * SAMPLE_RATE), int((number + 1) * bar * SAMPLE_RATE)
        if lo >= len(t):
            break
        piece = t[lo:hi] - t[lo]
        envelope = np.minimum(1.0, piece * 8) * np.exp(-piece * 0.6)
        for f in chord:
            for harmonic, weight in ((1, 1.0), (2, 0.4), (3, 0.2)):
                out[lo:hi] += weight * envelope * np.sin(2 * np.pi * f * harmonic * piece)
    beat = 0.5
    for start in np.arange(0, seconds, beat):
        lo = int(start * SAMPLE_RATE)
        piece = t[lo : lo + int(0.15 * SAMPLE_RATE)] - t[lo]
        out[lo : lo + len(piece)] += 2.0 * np.sin(2 * np.pi * 60 * piece) * np.exp(-piece * 30)
        hat = rng.normal(size=int(0.03 * SAMPLE_RATE)) * np.exp(-np.arange(int(0.03 * SAMPLE_RATE)) / 80)
        mid = lo + int(beat / 2 * SAMPLE_RATE)
        out[mid : mid + len(hat)] += 0.3 * hat[: max(0, min(len(hat), len(out) - mid))]
    return (0.25 * out / np.abs(out).max()).astype(np.float32)


def vocalise(seconds: float = 20.0) -> np.ndarray:
    """A melody sung on vowels (harmonics shaped by /a/ /o/ /i/ /e/ formants, vibrato), no words."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    notes = (220, 247, 262, 294, 330, 294, 262, 247)
    vowels = ((700, 1220, 2600), (400, 800, 2600), (300, 2300, 3000), (500, 1000, 2500))
    out, note_s = np.zeros_like(t), 0.8
    for i in range(int(seconds / note_s)):
        lo, hi = int(i * note_s * SAMPLE_RATE), int((i + 1) * note_s * SAMPLE_RATE)
        f0, piece = notes[i % len(notes)], t[lo:hi] - t[lo]
        phase = np.cumsum(2 * np.pi * f0 * (1 + 0.02 * np.sin(2 * np.pi * 5.5 * piece)) / SAMPLE_RATE)
        for k in range(1, int(4000 / f0)):
            gain = sum(1 / (1 + ((k * f0 - f) / bw) ** 2) for f, bw in zip(vowels[i % 4], (90, 110, 150)))
            out[lo:hi] += (
                gain / k**0.5 * np.sin(k * phase) * np.minimum(1, piece * 10) * np.minimum(1, (note_s - piece) * 10)
            )
    return (out / np.abs(out).max()).astype(np.float32)


def join(*pieces: np.ndarray, pause_s: float = 0.6) -> np.ndarray:
    gap = np.zeros(int(pause_s * SAMPLE_RATE), np.float32)
    out = []
    for piece in pieces:
        out += [piece, gap]
    return np.concatenate(out)


@dataclass(frozen=True)
class Part:
    """One language's stretch of a mixed clip: `languages` a kept row inside it may be in (none: garbage)."""

    name: str
    languages: frozenset[str]
    start_s: float
    end_s: float


MIXED_PARTS: dict[str, list[Part]] = {}  # case -> its parts, in order


def mixed(pieces: list[tuple[str, frozenset[str], np.ndarray | None]], pause_s: float = 0.6) -> np.ndarray:
    """`pieces` (name, languages it may be kept in, audio; None: not built) joined as `join` does, and
    where each one lies."""
    built = [(name, languages, audio) for name, languages, audio in pieces if audio is not None]
    parts, at = [], 0.0
    for name, languages, audio in built:
        parts.append(Part(name, languages, at, at + len(audio) / SAMPLE_RATE))
        at += len(audio) / SAMPLE_RATE + pause_s
    return join(*(audio for _, _, audio in built), pause_s=pause_s), parts


def mixed_clips() -> dict[str, tuple[np.ndarray, list[Part]]]:
    """The clips that change language, each with where its parts lie: real FLEURS sentences and German and
    Arabic read by espeak-ng (left out when it is not installed), in four layouts. A real part may stay in
    its language (espeak's German too); nothing of the Arabic may, unless as Arabic (base has never heard
    it as Arabic)."""
    return {
        "mixed en/es/de/ar (base)": mixed(
            [
                ("en", frozenset({"en"}), load("fleurs-en-000.ogg")),
                ("es", frozenset({"es"}), load("fleurs-es-000.ogg")),
                ("de", frozenset({"de"}), espeak(GERMAN, "de")),
                ("ar", frozenset({"ar"}), espeak(ARABIC, "ar")),
            ]
        ),
        # other sentences, another order: not tuned to one layout
        "mixed es/ar/en/de (base)": mixed(
            [
                ("es", frozenset({"es"}), load("fleurs-es-001.ogg")),
                ("ar", frozenset({"ar"}), espeak(ARABIC_2, "ar")),
                ("en", frozenset({"en"}), load("fleurs-en-003.ogg")),
                ("de", frozenset({"de"}), espeak(GERMAN_2, "de")),
            ]
        ),
        # five languages, Mandarin among them; and a clip that starts and ends unreadable
        "mixed pt/de/zh/en/ar (base)": mixed(
            [
                ("pt", frozenset({"pt"}), load("fleurs-pt-000.ogg")),
                ("de", frozenset({"de"}), espeak(GERMAN, "de")),
                ("zh", frozenset({"zh"}), load("aishell_BAC009S0724W0121.wav")),
                ("en", frozenset({"en"}), load("fleurs-en-004.ogg")),
                ("ar", frozenset({"ar"}), espeak(ARABIC_2, "ar")),
            ]
        ),
        "mixed ar/en/es/ar (base)": mixed(
            [
                ("ar", frozenset({"ar"}), espeak(ARABIC, "ar")),
                ("en", frozenset({"en"}), load("fleurs-en-002.ogg")),
                ("es", frozenset({"es"}), load("fleurs-es-002.ogg")),
                ("ar 2", frozenset({"ar"}), espeak(ARABIC_2, "ar")),
            ]
        ),
    }


def garbage_cases() -> tuple[dict[str, tuple[str, np.ndarray]], list[str]]:
    """{name: (model, audio)} and what could not be built."""
    notes = []
    arabic = espeak(ARABIC, "ar")
    if arabic is None:
        notes.append("espeak-ng is not installed: the mixed clips have no German or Arabic part, no Arabic-only clip")
    cases = {}
    for name, (audio, parts) in mixed_clips().items():
        MIXED_PARTS[name] = parts
        cases[name] = ("base", audio)
    if arabic is not None:
        cases["arabic only (base)"] = ("base", join(arabic, arabic))
        cases["arabic only (tiny.en)"] = ("tiny.en", join(arabic, arabic))
    cases["music only (tiny.en)"] = ("tiny.en", music())
    cases["music only (base)"] = ("base", music())
    # Silero hears no speech in these synthetic tracks, so with VAD the decoder never sees them (`empty`
    # already); without VAD it decodes them, and writes "Thank you very much." over the sung vowels.
    backing = (0.2 * vocalise() + 0.2 * music() / np.abs(music()).max()).astype(np.float32)
    cases["sung vowels over music, VAD off (tiny.en)"] = ("tiny.en no VAD", backing)
    cases["sung vowels over music, VAD off (base)"] = ("base no VAD", backing)
    return cases, notes


def clean_cases() -> dict[str, tuple[str, np.ndarray, str, str]]:
    """{name: (model, audio, reference, language, caption hints)}."""
    from wandr_pipeline.media.captions import hint_text

    refs = references()
    out = {}
    for name, item in sorted(refs.items()):
        if item.get("text") and (SPEECH / name).exists():
            out[name] = ("base", load(name), item["text"], item["language"], None)
    track = speech_track(ENGLISH_TRACK)
    out["english track (10 sentences)"] = (
        "base",
        track.audio,
        " ".join(refs[name]["text"] for name, _, _ in track.sentences),
        "en",
        None,
    )
    samples = REPO / "data" / "samples"
    for item in json.loads((samples / "manifest.json").read_text()):
        audio = load_any(samples / item["file"])
        hint = hint_text([c["text"] for c in item["captions"]]).replace("\n", ", ")  # as the pipeline gives them
        for model in ("base", "tiny.en", "tiny.en beam 1"):
            out[f"{item['file']} ({model})"] = (model, audio, item["speech"], "en", hint)
    return out


def transcribers() -> dict:
    from benchmarks.real_media import transcriber

    return {
        "base": transcriber(model="base"),
        "tiny.en": transcriber(),
        "tiny.en beam 1": transcriber(beam_size=1),
        "tiny.en no VAD": transcriber(vad=False, batch_size=1, second_pass_chunk_s=0),
        "base no VAD": transcriber(model="base", vad=False, batch_size=1, second_pass_chunk_s=0),
    }


OVERLAP_S = 0.5  # a row's timestamps may reach this far into the pause or the next part


def parts_kept(rows: list[dict], parts: list[Part]) -> tuple[bool, list[str]]:
    """(every kept row lies in one part and is in that part's language; the parts kept in their language)."""
    right, kept = True, []
    for row in rows:
        least = min(OVERLAP_S, (row["end_s"] - row["start_s"]) / 2)  # "Michael is." lasts 0.44 s
        inside = [p for p in parts if min(row["end_s"], p.end_s) - max(row["start_s"], p.start_s) > least]
        if len(inside) != 1 or row["language"] not in inside[0].languages:
            right = False
        elif inside[0].name not in kept:
            kept.append(inside[0].name)
    return right, kept


def outcome(result, parts: list[Part] | None = None) -> dict:
    """The clip as the `transcript` stage records it; `caught`: nothing untrustworthy kept (for a clip with
    real parts, `parts`: every kept row inside one part and in its language)."""
    from wandr_pipeline.defs.videos.transcript import segment_rows, transcript_status

    rows = segment_rows(result, "m")
    return {
        **verdict_of(rows, transcript_status(rows, result.assessment), parts),
        "language": result.language,
        "language_probability": result.language_probability,
        "kept_text": " ".join(r["text"] for r in rows if r["status"] == "ok"),
        "text": result.text,
        "evidence": evidence(result),
    }


def verdict_of(rows: list[dict], status_reason: tuple[str, str | None], parts: list[Part] | None) -> dict:
    """What a clip's `transcript_segments` rows and status say, as `outcome` and `replayed` report it."""
    status, reason = status_reason
    kept = [r for r in rows if r["status"] == "ok"]
    caught, kept_parts = (status != "ok", []) if parts is None else parts_kept(kept, parts)
    return {
        "caught": caught,
        "kept_parts": kept_parts,
        "kept_languages": [r["language"] for r in kept],
        "status": status,
        "reason": reason,
        "segments": len(rows),
        "left_out": len(rows) - len(kept),
        "left_out_reasons": [r["error"] for r in rows if r["status"] != "ok"],
    }


def evidence(result) -> list[dict]:
    """Every segment's decoder signals as `assess` reads them, its time and the language its row would
    have if trusted (`--replay` judges them again without the models)."""
    from wandr_pipeline.defs.videos.transcript import segment_language
    from wandr_pipeline.engines.whisper_transcript import segment_evidence

    return [
        {
            "start_s": s.start_s,
            "end_s": s.end_s,
            "row_language": segment_language(s, result)[0],
            **asdict(segment_evidence(s, result.language, result.language_probability)),
        }
        for s in result.segments
    ]


def replayed(case: dict, parts: list[Part] | None, model_language: str | None) -> dict:
    """`case` (an `outcome` with its `evidence`) judged again by today's rule, as `outcome` would say it."""
    from wandr_pipeline.defs.videos.transcript import transcript_status
    from wandr_pipeline.lib.outcomes import OK, SUSPECT
    from wandr_pipeline.media.speech_quality import GOOD, LANGUAGE_UNSURE, LanguageEvidence, SegmentEvidence, assess

    recorded = case["evidence"]
    fields = [f for f in SegmentEvidence.__dataclass_fields__ if f != "language"]
    segments = [
        SegmentEvidence(
            **{f: e[f] for f in fields}, language=LanguageEvidence(**e["language"]) if e["language"] else None
        )
        for e in recorded
    ]
    verdict = assess(segments, model_language=model_language)
    rows = [
        {
            "start_s": e["start_s"],
            "end_s": e["end_s"],
            "language": None if q == LANGUAGE_UNSURE else e["row_language"],
            "status": OK if verdict.trusted and q == GOOD else SUSPECT,
            "error": why if verdict.trusted else verdict.reason,
        }
        for e, q, why in zip(recorded, verdict.segment_quality, verdict.segment_reasons)
    ]
    return verdict_of(rows, transcript_status(rows, verdict), parts)


def dump(name: str, result) -> None:
    print(f"\n## {name}: {result.language} p={result.language_probability} coverage={result.speech_coverage}")
    for s in result.segments:
        words = [w.probability for w in s.words]
        print(
            f"  [{s.start_s:6.2f}-{s.end_s:6.2f}] lp={s.avg_logprob:+.2f} ns={s.no_speech_prob:.2f} "
            f"cr={s.compression_ratio:.2f} wp={np.mean(words) if words else float('nan'):.2f} "
            f"heard={s.heard.heard + ':' + str(s.heard.probability) if s.heard else None} "
            f"{s.text[:90]!r}"
        )


def parts_of(case: dict) -> list[Part] | None:
    return [Part(p["name"], frozenset(p["languages"]), p["start_s"], p["end_s"]) for p in case["parts"]] or None


def replay(path: Path) -> dict:
    """The report at `path` judged again from its recorded evidence (seconds, no model)."""
    recorded = json.loads(path.read_text())
    report: dict = {"replayed": str(path), "notes": recorded["notes"], "garbage": {}, "clean": {}}
    for group in ("garbage", "clean"):
        for name, case in recorded[group].items():
            model_language = "en" if case["model"].startswith("tiny.en") else None
            report[group][name] = {**case, **replayed(case, parts_of(case), model_language)}
    return report


def measure(only: str, dump_signals: bool) -> dict:
    from wandr_pipeline.defs.videos.transcript import segment_rows

    models = transcribers()
    garbage, notes = garbage_cases()
    report: dict = {"machine": platform.platform(), "notes": notes, "garbage": {}, "clean": {}}
    for name, (model, audio) in garbage.items():
        if only not in name:
            continue
        started = time.perf_counter()
        result = models[model].transcribe(audio)
        if dump_signals:
            dump(name, result)
        parts = MIXED_PARTS.get(name)
        report["garbage"][name] = {
            "model": model,
            **outcome(result, parts),
            "parts": [{**asdict(p), "languages": sorted(p.languages)} for p in parts or []],
            "seconds": round(time.perf_counter() - started, 1),
        }
    for name, (model, audio, reference, language, hint) in clean_cases().items():
        if only not in name:
            continue
        result = models[model].transcribe(audio, hotwords=hint)
        if dump_signals:
            dump(name, result)
        item = {"model": model, **outcome(result), "parts": []}
        item["error_rate"] = round(error_rate(reference, result.text, language), 3)
        item["kept_error_rate"] = round(error_rate(reference, item["kept_text"], language), 3)
        # the other way to handle doubt: drop only the unsure words (below 0.5) of the kept segments
        kept = [s for s, r in zip(result.segments, segment_rows(result, "m")) if r["status"] == "ok"]
        sure = " ".join(w.word for s in kept for w in s.words if w.probability >= 0.5)
        item["sure_words_error_rate"] = round(error_rate(reference, sure, language), 3)
        report["clean"][name] = item
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "speech_trust.json")
    parser.add_argument("--dump", action="store_true", help="print every segment's decoder signals")
    parser.add_argument("--only", default="", help="only cases whose name contains this")
    parser.add_argument(
        "--replay", type=Path, help="judge the evidence recorded in this earlier --out again (no model runs)"
    )
    args = parser.parse_args(argv)
    report = replay(args.replay) if args.replay else measure(args.only, args.dump)
    caught = [n for n, r in report["garbage"].items() if r["caught"]]
    wrong = [n for n, r in report["clean"].items() if r["status"] != "ok"]
    report["summary"] = {
        "garbage_caught": f"{len(caught)}/{len(report['garbage'])}",
        "clean_marked": f"{len(wrong)}/{len(report['clean'])}",
        "clean_marked_names": wrong,
        "mixed_parts_kept": {n: r["kept_parts"] for n, r in report["garbage"].items() if r["parts"]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    for group in ("garbage", "clean"):
        print(f"\n| {group} case | status | left out | reason | WER all / kept / sure words only |")
        print("|---|---|---|---|---|")
        for name, r in report[group].items():
            rates = (
                f"{r.get('error_rate')} / {r.get('kept_error_rate')} / {r.get('sure_words_error_rate')}"
                if group == "clean"
                else f"caught: {r['caught']}, kept: {r['kept_languages']}"
                + (f", parts kept: {r['kept_parts']}" if r["parts"] else "")
            )
            print(f"| {name} | {r['status']} | {r['left_out']}/{r['segments']} | {r['reason'] or ''} | {rates} |")
    print(json.dumps(report["summary"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
