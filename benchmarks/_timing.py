"""The timing helper the benchmark scripts share."""

from __future__ import annotations

import statistics
import time


def median_s(fn, *, repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn()``, in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def median_cpu_s(fn, *, repeats: int) -> float:
    """Median CPU time (user + system, this process and the children it waited for) of ``repeats`` calls, in seconds.

    Less sensitive than wall time to the load of a shared machine (issue #17's figures are compared on it).
    """
    import resource

    def cpu() -> float:
        a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    times = []
    for _ in range(repeats):
        t0 = cpu()
        fn()
        times.append(cpu() - t0)
    return statistics.median(times)
