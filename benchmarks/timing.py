"""Shared helpers of the benchmark scripts: median timing and report output."""

from __future__ import annotations

import statistics
import time


def median_seconds(fn, repeats):
    """Median wall time of ``repeats`` calls of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def emit(text: str, path: str | None, mode: str) -> None:
    """Print the report and, with a path, write ("w") or append ("a") it there."""
    print(text)
    if path:
        with open(path, mode) as fh:
            fh.write(text)
