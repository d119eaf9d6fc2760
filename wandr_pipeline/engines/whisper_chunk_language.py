"""Language per chunk of speech: a clip that changes language is decoded piece by piece in each piece's
language, with a confidence floor, and says which language each piece was decoded in.

faster-whisper's batched pipeline can detect the language of every chunk (`multilingual=True`, from the
encoder output it computes anyway, so it costs no extra encoder pass) but takes the top guess however
unsure (Arabic read by espeak-ng: Thai at 0.24, decoded into a loop) and does not say what it chose.
`ChunkLanguagePipeline` overrides `generate_segment_batched` (checked against faster-whisper 1.2.1; its
body is faster-whisper's, with the language choice changed): a chunk whose top language is at or above
`floor` is decoded in it; below, in the clip's language (the one the pipeline detected for the clip, or
was told), and what was heard is kept per chunk (`heard`, keyed by the chunk's `seek`, which every
`Segment` of the chunk carries) so the transcript can say the language was a guess
(`media.speech_quality.LanguageEvidence`).

With `translate` on, the chunks decoded in a language other than English are also decoded with Whisper's
`translate` task on the same encoder output (no timestamps, the transcription's beam), and their English is
kept per chunk (`english`, keyed like `heard`): a translation then costs a decode, not a second encoder
pass over speech already encoded (docs/BENCHMARKS.md, 27-C/27-D). `translate_in_context` decodes each such
chunk after the clip's previous chunk's English (Whisper's previous-text prompt), one at a time: a sentence
cut at a chunk's edge reads on (Portuguese chrF 51.5 -> 55.6, Spanish 52.8 -> 53.9) for about 15 points more
extra CPU time; measured by `benchmarks.speech_translate`, off, since neither the cheap nor the good choice
(27-H).
"""

from __future__ import annotations

from dataclasses import dataclass

from wandr_pipeline.engines.whisper_translate import english_token_budget
from wandr_pipeline.engines.whisper_window import trimmed


@dataclass(frozen=True)
class HeardLanguage:
    heard: str  # the detector's top language for the chunk
    probability: float  # its probability
    decoded: str  # the language the chunk was decoded in
    decoded_probability: float  # the detector's probability for that language


@dataclass(frozen=True)
class ChunkEnglish:
    """A chunk's speech in English (the `translate` task on the chunk's encoder output), with the decoder's
    signals `whisper_translate.untrusted_translation` checks."""

    language: str  # the language the chunk was decoded (and translated from) in
    text: str
    avg_logprob: float
    compression_ratio: float


