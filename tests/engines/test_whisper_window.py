"""The encoder sees each batch's longest chunk plus a margin, not a padded 30 s window (`whisper_window`)."""

from __future__ import annotations

import numpy as np
import pytest

from wandr_pipeline.engines.whisper_window import WINDOW_FRAMES, trimmed, window_frames


def test_window_is_the_longest_chunk_plus_the_margin_at_most_30_s():
    assert window_frames([8.0, 9.87, 3.2], 10) == 1987
    assert window_frames([25.0], 10) == WINDOW_FRAMES  # never past Whisper's window
    assert window_frames([4.0], 30) == WINDOW_FRAMES  # the setting's "always the full window"
    assert window_frames([4.0], None) == WINDOW_FRAMES
    assert window_frames([], 5) == 500


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
