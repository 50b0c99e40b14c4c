"""Percentiles by nearest rank: always a value that was observed (a p99 of 812 ms is a run that
took 812 ms), and the same figure wherever the monitor reports one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T", int, float)


def nearest_rank(ordered: Sequence[T], q: float) -> T:
    """The `q`-th percentile (0..100) of sorted, non-empty `ordered`."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    rank = max(1, -(-len(ordered) * q // 100))  # ceil without floats
    return ordered[int(rank) - 1]
