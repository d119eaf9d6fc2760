"""Media bombs refused before decoding: pixels per frame, frame rate, number of streams.

The files are made here with ffmpeg. The 16000x16000 one is the bomb of the issue (a 0.7 MB H.264
file whose one frame decodes to 0.4 GB, 1.5 GB peak before the limits); making it takes ffmpeg about
6 s and 1.5 GB on 2 cores, so its tests are marked slow. The worker is a subprocess running the
`raw_video` stage's own function on the file, so its peak RSS is the stage's, as the kernel counts it
(VmHWM in /proc/self/status).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import pytest

from tests.support.paths import REPO
from wandr_pipeline.lib.outcomes import PermanentError, is_transient_exception
from wandr_pipeline.media.probe import MediaLimits, check_media_limits, probe_media
from wandr_pipeline.settings import Settings

DEFAULTS = Settings.from_env()
DEFAULT_LIMITS = MediaLimits(DEFAULTS.max_frame_pixels, DEFAULTS.max_frame_rate, DEFAULTS.max_streams)


def _ffmpeg(ffmpeg: str, *args: str) -> None:
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def _video(ffmpeg: str, path: Path, size: str, rate: int, frames: int) -> Path:
    _ffmpeg(
        ffmpeg,
        *("-f", "lavfi", "-i", f"color=gray:s={size}:r={rate}", "-frames:v", str(frames)),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)),
    )
    return path


@pytest.fixture(scope="module")
def small_media(tmp_path_factory, ffmpeg) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("limits")
    many = root / "many_streams.mp4"
    _ffmpeg(
        ffmpeg,
        *("-f", "lavfi", "-i", "color=gray:s=64x64:r=25:d=0.2", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono"),
        *("-map", "0:v", *(["-map", "1:a"] * 39), "-t", "0.2", "-c:v", "libx264", "-preset", "ultrafast"),
        *("-c:a", "aac", "-b:a", "8k", str(many)),
    )
    return {
        "plain": _video(ffmpeg, root / "plain.mp4", "320x240", 30, 3),
        "high_fps": _video(ffmpeg, root / "high_fps.mp4", "64x64", 1000, 10),
        "many_streams": many,
    }


@pytest.fixture(scope="module")
def pixel_bomb(tmp_path_factory, ffmpeg) -> Path:
    return _video(ffmpeg, tmp_path_factory.mktemp("bomb") / "bomb.mp4", "16000x16000", 25, 1)


def test_a_file_within_the_limits_is_probed_as_before(small_media):
    info = probe_media(small_media["plain"], DEFAULT_LIMITS)
    assert (info.width, info.height, info.fps) == (320, 240, 30.0)
    # exactly at each limit is within it
    probe_media(small_media["plain"], MediaLimits(max_frame_pixels=320 * 240, max_frame_rate=30, max_streams=1))


@pytest.mark.parametrize(
    "name, limits, reason",
    [
        (
            "plain",
            MediaLimits(max_frame_pixels=320 * 240 - 1),
            r"320x240 pixels .* over the limit .*WANDR_MAX_FRAME_PIXELS",
        ),
        ("high_fps", DEFAULT_LIMITS, r"1000 frames per second, over the limit of 240 \(WANDR_MAX_FRAME_RATE\)"),
        ("many_streams", DEFAULT_LIMITS, r"40 streams \(audio, video\), over the limit of 16 \(WANDR_MAX_STREAMS\)"),
    ],
)
def test_each_limit_refuses_with_its_reason_and_for_good(small_media, name, limits, reason):
    with pytest.raises(PermanentError, match=reason) as refused:
        probe_media(small_media[name], limits)
    assert not is_transient_exception(refused.value)
    probe_media(small_media[name], MediaLimits())  # 0 = no limit: the same file is accepted


def test_the_defaults_are_documented_and_accept_8k():
    assert DEFAULT_LIMITS == MediaLimits(7680 * 4320, 240.0, 16)
    readme = (REPO / "README.md").read_text()
    for variable in ("WANDR_MAX_FRAME_PIXELS", "WANDR_MAX_FRAME_RATE", "WANDR_MAX_STREAMS"):
        assert f"| `{variable}` |" in readme


_WORKER = """
import json, sys
from pathlib import Path
from wandr_pipeline.defs.resources import VideoDownloader
from wandr_pipeline.defs.videos.raw_video import _download_one
from wandr_pipeline.engines.ytdlp import SiteLimits
from wandr_pipeline.lib.outcomes import is_transient_exception, short_error
from wandr_pipeline.lib.storage import Storage
from wandr_pipeline.settings import Settings

