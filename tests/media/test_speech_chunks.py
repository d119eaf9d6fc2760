"""Chunks cut at the longest pause within the limit: a sentence that fits a chunk stays in one."""

from __future__ import annotations

from wandr_pipeline.media.speech_chunks import pause_cut_chunks


def test_cuts_at_the_sentence_pause_not_where_the_limit_falls():
    # two sentences of ~6 s, breaths of 0.2 s inside them, 0.9 s between them
    regions = [(0.5, 3.0), (3.2, 6.4), (7.3, 10.0), (10.2, 13.2)]
    chunks = pause_cut_chunks(regions, limit_s=10, duration_s=14.0)
    # the limit (10 s from 0.1) would fall inside the second sentence; the 0.9 s pause ends the first chunk
    assert chunks == [(0.1, 6.8), (6.9, 13.6)]


def test_everything_within_the_limit_is_one_chunk():
    regions = [(1.0, 4.0), (5.5, 8.0), (8.3, 11.0)]
    assert pause_cut_chunks(regions, limit_s=15, duration_s=12.0) == [(0.6, 11.4)]


def test_longest_pause_wins_even_early_and_the_later_of_equals():
    regions = [(0.0, 2.0), (3.0, 6.0), (6.5, 9.0), (9.5, 12.0)]
    # within 10 s: cuts after 2.0 (pause 1.0), after 6.0 (0.5); 1.0 wins though it leaves a short chunk
    assert pause_cut_chunks(regions, limit_s=10, duration_s=12.0, pad_s=0.0)[0] == (0.0, 2.0)
    equal = [(0.0, 2.0), (2.5, 4.0), (4.5, 6.0), (6.5, 12.0)]
    assert pause_cut_chunks(equal, limit_s=8, duration_s=12.0, pad_s=0.0)[0] == (0.0, 6.0)


def test_chunks_do_not_overlap_and_keep_every_region_whole():
    regions = [(0.3, 2.0), (2.1, 4.0), (4.05, 9.5), (9.6, 12.0), (12.5, 20.0), (26.0, 27.0)]
    chunks = pause_cut_chunks(regions, limit_s=10, duration_s=27.2)
    assert all(a[1] <= b[0] for a, b in zip(chunks, chunks[1:], strict=False))
    for start, end in regions:  # each region inside exactly one chunk
        assert sum(s <= start and end <= e for s, e in chunks) == 1
    assert all(e - s <= 10 for s, e in chunks)
    assert chunks[-1] == (25.6, 27.2)  # the clip's end bounds the padding


def test_a_region_longer_than_the_limit_is_a_chunk_of_its_own():
    regions = [(0.0, 3.0), (3.5, 15.0), (15.5, 17.0)]
    assert pause_cut_chunks(regions, limit_s=10, duration_s=17.0, pad_s=0.0) == [
        (0.0, 3.0),
        (3.5, 15.0),
        (15.5, 17.0),
    ]
    assert pause_cut_chunks([], limit_s=10, duration_s=5.0) == []
