"""Real-media quality: human speech and real text images, laid out the way social clips look.

    PYTHONPATH=. .venv/bin/python -m benchmarks.real_media [--quick] [--out benchmarks/out/real_media.json]

The project's caption set is synthetic TTS over drawn captions, which hides what real input does
(issue 14). This benchmark builds its clips from `data/real/` (FLEURS, LibriSpeech, LJSpeech, Harvard
sentences, AISHELL; OCR test images in Latin, French, Chinese, Japanese and Korean script; licences and
attributions in `data/real/README.md`):

1. *Speech tracks*: read sentences laid end to end with short pauses (0.4-0.7 s), as a narrated clip
   sounds. Each sentence's place on the time line is known, so a sentence is *dropped* when fewer
   than half of its reference words' worth of decoded words fall inside it, whatever the WER says.
2. *Transcription*: through `WhisperTranscriber.transcribe`, the pipeline's own path, with the
   settings' defaults (chunk length, second pass) and, side by side, the defaults without the second
   VAD look at the pauses (`no_second_look`), with VAD threshold 0.5, with pause-cut chunks, and the
   old behaviour (30 s chunks, no second pass). WER after Whisper's English normaliser (the
   `whisper-normalizer` package, MIT) for English, its basic normaliser for Spanish and Portuguese,
   CER for Mandarin.
3. *Quality flags*: every clip's trust verdict (`media/speech_quality.py`); every non-English clip
   should be flagged by the English-only model and no English one.
4. *On-screen text*: each OCR image shown full-width on a portrait (1080x1920) background the way an
   image insert looks, read by the local OCR engine through the pipeline's caption merging;
   caption recall/precision per script against the lines the engine reads on the image itself.

Writes `--out` (JSON) and prints a summary; `tests/engines/test_whisper_real_speech.py` runs a
small subset in `make test`.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REAL = REPO / "data" / "real"
SPEECH = REAL / "speech"
IMAGES = REAL / "images"
SAMPLE_RATE = 16_000

# Ten English read sentences (FLEURS, LibriSpeech, LJSpeech, Harvard) and the pauses after each.
ENGLISH_TRACK = (
    ("fleurs-en-000.ogg", 0.5),
    ("fleurs-en-001.ogg", 0.7),
    ("fleurs-en-002.ogg", 0.4),
    ("fleurs-en-003.ogg", 0.6),
    ("fleurs-en-004.ogg", 0.5),
    ("librispeech_1995-1837-0001.wav", 0.45),
    ("sb_LJ050-0131.wav", 0.65),
    ("sb_spk1_snt1.wav", 0.5),
    ("sb_spk1_snt3.wav", 0.55),
    ("sb_spk2_snt3.wav", 0.0),
)
NON_ENGLISH = (
    "fleurs-es-000.ogg",
    "fleurs-es-001.ogg",
    "fleurs-es-002.ogg",
    "fleurs-pt-000.ogg",
    "fleurs-pt-001.ogg",
    "fleurs-pt-002.ogg",
    "aishell_BAC009S0724W0121.wav",
)
ENGLISH_SINGLE = tuple(name for name, _ in ENGLISH_TRACK) + (
    "sb_spk1_snt2.wav",
    "sb_spk1_snt4.wav",
    "sb_spk1_snt5.wav",
    "sb_spk2_snt1.wav",
    "sb_spk2_snt2.wav",
    "sb_spk2_snt4.wav",
    "sb_spk2_snt5.wav",
)


def references() -> dict[str, dict]:
    return json.loads((SPEECH / "references.json").read_text())


def load(name: str) -> np.ndarray:
    from faster_whisper.audio import decode_audio

    return decode_audio(str(SPEECH / name), sampling_rate=SAMPLE_RATE)


@dataclass(frozen=True)
class Track:
    audio: np.ndarray
    sentences: list[tuple[str, float, float]]  # (file, start_s, end_s) on the track


def speech_track(parts) -> Track:
    """`(file, pause_s)` pairs laid end to end."""
    pieces, sentences, cursor = [], [], 0.0
    for name, pause in parts:
        audio = load(name)
        pieces += [audio, np.zeros(int(pause * SAMPLE_RATE), np.float32)]
        sentences.append((name, cursor, cursor + len(audio) / SAMPLE_RATE))
        cursor += len(audio) / SAMPLE_RATE + pause
    return Track(np.concatenate(pieces), sentences)


# Written forms with one spoken form, for the languages whose numbers `num2words` spells (issue 27): a
# reference that writes "20" or "a.C." is matched by speech written "vinte" or "antes de Cristo", and the
# other way round. Applied to reference and hypothesis alike.
SPOKEN_ABBREVIATIONS = {
    "es": {"a.c.": "antes de cristo", "d.c.": "después de cristo"},
    "pt": {"a.c.": "antes de cristo", "d.c.": "depois de cristo"},
}


def normalise(text: str, language: str) -> str:
    """Whisper's English normaliser for English; its basic one (lower case, punctuation and symbols as
    spaces) for the others, with Spanish and Portuguese numbers and abbreviations in their spoken form."""
    if language == "en":
        from whisper_normalizer.english import EnglishTextNormalizer

        return EnglishTextNormalizer()(text)
    from whisper_normalizer.basic import BasicTextNormalizer

    if language not in SPOKEN_ABBREVIATIONS:
        return BasicTextNormalizer()(text)
    import re

    from num2words import num2words

    text = text.lower()
    for written, spoken in SPOKEN_ABBREVIATIONS[language].items():
        text = re.sub(rf"(?<!\w){re.escape(written)}(?!\w)", spoken, text)
    text = BasicTextNormalizer()(text)
    return re.sub(r"\d+", lambda number: num2words(int(number.group()), lang=language), text).strip()


def error_rate(reference: str, hypothesis: str, language: str) -> float:
    import jiwer

    ref, hyp = normalise(reference, language), normalise(hypothesis, language)
    if language == "zh":  # no spaces between words: character error rate
        return jiwer.cer(ref.replace(" ", ""), hyp.replace(" ", "") or " ")
    return jiwer.wer(ref, hyp or " ")


def dropped_sentences(track: Track, transcript, refs: dict) -> list[str]:
    """Sentences of `track` with fewer decoded words inside their time span than half their reference words."""
    words = [w for s in transcript.segments for w in s.words]
    dropped = []
    for name, start, end in track.sentences:
        inside = sum(1 for w in words if start <= (w.start_s + w.end_s) / 2 <= end)
        if inside < 0.5 * len(normalise(refs[name]["text"], "en").split()):
            dropped.append(name)
    return dropped


def transcribe_track(transcriber, track: Track, refs: dict) -> dict:
    started = time.perf_counter()
    result = transcriber.transcribe(track.audio)
    seconds = time.perf_counter() - started
    reference = " ".join(refs[name]["text"] for name, _, _ in track.sentences)
    return {
        "audio_s": round(len(track.audio) / SAMPLE_RATE, 1),
        "wer": round(error_rate(reference, result.text, "en"), 3),
        "dropped": dropped_sentences(track, result, refs),
        "speech_coverage": result.speech_coverage,
        "second_pass_regions": result.uncovered_regions,
        "flagged": not result.assessment.trusted,
        "seconds": round(seconds, 1),
        "text": result.text,
    }


def transcriber(*, second_look: bool = True, model: str = "", **overrides):
    """`model` (default: the bundled one) with the settings' defaults and `overrides`; `second_look=False`: without the
    second VAD look for speech it missed (`WhisperTranscriber.missed_speech`), as before it existed."""
    from wandr_pipeline.engines.whisper import WhisperTranscriber
    from wandr_pipeline.engines.whisper_models import BUNDLED_MODEL
    from wandr_pipeline.engines.whisper_options import transcriber_options
    from wandr_pipeline.settings import Settings

    options = dict(model=model or BUNDLED_MODEL, device="cpu", compute_type="auto", vad=True)
    loaded = WhisperTranscriber(transcriber_options(Settings(), **{**options, **overrides}))
    if not second_look:
        loaded.missed_speech = lambda audio, speech: []
    return loaded


# Faster-whisper's VAD as the pipeline used it before `WHISPER_VAD_THRESHOLD`: speech from probability 0.5.
VAD_05 = dict(vad_threshold=0.5, chunk_pause_ms=0)
PAUSE_CHUNKS = dict(chunk_pause_ms=300)  # the alternative measured: a 300 ms pause ends a chunk
OLD = dict(chunk_s=30, second_pass_chunk_s=0, **VAD_05)  # before issue 14: 30 s chunks, no coverage check
NO_SECOND_LOOK = dict(second_look=False)  # the defaults before the second VAD look at the pauses


def shuffled_tracks(count: int, seed: int = 7) -> dict[str, tuple]:
    """`count` more tracks of all the English sentences in random order, with random 0.3-0.9 s pauses:
    chunk boundaries fall elsewhere, so a setting tuned to one layout shows it."""
    import random

    rng = random.Random(seed)
    names = list(ENGLISH_SINGLE)
    out = {}
    for number in range(count):
        rng.shuffle(names)
        out[f"shuffled {number}"] = tuple((name, rng.uniform(0.3, 0.9)) for name in names)
    return out


def sample_clips_wer(configs: dict) -> dict:
    """WER of the three TTS sample clips (`data/samples/`), their captions as hotwords as the pipeline
    gives them, per transcriber of `configs`: short clips, where chunking choices show differently."""
    from wandr_pipeline.media.captions import hint_text

    samples = REPO / "data" / "samples"
    out = {}
    for item in json.loads((samples / "manifest.json").read_text()):
        audio = load_any(samples / item["file"])
        hint = hint_text([c["text"] for c in item["captions"]]).replace("\n", ", ")
        out[item["file"]] = {
            label: round(error_rate(item["speech"], tx.transcribe(audio, hotwords=hint).text, "en"), 3)
            for label, tx in configs.items()
        }
    return out


def speech_benchmark(quick: bool = False, shuffles: int = 3) -> dict:
    refs = references()
    track = speech_track(ENGLISH_TRACK[:5] if quick else ENGLISH_TRACK)
    configs = {
        "current": transcriber(),
        "no_second_look": transcriber(**NO_SECOND_LOOK),
        "vad_0.5": transcriber(**VAD_05),
        "pause_chunks": transcriber(**PAUSE_CHUNKS),
    }
    out = {"track": {label: transcribe_track(tx, track, refs) for label, tx in configs.items()}}
    out["track"]["old"] = transcribe_track(transcriber(**OLD), track, refs)
    out["shuffled"] = {
        name: {label: transcribe_track(tx, speech_track(parts), refs) for label, tx in configs.items()}
        for name, parts in shuffled_tracks(0 if quick else shuffles).items()
    }
    out["samples"] = sample_clips_wer(configs)
    current, before = configs["current"], configs["no_second_look"]
    clips = {}
    for name in (ENGLISH_SINGLE[:5] if quick else ENGLISH_SINGLE) + NON_ENGLISH:
        language = refs[name]["language"]
        started = time.perf_counter()
        result = current.transcribe(load(name))
        clips[name] = {
            "language": language,
            "error_rate": round(error_rate(refs[name]["text"], result.text, language), 3),
            "flagged": not result.assessment.trusted,
            "mean_word_probability": result.assessment.mean_word_probability,
            "seconds": round(time.perf_counter() - started, 2),
            "text": result.text,
        }
        started = time.perf_counter()
        earlier = before.transcribe(load(name))
        clips[name]["no_second_look"] = {
            "error_rate": round(error_rate(refs[name]["text"], earlier.text, language), 3),
            "flagged": not earlier.assessment.trusted,
            "seconds": round(time.perf_counter() - started, 2),
        }
    out["clips"] = clips
    english = [c for c in clips.values() if c["language"] == "en"]
    others = [c for c in clips.values() if c["language"] != "en"]
    out["flags"] = {
        "english_flagged": sum(c["flagged"] for c in english),
        "english_clips": len(english),
        "non_english_flagged": sum(c["flagged"] for c in others),
        "non_english_clips": len(others),
        "english_single_wer": round(float(np.mean([c["error_rate"] for c in english])), 3),
        "english_single_wer_no_second_look": round(
            float(np.mean([c["no_second_look"]["error_rate"] for c in english])), 3
        ),
        "flagged_no_second_look": [sum(c["no_second_look"]["flagged"] for c in group) for group in (english, others)],
        # every English sentence decoded alone, WER over all their words: the ceiling of a track of them
        "english_single_pooled_wer": round(
            error_rate(
                " ".join(refs[n]["text"] for n in clips if refs[n]["language"] == "en"),
                " ".join(c["text"] for c in english),
                "en",
            ),
            3,
        ),
    }
    return out


def timing_benchmark(shuffles: int = 3) -> dict:
    """Seconds per track with and without the second VAD look, side by side: both transcribers warmed
    up, each track transcribed in the order now, before, before, now (load drifts cancel), means; and the
    second look's own VAD time."""
    now, before = transcriber(), transcriber(**NO_SECOND_LOOK)
    warm = load("sb_spk1_snt1.wav")
    now.transcribe(warm), before.transcribe(warm)
    out = {}
    for name, parts in {"track": ENGLISH_TRACK, **shuffled_tracks(shuffles)}.items():
        track = speech_track(parts)
        seconds: dict[str, list[float]] = {"now": [], "before": []}
        for label, tx in (("now", now), ("before", before), ("before", before), ("now", now)):
            started = time.perf_counter()
            tx.transcribe(track.audio)
            seconds[label].append(time.perf_counter() - started)
        speech = now.speech_regions(track.audio)
        started = time.perf_counter()
        now.missed_speech(track.audio, speech)
        look = time.perf_counter() - started
        out[name] = {label: round(float(np.mean(v)), 1) for label, v in seconds.items()}
        out[name]["second_look_vad_s"] = round(look, 2)
    return out


