"""The first pass's chunk translation (`whisper_chunk_language`, WHISPER_TRANSLATE_FIRST_PASS): what the
decoder is asked. In context, each non-English chunk is decoded after the English of the clip's chunk
before it (Whisper's previous-text prompt), one chunk at a time in time order; otherwise the batch's
chunks are decoded together, each on its own. A recording decoder stands in for the model."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from wandr_pipeline.engines.whisper_chunk_language import ChunkEnglish, chunk_language_pipeline

SOT, SOT_PREV, NO_TIMESTAMPS, TRANSLATE = 1, 2, 3, 4
LANGUAGE_TOKENS = {"<|es|>": 10, "<|pt|>": 11, "<|en|>": 12, "<|translate|>": TRANSLATE}


class Words:
    """A tokenizer that numbers words (from 100), enough to read the prompts back."""

    def __init__(self):
        self.sot, self.sot_prev, self.no_timestamps = SOT, SOT_PREV, NO_TIMESTAMPS
        self.tokenizer = SimpleNamespace(token_to_id=LANGUAGE_TOKENS.__getitem__)
        self.vocabulary: list[str] = []

    def encode(self, text: str) -> list[int]:
        ids = []
        for word in text.split():
            if word not in self.vocabulary:
                self.vocabulary.append(word)
            ids.append(100 + self.vocabulary.index(word))
        return ids

    def decode(self, ids) -> str:
        return " ".join(self.vocabulary[i - 100] for i in ids)

    def words(self, prompt: list[int]) -> str:
        return " ".join(self.vocabulary[i - 100] if i >= 100 else f"<{i}>" for i in prompt)


class Decoder:
    """Records every generate call (its batch size and prompts) and answers each chunk with fixed English."""

    def __init__(self, tokenizer: Words, answers: list[str]):
        self.tokenizer, self.answers, self.calls, self.max_lengths = tokenizer, list(answers), [], []

    def generate(self, encoder_output, prompts, **options):
        self.calls.append((encoder_output.shape[0], [self.tokenizer.words(p) for p in prompts]))
        self.max_lengths.append(options["max_length"])
        return [
            SimpleNamespace(sequences_ids=[self.tokenizer.encode(self.answers.pop(0))], scores=[-2.0]) for _ in prompts
        ]


OPTIONS = SimpleNamespace(
    beam_size=5,
    patience=1.0,
    length_penalty=1.0,
    suppress_blank=True,
    suppress_tokens=[-1],
    temperatures=[0.0],
    repetition_penalty=1.0,
    no_repeat_ngram_size=0,
)


def translated(in_context: bool, languages: list[str], answers: list[str]):
    import ctranslate2

    words = Words()
    decoder = Decoder(words, answers)
    pipeline = chunk_language_pipeline(SimpleNamespace(model=decoder, max_length=448, frames_per_second=100), 0.5)
    pipeline.translate_in_context = in_context
    pipeline.english = {0: ChunkEnglish("es", "We went to the market.", -0.4, 1.1)}  # the clip's first batch
    pipeline._seeks = [1000 * (i + 1) for i in range(len(languages))]
    pipeline._durations = [10.0] * len(languages)
    encoder_output = ctranslate2.StorageView.from_array(np.zeros((len(languages), 4, 8), np.float32))
    pipeline.translated(encoder_output, words, languages, OPTIONS)
    return decoder, pipeline._batch_english


def test_in_context_each_chunk_follows_the_previous_chunks_english_one_at_a_time():
    decoder, english = translated(True, ["es", "en", "es", "pt"], ["It was crowded", "so we left.", "Hello."])
    header = "<4> <3>"  # translate, no timestamps
    assert decoder.calls == [
        (1, [f"<2> We went to the market. <1> <10> {header}"]),
        (1, [f"<2> It was crowded <1> <10> {header}"]),
        (1, [f"<1> <11> {header}"]),  # Portuguese after Spanish: no context in another language
    ]
    assert [(i, e.language, e.text) for i, e in english.items()] == [
        (0, "es", "It was crowded"),
        (2, "es", "so we left."),
        (3, "pt", "Hello."),
    ]
    # each decode stops at the prompt plus the English 10 s of speech may take (a loop is cut there)
    assert decoder.max_lengths == [10 + 96, 8 + 96, 4 + 96]


def test_without_context_the_batchs_chunks_are_decoded_together_each_on_its_own():
    decoder, english = translated(False, ["es", "en", "es"], ["It was crowded", "so we left."])
    assert decoder.calls == [(2, ["<1> <10> <4> <3>", "<1> <10> <4> <3>"])]
    assert [e.text for e in english.values()] == ["It was crowded", "so we left."]