class Log:
    def info(self, message): pass
    def warning(self, message): pass

settings = Settings.from_env(storage_uri=sys.argv[2])
downloader = VideoDownloader.from_settings(settings.download)
try:
    row = _download_one(
        Log(), Storage(sys.argv[2]), downloader, SiteLimits(), "url-bomb", Path(sys.argv[1]).as_uri(), {}
    )
    outcome = {"status": row["status"], "width": row["width"]}
except Exception as exc:
    outcome = {"status": "failed", "error": short_error(exc), "retryable": is_transient_exception(exc)}
# VmHWM: this process's own peak (ru_maxrss would also count the pytest process it was started from)
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
outcome["peak_rss_mb"] = peak_kb / 1024
print(json.dumps(outcome))
"""


def _run_worker(path: Path, storage: Path, **env: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", _WORKER, str(path), str(storage)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**__import__("os").environ, **env},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_pixel_bomb_is_refused_before_decoding_with_rss_under_500_mb(pixel_bomb, tmp_path):
    with av.open(str(pixel_bomb), options={"skip_frame": "all"}) as container:  # what the file claims
        assert (container.streams.video[0].codec_context.width, container.streams.video[0].codec_context.height) == (
            16000,
            16000,
        )
    assert pixel_bomb.stat().st_size < 2_000_000
    with pytest.raises(PermanentError, match=r"16000x16000 pixels \(256\.0 million per frame\), over the limit"):
        check_media_limits(pixel_bomb, DEFAULT_LIMITS)

    outcome = _run_worker(pixel_bomb, tmp_path / "storage")
    print(f"\nraw_video on the 16000x16000 bomb: {outcome}")
    assert outcome["status"] == "failed" and outcome["retryable"] is False
    assert "16000x16000 pixels" in outcome["error"] and "WANDR_MAX_FRAME_PIXELS" in outcome["error"]
    assert outcome["peak_rss_mb"] < 500
    assert not list((tmp_path / "storage").rglob("video.mp4"))  # nothing kept


def test_the_frame_and_audio_stages_check_the_limits_again_before_decoding(small_media, tmp_path):
    """A file stored before the limits existed (or were lowered) is refused by the stages that decode it."""
    from wandr_pipeline.defs.resources import FrameSamplingResource
    from wandr_pipeline.defs.videos.audio import _extract_one
    from wandr_pipeline.defs.videos.sampled_frames import _sample_one
    from wandr_pipeline.lib.storage import Storage

    store = Storage(str(tmp_path / "storage"))
    stored = {name: store.put_file(path, f"media/url-{name}/video.mp4") for name, path in small_media.items()}
    sampler = FrameSamplingResource.from_settings(DEFAULTS.frames)
    with pytest.raises(PermanentError, match=r"320x240 pixels .*WANDR_MAX_FRAME_PIXELS"):
        _sample_one(
            store, sampler, "url-plain", {"video_uri": stored["plain"]}, limits=MediaLimits(max_frame_pixels=1000)
        )
    with pytest.raises(PermanentError, match=r"40 streams .*WANDR_MAX_STREAMS"):
        _extract_one(store, "url-many", {"video_uri": stored["many_streams"], "has_audio": True}, DEFAULT_LIMITS)
    assert len(_sample_one(store, sampler, "url-plain", {"video_uri": stored["plain"]}, limits=DEFAULT_LIMITS)) == 1
