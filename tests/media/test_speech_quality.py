"""The trust verdict: unsure words flag a clip, confident ones do not; loops are marked per segment.

The word probabilities are those tiny.en gave on the real clips of data/real/speech (docs/BENCHMARKS.md)."""

from wandr_pipeline.media.speech_quality import GOOD, LOW_CONFIDENCE, REPEATED, SegmentEvidence, assess


def segment(text, probabilities, ratio=1.1):
    return SegmentEvidence(text, probabilities, ratio)


def test_confident_english_is_trusted():
    verdict = assess([segment("The child almost hurt the small dog.", [0.99, 0.95, 0.97, 0.9, 0.98, 0.96, 0.93])])
    assert verdict.trusted and verdict.reason is None and verdict.segment_quality == [GOOD]


def test_invented_english_for_portuguese_speech_is_flagged_with_a_reason():
    thanks = [0.6, 0.3, 0.4, 0.5]
    verdict = assess(
        [segment("Thank you very much.", thanks), segment("Thank you very much.", thanks)], model_language="en"
    )
    assert not verdict.trusted
    assert "not in en" in verdict.reason and "repeat" in verdict.reason
    assert verdict.segment_quality == [LOW_CONFIDENCE, REPEATED]


def test_a_clip_unsure_on_average_but_with_few_unsure_words_is_trusted():
    # synthetic English TTS: mean 0.68, but only 2 of 10 words below 0.5
    assert assess(
        [segment("welcome to lisbon this little bakery sells the best custard tarts", [0.75] * 8 + [0.3] * 2)]
    ).trusted


def test_a_loop_inside_one_segment_is_repeated_and_few_words_are_not_judged():
    assert assess([segment("la la la la la la la la la", [0.9] * 9, ratio=3.2)]).segment_quality == [REPEATED]
    assert assess([segment("Okay.", [0.3])]).trusted
