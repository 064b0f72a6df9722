"""Shared helpers of the benchmark scripts: median timing and report output."""

from __future__ import annotations

import argparse
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


def bench_main(doc: str, run, render, n: int, repeats: int, write: bool = False) -> None:
    """The command line every benchmark script shares: --n, --repeats, and --append PATH (--write PATH
    with ``write``); prints ``render(run(n, repeats), n, repeats)`` and saves it there."""
    flag, mode = ("write", "w") if write else ("append", "a")
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--n", type=int, default=n)
    ap.add_argument("--repeats", type=int, default=repeats)
    ap.add_argument(f"--{flag}", metavar="PATH", help=f"also {flag} the markdown report to PATH")
    args = ap.parse_args()
    emit(render(run(args.n, args.repeats), args.n, args.repeats), getattr(args, flag), mode)
