"""Cross-clip batching (many short clips share decoding batches) gives the per-clip results."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.paths import SAMPLES


@pytest.fixture(scope="module")
def clips():
    from faster_whisper.audio import decode_audio

    audio = {path.stem: decode_audio(str(path), sampling_rate=16_000) for path in sorted(SAMPLES.glob("*.mp4"))}
    audio["silence"] = np.zeros(16_000 * 4, np.float32)
    return audio


def transcriber(**overrides):
    from wandr_pipeline.engines.whisper import WhisperTranscriber
    from wandr_pipeline.engines.whisper_models import BUNDLED_MODEL
    from wandr_pipeline.engines.whisper_options import transcriber_options
    from wandr_pipeline.settings import WhisperSettings

    return WhisperTranscriber(transcriber_options(WhisperSettings(), model=BUNDLED_MODEL, **overrides))


@pytest.mark.slow
def test_cross_clip_batches_match_one_clip_at_a_time(clips, manifest):
    import jiwer

    batching = transcriber(batch_size=4, prefetch=2, cross_clip="true")
    assert batching._cross_clip is not None
    items = [(name, name) for name in clips] + [("broken", "no-such-clip")]
    batched = list(batching.transcribe_many(items, load=lambda name: clips[name]))
    assert [key for key, _ in batched] == [key for key, _ in items]  # input order kept
    batched = dict(batched)
    assert isinstance(batched.pop("broken"), KeyError)  # a clip that cannot load fails alone

    one_by_one = {name: batching.transcribe(audio) for name, audio in clips.items()}
    for name, result in batched.items():
        expected = one_by_one[name]
        assert result.text == expected.text, name
        assert [(s.start_s, s.end_s) for s in result.segments] == [(s.start_s, s.end_s) for s in expected.segments]
    assert batched["silence"].segments == []
    for item in manifest:
        name = item["file"].removesuffix(".mp4")
        assert jiwer.wer(item["speech"].lower(), batched[name].text.lower()) < 0.5, batched[name].text
        assert batched[name].segments[0].start_s < 1.0 and batched[name].duration_s > 8


def test_cross_clip_off_without_vad_or_batching_and_auto_only_on_gpu():
    assert transcriber(batch_size=1, cross_clip="true")._cross_clip is None
    assert transcriber(vad=False, cross_clip="true")._cross_clip is None
    assert transcriber(cross_clip="false")._cross_clip is None
    auto = transcriber(device="cpu")
    assert auto._cross_clip is None  # auto: on with CUDA only


def test_a_quiet_sentence_after_a_loud_one_is_found_on_the_second_look():
    """Silero carries state: after a loud sentence, a FLEURS sentence 35 dB quieter scores as silence in one
    run over the track, but alone it is speech (`missed_speech`). Only the VAD model runs here."""
    from benchmarks.real_media import speech_track
    from wandr_pipeline.engines.whisper import missed_speech, speech_regions
    from wandr_pipeline.media.speech_coverage import merge, uncovered

    track = speech_track((("sb_LJ050-0131.wav", 0.4), ("fleurs-en-004.ogg", 0.0)))
    (_, _, loud_end), (_, quiet_start, quiet_end) = track.sentences
    options = dict(threshold=0.35, min_silence_duration_ms=160, max_speech_duration_s=10)
    speech = speech_regions(track.audio, 10, **options)
    assert speech and all(end < quiet_start + 0.5 for _, end in speech), speech  # the premise: it is missed

    found = missed_speech(track.audio, speech, 10, **options)
    assert found and found[0][0] < quiet_start + 0.5 and found[-1][1] > quiet_end - 0.5, found
    assert all(start > loud_end - 0.5 for start, _ in found)  # nothing found again inside the loud sentence
    # with no word decoded there yet, the coverage check sends it to the second pass
    (gap,) = uncovered(merge(speech + found), [(0.5, loud_end)])
    assert gap[0] < quiet_start + 0.5 and gap[1] > quiet_end - 0.5, gap


@pytest.mark.slow
def test_vad_threshold_and_pause_chunks_reach_every_pass():
    """The VAD settings cut the first pass's chunks, the coverage check's speech and the second pass alike;
    with `chunk_pause_ms` every speech region is its own chunk, also when clips share batches."""
    from benchmarks.real_media import references, speech_track

    track = speech_track((("sb_spk1_snt1.wav", 0.8), ("sb_spk2_snt3.wav", 0.0)))
    pauses = transcriber(chunk_s=10, vad_threshold=0.35, chunk_pause_ms=300, cross_clip="true", batch_size=4)
    speech = pauses.speech_regions(track.audio)
    assert len(speech) >= 2 and all(end - start <= 10 for start, end in speech)
    assert pauses.chunking(speech) == {"clip_timestamps": [{"start": s, "end": e} for s, e in speech]}
    merged = transcriber(chunk_s=10, vad_threshold=0.35)
    assert merged.chunking(speech) == {"vad_parameters": {"threshold": 0.35, "min_silence_duration_ms": 160}}
    assert merged.chunking(None) == {}  # VAD off: faster-whisper's own handling

    alone = pauses.transcribe(track.audio)
    batched = dict(pauses.transcribe_many([("a", "a"), ("b", "b")], load=lambda _: track.audio))
    assert batched["a"].text == batched["b"].text == alone.text
    refs = references()
    for (name, start, end), text in zip(track.sentences, ("small dog", "yellow")):
        said = " ".join(w.word for s in alone.segments for w in s.words if start <= w.start_s <= end).lower()
        assert text in said, (name, said, refs[name]["text"])


def test_a_quiet_sentence_start_after_a_loud_sentence_is_joined_with_its_region():
    """fleurs-en-002 after fleurs-en-001 (0.7 s pause, as on the real-media track): the VAD's region starts
    ~0.6 s into the sentence ("to the north" is not in it); the second look finds that start running into
    the region, so the region is decoded again together with it. Only the VAD model runs here."""
    from benchmarks.real_media import speech_track
    from wandr_pipeline.engines.whisper import missed_speech, speech_regions
    from wandr_pipeline.media.speech_coverage import joined_regions

    track = speech_track((("fleurs-en-001.ogg", 0.7), ("fleurs-en-002.ogg", 0.0)))
    (_, _, first_end), (_, start, _) = track.sentences
    options = dict(threshold=0.35, min_silence_duration_ms=160, max_speech_duration_s=10)
    speech = speech_regions(track.audio, 10, **options)
    late = min(s for s, _ in speech if s > first_end)
    assert late > start + 0.3, speech  # the premise: the region starts after the sentence does

    missed = missed_speech(track.audio, speech, 10, **options)
    (stretch,) = joined_regions(speech, missed)
    assert stretch[0] < start + 0.1 and stretch[1] > late + 3, (stretch, missed)


def test_a_rejoined_region_replaces_the_first_pass_words_inside_it_only():
    from wandr_pipeline.engines.whisper import WhisperTranscriber
    from wandr_pipeline.engines.whisper_transcript import SECOND_PASS, TranscriptSegment, TranscriptWord

    def seg(start, words, decode_pass=1):
        ws = tuple(TranscriptWord(w, start + i * 0.5, start + i * 0.5 + 0.4, 0.9) for i, w in enumerate(words))
        return TranscriptSegment(0, ws[0].start_s, ws[-1].end_s, " ".join(words), -0.1, 0.0, 1.0, ws, decode_pass)

    first = [seg(0.0, ["one", "two"]), seg(3.0, ["and", "with", "an"]), seg(6.0, ["four"])]
    tx = object.__new__(WhisperTranscriber)  # only its second pass is faked here: no model
    again = [seg(2.4, ["to", "the", "north", "and", "within"], SECOND_PASS)]
    tx._decode_gaps = lambda audio, gaps, language, whole: again if whole and gaps == [(2.4, 5.0)] else []
    out = tx._redecoded(np.zeros(16_000), first, [(2.4, 5.0)], "en")
    assert [w.word for s in out for w in s.words] == ["one", "two", "to", "the", "north", "and", "within", "four"]
    assert [s.index for s in out] == [0, 1, 2]

    tx._decode_gaps = lambda audio, gaps, language, whole: []  # nothing heard again: the first pass stays
    assert tx._redecoded(np.zeros(16_000), first, [(2.4, 5.0)], "en") == first


@pytest.mark.slow
def test_pause_cut_chunks_end_between_sentences_and_keep_their_words():
    """`chunk_cut=pause` reaches the pipeline: its chunks (`clip_timestamps`, from the unpadded regions) stay
    within `chunk_s`, one ends in the pause between two sentences that together pass it, and each sentence's
    words are decoded. (Where the cut falls among several pauses: `tests/media/test_speech_chunks.py`.)"""
    from benchmarks.real_media import speech_track

    track = speech_track((("sb_spk1_snt1.wav", 0.9), ("sb_spk2_snt3.wav", 0.0)))
    (_, _, first_end), (_, second_start, _) = track.sentences
    cut = transcriber(chunk_s=5, vad_threshold=0.35, chunk_cut="pause")
    chunks = cut.chunking(cut.speech_regions(track.audio), track.audio)["clip_timestamps"]
    assert len(chunks) >= 2 and all(c["end"] - c["start"] <= 5 for c in chunks)
    assert any(first_end - 0.3 <= c["end"] <= second_start + 0.3 for c in chunks[:-1])  # a cut in the pause
    assert transcriber(chunk_s=5, chunk_cut="limit").chunking([(0.0, 1.0)], track.audio).keys() == {"vad_parameters"}
    result = cut.transcribe(track.audio)
    said = " ".join(w.word for s in result.segments for w in s.words).lower()
    assert "small dog" in said and "yellow" in said, said
