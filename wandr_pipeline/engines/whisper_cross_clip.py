"""Cross-clip batching: speech chunks of *different* clips decoded in one batch (faster-whisper only
batches the chunks of one file, so short clips leave a GPU mostly idle).

This leans on faster-whisper internals (checked against 1.2.1), kept here so an upgrade has one place
to look:

- `BatchedInferencePipeline.transcribe` does VAD, feature extraction, language detection and option
  building, then hands its chunks to the private `_batched_segments_generator(features, tokenizer,
  chunks_metadata, batch_size, options, log_progress)`. We override that method to keep the chunks
  instead of decoding them.
- `transcribe` wraps what that method returns in `restore_speech_timestamps` lazily, so the segments
  it returns only read our chunks once they are decoded (`CrossClipJob.restored`).
- `BatchedInferencePipeline.forward(features, tokenizer, chunks_metadata, options)` decodes one
  stacked batch and returns, per chunk, a list of dicts (`seek`, `start`, `end`, `text`, `tokens`,
  `avg_logprob`, `compression_ratio`, `no_speech_prob`, and `words` with word timestamps) that we
  turn into `faster_whisper.transcribe.Segment`. Its word timing keeps state between batches
  (`last_speech_timestamp`), which we reset per batch since ours mix clips.
- `options.hotwords`, `options.initial_prompt`, `options.temperatures` and `tokenizer.language_code`,
  `tokenizer.task` say which chunks may share a batch (one prompt per batch).

If faster-whisper stops calling `_batched_segments_generator`, `prepare` raises instead of decoding
silently one clip at a time. Nothing here knows our `Transcript` types (`whisper_transcript`):
`engines/whisper.py` builds them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


class CrossClipJob:
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


class DeferredSegments:
    """Stands in for faster-whisper's segment generator: yields the job's segments once decoded."""

    def __init__(self, job: CrossClipJob):
        self.job = job

    def __iter__(self):
        return iter(self.job.segments)


def cross_clip_pipeline_class():
    """The pipeline class, built on first use: faster-whisper is heavy and imported only then."""
    from faster_whisper import BatchedInferencePipeline

    class CrossClipPipeline(BatchedInferencePipeline):
        """`BatchedInferencePipeline.transcribe` does VAD, features, language and options as usual,
        but hands its chunks back instead of decoding them, so chunks of many clips share a batch."""

        def __init__(self, model):
            super().__init__(model)
            self._local = threading.local()

        def _batched_segments_generator(self, features, tokenizer, chunks_metadata, batch_size, options, log_progress):
            job = CrossClipJob(features, tokenizer, chunks_metadata, options)
            self._local.job = job
            return DeferredSegments(job)

        def prepare(self, audio: np.ndarray, **kwargs) -> CrossClipJob:
            self._local.job = None
            segments, info = self.transcribe(audio, **kwargs)
            job = self._local.job
            if job is None:
                raise RuntimeError("faster-whisper did not hand over its chunks (internals changed?)")
            job.info = info
            job._restore = segments  # restore_speech_timestamps over DeferredSegments: lazy until decoded
            return job

        def decode(self, jobs: list[CrossClipJob], batch_size: int) -> set[int]:
            """Decode every chunk of `jobs` in mixed batches; returns the ids of jobs whose batch failed."""
            from faster_whisper.transcribe import Segment, Word

            groups: dict[tuple, list[tuple[CrossClipJob, int]]] = {}
            for job in jobs:
                key = (
                    job.tokenizer.language_code,
                    job.tokenizer.task,
                    job.options.hotwords,
                    job.options.initial_prompt,
                )  # one prompt per batch
                groups.setdefault(key, []).extend((job, i) for i in range(len(job.features)))
            failed: set[int] = set()
            for entries in groups.values():
                for start in range(0, len(entries), batch_size):
                    batch = entries[start : start + batch_size]
                    first = batch[0][0]
                    self.last_speech_timestamp = 0.0  # word timing state: its batches mix clips
                    try:
                        results = self.forward(
                            np.stack([job.features[i] for job, i in batch]),
                            first.tokenizer,
                            [job.chunks_metadata[i] for job, i in batch],
                            first.options,
                        )
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
                        job.segments.append(
                            Segment(
                                id=number,
                                seek=seg["seek"],
                                start=round(seg["start"], 3),
                                end=round(seg["end"], 3),
                                text=seg["text"],
                                tokens=seg["tokens"],
                                avg_logprob=seg["avg_logprob"],
                                compression_ratio=seg["compression_ratio"],
                                no_speech_prob=seg["no_speech_prob"],
                                words=[Word(**word) for word in seg["words"]] if "words" in seg else None,
                                temperature=job.options.temperatures[0],
                            )
                        )
            return failed

    return CrossClipPipeline


def cross_clip_pipeline(model):
    """A `CrossClipPipeline` over a loaded `WhisperModel`."""
    return cross_clip_pipeline_class()(model)


@dataclass(frozen=True)
class DecodedClip:
    """One clip's outcome of a cross-clip window."""

    audio: np.ndarray
    segments: list | None  # faster-whisper `Segment`s on the clip's time line; None: its batch failed
    info: Any  # faster-whisper `TranscriptionInfo` (language and its probability)
    decode_s: float  # the clip's share of its window's decoding time


