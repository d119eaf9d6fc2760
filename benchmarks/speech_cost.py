"""What the project's transcription costs against plain faster-whisper `base`, side by side (issue 27).

    PYTHONPATH=. .venv/bin/python -m benchmarks.speech_cost [--rounds 2] [--configs plain,default,full_window]
                                                            [--shuffled 3]

Four real tracks from `data/real/speech/` (the ten-sentence English track of `benchmarks.real_media`,
the three FLEURS Spanish and the three FLEURS Portuguese sentences laid end to end, and AISHELL
Mandarin), transcribed by the multilingual `base` (CPU int8, beam 5) in each setting:

- `plain`: the original service's way: `WhisperModel.transcribe(audio, beam_size=5, vad_filter=True)`,
  sequential, no word timestamps, no checks;
- the project's `WhisperTranscriber` (batched pipeline of 8, word timestamps, per-chunk language, the
  coverage check and its second pass over uncovered speech) with the settings' defaults (`default`) or
  named changes to them (`CONFIGS`: `full_window` = every chunk padded to Whisper's 30 s window, as before
  `WHISPER_WINDOW_MARGIN_S`; `margin_5`; 20 or 30 s chunks; `short_cut` = batches of only chunks under
  `whisper_window.FULL_WINDOW_BELOW_S` cut to chunk + margin too, as before; `before_27e` = the defaults
  before a region that missed speech runs into was decoded again with it and gaps were widened over
  stretched words; ...).

One model load per setting, a warm-up clip each, then `--rounds` rounds over the tracks with the
settings in alternating order (forward, then backward), so load drifts fall on all alike. Per setting:
seconds per audio minute (mean of rounds), its ratio to `plain`, English WER after Whisper's English
normaliser, sentences dropped from the English track, Spanish/Portuguese WER, Mandarin CER.

Where the first pass cuts its chunks (27-F): `limitN` / `pauseN` = N s chunks cut where the limit falls
(faster-whisper's merging) / at the longest pause within them (`WHISPER_CHUNK_CUT=pause`), `pausemsN` =
`WHISPER_CHUNK_PAUSE_MS=N`. `--sentences` prints, per setting, every sentence of every track with errors
beside the words decoded in its time span (an error at a chunk's edge is the pipeline's, one inside a
sentence decoded whole the model's); the JSON keeps them all.

`--shuffled N` then transcribes N more layouts of all 17 English sentences (`real_media.shuffled_tracks`:
random order and pauses) once per project setting, for WER and dropped sentences only (not timed): a
setting that suits one track's chunk boundaries shows it there.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.real_media import ENGLISH_TRACK, REPO, dropped_sentences, error_rate, load, references, speech_track

SAMPLE_RATE = 16_000
SPANISH = tuple((f"fleurs-es-00{i}.ogg", 0.6) for i in range(3))
PORTUGUESE = tuple((f"fleurs-pt-00{i}.ogg", 0.6) for i in range(3))


class Plain:
    """The original service's transcription: faster-whisper's `transcribe`, beam 5, VAD, nothing else."""

    def __init__(self):
        from faster_whisper import WhisperModel

        from wandr_pipeline.engines.whisper_models import packaged_model_files, resolve_model

        path, _ = resolve_model("base")
        self.model = WhisperModel(
            path, device="cpu", compute_type="int8", local_files_only=True, files=packaged_model_files(path)
        )

    def transcribe(self, audio: np.ndarray):
        segments, info = self.model.transcribe(audio, beam_size=5, vad_filter=True)
        return " ".join(s.text.strip() for s in segments), None


class Project:
    """The project's transcriber with the settings' defaults and `overrides`."""

    def __init__(self, *, before_27e: bool = False, short_cut: bool = False, **overrides):
        from benchmarks.real_media import transcriber

        self.transcriber = transcriber(model="base", **overrides)
        if before_27e:  # missed speech that runs into a region decoded on its own, gaps not widened
            self.transcriber.late_regions = lambda speech, missed: []
            self.transcriber.widened_gaps = lambda gaps, segments: gaps

        self.short_cut = short_cut  # batches of only short chunks cut to the margin too, as before

    def transcribe(self, audio: np.ndarray):
        from wandr_pipeline.engines import whisper_window

        full_below = whisper_window.FULL_WINDOW_BELOW_S
        if self.short_cut:
            whisper_window.FULL_WINDOW_BELOW_S = 0.0
        try:
            result = self.transcriber.transcribe(audio)
        finally:
            whisper_window.FULL_WINDOW_BELOW_S = full_below
        return result.text, result


CONFIGS = {
    "plain": lambda: Plain(),
    "default": lambda: Project(),  # the settings' defaults
    "before_27e": lambda: Project(before_27e=True),  # the defaults before 27-E
    "short_cut": lambda: Project(short_cut=True),  # short chunks' batches cut to chunk + margin too (before)
    "full_window": lambda: Project(window_margin_s=30),  # the defaults before: every chunk padded to 30 s
    "margin_10": lambda: Project(window_margin_s=10),
    "margin_7": lambda: Project(window_margin_s=7),
    "margin_5": lambda: Project(window_margin_s=5),
    "margin_0": lambda: Project(window_margin_s=0),
    "20s": lambda: Project(chunk_s=20),
    "30s": lambda: Project(chunk_s=30),
    "30s_no_second_pass": lambda: Project(chunk_s=30, second_pass_chunk_s=0),
    "20s_second_pass_10s": lambda: Project(chunk_s=20, second_pass_chunk_s=10),
    "10s_beam1": lambda: Project(beam_size=1),
    # where the first pass cuts its chunks (27-F): `pauseN` = N s chunks cut at the longest pause within
    # them (`WHISPER_CHUNK_CUT=pause`), `limitN` = N s chunks cut where the limit falls (faster-whisper's
    # merging), `pausemsN` = every N ms pause ends a chunk (`WHISPER_CHUNK_PAUSE_MS`)
    **{f"limit{n}": (lambda n=n: Project(chunk_s=n, chunk_cut="limit")) for n in (10, 15, 20, 25)},
    **{f"pause{n}": (lambda n=n: Project(chunk_s=n, chunk_cut="pause")) for n in (10, 15, 20, 25)},
    **{f"pausems{n}": (lambda n=n: Project(chunk_pause_ms=n)) for n in (300, 500, 800)},
}


def tracks() -> dict:
    refs = references()
    out = {}
    for name, parts, language in (
        ("english", ENGLISH_TRACK, "en"),
        ("spanish", SPANISH, "es"),
        ("portuguese", PORTUGUESE, "pt"),
    ):
        track = speech_track(parts)
        out[name] = (track, " ".join(refs[n]["text"] for n, _ in parts), language)
    audio = load("aishell_BAC009S0724W0121.wav")
    out["mandarin"] = (None, refs["aishell_BAC009S0724W0121.wav"]["text"], "zh", audio)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--shuffled", type=int, default=0, help="also this many shuffled English layouts")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "speech_cost.json")
    parser.add_argument("--sentences", action="store_true", help="print each track sentence's words per setting")
    args = parser.parse_args(argv)
    names = args.configs.split(",")
    loaded = {name: CONFIGS[name]() for name in names}
    refs = references()
    clips = {}
    for name, item in tracks().items():
        track, reference, language = item[:3]
        clips[name] = (track.audio if track is not None else item[3], track, reference, language)
    audio_s = sum(len(c[0]) for c in clips.values()) / SAMPLE_RATE
    warm = load("sb_spk1_snt1.wav")
    for tx in loaded.values():
        tx.transcribe(warm)
    seconds = {name: [] for name in names}
    quality: dict[str, dict] = {}
    load_before = os.getloadavg()
    for number in range(args.rounds):
        order = names if number % 2 == 0 else names[::-1]
        for name in order:
            started = time.perf_counter()
            texts = {clip: loaded[name].transcribe(audio) for clip, (audio, *_rest) in clips.items()}
            seconds[name].append(time.perf_counter() - started)
            if name in quality:
                continue
            row = {}
            for clip, (text, result) in texts.items():
                _, track, reference, language = clips[clip]
                row[clip] = round(error_rate(reference, text, language), 3)
                if track is not None and result is not None:
                    row.setdefault("sentences", {})[clip] = sentence_words(track, result, refs, language)
                if clip == "english":
                    row["dropped"] = (
                        len(dropped_sentences(track, result, refs))
                        if result is not None
                        else plain_dropped(track, text)
                    )
            quality[name] = row
    load_after = os.getloadavg()
    for name, shuffled in shuffled_quality(loaded, args.shuffled).items():
        quality[name]["shuffled"] = {layout: result[:2] for layout, result in shuffled.items()}
        for layout, (*_, sentences) in shuffled.items():
            quality[name].setdefault("sentences", {})[layout] = sentences
    plain = float(np.mean(seconds["plain"])) if "plain" in seconds else None
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": [load_before, load_after],
        "cpus": os.cpu_count(),
        "audio_s": round(audio_s, 1),
        "rounds": args.rounds,
        "settings": {
            name: {
                "seconds": [round(s, 1) for s in seconds[name]],
                "s_per_audio_min": round(float(np.mean(seconds[name])) / audio_s * 60, 2),
                "ratio_to_plain": round(float(np.mean(seconds[name])) / plain, 2) if plain else None,
                **quality[name],
            }
            for name in names
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"{report['audio_s']} s of audio, {args.rounds} rounds, load {load_before} -> {load_after}")
    print("| setting | en WER | dropped (of 10) | es WER | pt WER | zh CER | s / audio min | × plain |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in report["settings"].items():
        print(
            f"| {name} | {r['english']} | {r['dropped']} | {r['spanish']} | {r['portuguese']} | {r['mandarin']} "
            f"| {r['s_per_audio_min']} | {r['ratio_to_plain']} |"
        )
    for name, r in report["settings"].items():
        for track, (wer, dropped) in r.get("shuffled", {}).items():
            print(f"{name} {track}: WER {wer}, dropped {dropped}")
    if args.sentences:
        for name, r in report["settings"].items():
            for track, rows in r.get("sentences", {}).items():
                for row in rows:
                    if row["error"]:
                        print(f"{name} {track} {row['file']} {row['error']}: {row['reference']!r} -> {row['text']!r}")
    return 0


def sentence_words(track, result, refs: dict, language: str) -> list[dict]:
    """Each sentence of `track` beside the decoded words whose middle falls in its time span, with its error
    rate: errors at a chunk's edge (the pipeline's) apart from those inside a sentence (the model's)."""
    words = [w for s in result.segments for w in s.words]
    rows = []
    for name, start, end in track.sentences:
        text = " ".join(w.word.strip() for w in words if start <= (w.start_s + w.end_s) / 2 <= end)
        reference = refs[name]["text"]
        error = round(error_rate(reference, text, language), 3)
        rows.append({"file": name, "reference": reference, "text": text, "error": error})
    return rows


def shuffled_quality(loaded: dict, count: int) -> dict[str, dict[str, tuple]]:
    """Per project setting: (English WER, sentences dropped, `sentence_words`) on `count` shuffled layouts."""
    from benchmarks.real_media import shuffled_tracks

    if not count:
        return {}
    refs = references()
    layouts = {name: speech_track(parts) for name, parts in shuffled_tracks(count).items()}
    out: dict[str, dict[str, tuple]] = {}
    for name, transcriber in loaded.items():
        if isinstance(transcriber, Plain):
            continue
        for layout, track in layouts.items():
            _, result = transcriber.transcribe(track.audio)
            reference = " ".join(refs[n]["text"] for n, _, _ in track.sentences)
            wer = round(error_rate(reference, result.text, "en"), 3)
            dropped = len(dropped_sentences(track, result, refs))
            out.setdefault(name, {})[layout] = (wer, dropped, sentence_words(track, result, refs, "en"))
    return out


def plain_dropped(track, text: str) -> int:
    """Without word timestamps: sentences whose reference words are mostly missing from the text."""
    from benchmarks.real_media import normalise

    said = set(normalise(text, "en").split())
    refs = references()
    dropped = 0
    for name, _, _ in track.sentences:
        words = normalise(refs[name]["text"], "en").split()
        if sum(w in said for w in words) < 0.5 * len(words):
            dropped += 1
    return dropped


if __name__ == "__main__":
    raise SystemExit(main())
