"""Wall-clock timing shared by the benchmark scripts (run them as ``python bench/<name>.py``, so
this folder is on ``sys.path``).

Example::

    >>> from timing import median_seconds
    >>> median_seconds(lambda: sum(range(1000)), repeats=3) >= 0.0
    True
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def run_times(fn: Callable[[], object], repeats: int, warm_up: bool) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn``, after one untimed call if ``warm_up``."""
    if warm_up:
        fn()  # fills caches (allocator, lazily built state) that later calls reuse
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median time of ``repeats`` calls after one warm-up call."""
    return statistics.median(run_times(fn, repeats, warm_up=True))


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Shortest time of ``repeats`` calls (no warm-up)."""
    return min(run_times(fn, repeats, warm_up=False))
