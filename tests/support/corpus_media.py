"""The media files of the bad-input corpus, made by the tests with ffmpeg from the sample clips.

Short synthetic clips keep the corpus fast; the cases whose text must come back (rotation, variable
frame rate, corrupt packets) are derived from the sample clips, which carry speech and captions.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

from tests.support.fault_server import LOGIN_WALL
from tests.support.paths import SAMPLES

# the usual encoding of a post
H264_AAC = ("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac")


def _ffmpeg(ffmpeg: str, *args: str) -> None:
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def build_corpus_media(root: Path, ffmpeg: str) -> Path:
    """Write every corpus file into `root`; returns `root`."""
    root.mkdir(parents=True, exist_ok=True)
    kyoto, lisbon, mexico = (SAMPLES / f"{n}.mp4" for n in ("kyoto_temples", "lisbon_pasteis", "mexico_city_tacos"))
    shutil.copy(lisbon, root / "lisbon.mp4")
    shutil.copy(mexico, root / "mexico.mp4")
    shutil.copy(kyoto, root / "kyoto.mp4")

    # Two audio tracks, the first silent and the clip's voice on the second (only the first was used).
    _ffmpeg(
        ffmpeg,
        "-i",
        str(kyoto),
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=44100:cl=mono",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-map",
        "0:a",
        "-shortest",
        "-c:v",
        "copy",
        "-c:a",
        "aac",
        str(root / "silent_first_track.mp4"),
    )

    # Stored sideways (pixels turned 90° clockwise) with a display matrix that turns them back upright.
    sideways = root / "sideways-stored.mp4"
    _ffmpeg(
        ffmpeg,
        "-i",
        str(kyoto),
        "-vf",
        "transpose=1",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-c:a",
        "copy",
        str(sideways),
    )
    _ffmpeg(ffmpeg, "-display_rotation", "90", "-i", str(sideways), "-c", "copy", str(root / "rotated.mp4"))
    sideways.unlink()

    # Variable frame rate: 10 fps for the first 6 s, 30 fps after, audio untouched.
    _ffmpeg(
        ffmpeg,
        "-i",
        str(mexico),
        "-vf",
        "select='if(lt(t,6),not(mod(n,3)),1)'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-c:a",
        "copy",
        str(root / "vfr.mp4"),
    )

    # A picture with silent audio (Whisper must not invent words), and one with no audio stream.
    _ffmpeg(
        ffmpeg,
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=360x640:r=30:d=4",
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=44100:cl=mono",
        "-shortest",
        *H264_AAC,
        str(root / "silent.mp4"),
    )
    _ffmpeg(
        ffmpeg,
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=360x640:r=30:d=3",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        str(root / "no_audio.mp4"),
    )

    # TikTok photo slideshow: the post is its soundtrack only.
    _ffmpeg(ffmpeg, "-i", str(kyoto), "-vn", "-c:a", "copy", str(root / "slideshow.m4a"))

    # Over the limits the corpus run sets (20 s, 1 MB).
    _ffmpeg(
        ffmpeg,
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x284:r=5:d=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=16000:duration=25",
        *H264_AAC,
        str(root / "long.mp4"),
    )
    _ffmpeg(
        ffmpeg,
        "-f",
        "lavfi",
        "-i",
        "nullsrc=s=240x426:r=15:d=1,geq=random(1)*255:128:128",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-qp",
        "0",
        "-pix_fmt",
        "yuv420p",
        str(root / "big.mp4"),
    )

    # Broken files: empty, an HTML error page saved as .mp4, cut short, damaged packets.
    (root / "empty.mp4").write_bytes(b"")
    (root / "html_body.mp4").write_bytes(LOGIN_WALL)
    moov_at_end = root / "moov-at-end.mp4"
    _ffmpeg(ffmpeg, "-i", str(kyoto), "-c", "copy", str(moov_at_end))  # no faststart: index written last
    data = moov_at_end.read_bytes()
    (root / "truncated.mp4").write_bytes(data[: int(len(data) * 0.6)])
    moov_at_end.unlink()
    data = bytearray(lisbon.read_bytes())
    start = data.find(b"mdat") + 4096
    rng = random.Random(7)
    for offset in range(start, len(data) - 4096, len(data) // 6):  # a few damaged stretches
        data[offset : offset + 2048] = rng.randbytes(2048)
    (root / "corrupt.mp4").write_bytes(bytes(data))
    build_duration_liars(root, ffmpeg)
    # A JPEG under a video's name: the fault server sends it as video/mp4.
    _ffmpeg(ffmpeg, "-f", "lavfi", "-i", "testsrc2=s=320x240:d=1", "-frames:v", "1", "-f", "image2", "-c:v", "mjpeg",
            str(root / "still.mp4"))  # fmt: skip
    return root


def build_duration_liars(root: Path, ffmpeg: str) -> Path:
    """Files whose container misstates their length: `concatenated.ts` (three 10 s TS segments, one
    after the other, each starting its timestamps over: it claims 10 s and plays 30 s) and `raw.h264`
    (an elementary stream of 24 s at 5 fps: no container, no length at all)."""
    root.mkdir(parents=True, exist_ok=True)
    segment = root / "segment.ts"
    _ffmpeg(
        ffmpeg,
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x284:r=5:d=10",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=16000:duration=10",
        *H264_AAC,
        "-f",
        "mpegts",
        str(segment),
    )
    (root / "concatenated.ts").write_bytes(segment.read_bytes() * 3)
    segment.unlink()
    half = root / "half.h264"
    _ffmpeg(
        ffmpeg,
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x284:r=5:d=12",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-f",
        "h264",
        str(half),
    )
    (root / "raw.h264").write_bytes(half.read_bytes() * 2)
    half.unlink()
    return root
