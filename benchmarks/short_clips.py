"""Single short real clips with the encoder shown the whole window or only the chunk and its margin.

`base` shown a 2-3 s sentence and the 7 s margin stopped after its first words; a batch of only short
chunks now gets the whole window (`whisper_window.FULL_WINDOW_BELOW_S`). This prints every English clip
of the real-media set (data/real/speech, and ../shared/media/real/speech for clips not copied here)
under both, with its WER after Whisper's English normaliser.

    PYTHONPATH=. .venv/bin/python -m benchmarks.short_clips
"""

from __future__ import annotations

import time

from faster_whisper.audio import decode_audio

from benchmarks.real_media import REPO, SPEECH, error_rate, references, transcriber
from wandr_pipeline.engines import whisper_window

SHARED_SPEECH = REPO.parent / "shared" / "media" / "real" / "speech"  # the same set, with clips not copied here


def main() -> int:
    refs = {name: ref for name, ref in references().items() if ref["language"] == "en" and ref.get("text")}
    tx = transcriber(model="base")
    full_below = whisper_window.FULL_WINDOW_BELOW_S
    totals = {"whole window below 5 s (now)": [], "chunk + margin always (before)": []}
    seconds = dict.fromkeys(totals, 0.0)
    for name, ref in sorted(refs.items()):
        path = next((d / name for d in (SPEECH, SHARED_SPEECH) if (d / name).exists()), None)
        if path is None:
            continue
        audio = decode_audio(str(path), sampling_rate=16_000)
        for setting, below in zip(totals, (full_below, 0.0), strict=True):
            whisper_window.FULL_WINDOW_BELOW_S = below
            start = time.perf_counter()
            text = tx.transcribe(audio).text
            seconds[setting] += time.perf_counter() - start
            wer = error_rate(ref["text"], text, "en")
            totals[setting].append(wer)
            print(f"{name:32} {len(audio) / 16_000:5.1f} s  {setting:32} {wer:.3f}  {text}")
        whisper_window.FULL_WINDOW_BELOW_S = full_below
    for setting, wers in totals.items():
        print(f"{setting}: mean WER {sum(wers) / len(wers):.3f} over {len(wers)} clips, {seconds[setting]:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
