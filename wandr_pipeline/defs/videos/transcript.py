"""`transcript`: speech to text with faster-whisper; one model load serves every video of the run.

Words and their timestamps go to the side table `transcript_words` (written here, next to the
segments the IO manager writes). Speech the voice activity detector found and no decoded word covers
is decoded a second time (shorter chunks, no hints); the share covered is `speech_coverage`. Each
segment is judged on the decoder's own signals (`media.speech_quality`): doubtful ones (loops, a stock
phrase over music, a language only guessed, unsure words) are recorded `suspect` with the reason and
downstream leaves their text out; a clip with nothing trusted is `suspect` as a whole, one whose every
segment was written over silence or music is `empty`. With `WHISPER_TRANSLATE` the trusted non-English
speech is also written in English (`transcript_en`).

The video's caption text (place names, spelled right on screen) goes to Whisper as hints
(`hotwords` by default, see docs/CAPTIONS.md for the measurement), so this stage waits for
`caption_spans`; only lines written in the script of the language spoken (forced, English-only, or
detected from the audio) are kept. Writes `media/<video_key>/transcript.srt` and `transcript.vtt`.
"""

import time

from wandr_pipeline.defs.resources import WhisperResource
from wandr_pipeline.defs.videos.stage import StageRun, StageWorker, first_row
from wandr_pipeline.engines.whisper import load_audio
from wandr_pipeline.lib.outcomes import EMPTY, OK, SUSPECT
from wandr_pipeline.lib.schemas import TRANSCRIPT_WORDS, to_table
from wandr_pipeline.media.captions import echoes_hints, hint_text
from wandr_pipeline.media.language_script import written_in
from wandr_pipeline.media.speech_quality import GOOD, LANGUAGE_FLOOR, LANGUAGE_UNSURE
from wandr_pipeline.media.subtitles import to_srt, to_vtt, transcript_cues


class TranscriptWorker(StageWorker):
    asset = "transcript"
    kinds = frozenset({"pytorch", "parquet"})
    description = (
        "Speech segments with start/end times (faster-whisper, VAD on, the video's captions as hints), "
        "plus transcript.srt/.vtt per video; table `transcript_segments`."
    )
    resources = frozenset({"storage", "whisper", "captions"})
    batch = 8  # clips waiting together go to Whisper together (on a GPU their chunks share batches)

    def __init__(self, run: StageRun, resources):
        super().__init__(run, resources)
        self.whisper: WhisperResource = resources.whisper
        self.mode = resources.captions.hint_mode()
        decoding = {
            "beam_size": self.whisper.beam_size,
            "batch_size": self.whisper.batch_size,
            "vad": self.whisper.vad,
            "hint_mode": self.mode,
        }
        run.configure(parameters={"whisper_model": self.whisper.model, **decoding}, row_values=decoding)
        self.transcriber = None  # loaded in the stage's thread, on the first clip with audio
        self.audio_seconds = self.busy = 0.0
        self.coverages: list[float] = []
        self.second_pass_regions = 0

    def process(self, keys: list[str], inputs) -> None:
        store, run = self.store, self.run
        ready = []
        for key in keys:
            if run.skip_unless_usable(key, inputs["audio"][key], "audio"):
                # skipped: its segments are replaced by a `skipped` row, so an earlier run's words must go too
                store.write_partition("transcript_words", key, to_table(TRANSCRIPT_WORDS, []))
            else:
                ready.append((key, first_row(inputs["audio"][key])["audio_uri"]))
        if not ready:
            return
        transcriber = self._transcriber()
        # the transcriber keeps only the lines written in the script of the clip's language
        hints = {}
        for key, _ in ready:
            hint = caption_hints(inputs["caption_spans"].get(key), self.mode)
            if hint:
                hints[key] = hint

        def load(uri: str):
            with store.local_copy(uri) as path:
                return load_audio(path)

        busy_start = time.perf_counter()
        results = transcriber.transcribe_many(ready, load=load, hints=hints, redo_without_hints=echoes_hints)
        for key, result in results:
            # music or silence that the decoder wrote a stock phrase over is no speech: `empty`, not `ok`
            empty = not isinstance(result, BaseException) and result.assessment is not None and result.assessment.empty

            def rows(result=result, key=key, empty=empty):
                words = [] if isinstance(result, BaseException) or empty else word_rows(result)
                store.write_partition("transcript_words", key, to_table(TRANSCRIPT_WORDS, words))  # no stale words
                if isinstance(result, BaseException):
                    raise result
                out = [] if empty else segment_rows(result, transcriber.model_name)
                _write_subtitles(store, key, [r for r in out if r["status"] == OK])
                return out

            if not isinstance(result, BaseException):
                self.audio_seconds += result.duration_s
                self.second_pass_regions += result.uncovered_regions
                if result.speech_coverage is not None:
                    self.coverages.append(result.speech_coverage)
                if result.text_en_left_out:  # not written as transcript_en: it was not English to rely on
                    run.log.warning(f"{key}: translation to English {result.text_en_left_out}")
            run.run_one(
                key,
                rows,
                empty_reason=f"no speech: {result.assessment.reason}" if empty else "no speech detected",
                preview=lambda rows: " ".join(r["text"] for r in rows if r["status"] == OK)[:160],
                elapsed_s=None if isinstance(result, BaseException) else result.elapsed_s,
            )
        self.busy += time.perf_counter() - busy_start

    def _transcriber(self):
        if self.transcriber is None:
            load_start = time.perf_counter()
            self.transcriber = transcriber = self.whisper.get_transcriber()
            device = f"{transcriber.device}/{transcriber.compute_type}"
            self.run.parameters.update(whisper_model=transcriber.model_name, device=device)
            self.run.log.info(
                f"whisper model {transcriber.model_name} on {device} ready in {time.perf_counter() - load_start:.1f} s"
            )
        return self.transcriber

    def run_metadata(self) -> dict:
        if self.transcriber is None:
            return {}
        transcriber = self.transcriber
        return {
            "whisper_model": transcriber.model_name,
            "device": f"{transcriber.device}/{transcriber.compute_type}",
            "audio_seconds": round(self.audio_seconds, 1),
            "realtime_factor": round(self.audio_seconds / self.busy, 1) if self.busy > 0 else 0.0,
            # speech without decoded words after the first pass, decoded again (issue 14)
            "second_pass_regions": self.second_pass_regions,
            **({"speech_coverage_min": min(self.coverages)} if self.coverages else {}),
        }


