#!/usr/bin/env python3
"""Generate the caption quality set: short portrait travel clips with known burned-in captions.

Each clip has captions that appear and change at known times, in several screen positions, fonts,
sizes and styles (boxed, outlined, shadowed, dark-on-light, small location tags, two-line blocks,
back-to-back replacements in the same place, short 1.2 s flashes), drawn over moving backgrounds
(a slowly panned textured "photo", a steady zoom into one, drifting gradients, a shaking
hand-held pan). Each clip also speaks a short travel script (espeak-ng) that names the places the captions
spell, for the caption-hint transcription experiment.

Writes `<out>/<name>.mp4` (540x960, 30 fps, H.264 + AAC mono) and `<out>/manifest.json`, the ground
truth: for every clip its captions (text, start_s, end_s, box position, style, font, size), the
spoken text, and the place names in it.

Tools (only to generate; the benchmark reads the files; `make benchmark-tools` installs them):
    apt-get install -y espeak-ng ffmpeg fonts-dejavu-core fonts-liberation fonts-lato \
        fonts-open-sans fonts-freefont-ttf fonts-roboto-unhinted
    .venv/bin/python benchmarks/make_caption_set.py [--out benchmarks/out/caption_set]

Deterministic apart from encoder versions. Re-running overwrites the outputs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from make_sample_clips import fail, run, synthesize  # noqa: E402  (same tools, same espeak voice and speed)

DEFAULT_OUT = REPO / "benchmarks" / "out" / "caption_set"
WIDTH, HEIGHT, FPS = 540, 960, 30
SIDE_MARGIN = 26

FONTS = {
    "dejavu-bold": "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "dejavu": "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "liberation-sans-bold": "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "liberation-serif-bold": "/usr/share/fonts/truetype/liberation/LiberationSerif-Bold.ttf",
    "lato-black": "/usr/share/fonts/truetype/lato/Lato-Black.ttf",
    "lato-regular": "/usr/share/fonts/truetype/lato/Lato-Regular.ttf",
    "opensans-extrabold": "/usr/share/fonts/truetype/open-sans/OpenSans-ExtraBold.ttf",
    "opensans-condbold": "/usr/share/fonts/truetype/open-sans/OpenSans-CondBold.ttf",
    "freeserif-bold": "/usr/share/fonts/truetype/freefont/FreeSerifBold.ttf",
    "roboto-condensed-bold": "/usr/share/fonts/truetype/roboto/unhinted/RobotoCondensed-Bold.ttf",
}

# drawtext options per caption style
STYLES = {
    "box": "fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=14",
    "outline": "fontcolor=white:borderw=3:bordercolor=black",
    "shadow": "fontcolor=yellow:shadowcolor=black@0.85:shadowx=3:shadowy=3",
    "whitebox": "fontcolor=black:box=1:boxcolor=white@0.92:boxborderw=12",
    "plain": "fontcolor=white:borderw=1:bordercolor=black@0.5",
    "redbox": "fontcolor=white:box=1:boxcolor=0xd62828@0.9:boxborderw=12",
}


@dataclass
class Cap:
    text: str
    start: float
    end: float
    y: float  # vertical centre, fraction of the height
    style: str = "box"
    font: str = "dejavu-bold"
    size: int = 44
    align: str = "center"  # center | left | right


# The clips (30-36 s). Captions hold 6-11 s like the key-fact captions of travel clips (place names,
# addresses, prices); times are off the 1 s sampling grid; some change back to back in the same place
# and style, some overlap in different places, three flash for only 1.2 s, two tags stay throughout.
CLIPS: list[dict] = [
    {
        "name": "lisbon_belem",
        "background": "pan",
        "seed": 1,
        "duration": 36,
        "speech": (
            "Welcome back to Lisbon. Today we are in Belem, to try the custard tarts at Pasteis de Belem. "
            "The line moves fast, and one tart costs one euro forty. After that, walk next door to the "
            "Jeronimos Monastery. It opens at ten."
        ),
        "names": ["Lisbon", "Belem", "Pasteis de Belem", "Jeronimos"],
        "captions": [
            Cap("LISBON, PORTUGAL", 0.0, 36.0, 0.06, "outline", "liberation-sans-bold", 26, "left"),
            Cap("PASTÉIS DE BELÉM", 1.3, 9.6, 0.45, "box", "dejavu-bold", 48),
            Cap("Rua de Belém 84-92", 10.2, 16.8, 0.80, "whitebox", "lato-black", 36),
            Cap("1,40 EUR PER TART", 17.3, 23.5, 0.45, "outline", "opensans-extrabold", 44),
            Cap("MOSTEIRO DOS", 24.2, 33.8, 0.42, "box", "dejavu-bold", 46),
            Cap("JERÓNIMOS", 24.2, 33.8, 0.50, "box", "dejavu-bold", 46),
        ],
    },
    {
        "name": "kyoto_inari",
        "background": "gradients",
        "seed": 2,
        "duration": 32,
        "speech": (
            "Good morning from Kyoto. We start at Fushimi Inari Taisha before sunrise, when the red gates "
            "are empty. The shrine is open all day and night. Later we take the train to Arashiyama for "
            "the bamboo grove. Entry to the grove is free."
        ),
        "names": ["Kyoto", "Fushimi Inari Taisha", "Arashiyama"],
        "captions": [
            Cap("FUSHIMI INARI TAISHA", 0.6, 9.3, 0.20, "outline", "lato-black", 44),
            Cap("OPEN 24 HOURS", 9.6, 10.8, 0.82, "shadow", "liberation-sans-bold", 40),  # a 1.2 s flash
            Cap("Arashiyama Bamboo Grove", 12.4, 22.2, 0.50, "whitebox", "opensans-extrabold", 32),
            Cap("FREE ENTRY", 22.7, 31.4, 0.82, "box", "dejavu-bold", 50),
        ],
    },
    {
        "name": "rome_food",
        "background": "shake",
        "seed": 3,
        "duration": 36,
        "speech": (
            "Three things you have to eat in Rome. First, cacio e pepe in Trastevere. Second, suppli, "
            "fried rice balls with mozzarella. Third, a maritozzo for breakfast at Roscioli."
        ),
        "names": ["Rome", "Trastevere", "suppli", "maritozzo", "Roscioli", "cacio e pepe"],
        "captions": [
            Cap("3 THINGS TO EAT IN ROME", 0.4, 7.6, 0.30, "redbox", "roboto-condensed-bold", 42),
            # back to back, same place, same style: only the letters change
            Cap("1. CACIO E PEPE", 7.6, 16.3, 0.30, "redbox", "roboto-condensed-bold", 42),
            Cap("2. SUPPLÌ", 16.3, 24.4, 0.30, "redbox", "roboto-condensed-bold", 42),
            Cap("3. MARITOZZO", 24.4, 35.6, 0.30, "redbox", "roboto-condensed-bold", 42),
            Cap("Trastevere", 9.4, 16.1, 0.74, "plain", "lato-regular", 34),
            Cap("Roscioli Caffè", 26.3, 34.7, 0.74, "plain", "lato-regular", 34),
        ],
    },
    {
        "name": "mexico_chapultepec",
        "background": "zoom",
        "seed": 4,
        "duration": 30,
        "speech": (
            "This is Chapultepec Park in Mexico City, bigger than Central Park. Climb up to Chapultepec "
            "Castle for the view. Tickets are ninety pesos, and it is closed on Mondays."
        ),
        "names": ["Chapultepec", "Mexico City", "Chapultepec Castle"],
        "captions": [
            Cap("BOSQUE DE CHAPULTEPEC", 0.8, 10.4, 0.15, "box", "opensans-condbold", 44),
            Cap("Castillo de Chapultepec", 10.4, 19.2, 0.15, "box", "opensans-condbold", 40),
            Cap("90 MXN", 13.3, 19.2, 0.55, "shadow", "dejavu-bold", 60),
            Cap("CLOSED ON MONDAYS", 20.1, 29.5, 0.85, "whitebox", "liberation-sans-bold", 36),
        ],
    },
    {
        "name": "santorini_oia",
        "background": "pan",
        "seed": 5,
        "duration": 32,
        "speech": (
            "Sunset in Oia, on Santorini. Get to the castle ruins an hour early for a spot. "
            "Then dinner at Ammoudi Bay, down three hundred steps. Fresh fish, around twenty five euros."
        ),
        "names": ["Oia", "Santorini", "Ammoudi"],
        "captions": [
            Cap("OIA, SANTORINI", 0.3, 10.6, 0.50, "outline", "freeserif-bold", 58),
            Cap("arrive 1 hour early", 3.4, 10.6, 0.62, "plain", "lato-regular", 30),
            Cap("AMMOUDI BAY", 11.5, 21.2, 0.25, "whitebox", "lato-black", 46),
            Cap("300 steps down", 11.5, 21.2, 0.33, "whitebox", "lato-black", 30),
            Cap("~25 EUR / PERSON", 21.8, 23.0, 0.70, "box", "dejavu-bold", 40),  # a 1.2 s flash
            Cap("SAVE THIS FOR LATER", 26.0, 31.6, 0.85, "redbox", "dejavu-bold", 36),
        ],
    },
    {
        "name": "hallstatt_day",
        "background": "gradients",
        "seed": 6,
        "duration": 36,
        "speech": (
            "A day trip to Hallstatt from Salzburg. The bus takes about two hours. Ride the funicular "
            "up to the Skywalk, then take the ferry across the lake to the train station."
        ),
        "names": ["Hallstatt", "Salzburg", "Skywalk"],
        "captions": [
            Cap("HALLSTATT, AUSTRIA", 0.0, 36.0, 0.05, "plain", "dejavu-bold", 24, "right"),
            Cap("SALZBURG → HALLSTATT", 1.1, 9.6, 0.40, "box", "lato-black", 40),
            Cap("Bus 150 · 2 hours", 9.9, 16.4, 0.40, "box", "lato-black", 40),
            Cap("Welterbeblick Skywalk", 17.2, 26.4, 0.86, "shadow", "liberation-serif-bold", 38),
            Cap("FERRY: 3 EUR", 27.1, 35.7, 0.50, "outline", "opensans-extrabold", 48),
        ],
    },
    {
        "name": "barcelona_gaudi",
        "background": "shake",
        "seed": 7,
        "duration": 34,
        "speech": (
            "Barcelona in one day. Book the Sagrada Familia online, the tickets sell out. Then walk "
            "to Casa Batllo on Passeig de Gracia. End the day at Park Guell for the sunset."
        ),
        "names": ["Barcelona", "Sagrada Familia", "Casa Batllo", "Passeig de Gracia", "Park Guell"],
        "captions": [
            Cap("BARCELONA IN 1 DAY", 0.5, 6.8, 0.50, "whitebox", "opensans-extrabold", 44),
            Cap("SAGRADA FAMÍLIA", 7.3, 15.6, 0.20, "outline", "dejavu-bold", 46),
            Cap("book online!", 9.4, 15.6, 0.27, "shadow", "lato-black", 34),
            Cap("Casa Batlló", 16.1, 23.7, 0.78, "box", "liberation-serif-bold", 48),
            Cap("Passeig de Gràcia 43", 16.1, 23.7, 0.85, "box", "liberation-sans-bold", 30),
            Cap("PARK GÜELL", 24.4, 33.5, 0.50, "redbox", "lato-black", 52),
        ],
    },
    {
        "name": "marrakech_souk",
        "background": "zoom",
        "seed": 8,
        "duration": 30,
        "speech": (
            "Marrakech at night. The main square, Jemaa el Fna, fills up with food stalls after dark. "
            "Try the snail soup at stall fourteen. Then get lost in the souks."
        ),
        "names": ["Marrakech", "Jemaa el Fna"],
        "captions": [
            Cap("MARRAKECH", 0.4, 7.2, 0.45, "outline", "lato-black", 64),
            Cap("JEMAA EL-FNA", 7.2, 17.3, 0.45, "outline", "lato-black", 56),
            Cap("stall #14", 11.2, 17.3, 0.55, "shadow", "dejavu-bold", 36),
            Cap("GET LOST IN THE SOUKS", 19.4, 29.6, 0.80, "box", "roboto-condensed-bold", 40),
        ],
    },
    {
        "name": "tokyo_shibuya",
        "background": "pan",
        "seed": 9,
        "duration": 30,
        "speech": (
            "Tokyo tip. The best view of the Shibuya crossing is from Shibuya Sky. Book the sunset slot, "
            "it costs about two thousand five hundred yen. Then walk to Harajuku for crepes."
        ),
        "names": ["Tokyo", "Shibuya", "Shibuya Sky", "Harajuku"],
        "captions": [
            Cap("SHIBUYA SKY", 0.7, 12.2, 0.12, "whitebox", "dejavu-bold", 50),
            Cap("sunset slot", 2.3, 3.5, 0.60, "plain", "dejavu", 32),  # a 1.2 s flash
            Cap("¥2,500", 5.6, 12.2, 0.60, "shadow", "opensans-extrabold", 56),
            Cap("HARAJUKU", 13.1, 21.6, 0.50, "box", "freeserif-bold", 60),
            Cap("Takeshita Street", 22.2, 29.7, 0.80, "outline", "opensans-condbold", 40),
        ],
    },
    {
        "name": "copenhagen_nyhavn",
        "background": "shake",
        "seed": 10,
        "duration": 32,
        "speech": (
            "Copenhagen on a budget. Walk along Nyhavn for the colourful houses. Grab a hot dog, about "
            "forty kroner. Then rent a bike and ride out to Christiania."
        ),
        "names": ["Copenhagen", "Nyhavn", "Christiania"],
        "captions": [
            Cap("COPENHAGEN ON A BUDGET", 0.9, 8.4, 0.50, "box", "liberation-sans-bold", 38),
            Cap("NYHAVN", 8.8, 17.0, 0.22, "outline", "dejavu-bold", 64),
            Cap("hot dog: 40 DKK", 17.6, 23.9, 0.70, "whitebox", "lato-regular", 38),
            Cap("CHRISTIANIA", 24.4, 31.6, 0.50, "redbox", "opensans-extrabold", 50),
        ],
    },
]


def check_tools() -> None:
    for tool in ("espeak-ng", "ffmpeg"):
        if shutil.which(tool) is None:
            fail(f"{tool} not found (apt-get install -y espeak-ng ffmpeg)")
    if " drawtext " not in run(["ffmpeg", "-hide_banner", "-filters"]):
        fail("this ffmpeg has no drawtext filter")
    missing = [path for path in FONTS.values() if not Path(path).is_file()]
    if missing:
        fail(f"fonts missing: {missing} (see the apt-get line in this script's docstring)")


def text_size(text: str, font: str, size: int) -> tuple[int, int]:
    from PIL import ImageFont

    face = ImageFont.truetype(FONTS[font], size)
    left, top, right, bottom = face.getbbox(text)
    return right - left, bottom - top


def fit_size(cap: Cap) -> int:
    """The caption's size, shrunk until it fits inside the side margins."""
    size = cap.size
    pad = 2 * 14 if "box" in cap.style else 0
    while size > 16 and text_size(cap.text, cap.font, size)[0] + pad > WIDTH - 2 * SIDE_MARGIN:
        size -= 2
    return size


