"""Speech to text with faster-whisper: batched transcription, checked against the detected speech.

What leans on faster-whisper internals or does one job of its own lives beside it: the knobs
(`whisper_options`), which model loads (`whisper_models`), the device (`device`), the result types
(`whisper_transcript`), cross-clip batching (`whisper_cross_clip`), the language per chunk
(`whisper_chunk_language`), how much audio the encoder sees per chunk (`whisper_window`), translation
to English (`whisper_translate`); the trust verdict is `media.speech_quality`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from wandr_pipeline.engines.device import choose_whisper_device
from wandr_pipeline.engines.whisper_chunk_language import ChunkEnglish, chunk_language_pipeline
from wandr_pipeline.engines.whisper_cross_clip import cross_clip_pipeline, decode_across_clips
from wandr_pipeline.engines.whisper_models import packaged_model_files, resolve_model
from wandr_pipeline.engines.whisper_options import TranscriberOptions
from wandr_pipeline.engines.whisper_transcript import (
    SECOND_PASS,
    Transcript,
    TranscriptSegment,
    merged_segments,
    segment_evidence,
    segment_of_words,
    transcript_segments,
)
from wandr_pipeline.engines.whisper_translate import English, Piece, Translated, translate_pieces
from wandr_pipeline.media.chinese_script import check_script, in_script
from wandr_pipeline.media.language_script import hints_for_language
from wandr_pipeline.media.speech_chunks import pause_cut_chunks
from wandr_pipeline.media.speech_coverage import coverage, joined_regions, merge, pauses, uncovered, widened
from wandr_pipeline.media.speech_quality import GOOD, LANGUAGE_FLOOR, Assessment, assess

# faster-whisper logs every clip's duration at INFO; our stage logs say the same per video.
logging.getLogger("faster_whisper").setLevel(logging.WARNING)

T = TypeVar("T")

GAP_CONTEXT_S = 0.2  # audio either side of an uncovered stretch given to the second pass


class WhisperTranscriber:
    """A loaded faster-whisper model; create once per process and reuse for every clip.

    `options` holds every knob (`whisper_options`: the resource builds them from the settings);
    `options.model` is what `whisper_models.resolve_model` accepts.
    """

    def __init__(self, options: TranscriberOptions):
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        self.options = options
        language = (options.language or "").strip().lower() or None
        if language and language not in _LANGUAGE_CODES:
            raise ValueError(f"WHISPER_LANGUAGE={language!r} is not a Whisper language code (e.g. en, es, pt, zh)")
        self.chinese_script = check_script(options.chinese_script)
        self.model_path, self.model_name = resolve_model(options.model)
        self.device, self.compute_type = choose_whisper_device(options.device, options.compute_type)
        self.model = WhisperModel(
            self.model_path,
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=options.cpu_threads,
            num_workers=options.num_workers,
            local_files_only=True,
            files=packaged_model_files(self.model_path),
        )
        self.multilingual = bool(self.model.model.is_multilingual)
        if language and not self.multilingual and language != "en":
            raise ValueError(
                f"WHISPER_LANGUAGE={language!r} needs a multilingual model; {self.model_name} is English-only"
            )
        batch_size = options.batch_size
        # the batched pipeline detects each chunk's language (`whisper_chunk_language`)
        self.window_margin_s = options.window_margin_s
        self.pipeline = (
            chunk_language_pipeline(self.model, LANGUAGE_FLOOR, self.window_margin_s) if batch_size > 1 else None
        )
        self.batch_size = batch_size
        # Longest stretch of speech decoded as one piece by the batched pipeline (its VAD merges speech
        # into chunks up to this long); 0 disables the coverage check and its second pass.
        self.chunk_s = max(1, min(30, options.chunk_s))
        self.second_pass_chunk_s = max(0, min(30, options.second_pass_chunk_s))
        # Silero's speech threshold, and the pause that ends a chunk (0: faster-whisper merges speech
        # into chunks up to chunk_s, the silences between cut out).
        self.vad_threshold = min(0.95, max(0.05, float(options.vad_threshold)))
        self.chunk_pause_ms = max(0, int(options.chunk_pause_ms))
        self.chunk_cut = options.chunk_cut  # limit | pause: where a chunk ends (`chunking`)
        self._translation_pipeline_loaded = None
        self._gap_pipeline_loaded = None
        self.translate = options.translate and self.multilingual  # English-only models cannot translate
        if self.pipeline is not None:  # the first pass translates its non-English chunks on their encoder output
            self.pipeline.translate = self.translate and options.translate_first_pass
        self.beam_size = options.beam_size
        self.vad = options.vad
        # None: detected per clip; English-only models are always "en" (never detected)
        self.language = language or (None if self.multilingual else "en")
        self.prefetch = max(0, options.prefetch)
        self._lock = threading.Lock()
        # Batches speech chunks of *different* clips together (faster-whisper batches within one file).
        # `auto`: on a GPU, where batches are what keeps it busy; on a CPU it measured no faster.
        cross_clip = self.device == "cuda" if options.cross_clip == "auto" else options.cross_clip == "true"
        self._cross_clip = (
            cross_clip_pipeline(self.model, self.window_margin_s)
            if cross_clip and batch_size > 1 and self.vad
            else None
        )

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
        kwargs = dict(
            language=self.language,
            beam_size=self.beam_size,
            vad_filter=self.vad,
            initial_prompt=initial_prompt or None,
            hotwords=hotwords or None,
            condition_on_previous_text=False,
            word_timestamps=True,
        )
        speech = self.speech_regions(audio) if self.vad else None
        chunk_english: dict[int, ChunkEnglish] = {}
        with self._lock:
            if self.pipeline is not None:
                self.pipeline.heard = {}
                self.pipeline.english = chunk_english
                segments, info = self.pipeline.transcribe(
                    audio,
                    batch_size=self.batch_size,
                    chunk_length=self.chunk_s,
                    multilingual=self.multilingual and self.language is None,
                    **kwargs,
                    **self.chunking(speech, audio),
                )
                collected = transcript_segments(segments)
                collected = [replace(s, heard=self.pipeline.heard.get(s.seek)) for s in collected]
            else:
                vad_parameters = {"threshold": self.vad_threshold} if self.vad else None
                segments, info = self.model.transcribe(audio, vad_parameters=vad_parameters, **kwargs)
                collected = transcript_segments(segments)
        return self.complete(
            audio,
            collected,
            info.language,
            self._detected_probability(info),
            started,
            hints=hotwords or initial_prompt or None,
            speech=speech,
            chunk_english=chunk_english,
        )

    def vad_options(self, max_speech_s: float) -> dict:
        """Silero options for the first pass, the coverage check and the second pass alike."""
        return dict(
            threshold=self.vad_threshold,
            min_silence_duration_ms=self.chunk_pause_ms or 160,  # 160: the batched pipeline's own
            max_speech_duration_s=max_speech_s,
        )

    def speech_regions(self, audio: np.ndarray) -> list[tuple[float, float]]:
        """The detected speech in seconds, each region at most `chunk_s` long."""
        return speech_regions(audio, self.chunk_s, **self.vad_options(self.chunk_s))

    def missed_speech(self, audio: np.ndarray, speech: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """`missed_speech` with this transcriber's VAD options."""
        return missed_speech(audio, speech, self.chunk_s, **self.vad_options(self.chunk_s))

    def late_regions(
        self, speech: list[tuple[float, float]], missed: list[tuple[float, float]]
    ) -> list[tuple[float, float]]:
        """Regions the detector started late or ended early, joined with the missed speech that runs into
        them (`speech_coverage.joined_regions`): the second pass decodes each again whole. At most `chunk_s`
        long, as a first-pass chunk: in a longer one Whisper stops early and its last words stretch over
        what it skipped (a 19 s stretch of four sentences lost one); the speech of a longer one is decoded
        as before, the missed part on its own."""
        return [(start, end) for start, end in joined_regions(speech, missed) if end - start <= self.chunk_s]

    def widened_gaps(
        self, gaps: list[tuple[float, float]], segments: list[TranscriptSegment]
    ) -> list[tuple[float, float]]:
        """`gaps` with their edges over the words stretched across them (`speech_coverage.widened`)."""
        return widened(gaps, [(w.start_s, w.end_s, w.word) for s in segments for w in s.words])

    def chunking(self, speech: list[tuple[float, float]] | None, audio: np.ndarray | None = None) -> dict:
        """Batched-pipeline arguments that cut the audio into chunks: one per speech region when a pause
        ends a chunk (`chunk_pause_ms`); cut at the longest pause within `chunk_s` (`chunk_cut` pause, with
        `audio`: `media.speech_chunks`); else faster-whisper's own merging with our VAD options."""
        if speech is None:
            return {}
        if self.chunk_pause_ms and speech:
            return {"clip_timestamps": [{"start": start, "end": end} for start, end in speech]}
        if self.chunk_cut == "pause" and audio is not None and speech:
            # the detector's regions without padding: padded, neighbours touch and their pause is lost
            options = {**self.vad_options(self.chunk_s), "speech_pad_ms": 0}
            regions = speech_regions(audio, self.chunk_s, **options)
            chunks = pause_cut_chunks(regions, self.chunk_s, len(audio) / 16_000)
            return {"clip_timestamps": [{"start": start, "end": end} for start, end in chunks]}
        options = self.vad_options(self.chunk_s)
        options.pop("max_speech_duration_s")  # the pipeline sets it to chunk_length itself
        return {"vad_parameters": options}

    def complete(
        self,
        audio: np.ndarray,
        segments: list[TranscriptSegment],
        language: str,
        language_probability: float | None,
        started: float,
        *,
        hints: str | None,
        decode_s: float | None = None,
        speech: list[tuple[float, float]] | None = None,
        chunk_english: Mapping[int, ChunkEnglish] | None = None,
    ) -> Transcript:
        """The first pass's segments checked against the detected speech (plus the speech the detector finds
        in its own pauses on a second look, `missed_speech`): stretches of speech that no decoded word covers
        are decoded again (shorter chunks, no hints) and their words added. `chunk_english`: the first pass's
        non-English chunks already in English, by seek (`whisper_chunk_language`)."""
        speech_s = speech_coverage = None
        gaps: list[tuple[float, float]] = []
        redo: list[tuple[float, float]] = []
        if self.vad and self.second_pass_chunk_s:
            speech = self.speech_regions(audio) if speech is None else speech
            missed = self.missed_speech(audio, speech)
            words = [(w.start_s, w.end_s) for s in segments for w in s.words]
            # missed speech is decoded apart from its neighbours: a VAD run over both would miss it again;
            # where it runs into a region, the region was decoded without it: both again, as one stretch
            # (before the coverage check: it also sees where that decoding stopped early)
            redo = self.late_regions(speech, missed)
            if redo:
                segments = self._redecoded(audio, segments, redo, language)
                words = [(w.start_s, w.end_s) for s in segments for w in s.words]
            gaps = sorted(uncovered(speech, words) + uncovered(missed, words))
            # and the words stretched over a gap's speech are decoded again with it (`widened`)
            gaps = self.widened_gaps(gaps, segments)
            speech = merge(speech + missed)
            if gaps:
                segments = self._redecoded(audio, segments, gaps, language, whole=False)
            words = [(w.start_s, w.end_s) for s in segments for w in s.words]
            speech_s = round(float(sum(e - s for s, e in speech)), 3)
            speech_coverage = coverage(speech, words)
        segments = self._in_script(segments, language)
        assessment = assess(
            [segment_evidence(s, language, language_probability) for s in segments],
            model_language=self.language if self.model_name.endswith(".en") else None,
        )
        english = (
            self._in_english(audio, segments, assessment, language, chunk_english or {})
            if self.translate
            else English(None)
        )
        elapsed = time.perf_counter() - started
        if decode_s is not None:  # cross-clip: its share of the batch, plus its own second pass
            elapsed = decode_s + elapsed
        return Transcript(
            segments,
            language,
            language_probability,
            len(audio) / 16_000,
            elapsed,
            hints=hints,
            speech_s=speech_s,
            speech_coverage=speech_coverage,
            uncovered_regions=len(gaps) + len(redo),
            assessment=assessment,
            text_en=english.text,
            text_en_left_out=english.left_out,
        )

    def _in_english(
        self,
        audio: np.ndarray,
        segments,
        assessment: Assessment,
        language: str,
        chunk_english: Mapping[int, ChunkEnglish],
    ) -> English:
        """The trusted segments in English (`whisper_translate`); no text when none is in another language.
        A first-pass chunk whose segments are all trusted and that was translated on its encoder output
        (`chunk_english`) gives that English where its neighbours need no new translation either
        (`translate_pieces`); the rest is translated anew."""
        if not assessment.trusted:
            return English(None)
        chunks: dict[int, list[tuple[TranscriptSegment, str]]] = {}
        for s, quality in zip(segments, assessment.segment_quality):
            if s.decode_pass != SECOND_PASS and s.seek in chunk_english:
                chunks.setdefault(s.seek, []).append((s, quality))
        done = {seek for seek, members in chunks.items() if all(quality == GOOD for _, quality in members)}
        translated = {
            seek: Translated(
                min(s.start_s for s, _ in chunks[seek]),
                chunk_english[seek].language,
                chunk_english[seek].text,
                chunk_english[seek].avg_logprob,
                chunk_english[seek].compression_ratio,
            )
            for seek in done
        }
        pieces = [
            Piece(
                s.start_s,
                s.end_s,
                s.heard.decoded if s.heard else language,
                s.text,
                s.seek if s.decode_pass != SECOND_PASS and s.seek in done else None,
            )
            for s, quality in zip(segments, assessment.segment_quality)
            if quality == GOOD
        ]
        return translate_pieces(
            self._translation_pipeline(),
            audio,
            pieces,
            batch_size=self.batch_size,
            beam_size=self.beam_size,
            lock=self._lock,
            translated=translated,
        )

    def _translation_pipeline(self):
        """The batched pipeline translation decodes with: one language per call (no per-chunk detection), the
        encoder shown each span plus the window margin, as the transcription is (`whisper_window`)."""
        if self._translation_pipeline_loaded is None:
            self._translation_pipeline_loaded = chunk_language_pipeline(
                self.model, LANGUAGE_FLOOR, self.window_margin_s
            )
        return self._translation_pipeline_loaded

    def _in_script(self, segments: list[TranscriptSegment], language: str) -> list[TranscriptSegment]:
        """Chinese segments in the `chinese_script` chosen (`media.chinese_script`); other languages as they are."""
        return [
            replace(s, text=in_script(s.text, s.heard.decoded if s.heard else language, self.chinese_script))
            for s in segments
        ]

    def _detected_probability(self, info) -> float | None:
        """faster-whisper says 1.0 for a language it was told (or an English-only model): that is no detection."""
        return None if self.language else round(float(info.language_probability), 4)

    def _gap_pipeline(self):
        """The second pass's batched pipeline: with per-chunk language when the model is multilingual."""
        if self._gap_pipeline_loaded is None:
            self._gap_pipeline_loaded = chunk_language_pipeline(self.model, LANGUAGE_FLOOR, self.window_margin_s)
        return self._gap_pipeline_loaded

    def _redecoded(
        self,
        audio: np.ndarray,
        segments: list[TranscriptSegment],
        stretches: list[tuple[float, float]],
        language: str | None,
        *,
        whole: bool = True,
    ) -> list[TranscriptSegment]:
        """`segments` with each of `stretches` decoded again (`_decode_gaps`), its words in place of the
        earlier words there; where the new decoding says nothing, the earlier words stay. `whole`: each
        stretch as one chunk (a region joined with the missed speech that runs into it,
        `speech_coverage.joined_regions`)."""
        for start, end in stretches:
            found = self._decode_gaps(audio, [(start, end)], language, whole=whole)
            if not found:
                continue
            kept = []
            for segment in segments:
                words = tuple(w for w in segment.words if not start <= (w.start_s + w.end_s) / 2 <= end)
                if words:
                    kept.append(segment_of_words(segment, words))
                elif not segment.words and not start <= segment.start_s <= end:
                    kept.append(segment)
            segments = merged_segments(kept, found)
        return segments

    def _decode_gaps(
        self, audio: np.ndarray, gaps: list[tuple[float, float]], language: str | None, *, whole: bool = False
    ) -> list[TranscriptSegment]:
        """Decode each uncovered stretch on its own (with a little context), in short chunks, without
        hints; only words inside the stretch are kept, so nothing the first pass said is repeated. Each
        chunk's language is detected on it (no extra encoder pass), `language` (the clip's) below the floor.
        `whole`: each stretch as one chunk, no VAD over it (it holds speech the VAD missed beside speech it
        found: a run over both would miss the quiet part again)."""
        out: list[TranscriptSegment] = []
        pipeline = self._gap_pipeline()
        for start, end in gaps:
            lo = max(0, int((start - GAP_CONTEXT_S) * 16_000))
            hi = min(len(audio), int((end + GAP_CONTEXT_S) * 16_000))
            if whole:
                cutting = dict(vad_filter=False, clip_timestamps=[{"start": 0.0, "end": (hi - lo) / 16_000}])
            else:
                cutting = dict(
                    vad_filter=True,
                    vad_parameters={"threshold": self.vad_threshold, "min_silence_duration_ms": 160},
                    chunk_length=self.second_pass_chunk_s,
                )
            with self._lock:
                pipeline.heard = {}
                segments, _ = pipeline.transcribe(
                    audio[lo:hi],
                    batch_size=max(1, self.batch_size),
                    language=self.language or language,
                    multilingual=self.multilingual and self.language is None,
                    beam_size=self.beam_size,
                    condition_on_previous_text=False,
                    word_timestamps=True,
                    **cutting,
                )
                found = transcript_segments(segments, offset_s=lo / 16_000, decode_pass=SECOND_PASS)
                found = [replace(s, heard=pipeline.heard.get(s.seek)) for s in found]
            for segment in found:
                kept = tuple(w for w in segment.words if start <= (w.start_s + w.end_s) / 2 <= end)
                if kept:
                    out.append(segment_of_words(segment, kept))
        return out

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
                    clip_hints = self._hints_for(hints.get(key, {}), self.language)
                    result = self.transcribe(audio, **clip_hints)
                    yield key, self._with_fitting_hints(audio, result, clip_hints, redo_without_hints)
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
            chunk_length=self.chunk_s,
            word_timestamps=True,
        )
        hints = {key: self._hints_for(clip_hints, self.language) for key, clip_hints in hints.items()}
        for key, clip in decode_across_clips(
            self._cross_clip,
            items,
            load,
            options=options,
            hints=hints,
            batch_size=self.batch_size,
            prefetch=self.prefetch,
            lock=self._lock,
            chunking=lambda audio: self.chunking(self.speech_regions(audio), audio),
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
            try:
                result = self.complete(
                    clip.audio,
                    transcript_segments(clip.segments),
                    clip.info.language,
                    self._detected_probability(clip.info),
                    time.perf_counter(),
                    hints=clip_hints.get("hotwords") or clip_hints.get("initial_prompt"),
                    decode_s=clip.decode_s,
                )
            except Exception as exc:  # noqa: BLE001
                yield key, exc
                continue
            try:
                result = self._with_fitting_hints(clip.audio, result, clip_hints, redo_without_hints)
            except Exception as exc:  # noqa: BLE001
                yield key, exc
                continue
            yield key, result

    @staticmethod
    def _hints_for(clip_hints: Mapping[str, str], language: str | None) -> dict[str, str]:
        """The clip's hint lines written in the script of `language` (all of them when it is not known yet)."""
        if not language:
            return dict(clip_hints)
        kept = {name: hints_for_language(text, language) for name, text in clip_hints.items()}
        return {name: text for name, text in kept.items() if text}

    def _with_fitting_hints(
        self,
        audio: np.ndarray,
        result: Transcript,
        clip_hints: Mapping[str, str],
        redo_without_hints: Callable[[str, str], bool] | None,
    ) -> Transcript:
        """`result`, or the clip transcribed again: with only the hint lines in the script of the language
        detected (Whisper detects it from the audio alone, so hints never sway it), then without hints
        when the transcript only echoes them."""
        if result.hints:
            fitting = self._hints_for(clip_hints, result.language)
            if fitting != dict(clip_hints):
                result = self.transcribe(audio, **fitting)
        if result.hints and redo_without_hints and redo_without_hints(result.text, result.hints):
            result = self.transcribe(audio)
        return result


def speech_regions(audio: np.ndarray, chunk_s: int, **vad_options) -> list[tuple[float, float]]:
    """Silero VAD's speech, in seconds; by default with the options the batched pipeline uses to cut its
    chunks (`vad_options`: other `VadOptions` fields)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(**{"max_speech_duration_s": chunk_s, "min_silence_duration_ms": 160, **vad_options})
    return [(r["start"] / 16_000, r["end"] / 16_000) for r in get_speech_timestamps(audio, options)]


def missed_speech(
    audio: np.ndarray, speech: list[tuple[float, float]], chunk_s: int, **vad_options
) -> list[tuple[float, float]]:
    """Speech the detector missed: each pause between the `speech` regions run through it again on its own.
    Silero carries state through a clip, and after loud speech it scores a much quieter sentence as
    silence (`media.speech_coverage`); alone, with a fresh state, the sentence is speech."""
    found: list[tuple[float, float]] = []
    for start, end in pauses(speech, len(audio) / 16_000):
        piece = audio[int(start * 16_000) : int(end * 16_000)]
        found += [(start + s, start + e) for s, e in speech_regions(piece, chunk_s, **vad_options)]
    return found


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
