"""Speech the VAD heard and no decoded word covers is found; covered speech and short pauses are not."""

from wandr_pipeline.media.speech_coverage import coverage, merge, uncovered


def test_merge_unions_overlaps_and_drops_empty():
    assert merge([(3, 4), (0, 1), (0.5, 2), (5, 5)]) == [(0, 2), (3, 4)]


def test_a_sentence_without_words_is_uncovered_and_lowers_coverage():
    speech = [(0.0, 10.0), (10.5, 14.0)]
    # words for 0-6 s and 10.5-14 s: the decoder stopped early in the first chunk
    words = [(0.1 + i * 0.5, 0.5 + i * 0.5) for i in range(12)] + [(10.6, 11.0), (11.2, 13.8)]
    gaps = uncovered(speech, words)
    assert gaps == [(6.25, 10.0)]
    assert 0.6 < coverage(speech, words) < 0.75


def test_pauses_between_words_shorter_than_the_minimum_are_not_gaps():
    speech = [(0.0, 4.0)]
    words = [(0.0, 1.0), (1.8, 2.5), (3.0, 4.0)]  # 0.8 s and 0.5 s without a word
    assert uncovered(speech, words) == []
    assert 0.9 < coverage(speech, words) < 1.0  # the 0.8 s pause counts as uncovered, but is too short to redo


def test_no_speech_has_no_coverage():
    assert coverage([], [(0, 1)]) is None
    assert uncovered([], [(0, 1)]) == []


def test_second_pass_segments_are_merged_in_time_order_and_renumbered():
    from wandr_pipeline.engines.whisper_transcript import (
        SECOND_PASS,
        TranscriptSegment,
        TranscriptWord,
        merged_segments,
    )

    def seg(i, start, end, text, decode_pass=1):
        return TranscriptSegment(
            i, start, end, text, -0.1, 0.0, 1.0, (TranscriptWord(text, start, end, 0.9),), decode_pass
        )

    first = [seg(0, 0.0, 2.0, "one"), seg(1, 8.0, 9.0, "three")]
    merged = merged_segments(first, [seg(0, 3.0, 6.0, "two", SECOND_PASS)])
    assert [(s.index, s.text, s.decode_pass) for s in merged] == [(0, "one", 1), (1, "two", 2), (2, "three", 1)]


def test_pauses_are_the_long_stretches_outside_speech_up_to_the_end():
    from wandr_pipeline.media.speech_coverage import pauses

    speech = [(1.5, 4.0), (4.5, 6.0), (5.0, 7.0), (12.0, 14.0)]
    # 0.5 s between the first two regions is too short; the clip's start and end count
    assert pauses(speech, 20.0) == [(0.0, 1.5), (7.0, 12.0), (14.0, 20.0)]
    assert pauses([], 3.0) == [(0.0, 3.0)]
    assert pauses([(0.0, 3.0)], 3.0) == []


def test_missed_speech_that_runs_into_a_region_is_joined_with_it():
    from wandr_pipeline.media.speech_coverage import joined_regions

    speech = [(0.0, 9.0), (10.6, 17.0), (25.0, 30.0)]
    missed = [
        (10.0, 10.6),  # the start of the second region, found on the second look: touches it
        (17.0, 17.5),  # and its tail
        (20.0, 22.0),  # a sentence alone in a pause: decoded on its own, not joined
        (24.97, 25.0),  # within TOUCH_S of the third region's start
    ]
    assert joined_regions(speech, missed) == [(10.0, 17.5), (24.97, 30.0)]
    assert joined_regions(speech, [(20.0, 22.0)]) == []
    # a whole sentence missed after a loud region is decoded on its own, not with the region
    assert joined_regions(speech, [(17.0, 21.0)]) == []
    # missed speech filling a whole pause joins both neighbours into one stretch
    assert joined_regions([(0.0, 4.0), (4.5, 8.0)], [(4.0, 4.5)]) == [(0.0, 8.0)]


def test_a_gap_is_widened_over_the_words_stretched_across_it_and_one_word_more():
    from wandr_pipeline.media.speech_coverage import stretched, widened

    assert stretched(69.51, 70.37, "At") and stretched(70.56, 71.42, "that")  # 0.86 s each: skipped speech
    assert not stretched(71.42, 71.90, "high") and not stretched(0.0, 1.2, "fascinating")
    # the decoder skipped "and can fly"; the next sentence's first words were timed over it
    words = [(68.9, 69.2, "feathers"), (69.51, 70.37, "At"), (70.56, 71.42, "that"), (71.42, 71.9, "high")]
    words += [(71.9, 72.36, "level,")]
    assert widened([(66.13, 69.26)], words) == [(66.13, 71.9)]
    # and at a gap's start: a sentence's last word stretched forward over what followed
    assert widened([(5.0, 7.0)], [(3.0, 3.4, "the"), (3.4, 4.75, "end.")]) == [(3.0, 7.0)]
    # words timed as they are read leave the gap as it is
    assert widened([(5.0, 7.0)], [(4.2, 4.75, "end."), (7.25, 7.6, "next")]) == [(5.0, 7.0)]


def test_widened_gaps_that_overlap_are_one_stretch_and_touching_ones_stay_apart():
    from wandr_pipeline.media.speech_coverage import widened

    words = [(9.0, 10.0, "at"), (10.0, 10.3, "once")]  # "at" stretched: both gaps before it reach 10.3
    assert widened([(5.0, 8.9), (7.0, 8.9)], words) == [(5.0, 10.3)]
    assert widened([(6.29, 8.016), (8.016, 12.378)], []) == [(6.29, 8.016), (8.016, 12.378)]
