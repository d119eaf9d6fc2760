"""English for every analyst: what `WHISPER_TRANSLATE` costs and how good its English is (issue 27).

    PYTHONPATH=. .venv/bin/python -m benchmarks.speech_translate [--rounds 2] [--beams 5,1]
        [--first-pass "beam 5,beam 5 in context"]

Quality: every real non-English clip of `data/real/speech` (FLEURS Spanish ×3 and Portuguese ×3, three
Mandarin clips) transcribed and translated by `base` with the defaults, once per setting (below),
and the English scored against `ENGLISH_REFERENCES` per language: chrF (sacrebleu, corpus level) and word
recall (share of the reference's words found, after Whisper's English normaliser). Those references are
this benchmark's own translations of the clips' reference transcripts, not FLoRes: the FLEURS clips here
have no English twin (their sentence ids are not the English clips'), and no package on PyPI ships the
FLoRes / FLEURS sentences (`fleurs-ds` downloads them from a hub at run time). Scored twice: what Whisper
wrote, and what `text_en` keeps (translated stretches that `whisper_translate.untrusted_translation`
rejects count as empty).

Settings: translation off; on, the spans translated anew at each `--beams` size (the default path); on,
translated on the first pass's encoder output (WHISPER_TRANSLATE_FIRST_PASS) for each `--first-pass`
variant: 'beam N' (the chunks' translation beam), 'beam N in context' (each chunk after the clip's
previous chunk's English as Whisper's previous-text prompt).

Cost: the non-English tracks (three Spanish sentences, three Portuguese, the three Mandarin clips, each
laid end to end) transcribed with every setting in one process, the order rotated every round; seconds
(wall clock, and CPU time of all the process's threads, which other work on a shared machine moves less)
summed over the tracks, mean over the rounds. The extra is what translation adds to transcription time on
non-English speech (`WHISPER_TRANSLATE`'s budget: 30 %).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from benchmarks.real_media import REPO, SPEECH, load, normalise, references, speech_track
from benchmarks.speech_cost import PORTUGUESE, SPANISH

# The clips' reference transcripts in English, translated for this benchmark (not FLoRes / FLEURS).
ENGLISH_REFERENCES = {
    "fleurs-es-000.ogg": "Travellers are strongly advised to inform themselves of any risk of extreme weather in "
    "the area they are visiting, since it may affect their travel plans.",
    "fleurs-es-001.ogg": 'The proper use of blogs "can empower students to become more analytical and critical; '
    "by responding actively to internet content, they can define their positions in the context of others' "
    'writings as well as set out their own perspectives on specific topics" (Oravec, 2002).',
    "fleurs-es-002.ogg": "So many people gathered that not everyone could get into the funeral in Saint Peter's "
    "Square.",
    "fleurs-pt-000.ogg": "According to reports, he was in his twenties. In a statement, Bieber said that "
    '"although I was neither present nor directly involved in this tragic incident, my thoughts and prayers '
    'are with the family of the victim."',
    "fleurs-pt-001.ogg": "Built by the Egyptians in the third century BC, the Great Pyramid is one of many large "
    "pyramid structures built to honour dead pharaohs.",
    "fleurs-pt-002.ogg": "Giancarlo Fisichella lost control of his car and ended the race right after the start.",
    "aishell_BAC009S0724W0121.wav": "The Guangzhou Real Estate Agency Association analyses",
    "wenet_client_mid.wav": "University student who used a loophole to eat KFC for free is sentenced",
    "wenet_client_long.wav": "Large-scale infections at Foxconn's factory in India; the factory's output has now "
    "fallen by more than 50%",
}
MANDARIN = tuple((name, 0.6) for name in ENGLISH_REFERENCES if not name.startswith("fleurs"))
LANGUAGES = {"es": "Spanish", "pt": "Portuguese", "zh": "Mandarin"}


def recall(reference: str, hypothesis: str) -> float:
    ref, hyp = normalise(reference, "en").split(), normalise(hypothesis, "en").split()
    left = list(hyp)
    found = 0
    for word in ref:
        if word in left:
            left.remove(word)
            found += 1
    return found / max(1, len(ref))


def with_translation_beam(transcriber, beam_size: int):
    """`transcriber` translating with `beam_size` (its transcription keeps its own) where it translates anew;
    the chunks the first pass translates on their encoder output use the transcription's beam."""
    from wandr_pipeline.engines import whisper

    translate = whisper.translate_pieces

    def complete(*args, **kwargs):
        whisper.translate_pieces = lambda *a, **k: translate(*a, **{**k, "beam_size": beam_size})
        try:
            return type(transcriber).complete(transcriber, *args, **kwargs)
        finally:
            whisper.translate_pieces = translate

    transcriber.complete = complete
    return transcriber