def texture(seed: int, width: int, height: int) -> np.ndarray:
    """A colourful multi-octave noise 'photo' with some hard-edged shapes (windows, roofs)."""
    import cv2

    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for octave, weight in ((8, 0.5), (32, 0.3), (128, 0.15), (512, 0.05)):
        small = rng.random((max(2, height * octave // 2048), max(2, width * octave // 2048), 3)).astype(np.float32)
        image += weight * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    palette = rng.random((3, 3)).astype(np.float32) * 0.8 + 0.2
    image = np.clip(image @ palette, 0, None)
    image = (image / image.max() * 235).astype(np.uint8)
    for _ in range(160):  # building-like rectangles with edges
        x, y = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        w, h = int(rng.integers(12, 120)), int(rng.integers(12, 160))
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.rectangle(image, (x, y), (x + w, y + h), color, -1 if rng.random() < 0.6 else 3)
    return cv2.GaussianBlur(image, (3, 3), 0)


def background_input(spec: dict, tmp: Path) -> tuple[list[str], str]:
    """ffmpeg input arguments for the clip's moving background, and the filter that frames it."""
    duration, seed = spec["duration"], spec["seed"]
    kind = spec["background"]
    if kind == "gradients":
        colors = ["0x1d3557", "0xe76f51", "0xf4a261", "0x2a9d8f", "0xe9c46a"]
        return [
            "-f",
            "lavfi",
            "-i",
            f"gradients=s={WIDTH}x{HEIGHT}:r={FPS}:d={duration}:n=4:c0={colors[seed % 5]}:c1={colors[(seed + 1) % 5]}"
            f":c2={colors[(seed + 2) % 5]}:c3={colors[(seed + 3) % 5]}:speed=0.03:seed={seed},hue=h=18*t",
        ], "null"
    import cv2

    big = texture(seed, 1400, 2200)
    path = tmp / f"bg{seed}.png"
    cv2.imwrite(str(path), big)
    if kind == "zoom":  # a steady zoom into the 'photo' (every pixel moves, outwards)
        return (
            ["-loop", "1", "-framerate", str(FPS), "-t", str(duration), "-i", str(path)],
            f"scale=1080:-2,zoompan=z='1+0.025*in/{FPS}':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)'"
            f":d=1:s={WIDTH}x{HEIGHT}:fps={FPS}",
        )
    if kind == "pan":  # slow pan across the 'photo'
        x = "(iw-540)*(0.5+0.45*sin(t/4))"
        y = "(ih-960)*(0.5+0.45*cos(t/5))"
    else:  # "shake": a faster pan with hand-held jitter
        x = "(iw-540)*(0.5+0.4*sin(t/2))+12*sin(t*9)"
        y = "(ih-960)*(0.5+0.4*sin(t/3))+10*cos(t*11)"
    return (
        ["-loop", "1", "-framerate", str(FPS), "-t", str(duration), "-i", str(path)],
        f"crop={WIDTH}:{HEIGHT}:x='{x}':y='{y}'",
    )


def drawtext(cap: Cap, size: int, textfile: Path) -> str:
    def esc(value: str) -> str:
        return value.replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")

    if cap.align == "left":
        x = str(SIDE_MARGIN)
    elif cap.align == "right":
        x = f"w-text_w-{SIDE_MARGIN}"
    else:
        x = "(w-text_w)/2"
    return (
        f"drawtext=fontfile='{esc(FONTS[cap.font])}':textfile='{esc(str(textfile))}':expansion=none"
        f":fontsize={size}:{STYLES[cap.style]}:x={x}:y=h*{cap.y:.4f}-th/2"
        f":enable='between(t,{cap.start},{cap.end - 0.001:.3f})'"
    )


def caption_box(cap: Cap, size: int) -> list[float]:
    """Approximate normalised box of the drawn text (for the manifest; not used in scoring)."""
    w, h = text_size(cap.text, cap.font, size)
    if cap.align == "left":
        x0 = SIDE_MARGIN
    elif cap.align == "right":
        x0 = WIDTH - SIDE_MARGIN - w
    else:
        x0 = (WIDTH - w) / 2
    y0 = HEIGHT * cap.y - h / 2
    return [round(x0 / WIDTH, 4), round(y0 / HEIGHT, 4), round((x0 + w) / WIDTH, 4), round((y0 + h) / HEIGHT, 4)]


def make_clip(spec: dict, out_dir: Path, tmp: Path) -> dict:
    name, duration = spec["name"], spec["duration"]
    wav = tmp / f"{name}.wav"
    speech_s = synthesize(spec["speech"], wav)
    if speech_s + 0.8 > duration:
        fail(f"{name}: speech is {speech_s:.1f} s, longer than the {duration} s clip")

    inputs, base_filter = background_input(spec, tmp)
    chain = [f"[0:v]{base_filter}", f"fps={FPS}", "format=yuv420p"]
    captions = []
    for i, cap in enumerate(spec["captions"]):
        size = fit_size(cap)
        textfile = tmp / f"{name}_{i}.txt"
        textfile.write_text(cap.text, encoding="utf-8")
        chain.append(drawtext(cap, size, textfile))
        captions.append(
            {
                "text": cap.text,
                "start_s": cap.start,
                "end_s": cap.end,
                "y": cap.y,
                "align": cap.align,
                "style": cap.style,
                "font": cap.font,
                "size": size,
                "box": caption_box(cap, size),
            }
        )
    graph = ",".join(chain) + "[v];"
    graph += f"[1:a]aresample=16000,adelay=500,apad,atrim=0:{duration}[a]"
    out = out_dir / f"{name}.mp4"
    run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            *inputs,
            "-i",
            str(wav),
            "-filter_complex",
            graph,
            "-map",
            "[v]",
            "-map",
            "[a]",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "34",
            "-pix_fmt",
            "yuv420p",
            "-g",
            str(2 * FPS),
            "-c:a",
            "aac",
            "-b:a",
            "32k",
            "-ac",
            "1",
            "-t",
            str(duration),
            "-movflags",
            "+faststart",
            "-map_metadata",
            "-1",
            str(out),
        ]
    )
    print(f"wrote {out} ({duration} s, {len(captions)} captions, {out.stat().st_size // 1024} KiB)", flush=True)
    return {
        "file": out.name,
        "duration_s": duration,
        "width": WIDTH,
        "height": HEIGHT,
        "fps": FPS,
        "background": spec["background"],
        "speech": spec["speech"],
        "names": spec["names"],
        "captions": captions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--only", nargs="*", help="clip names to (re)generate")
    args = parser.parse_args()
    check_tools()
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "manifest.json"
    old = {c["file"]: c for c in json.loads(manifest_path.read_text())} if manifest_path.exists() and args.only else {}
    manifest = []
    with tempfile.TemporaryDirectory(prefix="caption_set_") as tmp:
        for spec in CLIPS:
            if args.only and spec["name"] not in args.only:
                if f"{spec['name']}.mp4" in old:
                    manifest.append(old[f"{spec['name']}.mp4"])
                continue
            manifest.append(make_clip(spec, args.out, Path(tmp)))
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {manifest_path}: {len(manifest)} clips, {sum(len(c['captions']) for c in manifest)} caption lines")


if __name__ == "__main__":
    main()