# -- caption hints ------------------------------------------------------------------------------------

# The captions a narrated clip of the English track would show (names and key phrases of its sentences).
TRACK_CAPTIONS = (
    "TO THE NORTH: SINTRA",
    "LORD BYRON",
    "CABBAGE JUICE",
    "DINOSAURS WITH FEATHERS",
    "THE FIRST GREAT SORROW",
    "FORMAL REVIEW",
    "THE YELLOW PAD",
)


def hints_benchmark(current) -> dict:
    """WER (and dropped sentences on the real track) with no hints, the captions as `hotwords`, and
    caption-informed correction after decoding without hints, on the sample clips and the real track."""
    from benchmarks.caption_correction import correct_transcript
    from wandr_pipeline.media.captions import hint_text

    refs = references()
    samples = REPO / "data" / "samples"
    clips = [
        (
            item["file"],
            load_any(samples / item["file"]),
            item["speech"],
            [c["text"] for c in item["captions"]],
            None,
        )
        for item in json.loads((samples / "manifest.json").read_text())
    ]
    track = speech_track(ENGLISH_TRACK)
    reference = " ".join(refs[name]["text"] for name, _, _ in track.sentences)
    clips.append(("real English track", track.audio, reference, list(TRACK_CAPTIONS), track))
    out = {}
    for name, audio, reference, captions, on_track in clips:
        hint = hint_text(captions).replace("\n", ", ")
        row = {}
        for mode in ("none", "hotwords", "correct"):
            started = time.perf_counter()
            result = current.transcribe(audio, hotwords=hint if mode == "hotwords" else None)
            text, fixes = correct_transcript(result.text, captions) if mode == "correct" else (result.text, [])
            row[mode] = {
                "wer": round(error_rate(reference, text, "en"), 3),
                "dropped": len(dropped_sentences(on_track, result, refs)) if on_track else None,
                "seconds": round(time.perf_counter() - started, 1),
                "corrections": fixes,
            }
        out[name] = row
    return out


