#!/usr/bin/env python3
"""Generate the small sample travel clips used by the demo and the tests.

Writes into ``data/samples/`` (relative to the repository root):

* three portrait clips (720x1280, 30 fps, H.264 yuv420p + AAC mono, with
  ``+faststart``), each 8-14 s long:
  ``lisbon_pasteis.mp4``, ``kyoto_temples.mp4`` and ``mexico_city_tacos.mp4``.
  Each has synthetic English travel-vlog speech (espeak-ng, voice ``en-us``,
  ~150 wpm) padded with ~0.5 s of silence at the start and at least ~0.5 s at
  the end, 2-3 burned-in captions (white DejaVu Sans Bold on a semi-opaque
  black box, at the top third, the middle and the bottom third of the frame,
  each on screen for at least 2.5 s) over a slowly moving, hue-shifting colour
  gradient background;
* ``manifest.json``: one object per clip with the file name, the exact spoken
  text, the captions (text, start_s, end_s, position), duration_s, width,
  height and fps -- the ground truth the tests compare against.

The committed clips are usable without any of the tools below; they are needed
only to (re)generate them:

* ``espeak-ng`` (text-to-speech),
* ``ffmpeg``/``ffprobe`` built with libx264, the native AAC encoder and the
  ``drawtext`` filter (i.e. with libfreetype),
* the DejaVu fonts (Debian/Ubuntu: ``fonts-dejavu-core``).

    apt-get install -y espeak-ng ffmpeg fonts-dejavu-core
    python scripts/make_sample_clips.py [--out data/samples]

Standard library only. Re-running overwrites the outputs.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "data" / "samples"

WIDTH, HEIGHT, FPS = 720, 1280, 30
VOICE, WPM = "en-us", 150
LEAD_SILENCE_S = 0.5  # silence before the speech
MIN_TAIL_SILENCE_S = 0.5  # at least this much silence after the speech
MIN_DURATION_S, MAX_DURATION_S = 8, 14
MIN_CAPTION_S = 2.5
FONT_SIZE = 60
BOX_BORDER = 16
SIDE_MARGIN = 24  # keep the caption box this far from the frame edges

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    "/usr/local/share/fonts/DejaVuSans-Bold.ttf",
)

# Vertical centre of the caption, as a fraction of the frame height.
POSITIONS = {"top": 1 / 6, "middle": 1 / 2, "bottom": 5 / 6}

# Speech: plain English words a small ASR model can transcribe; at most one
# foreign place name per clip.  Captions: (text, position); their timing is
# derived from the clip duration (see caption_windows).
CLIPS = [
    {
        "file": "lisbon_pasteis.mp4",
        "speech": (
            "Welcome to Lisbon! This little bakery sells the best custard "
            "tarts in town. They cost two euros each. My tip: come early, "
            "before the lines get long."
        ),
        "captions": [
            ("PASTEIS DE BELEM", "top"),
            ("2 EUROS EACH", "middle"),
            ("OPEN 8AM - 11PM", "bottom"),
        ],
        # Background colours and hue drift (degrees per second).
        "colors": ("0x1d3557", "0xe76f51", "0xf4a261"),
        "hue_speed": 12,
        "seed": 11,
    },
    {
        "file": "kyoto_temples.mp4",
        "speech": (
            "Good morning from Kyoto. This temple is famous for its red "
            "gates. Entry is free, and the walk to the top takes two hours. "
            "My tip: bring water."
        ),
        "captions": [
            ("FUSHIMI INARI", "top"),
            ("FREE ENTRY", "middle"),
            ("BRING WATER", "bottom"),
        ],
        "colors": ("0x2b2d42", "0xd90429", "0x8d99ae"),
        "hue_speed": -10,
        "seed": 22,
    },
    {
        "file": "mexico_city_tacos.mp4",
        "speech": (
            "We are in Mexico City, looking for the best street tacos. Three "
            "tacos cost forty pesos. My tip: eat where the locals eat."
        ),
        "captions": [
            ("TACOS AL PASTOR", "top"),
            ("3 TACOS = 40 MXN", "bottom"),
        ],
        "colors": ("0x264653", "0x2a9d8f", "0xe9c46a"),
        "hue_speed": 15,
        "seed": 33,
    },
]


def fail(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def run(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        fail(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return proc.stdout


def check_tools() -> Path:
    for tool in ("espeak-ng", "ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            fail(f"{tool} not found on PATH (apt-get install -y espeak-ng ffmpeg)")
    filters = run(["ffmpeg", "-hide_banner", "-filters"])
    if " drawtext " not in filters:
        fail("this ffmpeg has no drawtext filter (needs to be built with libfreetype)")
    encoders = run(["ffmpeg", "-hide_banner", "-encoders"])
    if " libx264 " not in encoders:
        fail("this ffmpeg has no libx264 encoder")
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    fail("DejaVuSans-Bold.ttf not found (apt-get install -y fonts-dejavu-core)")
    raise AssertionError  # unreachable


def synthesize(text: str, wav_path: Path) -> float:
    """Speak ``text`` into ``wav_path`` with espeak-ng; return its length in s."""
    run(["espeak-ng", "-v", VOICE, "-s", str(WPM), "-w", str(wav_path), text])
    with wave.open(str(wav_path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def caption_windows(n: int, duration: int) -> list[tuple[float, float]]:
    """Spread ``n`` captions over the clip, each on screen >= MIN_CAPTION_S.

    Consecutive captions may overlap slightly on short clips; they never share
    a position, so they do not cover each other.
    """
    first, last = LEAD_SILENCE_S, duration - 0.5
    bounds = [round(first + i * (last - first) / n, 1) for i in range(n + 1)]
    windows = []
    for i in range(n):
        start = bounds[i]
        # A 0.1 s gap between consecutive captions where the clip is long
        # enough; otherwise stretch to MIN_CAPTION_S (overlapping the next).
        end = round(max(bounds[i + 1] - 0.1, start + MIN_CAPTION_S), 1)
        if end > duration - 0.2:
            fail(f"caption {i} does not fit in a {duration} s clip")
        windows.append((start, end))
    return windows


def font_size_for(text: str) -> int:
    """FONT_SIZE, shrunk when a rough width estimate would overflow the frame."""
    # Approximate DejaVu Sans Bold advance widths (in em).
    em = sum(0.35 if c == " " else 0.74 if c.isupper() or c.isdigit() else 0.65 for c in text)
    usable = WIDTH - 2 * (BOX_BORDER + SIDE_MARGIN)
    return max(36, min(FONT_SIZE, int(usable / em)))


def drawtext(textfile: Path, font: Path, size: int, position: str, start: float, end: float) -> str:
    def esc(path: Path) -> str:  # escape for a filtergraph option value
        return str(path).replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")

    y = f"h*{POSITIONS[position]:.6f}-th/2"
    return (
        f"drawtext=fontfile='{esc(font)}':textfile='{esc(textfile)}':expansion=none"
        f":fontsize={size}:fontcolor=white:box=1:boxcolor=black@0.6"
        f":boxborderw={BOX_BORDER}:x=(w-text_w)/2:y={y}"
        f":enable='between(t,{start},{end})'"
    )


def make_clip(spec: dict, font: Path, out_dir: Path, tmp: Path) -> dict:
    stem = Path(spec["file"]).stem
    wav = tmp / f"{stem}.wav"
    speech_s = synthesize(spec["speech"], wav)
    duration = math.ceil(LEAD_SILENCE_S + speech_s + MIN_TAIL_SILENCE_S)
    if not MIN_DURATION_S <= duration <= MAX_DURATION_S:
        fail(
            f"{spec['file']}: speech is {speech_s:.2f} s, clip would be {duration} s "
            f"(want {MIN_DURATION_S}-{MAX_DURATION_S} s); edit the text"
        )

    windows = caption_windows(len(spec["captions"]), duration)
    captions, filters = [], []
    c0, c1, c2 = spec["colors"]
    # Slowly rotating three-colour gradient, with a drifting hue on top.
    filters.append(
        f"gradients=s={WIDTH}x{HEIGHT}:r={FPS}:d={duration}:n=3"
        f":c0={c0}:c1={c1}:c2={c2}:speed=0.012:seed={spec['seed']}"
        f",hue=h={spec['hue_speed']}*t,format=yuv420p"
    )
    for i, ((text, position), (start, end)) in enumerate(zip(spec["captions"], windows)):
        textfile = tmp / f"{stem}_caption{i}.txt"
        textfile.write_text(text, encoding="utf-8")
        filters.append(drawtext(textfile, font, font_size_for(text), position, start, end))
        captions.append({"text": text, "start_s": start, "end_s": end, "position": position})
    video_graph = ",".join(filters) + "[v]"
    lead_ms = int(LEAD_SILENCE_S * 1000)
    audio_graph = f"[0:a]aresample=44100,pan=mono|c0=c0,adelay={lead_ms},apad,atrim=0:{duration},asetpts=N/SR/TB[a]"

    out = out_dir / spec["file"]
    run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(wav),
            "-filter_complex",
            f"{video_graph};{audio_graph}",
            "-map",
            "[v]",
            "-map",
            "[a]",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "30",
            "-pix_fmt",
            "yuv420p",
            "-r",
            str(FPS),
            "-g",
            str(2 * FPS),
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-ac",
            "1",
            "-ar",
            "44100",
            "-t",
            str(duration),
            "-movflags",
            "+faststart",
            "-map_metadata",
            "-1",
            "-fflags",
            "+bitexact",
            "-flags:v",
            "+bitexact",
            "-flags:a",
            "+bitexact",
            str(out),
        ]
    )
    print(f"wrote {out} ({duration} s, speech {speech_s:.2f} s, {out.stat().st_size} bytes)")
    return {
        "file": spec["file"],
        "speech": spec["speech"],
        "captions": captions,
        "duration_s": duration,
        "width": WIDTH,
        "height": HEIGHT,
        "fps": FPS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args()

    font = check_tools()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sample_clips_") as tmp:
        manifest = [make_clip(spec, font, args.out, Path(tmp)) for spec in CLIPS]
    manifest_path = args.out / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {manifest_path}")


if __name__ == "__main__":
    main()
