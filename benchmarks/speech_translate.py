"""English for every analyst: what `WHISPER_TRANSLATE` costs and how good its English is (issue 27).

    PYTHONPATH=. .venv/bin/python -m benchmarks.speech_translate [--rounds 2]

Cost: the real non-English tracks of `benchmarks.speech_cost` (three FLEURS Spanish sentences, three
Portuguese, AISHELL Mandarin) transcribed by `base` with the defaults, with and without translation,
alternating (off, on, on, off, ...), seconds summed over the tracks; the ratio is what translation adds
to transcription time on non-English speech (the setting's budget: 30 %).

Quality: the FLEURS clips here have no English twin in `data/real/` (their sentence ids are not the
English clips'), so the English references come from the TTS sample clips instead: their English
script (`data/samples/manifest.json`) translated to Spanish and Portuguese by hand below, read by
espeak-ng, transcribed and translated back by Whisper, scored against the English script: WER after
Whisper's English normaliser (a paraphrase counts as errors) and word recall (share of the reference's
words found). The real clips' translations are printed for reading.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from benchmarks.real_media import REPO, error_rate, load, normalise
from benchmarks.speech_cost import PORTUGUESE, SPANISH
from benchmarks.speech_trust import espeak

# The sample clips' English scripts in Spanish and Portuguese (translated for this benchmark).
TRANSLATED_SCRIPTS = {
    "lisbon_pasteis.mp4": {
        "es": "¡Bienvenidos a Lisboa! Esta pequeña panadería vende los mejores pasteles de nata de la ciudad. "
        "Cuestan dos euros cada uno. Mi consejo: vengan temprano, antes de que las filas se alarguen.",
        "pt": "Bem-vindos a Lisboa! Esta pequena padaria vende os melhores pastéis de nata da cidade. "
        "Custam dois euros cada. A minha dica: venham cedo, antes que as filas fiquem longas.",
    },
    "kyoto_temples.mp4": {
        "es": "Buenos días desde Kioto. Este templo es famoso por sus puertas rojas. La entrada es gratuita, "
        "y la caminata hasta la cima dura dos horas. Mi consejo: lleven agua.",
        "pt": "Bom dia de Quioto. Este templo é famoso pelos seus portões vermelhos. A entrada é gratuita, "
        "e a caminhada até ao topo leva duas horas. A minha dica: levem água.",
    },
    "mexico_city_tacos.mp4": {},
}


def recall(reference: str, hypothesis: str) -> float:
    ref, hyp = normalise(reference, "en").split(), normalise(hypothesis, "en").split()
    left = list(hyp)
    found = 0
    for word in ref:
        if word in left:
            left.remove(word)
            found += 1
    return found / max(1, len(ref))


def main(argv=None) -> int:
    from benchmarks.real_media import speech_track, transcriber

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "speech_translate.json"))
    args = parser.parse_args(argv)
    plain, translating = transcriber(model="base"), transcriber(model="base", translate=True)
    clips = {
        "spanish": speech_track(SPANISH).audio,
        "portuguese": speech_track(PORTUGUESE).audio,
        "mandarin": load("aishell_BAC009S0724W0121.wav"),
    }
    warm = load("fleurs-es-002.ogg")
    plain.transcribe(warm), translating.transcribe(warm)
    seconds = {"off": [], "on": []}
    texts = {}
    load_before = os.getloadavg()
    for number in range(args.rounds):
        order = (("off", plain), ("on", translating)) if number % 2 == 0 else (("on", translating), ("off", plain))
        for label, tx in order:
            started = time.perf_counter()
            results = {name: tx.transcribe(audio) for name, audio in clips.items()}
            seconds[label].append(time.perf_counter() - started)
            if label == "on":
                texts = {name: (r.text, r.text_en) for name, r in results.items()}
    load_after = os.getloadavg()
    manifest = {item["file"]: item for item in json.loads((REPO / "data" / "samples" / "manifest.json").read_text())}
    quality = {}
    for clip, scripts in TRANSLATED_SCRIPTS.items():
        for language, script in scripts.items():
            audio = espeak(script, language)
            if audio is None:
                continue
            result = translating.transcribe(audio)
            reference = manifest[clip]["speech"]
            english = result.text_en or ""
            quality[f"{clip} ({language}, espeak-ng)"] = {
                "detected": result.language,
                "transcript": result.text,
                "english": english,
                "wer": round(error_rate(reference, english, "en"), 3),
                "recall": round(recall(reference, english), 3),
            }
    off, on = sum(seconds["off"]) / args.rounds, sum(seconds["on"]) / args.rounds
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": [load_before, load_after],
        "seconds": seconds,
        "extra": round(on / off - 1, 3),
        "real_clips": texts,
        "quality": quality,
    }
    with open(args.out, "w") as handle:
        json.dump(report, handle, indent=1, ensure_ascii=False)
    print(
        f"transcription without / with translation: {off:.1f} s / {on:.1f} s (+{on / off - 1:.0%}), "
        f"load {load_before} -> {load_after}"
    )
    for name, (text, english) in texts.items():
        print(f"- {name}: {text[:100]!r}\n  -> {english!r}")
    print("| clip | WER vs English script | word recall | Whisper's English |")
    print("|---|---|---|---|")
    for name, q in quality.items():
        print(f"| {name} | {q['wer']} | {q['recall']} | {q['english']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