def first_pass(variant: str):
    """`base` translating on the first pass's encoder output (WHISPER_TRANSLATE_FIRST_PASS), `variant`
    'beam N' (the chunks' translation beam) with ' in context' when each chunk is prompted with the clip's
    previous chunk's English."""
    from benchmarks.real_media import transcriber

    loaded = with_translation_beam(
        transcriber(model="base", translate=True, translate_first_pass=True), int(variant.split()[1])
    )
    loaded.pipeline.translate_beam_size = int(variant.split()[1])
    loaded.pipeline.translate_in_context = variant.endswith("in context")
    return loaded


class Spy:
    """The translation pipeline, keeping every translated segment's text (the kept and the left out)."""

    def __init__(self, pipeline):
        self.pipeline, self.segments = pipeline, []

    def transcribe(self, audio, **options):
        segments, info = self.pipeline.transcribe(audio, **options)
        segments = list(segments)
        if options.get("task") == "translate":
            self.segments += segments
        return segments, info


def quality(transcriber, refs: dict) -> dict:
    """Per clip: transcript, what Whisper translated, what `text_en` keeps; per language: chrF and recall."""
    import sacrebleu

    plain = transcriber._translation_pipeline()
    clips, scores = {}, {}
    for name in ENGLISH_REFERENCES:
        spy = Spy(plain)
        transcriber._translation_pipeline_loaded = spy
        try:
            result = transcriber.transcribe(load(name))
        finally:
            transcriber._translation_pipeline_loaded = plain
        # the first pass's chunks translated on their encoder output (by seek), then any translated anew
        chunks = [transcriber.pipeline.english[seek] for seek in sorted(transcriber.pipeline.english)]
        pieces = [(c.text, c.avg_logprob, c.compression_ratio) for c in chunks]
        pieces += [(s.text, s.avg_logprob, s.compression_ratio) for s in spy.segments]
        written = " ".join(text.strip() for text, _, _ in pieces if text.strip())
        clips[name] = {
            "language": refs[name]["language"],
            "transcript": result.text,
            "whisper_english": written,
            "text_en": result.text_en,
            "left_out": result.text_en_left_out,
            "signals": [(round(logprob, 2), round(ratio, 2)) for _, logprob, ratio in pieces],
            "translated_anew": len(spy.segments),
        }
    for language in LANGUAGES:
        mine = {n: c for n, c in clips.items() if c["language"] == language}
        reference = [ENGLISH_REFERENCES[n] for n in mine]
        written = [c["whisper_english"] for c in mine.values()]
        kept = [c["text_en"] or "" for c in mine.values()]
        scores[language] = {
            "clips": len(mine),
            "chrf_written": round(sacrebleu.corpus_chrf(written, [reference]).score, 1),
            "recall_written": round(sum(map(recall, reference, written)) / len(mine), 3),
            "chrf_kept": round(sacrebleu.corpus_chrf(kept, [reference]).score, 1),
            "recall_kept": round(sum(map(recall, reference, kept)) / len(mine), 3),
            "kept": sum(bool(c["text_en"]) for c in mine.values()),
        }
    return {"scores": scores, "clips": clips}


def encoder_decoder_split(rounds: int = 3) -> list[dict]:
    """Where a translation's time goes: `base` encoding the first 30 s window of the Spanish track, then
    decoding it with the translate task at beam 5 and at beam 1, `rounds` times."""
    import numpy as np
    from faster_whisper.tokenizer import Tokenizer

    from benchmarks.real_media import transcriber

    model = transcriber(model="base").model
    audio = speech_track(SPANISH).audio[: 30 * 16_000]
    frames = model.feature_extractor.nb_max_frames
    features = model.feature_extractor(audio)[:, :frames]
    features = np.pad(features, ((0, 0), (0, frames - features.shape[1])))[None].astype(np.float32)
    prompt = model.get_prompt(
        Tokenizer(model.hf_tokenizer, True, task="translate", language="es"), [], without_timestamps=True
    )
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        encoded = model.encode(features)
        row = {"encode_s": round(time.perf_counter() - started, 2)}
        for beam in (5, 1):
            started = time.perf_counter()
            result = model.model.generate(encoded, [prompt], beam_size=beam, max_length=224)
            row[f"decode_beam{beam}_s"] = round(time.perf_counter() - started, 2)
            row[f"tokens_beam{beam}"] = len(result[0].sequences_ids[0])
        out.append(row)
        print(row, flush=True)
    return out