def load_any(path: Path) -> np.ndarray:
    from faster_whisper.audio import decode_audio

    return decode_audio(str(path), sampling_rate=SAMPLE_RATE)


# -- on-screen text ---------------------------------------------------------------------------------


def script_of(text: str) -> str:
    """The script a line is mostly written in: latin (incl. accented), cjk (Han, kana), hangul, other."""
    counts: dict[str, int] = {}
    for char in text:
        if not char.isalpha():
            continue
        code = ord(char)
        kind = (
            "latin"
            if code < 0x0250 or 0x1E00 <= code <= 0x1EFF
            else "hangul"
            if 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF
            else "cjk"
            if 0x3040 <= code <= 0x30FF or 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF
            else "other"
        )
        counts[kind] = counts.get(kind, 0) + 1
    return max(counts, key=counts.get) if counts else "other"


def portrait_frames(image_path: Path, shown: range, total: int = 5) -> list[np.ndarray]:
    """`total` sampled frames (540x960, as stored) of a dim, slowly panning portrait background, with the
    image as a full-width insert on the frames in `shown` (a social clip cutting to a photo)."""
    import cv2

    rng = np.random.default_rng(3)
    scene = cv2.resize(rng.random((30, 18, 3)).astype(np.float32), (740, 1160), interpolation=cv2.INTER_CUBIC)
    scene = (scene * 90 + 20).astype(np.uint8)
    insert = cv2.imread(str(image_path))
    height = int(insert.shape[0] * 520 / insert.shape[1])
    insert = cv2.resize(insert, (520, min(height, 700)), interpolation=cv2.INTER_AREA)
    frames = []
    for t in range(total):
        frame = scene[t * 20 : t * 20 + 960, t * 30 : t * 30 + 540].copy()
        if t in shown:
            top = (960 - insert.shape[0]) // 3
            frame[top : top + insert.shape[0], 10:530] = insert
        frames.append(frame)
    return frames