def chunk_language_pipeline(model, floor: float, window_margin_s: float | None = None):
    """A `ChunkLanguagePipeline` over a loaded `WhisperModel` (faster-whisper imported only here); the
    encoder sees each batch's longest chunk plus `window_margin_s` (`whisper_window`; None: 30 s)."""
    import ctranslate2
    import numpy as np
    from faster_whisper import BatchedInferencePipeline
    from faster_whisper.transcribe import get_compression_ratio

    class ChunkLanguagePipeline(BatchedInferencePipeline):
        def __init__(self, model, floor: float):
            super().__init__(model)
            self.floor = floor
            self.window_margin_s = window_margin_s
            self.heard: dict[int, HeardLanguage] = {}  # chunk seek -> what was heard there
            self.translate = False  # also translate the non-English chunks (`english`)
            self.english: dict[int, ChunkEnglish] = {}  # chunk seek -> its English
            self.translate_beam_size: int | None = None  # None: the transcription's
            self.translate_in_context = False  # each chunk prompted with the clip's previous chunk's English
            self._seeks: list[int] = []  # the batch's chunks' seeks
            self._durations: list[float] = []  # and their speech's length
            self._batch: list[HeardLanguage] = []
            self._batch_english: dict[int, ChunkEnglish] = {}  # index in the batch -> its English

        def forward(self, features, tokenizer, chunks_metadata, options):
            self._batch = []
            self._batch_english = {}
            fps = self.model.frames_per_second
            self._seeks = [int(meta["offset"] * fps) for meta in chunks_metadata]
            self._durations = [float(meta["duration"]) for meta in chunks_metadata]
            features = trimmed(features, chunks_metadata, self.window_margin_s)
            out = super().forward(features, tokenizer, chunks_metadata, options)
            for meta, heard in zip(chunks_metadata, self._batch):
                self.heard[int(meta["offset"] * fps)] = heard  # the `seek` forward gives the chunk's segments
            for index, english in self._batch_english.items():
                self.english[int(chunks_metadata[index]["offset"] * fps)] = english
            return out

        def translated(self, encoder_output, tokenizer, languages: list[str], options) -> None:
            """The batch's non-English chunks decoded with the `translate` task from `encoder_output`
            (`languages`: what each chunk was decoded in), into `_batch_english`: together, or one at a time
            after the previous chunk's English (`translate_in_context`); each to `english_token_budget`."""
            indices = [i for i, language in enumerate(languages) if language != "en"]
            if not indices:
                return
            if len(indices) < len(languages):  # only those chunks' encoder output goes to the decoder
                on_cpu = np.asarray(encoder_output.to_device(ctranslate2.Device.cpu))
                encoder_output = ctranslate2.StorageView.from_array(np.ascontiguousarray(on_cpu[indices]))
            to_english = tokenizer.tokenizer.token_to_id("<|translate|>")

            def prompt(i: int, previous: str = "") -> list[int]:
                """Whisper's translate prompt for chunk `i`, after `previous` text (its previous-text prompt)."""
                language = tokenizer.tokenizer.token_to_id(f"<|{languages[i]}|>")
                task = [tokenizer.sot, language, to_english, tokenizer.no_timestamps]
                if not previous:
                    return task
                return [
                    tokenizer.sot_prev,
                    *tokenizer.encode(" " + previous)[-(self.model.max_length // 2 - 1) :],
                    *task,
                ]

            def generate(view, prompts, speech_s: float):
                longest = max(len(p) for p in prompts) + english_token_budget(speech_s)
                return self.model.model.generate(
                    view,
                    prompts,
                    beam_size=self.translate_beam_size or options.beam_size,
                    patience=options.patience,
                    length_penalty=options.length_penalty,
                    max_length=min(self.model.max_length, longest),
                    suppress_blank=options.suppress_blank,
                    suppress_tokens=options.suppress_tokens,
                    return_scores=True,
                    sampling_temperature=options.temperatures[0],
                    repetition_penalty=options.repetition_penalty,
                    no_repeat_ngram_size=options.no_repeat_ngram_size,
                )

            def kept(i: int, result) -> ChunkEnglish:
                tokens = result.sequences_ids[0]
                text = tokenizer.decode(tokens)
                cumulative = result.scores[0] * (len(tokens) ** options.length_penalty)
                english = ChunkEnglish(
                    languages[i], text.strip(), cumulative / (len(tokens) + 1), get_compression_ratio(text)
                )
                self._batch_english[i] = english
                return english

            if not self.translate_in_context:
                for i, result in zip(
                    indices,
                    generate(encoder_output, [prompt(i) for i in indices], max(self._durations[i] for i in indices)),
                ):
                    kept(i, result)
                return
            # one chunk at a time, in time order, each after the English of the clip's chunk before it
            on_cpu = np.asarray(encoder_output.to_device(ctranslate2.Device.cpu))
            earlier = [seek for seek in self.english if seek < self._seeks[indices[0]]]
            previous = self.english[max(earlier)] if earlier else None
            for position, i in enumerate(indices):
                context = previous.text if previous and previous.language == languages[i] else ""
                view = ctranslate2.StorageView.from_array(np.ascontiguousarray(on_cpu[[position]]))
                (result,) = generate(view, [prompt(i, context)], self._durations[i])
                previous = kept(i, result)

        def generate_segment_batched(self, features, tokenizer, options):
            if not options.multilingual:
                encoder_output, output = super().generate_segment_batched(features, tokenizer, options)
                if self.translate and tokenizer.task != tokenizer.translate:
                    self.translated(encoder_output, tokenizer, [tokenizer.language_code] * len(output), options)
                return encoder_output, output
            prompt = self.model.get_prompt(
                tokenizer,
                previous_tokens=(tokenizer.encode(options.initial_prompt) if options.initial_prompt else []),
                without_timestamps=options.without_timestamps,
                hotwords=options.hotwords,
            )
            max_length = (
                len(prompt) + options.max_new_tokens if options.max_new_tokens is not None else self.model.max_length
            )
            max_length = min(max_length, self.model.max_length)
            encoder_output = self.model.encode(features)
            prompts = [prompt.copy() for _ in range(features.shape[0])]
            language_index = prompt.index(tokenizer.language)
            clip_token = tokenizer.tokenizer.id_to_token(tokenizer.language)
            for i, ranked in enumerate(self.model.model.detect_language(encoder_output)):
                top, probability = ranked[0]
                token = top if probability >= self.floor else clip_token
                prompts[i][language_index] = tokenizer.tokenizer.token_to_id(token)
                decoded_probability = next((p for t, p in ranked if t == token), 0.0)
                self._batch.append(
                    HeardLanguage(
                        top[2:-2], round(float(probability), 4), token[2:-2], round(float(decoded_probability), 4)
                    )
                )
            if self.translate:
                self.translated(encoder_output, tokenizer, [h.decoded for h in self._batch], options)
            results = self.model.model.generate(
                encoder_output,
                prompts,
                beam_size=options.beam_size,
                patience=options.patience,
                length_penalty=options.length_penalty,
                max_length=max_length,
                suppress_blank=options.suppress_blank,
                suppress_tokens=options.suppress_tokens,
                return_scores=True,
                return_no_speech_prob=True,
                sampling_temperature=options.temperatures[0],
                repetition_penalty=options.repetition_penalty,
                no_repeat_ngram_size=options.no_repeat_ngram_size,
            )
            output = []
            for result in results:
                length = len(result.sequences_ids[0])
                cumulative = result.scores[0] * (length**options.length_penalty)
                output.append(
                    dict(
                        avg_logprob=cumulative / (length + 1),
                        no_speech_prob=result.no_speech_prob,
                        tokens=result.sequences_ids[0],
                    )
                )
            return encoder_output, output

    return ChunkLanguagePipeline(model, floor)