def main(argv=None) -> int:
    from benchmarks.real_media import transcriber

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--beams", default="5,1", help="translation beam sizes to compare")
    parser.add_argument(
        "--first-pass",
        default="beam 5,beam 5 in context",
        help="first-pass translation variants to compare: 'beam N' and 'beam N in context' (see first_pass)",
    )
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--skip-quality", action="store_true", help="only the cost (the quality is deterministic)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "speech_translate.json"))
    parser.add_argument(
        "--split", action="store_true", help="only time encoder against decoder (see encoder_decoder_split)"
    )
    args = parser.parse_args(argv)
    if args.split:
        print(f"load {os.getloadavg()}")
        encoder_decoder_split()
        return 0
    assert all((SPEECH / name).exists() for name in ENGLISH_REFERENCES)
    refs = references()
    beams = [int(b) for b in args.beams.split(",")] if args.beams else []
    settings = {"off": transcriber(model="base")}
    for beam in beams:
        settings[f"on, beam {beam}"] = with_translation_beam(transcriber(model="base", translate=True), beam)
    # the chunks translated on the first pass's encoder output (WHISPER_TRANSLATE_FIRST_PASS)
    for variant in args.first_pass.split(","):
        if variant:
            settings[f"on, first pass {variant}"] = first_pass(variant)
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load": [os.getloadavg()]}
    if not args.skip_quality:
        report["quality"] = {label: quality(tx, refs) for label, tx in settings.items() if label != "off"}
    report["load"].append(os.getloadavg())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False))  # the quality, before the longer cost part
    if not args.skip_cost:
        tracks = {
            "es": speech_track(SPANISH).audio,
            "pt": speech_track(PORTUGUESE).audio,
            "zh": speech_track(MANDARIN).audio,
        }
        warm = load("fleurs-es-002.ogg")
        for tx in settings.values():
            tx.transcribe(warm)
        seconds = {label: [] for label in settings}
        cpu_seconds = {label: [] for label in settings}  # all threads' CPU time: less moved by others' load
        labels = list(settings)
        for number in range(args.rounds):
            for label in labels[number % len(labels) :] + labels[: number % len(labels)]:
                started, cpu_started = time.perf_counter(), time.process_time()
                for audio in tracks.values():
                    settings[label].transcribe(audio)
                seconds[label].append(round(time.perf_counter() - started, 1))
                cpu_seconds[label].append(round(time.process_time() - cpu_started, 1))
            report["load"].append(os.getloadavg())
            print(
                f"round {number + 1}: seconds { ({label: s[-1] for label, s in seconds.items()}) }, CPU seconds "
                f"{ ({label: s[-1] for label, s in cpu_seconds.items()}) }, load {os.getloadavg()}",
                flush=True,
            )
        mean = {label: sum(s) / len(s) for label, s in seconds.items()}
        report["seconds"] = seconds
        report["extra"] = {label: round(mean[label] / mean["off"] - 1, 3) for label in settings if label != "off"}
        cpu = {label: sum(s) / len(s) for label, s in cpu_seconds.items()}
        report["cpu_seconds"] = cpu_seconds
        report["extra_cpu"] = {label: round(cpu[label] / cpu["off"] - 1, 3) for label in settings if label != "off"}
        report["audio_s"] = round(sum(len(a) for a in tracks.values()) / 16_000, 1)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(f"{report['date']}, load (1/5/15 min) {report['load']}")
    print("| translation | language | chrF (Whisper's English) | word recall | chrF (text_en kept) | recall | kept |")
    print("|---|---|---|---|---|---|---|")
    for label, q in report.get("quality", {}).items():
        for language, s in q["scores"].items():
            print(
                f"| {label} | {LANGUAGES[language]} ({s['clips']}) | {s['chrf_written']} | {s['recall_written']} | "
                f"{s['chrf_kept']} | {s['recall_kept']} | {s['kept']} of {s['clips']} |"
            )
    if "seconds" in report:
        print(f"seconds per round over {report['audio_s']} s of audio: {report['seconds']}; extra: {report['extra']}")
        print(f"CPU seconds per round: {report['cpu_seconds']}; extra: {report['extra_cpu']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