def onscreen_benchmark(engine=None, names: tuple[str, ...] | None = None, crop_to_text: bool = True) -> dict:
    """Caption recall/precision per script: the lines the engine reads on each image on its own (the
    whole frame) are the truth; the clip's caption spans (frame gate, merging, noise filters) are scored
    against them. `crop_to_text=False`: every read looks at the whole frame (`read_frames`)."""
    from rapidfuzz import fuzz

    from benchmarks.caption_quality import ocr_rows
    from wandr_pipeline.media.captions import build_spans, fold, reads_from_rows
    from wandr_pipeline.media.frame_reading import read_frames, read_share

    if engine is None:
        from wandr_pipeline.engines.rapidocr import RapidOcrEngine

        engine = RapidOcrEngine(min_confidence=0.5, use_cuda=False)
    per_script: dict[str, dict[str, int]] = {}
    images, reads_total, frames_total = {}, 0, 0
    for path in sorted(IMAGES.glob("*.jpg")):
        if names and path.name not in names:
            continue
        frames = portrait_frames(path, shown=range(1, 4))
        truth_boxes = engine.read([frames[2]])[0]  # the insert alone, read directly: what OCR can see
        truth = [b.text for b in truth_boxes if len(fold(b.text)) >= 2 and b.confidence >= 0.6]
        results = read_frames(
            [(i * 30, float(i), lambda f=f: f) for i, f in enumerate(frames)], engine, crop_to_text=crop_to_text
        )
        frame_times, reads = reads_from_rows(ocr_rows(results))
        spans = [s.text for s in build_spans(frame_times, reads, aspect=540 / 960)]
        reads_total += sum(r.read for r in results)
        frames_total += len(results)

        def alike(a, b):
            return fuzz.ratio(fold(a), fold(b)) >= 80

        found = [t for t in truth if any(alike(t, s) for s in spans)]
        matched_spans = [s for s in spans if any(alike(t, s) for t in truth)]
        for line in truth:
            tally = per_script.setdefault(script_of(line), {"truth": 0, "found": 0, "spans": 0, "correct": 0})
            tally["truth"] += 1
            tally["found"] += line in found
        for span in spans:
            tally = per_script.setdefault(script_of(span), {"truth": 0, "found": 0, "spans": 0, "correct": 0})
            tally["spans"] += 1
            tally["correct"] += span in matched_spans
        images[path.name] = {"truth": truth, "spans": spans, "read_share": round(read_share(results), 2)}
    scores = {
        script: {
            **t,
            "recall": round(t["found"] / t["truth"], 3) if t["truth"] else None,
            "precision": round(t["correct"] / t["spans"], 3) if t["spans"] else None,
        }
        for script, t in per_script.items()
    }
    return {"scripts": scores, "images": images, "read_share": round(reads_total / max(1, frames_total), 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="five sentences, five English clips")
    parser.add_argument("--shuffles", type=int, default=3, help="more English tracks in random order")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "real_media.json")
    parser.add_argument("--no-ocr", action="store_true", help="speech only")
    parser.add_argument("--hints", action="store_true", help="also: no hints vs hotwords vs correction")
    parser.add_argument("--timing", action="store_true", help="only: seconds with and without the second VAD look")
    args = parser.parse_args(argv)
    import os

    if args.timing:
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print("timing", started, "load", os.getloadavg(), json.dumps(timing_benchmark(args.shuffles)), os.getloadavg())
        return 0

    report = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": os.getloadavg(),
        "speech": speech_benchmark(args.quick, args.shuffles),
    }
    if not args.no_ocr:
        report["onscreen"] = onscreen_benchmark()
    if args.hints:
        report["hints"] = hints_benchmark(transcriber())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    speech = report["speech"]
    for label, row in speech["track"].items():
        print(
            f"track {label}: {row['audio_s']} s, WER {row['wer']}, dropped {len(row['dropped'])} {row['dropped']}, "
            f"coverage {row['speech_coverage']}, second-pass regions {row['second_pass_regions']}, {row['seconds']} s"
        )
    for name, rows in speech["shuffled"].items():
        for label, row in rows.items():
            print(
                f"{name} {label}: {row['audio_s']} s, WER {row['wer']}, dropped {row['dropped']}, "
                f"second-pass regions {row['second_pass_regions']}, {row['seconds']} s"
            )
    print("TTS samples with hotwords:", speech["samples"])
    print("flags:", speech["flags"])
    if "onscreen" in report:
        print(
            "on-screen text per script:", report["onscreen"]["scripts"], "read share", report["onscreen"]["read_share"]
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