def segment_rows(result, model_name: str) -> list[dict]:
    """`transcript_segments` rows of one `Transcript`: trusted segments `ok`, the others `suspect` with the
    reason (all of them when the clip as a whole is not trusted). `language` is the language a segment
    was decoded in, or null where that was a guess below the confidence floor (`media.speech_quality`)."""
    assessment = result.assessment
    count = len(result.segments)
    quality = assessment.segment_quality if assessment else [None] * count
    reasons = assessment.segment_reasons if assessment else [None] * count
    clip_trusted = assessment is None or assessment.trusted
    rows = []
    for s, q, why in zip(result.segments, quality, reasons):
        trusted = clip_trusted and q in (None, GOOD)
        language, probability = segment_language(s, result)
        rows.append(
            {
                "segment_index": s.index,
                "start_s": s.start_s,
                "end_s": s.end_s,
                "text": s.text,
                "avg_logprob": s.avg_logprob,
                "no_speech_prob": s.no_speech_prob,
                "language": None if q == LANGUAGE_UNSURE else language,
                "language_probability": probability,
                "model": model_name,
                "status": OK if trusted else SUSPECT,
                "error": None if trusted else (why if clip_trusted else assessment.reason),
                "caption_hints": result.hints,
                "decode_pass": s.decode_pass,
                "compression_ratio": round(s.compression_ratio, 3),
                "word_probability": round(sum(w.probability for w in s.words) / len(s.words), 3) if s.words else None,
                "quality": q,
                "speech_s": result.speech_s,
                "speech_coverage": result.speech_coverage,
                "transcript_en": result.text_en,
            }
        )
    return rows


def segment_language(segment, result) -> tuple[str | None, float | None]:
    """(the language `segment` was decoded in, the detector's probability for it); the clip's when its
    chunk's own is not known, null when the clip's was a guess below the floor.

    A chunk decoded in a language whose script its text is not written in (English words decoded "in
    zh", heard at 0.68) was not in that language: the row takes the clip's language when the text is
    written in the clip's script and the clip's was no guess, else null."""
    clip = result.language
    clip_sure = result.language_probability is None or result.language_probability >= LANGUAGE_FLOOR
    if segment.heard is not None:
        decoded, probability = segment.heard.decoded, segment.heard.decoded_probability
        if written_in(segment.text, decoded):
            return decoded, probability
        if clip_sure and clip and written_in(segment.text, clip):
            return clip, result.language_probability
        return None, probability
    if not clip_sure:
        return None, result.language_probability
    return clip, result.language_probability


def transcript_status(rows: list[dict], assessment=None) -> tuple[str, str | None]:
    """The video's transcript outcome: `ok` when some segment is trusted, `empty` when the decoder only
    wrote over silence or music (every segment `no_speech`), else `suspect`; with the reason."""
    if not rows:
        return EMPTY, "no speech detected"
    if assessment is not None and assessment.empty:
        return EMPTY, f"no speech: {assessment.reason}"
    if any(r["status"] == OK for r in rows):
        return OK, None
    return SUSPECT, rows[0]["error"]


def word_rows(result) -> list[dict]:
    """`transcript_words` rows of one `Transcript`, numbered through the whole clip."""
    rows = []
    for s in result.segments:
        for w in s.words:
            rows.append(
                {
                    "segment_index": s.index,
                    "word_index": len(rows),
                    "word": w.word,
                    "start_s": w.start_s,
                    "end_s": w.end_s,
                    "probability": round(w.probability, 4),
                    "decode_pass": s.decode_pass,
                }
            )
    return rows


def caption_hints(spans, mode: str) -> dict[str, str]:
    """`transcribe` keyword arguments that show Whisper the video's caption lines, joined by ", " (none
    when off or empty); the transcriber keeps those in the script of the language spoken."""
    if mode == "off" or spans is None or spans.num_rows == 0:
        return {}
    rows = sorted((r for r in spans.to_pylist() if r["status"] == OK and r["text"]), key=lambda r: r["start_s"])
    text = hint_text(r["text"] for r in rows).replace("\n", ", ")
    if not text:
        return {}
    return {"hotwords": text} if mode == "hotwords" else {"initial_prompt": text}


def _write_subtitles(store, key: str, rows: list[dict]) -> None:
    media = store.media_dir(key)
    cues = transcript_cues(rows)
    store.write_bytes(f"{media}/transcript.srt", to_srt(cues).encode("utf-8"))
    store.write_bytes(f"{media}/transcript.vtt", to_vtt(cues).encode("utf-8"))
