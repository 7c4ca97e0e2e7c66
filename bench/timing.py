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

# for peak_rss_mib's subprocess: every tensor buffer its own mmap, returned when freed
PEAK_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


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


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_rss_mib(fn: Callable[[], object]) -> float:
    """MiB of memory one call of ``fn`` needed above what the process held before it (Linux;
    run it in a fresh process started with :data:`PEAK_ENV` so freed buffers leave the RSS).

    After a warm-up call, the peak-RSS counter is reset (``echo 5 > /proc/self/clear_refs``)
    and the peak of the next call (``VmHWM``) minus the RSS before it is returned; this counts
    memory from any allocator (torch's, k2's, Python's), which tracemalloc would not."""
    fn()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    baseline = _status_kib("VmRSS")
    fn()
    return (_status_kib("VmHWM") - baseline) / 1024


def time_interleaved(fns: dict, repeats: int) -> dict:
    """Median wall and CPU (process) seconds of each callable, after one warm-up call each;
    the callables take turns on every repeat, so a change in machine load hits all alike."""
    for fn in fns.values():
        fn()  # warm-up: allocator, lazily built state
    wall: dict = {name: [] for name in fns}
    cpu: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name]))
            for name in fns}
