"""Grouping ready video partitions into runs of at most N, without Dagster.

A Dagster run covers a *range* of partitions (`dagster/asset_partition_range_start/_end`), so a
run can only hold keys that are adjacent in partition order (for the `videos` dynamic partitions:
the order they were added). Ready keys with a gap between them need two runs. Dagster 1.13 has
no run over an arbitrary partition subset (dagster-io/dagster#32335), so this module keeps runs
big another way: a short ready segment whose neighbour is still being produced upstream is *held*
(up to `max_wait_s`), because that neighbour will soon join it into one longer segment, the way
a network stack waits a moment to fill a packet. Segments that cannot grow go at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class BatchPlan:
    """Runs to request now, and the keys held back (with the time each was first seen ready)."""

    batches: list[list[str]] = field(default_factory=list)
    held: dict[str, float] = field(default_factory=dict)


def ready_segments(order: Sequence[str], ready: Iterable[str]) -> list[list[str]]:
    """Maximal runs of ready keys that sit next to each other in `order`."""
    wanted = set(ready)
    segments: list[list[str]] = []
    current: list[str] = []
    for key in order:
        if key in wanted:
            current.append(key)
        elif current:
            segments.append(current)
            current = []
    if current:
        segments.append(current)
    return segments


def _chunks(keys: list[str], size: int) -> list[list[str]]:
    return [keys[i : i + size] for i in range(0, len(keys), size)]


def plan_batches(
    order: Sequence[str],
    ready: Iterable[str],
    upcoming: Iterable[str],
    max_size: int,
    *,
    first_ready_at: Mapping[str, float],
    now: float,
    max_wait_s: float,
) -> BatchPlan:
    """Turn `ready` keys into runs of at most `max_size` adjacent keys.

    `upcoming` are keys that are not ready yet but will be soon (their upstream run is queued or
    running). A segment next to an upcoming key can still grow: its full chunks of `max_size` go
    now, taken from the end away from the upcoming neighbour, and the short rest is held until it
    fills up, its neighbours stop being upcoming, or its oldest key has waited `max_wait_s`.
    `first_ready_at` is the previous plan's `held` (key -> time first seen ready).
    """
    max_size = max(1, int(max_size))
    upcoming = set(upcoming)
    position = {key: i for i, key in enumerate(order)}
    plan = BatchPlan()
    for segment in ready_segments(order, ready):
        start, end = position[segment[0]], position[segment[-1]]
        grows_left = start > 0 and order[start - 1] in upcoming
        grows_right = end + 1 < len(order) and order[end + 1] in upcoming
        if not (grows_left or grows_right):
            plan.batches.extend(_chunks(segment, max_size))
            continue
        full = len(segment) // max_size * max_size
        if grows_right or not grows_left:
            go, rest = segment[:full], segment[full:]
        else:  # only the left side can grow: send the right-hand full chunks, keep the left rest
            rest, go = segment[: len(segment) - full], segment[len(segment) - full :]
        plan.batches.extend(_chunks(go, max_size))
        if not rest:
            continue
        since = min(first_ready_at.get(key, now) for key in rest)
        if now - since >= max_wait_s:
            plan.batches.append(rest)
        else:
            plan.held.update({key: first_ready_at.get(key, now) for key in rest})
    return plan


def contiguous_batches(all_keys: Sequence[str], wanted: Iterable[str], max_size: int) -> list[list[str]]:
    """Split `wanted` into runs of adjacent keys (in partition order) of at most `max_size`.

    A run covers a partition range, so it may only hold keys that sit next to each other.
    """
    return list(adjacent_batches({key: i for i, key in enumerate(all_keys)}, wanted, max_size))


def adjacent_batches(position: Mapping[str, int], keys: Iterable[str], max_size: int) -> Iterator[list[str]]:
    """`contiguous_batches` for a caller that splits many key sets of one partition order: `position` is
    each key's index in it, built once (a 100,000-partition order is not walked again per split)."""
    batch: list[str] = []
    for key in sorted(dict.fromkeys(keys), key=position.__getitem__):
        if batch and (position[key] != position[batch[-1]] + 1 or len(batch) >= max_size):
            yield batch
            batch = []
        batch.append(key)
    if batch:
        yield batch