def decode_across_clips(
    pipeline,
    items: list[tuple[str, T]],
    load: Callable[[T], np.ndarray],
    *,
    options: Mapping[str, Any],
    hints: Mapping[str, Mapping[str, str]],
    batch_size: int,
    prefetch: int,
    lock: threading.Lock,
    chunking: Callable[[np.ndarray], Mapping[str, Any]] | None = None,
) -> Iterator[tuple[str, DecodedClip | BaseException]]:
    """Windows of `batch_size` clips: CPU threads load, VAD-split and featurise the next window
    while the model decodes this one, in batches that mix chunks of different clips.

    `options`: `BatchedInferencePipeline.transcribe` keyword arguments, with `hints[key]` on top for
    that clip. Clips with hints only share batches with clips that have the same hints: a batch has
    one prompt. `chunking(audio)`: more keyword arguments per clip (how its audio is cut into chunks).
    (CTranslate2 could take one prompt per clip if their previous-text parts were padded
    to one length; not done yet, so hinted clips decode in batches of their own.) `lock` is held
    while the model decodes. Yields `(key, DecodedClip)` or `(key, exception)` in input order.
    """

    def prepare(key: str, source: T):
        audio = load(source)
        per_clip = dict(chunking(audio)) if chunking else {}
        return audio, pipeline.prepare(audio, **{**options, **per_clip, **dict(hints.get(key, {}))})

    window = max(1, batch_size)
    windows = [items[i : i + window] for i in range(0, len(items), window)]
    with ThreadPoolExecutor(max_workers=max(1, prefetch), thread_name_prefix="audio-prepare") as pool:
        upcoming = [pool.submit(prepare, key, source) for key, source in windows[0]] if windows else []
        for number, current in enumerate(windows):
            futures = upcoming
            upcoming = (
                [pool.submit(prepare, key, source) for key, source in windows[number + 1]]
                if number + 1 < len(windows)
                else []
            )
            prepared: list[tuple[str, tuple[np.ndarray, CrossClipJob] | BaseException]] = []
            for (key, _), future in zip(current, futures):
                try:
                    prepared.append((key, future.result()))
                except Exception as exc:  # noqa: BLE001 - recorded per clip
                    prepared.append((key, exc))
            jobs = [p[1] for _, p in prepared if not isinstance(p, BaseException)]
            started = time.perf_counter()
            with lock:
                failed = pipeline.decode(jobs, batch_size)
            per_clip = (time.perf_counter() - started) / max(1, len(jobs))
            for key, result in prepared:
                if isinstance(result, BaseException):
                    yield key, result
                    continue
                audio, job = result
                segments = None if id(job) in failed else list(job.restored())
                yield key, DecodedClip(audio, segments, job.info, per_clip)
