"""Can `base` translate Mandarin with other decoding? The translate task's decoding choices on every real
Spanish, Portuguese and Mandarin clip (issue 27, 27-H).

    PYTHONPATH=. .venv/bin/python -m benchmarks.speech_translate_decoding [es,pt,zh]
    # -> benchmarks/out/speech_translate_decoding.json

Each clip is translated whole, as one span (the clips are under 30 s), by faster-whisper's sequential
decoder on `base` with one decoding choice changed at a time: timestamps, a prompt (the clip's own
transcript as `base` wrote it, or a neutral English sentence: no reference text), beam 10 with patience 2,
Whisper's temperature fallback (0 to 1, log-probability -1 and compression ratio 2.4 thresholds; all failing,
the candidate with the best log-probability), the transcribe task with the English token, the language
token not forced. Scored like `benchmarks.speech_translate` against its `ENGLISH_REFERENCES` (chrF,
recall), "written" and "kept" (after `whisper_translate.untrusted_translation`). Sampling is seeded.
"""

import json
import os
import sys
import time

import ctranslate2
import sacrebleu

from benchmarks.real_media import REPO, load, references, transcriber
from benchmarks.speech_translate import ENGLISH_REFERENCES, recall
from wandr_pipeline.engines.whisper_translate import untrusted_translation

NEUTRAL = "The following is an English translation of the speech."
# faster-whisper's temperature fallback with Whisper's thresholds: the best of the candidates it samples
FALLBACK = {
    "temperature": (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    "log_prob_threshold": -1.0,
    "compression_ratio_threshold": 2.4,
}


def variants(lang, own):
    base = dict(
        task="translate",
        language=lang,
        beam_size=5,
        vad_filter=False,
        condition_on_previous_text=False,
        without_timestamps=True,
        temperature=0.0,
        word_timestamps=False,
    )
    yield "as the pipeline (beam 5, language token forced, no prompt)", base
    yield "timestamps on", {**base, "without_timestamps": False}
    yield "prompt: own transcript", {**base, "initial_prompt": own}
    yield "prompt: neutral English", {**base, "initial_prompt": NEUTRAL}
    yield "beam 10 patience 2", {**base, "beam_size": 10, "patience": 2.0}
    yield "fallback T 0..1 (best_of 5)", {**base, **FALLBACK}
    yield "fallback + own prompt", {**base, "initial_prompt": own, **FALLBACK}
    yield "transcribe task, en token", {**base, "task": "transcribe", "language": "en"}
    yield (
        "transcribe task, en token, neutral prompt",
        {**base, "task": "transcribe", "language": "en", "initial_prompt": NEUTRAL},
    )
    yield "neutral prompt + fallback", {**base, "initial_prompt": NEUTRAL, **FALLBACK}
    yield "language token detected, not forced", {k: v for k, v in base.items() if k != "language"}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    only = argv[0].split(",") if argv else None
    refs = references()
    tx = transcriber(model="base")
    model = tx.model
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load": [os.getloadavg()], "clips": {}}
    for name, english in ENGLISH_REFERENCES.items():
        lang = refs[name]["language"]
        if only and lang not in only:
            continue
        audio = load(name)
        own = tx.transcribe(audio).text
        rows = {}
        for label, opts in variants(lang, own):
            ctranslate2.set_random_seed(7)
            t = time.perf_counter()
            segs, info = model.transcribe(audio, **opts)
            segs = list(segs)
            dt = time.perf_counter() - t
            text = " ".join(s.text.strip() for s in segs).strip()
            whys = [
                untrusted_translation(s.text, s.avg_logprob, s.compression_ratio, own) for s in segs if s.text.strip()
            ]
            kept = " ".join(s.text.strip() for s, w in zip([s for s in segs if s.text.strip()], whys) if w is None)
            rows[label] = dict(
                text=text,
                kept=kept,
                lp=[round(s.avg_logprob, 2) for s in segs],
                why=[w for w in whys if w],
                s=round(dt, 2),
            )
            print(name, "|", label, "|", rows[label]["lp"], "|", text[:150], "|", "KEPT" if kept else "out", flush=True)
        out["clips"][name] = dict(language=lang, transcript=own, reference=english, variants=rows)
    out["load"].append(os.getloadavg())
    labels = list(next(iter(out["clips"].values()))["variants"])
    summary = {}
    for lang in ("es", "pt", "zh"):
        mine = {n: c for n, c in out["clips"].items() if c["language"] == lang}
        if not mine:
            continue
        ref = [c["reference"] for c in mine.values()]
        for label in labels:
            w = [c["variants"][label]["text"] for c in mine.values()]
            k = [c["variants"][label]["kept"] for c in mine.values()]
            summary[f"{lang} | {label}"] = dict(
                chrf_written=round(sacrebleu.corpus_chrf(w, [ref]).score, 1),
                recall_written=round(sum(map(recall, ref, w)) / len(ref), 2),
                chrf_kept=round(sacrebleu.corpus_chrf(k, [ref]).score, 1),
                recall_kept=round(sum(map(recall, ref, k)) / len(ref), 2),
                kept=sum(bool(x) for x in k),
                s=round(sum(c["variants"][label]["s"] for c in mine.values()), 1),
            )
    out["summary"] = summary
    path = REPO / "benchmarks" / "out" / "speech_translate_decoding.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False))
    for k, v in summary.items():
        print(k, v)
    print("load", out["load"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
