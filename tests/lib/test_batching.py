"""Grouping ready partitions into runs: full batches go, short ones wait for neighbours in flight."""

from wandr_pipeline.lib.batching import adjacent_batches, contiguous_batches, plan_batches, ready_segments

ORDER = [f"k{i:02d}" for i in range(1, 21)]


def keys(*numbers: int) -> list[str]:
    return [f"k{n:02d}" for n in numbers]


def plan(ready, upcoming=(), size=4, held=None, now=1000.0, max_wait=60.0):
    return plan_batches(ORDER, ready, upcoming, size, first_ready_at=held or {}, now=now, max_wait_s=max_wait)


def test_segments_follow_partition_order_not_input_order():
    assert ready_segments(ORDER, keys(5, 1, 2, 7, 6)) == [keys(1, 2), keys(5, 6, 7)]


def test_contiguous_ready_keys_become_runs_of_at_most_n():
    result = plan(keys(*range(1, 11)))
    assert result.batches == [keys(1, 2, 3, 4), keys(5, 6, 7, 8), keys(9, 10)]
    assert result.held == {}


def test_gaps_that_are_still_in_flight_are_waited_for_then_batched_together():
    # k03 and k06 are still being produced upstream: the three fragments would be three runs.
    first = plan(keys(1, 2, 4, 5, 7, 8), upcoming=keys(3, 6), size=10, now=1000.0)
    assert first.batches == []
    assert set(first.held) == set(keys(1, 2, 4, 5, 7, 8))
    # The gaps arrive: one run for all eight, not three.
    second = plan(keys(*range(1, 9)), upcoming=(), size=10, held=first.held, now=1010.0)
    assert second.batches == [keys(*range(1, 9))]
    assert second.held == {}


def test_full_batches_go_at_once_and_only_the_short_rest_waits():
    result = plan(keys(*range(1, 11)), upcoming=keys(11), size=4)
    assert result.batches == [keys(1, 2, 3, 4), keys(5, 6, 7, 8)]
    assert set(result.held) == set(keys(9, 10))
    # Growing on the left only: the full chunks are taken from the right-hand end.
    left = plan(keys(*range(6, 16)), upcoming=keys(5), size=4)
    assert left.batches == [keys(8, 9, 10, 11), keys(12, 13, 14, 15)]
    assert set(left.held) == set(keys(6, 7))


def test_a_held_rest_goes_when_it_has_waited_long_enough():
    held = {k: 900.0 for k in keys(9, 10)}
    result = plan(keys(9, 10), upcoming=keys(11), size=4, held=held, now=1000.0, max_wait=60.0)
    assert result.batches == [keys(9, 10)]
    assert result.held == {}
    fresh = plan(keys(9, 10), upcoming=keys(11), size=4, held={k: 990.0 for k in keys(9, 10)}, now=1000.0)
    assert fresh.batches == [] and set(fresh.held) == set(keys(9, 10))


def test_gaps_that_will_not_fill_do_not_hold_anything():
    # k03 is done already (not upcoming): waiting would not help, so both fragments go now.
    result = plan(keys(1, 2, 4, 5), upcoming=(), size=10)
    assert result.batches == [keys(1, 2), keys(4, 5)]
    assert result.held == {}


def test_contiguous_batches_split_on_gaps_and_size():
    keys = [f"k{i}" for i in range(10)]
    assert contiguous_batches(keys, ["k1", "k2", "k3", "k5", "k6", "k9"], 2) == [
        ["k1", "k2"],
        ["k3"],
        ["k5", "k6"],
        ["k9"],
    ]
    assert contiguous_batches(keys, reversed(keys), 50) == [keys]


def test_adjacent_batches_cut_at_gaps_and_at_the_run_size():
    position = {key: i for i, key in enumerate("abcdefgh")}
    assert list(adjacent_batches(position, ["h", "a", "b", "c", "e", "f"], 2)) == [["a", "b"], ["c"], ["e", "f"], ["h"]]
    assert list(adjacent_batches(position, [], 5)) == []
