"""The encoder sees each batch's longest chunk plus a margin, not a padded 30 s window (`whisper_window`)."""

from __future__ import annotations

import numpy as np
import pytest

from wandr_pipeline.engines.whisper_window import FULL_WINDOW_BELOW_S, WINDOW_FRAMES, trimmed, window_frames


def test_window_is_the_longest_chunk_plus_the_margin_at_most_30_s():
    assert window_frames([8.0, 9.87, 3.2], 10) == 1987
    assert window_frames([25.0], 10) == WINDOW_FRAMES  # never past Whisper's window
    assert window_frames([6.0], 30) == WINDOW_FRAMES  # the setting's "always the full window"
    assert window_frames([6.0], None) == WINDOW_FRAMES
    assert window_frames([FULL_WINDOW_BELOW_S, 2.0], 5) == 1000


def test_a_batch_of_only_short_chunks_sees_the_whole_window():
    assert window_frames([2.04], 7) == WINDOW_FRAMES
    assert window_frames([1.0, 4.9], 7) == WINDOW_FRAMES
    assert window_frames([], 7) == WINDOW_FRAMES


def test_trimming_cuts_only_padding():
    features = np.zeros((2, 80, WINDOW_FRAMES), np.float32)
    features[0, :, :1000] = 1.0  # a 10 s chunk, then faster-whisper's zero padding
    features[1, :, :600] = 1.0
    metadata = [{"duration": 10.0}, {"duration": 6.0}]
    cut = trimmed(features, metadata, 5)
    assert cut.shape == (2, 80, 1500)
    assert cut[0, :, :1000].all() and not cut[:, :, 1000:].any()  # every spoken frame is still there
    assert trimmed(features, metadata, None) is features


@pytest.mark.slow
def test_the_transcriber_encodes_short_windows_with_the_same_words(manifest):
    """Through the real pipeline (bundled tiny.en, one sample clip): every encoder call of the margin
    setting is shorter than 30 s, and the words are the full window's."""
    import jiwer
    from faster_whisper.audio import decode_audio

    from tests.engines.test_whisper import transcriber
    from tests.support.paths import SAMPLES

    item = manifest[0]
    audio = decode_audio(str(SAMPLES / item["file"]), sampling_rate=16_000)
    texts, frames = {}, {}
    for margin in (30, 10):
        tx = transcriber(device="cpu", chunk_s=10, second_pass_chunk_s=5, vad_threshold=0.35, window_margin_s=margin)
        seen: list[int] = []
        tx.model.encode = recording(tx.model.encode, seen)
        texts[margin] = tx.transcribe(audio).text
        frames[margin] = seen
    assert frames[30] and set(frames[30]) == {WINDOW_FRAMES}
    assert frames[10] and max(frames[10]) <= 2000  # a 10 s chunk and 10 s of silence at most
    assert jiwer.wer(texts[30].lower(), texts[10].lower()) <= 0.1, texts
    assert jiwer.wer(item["speech"].lower(), texts[10].lower()) < 0.5, texts[10]


def recording(encode, seen: list[int]):
    """`encode` that also notes how many frames it was given."""

    def encode_and_record(features, *args):
        seen.append(features.shape[-1])
        return encode(features, *args)

    return encode_and_record


@pytest.mark.slow
def test_base_hears_a_short_clip_to_its_end():
    """Real Harvard sentences of 2-3 s through the default `base`: shown the chunk and the 7 s margin, it
    stopped after the first words ("men the coat", "Sunday is the best part"); with the whole window it
    hears them to the end."""
    import json

    import jiwer

    from tests.support.paths import REAL_SPEECH
    from wandr_pipeline.engines.whisper import WhisperTranscriber, load_audio
    from wandr_pipeline.engines.whisper_options import transcriber_options
    from wandr_pipeline.settings import WhisperSettings

    references = json.loads((REAL_SPEECH / "references.json").read_text())
    tx = WhisperTranscriber(transcriber_options(WhisperSettings(), model="base", window_margin_s=7))
    for name in ("sb_spk2_snt4.wav", "sb_spk1_snt5.wav", "sb_spk1_snt3.wav"):
        said = tx.transcribe(load_audio(REAL_SPEECH / name)).text
        last_word = references[name]["text"].rstrip(".").split()[-1]
        assert last_word in said.lower(), (name, said)
        assert (
            jiwer.wer(references[name]["text"].lower().rstrip("."), said.lower().strip(" .").replace(",", "")) <= 0.15
        )
