"""Exhaustive verification throughput: fp16 add shards in one process and on a Dask LocalCluster, same run.

    python benchmarks/bench_verify.py [--n SHARDS] [--repeats R] [--append docs/performance.md]

SHARDS shards of 256 first operands (2**24 pairs each) of `bitsim verify add fp16`, median of R runs: in
this process (the baseline) and on LocalClusters of 1 and 2 single-threaded workers (cluster start-up
included); the time for all 2**32 pairs extrapolated from each rate. Then one run over all 2**32 pairs on a
2-worker LocalCluster (about 5 minutes on 2 cores), timed: the issue 9 target.
"""

from __future__ import annotations

import time

import numpy as np

from bitsim.verify import verify_pairs
from timing import bench_main

ROWS = 256
ALL_PAIRS = 1 << 32


def _rate(shards, repeats, **kw):
    """(pairs per second, digest) of the median of ``repeats`` runs."""
    times, digest = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        report = verify_pairs("add", "fp16", rows=ROWS, shards=shards, **kw)
        times.append(time.perf_counter() - t0)
        assert report.ok and (digest is None or digest == report.digest)
        digest = report.digest
    return report.pairs / float(np.median(times)), digest


def run(shards, repeats):
    verify_pairs("add", "fp16", rows=ROWS, shards=1)                         # warm-up: compiles
    base, digest = _rate(shards, repeats)
    rows = [("in process (baseline)", base)]
    for workers in (1, 2):
        rate, d = _rate(shards, repeats, scheduler="local", workers=workers)
        assert d == digest                                                      # identical results
        rows.append((f"LocalCluster, {workers} worker{'s' if workers > 1 else ''}", rate))
    t0 = time.perf_counter()
    report = verify_pairs("add", "fp16", rows=ROWS, scheduler="local", workers=2, quiet=True)
    assert report.ok and report.pairs == ALL_PAIRS
    rows.append(("LocalCluster, 2 workers, all 2**32 pairs (one timed run)", ALL_PAIRS / (time.perf_counter() - t0)))
    return rows


def render(rows, shards, repeats):
    base = rows[0][1]
    lines = ["", "## Exhaustive verification on Dask (bitsim verify)", "",
             f"Measured by `python benchmarks/bench_verify.py --append docs/performance.md` (part of `make bench`): "
             f"`bitsim verify add fp16`, {shards} shards of {ROWS} first operands ({shards * ROWS * 65536:,} "
             f"pairs), median of {repeats} runs, cluster start-up included; every run's digest identical; all "
             f"2**32 pairs extrapolated from the rate. The last row is one timed run over all 2**32 pairs.", "",
             "| where | M pairs/s | / in process | all 2**32 pairs (min) | issue 9 target |", "|---|---:|---:|---:|---|"]
    for label, rate in rows:
        minutes = ALL_PAIRS / rate / 60
        goal = f"<= 15 min: {'met' if minutes <= 15 else 'NOT met'}" if "all 2**32" in label else "-"
        lines.append(f"| {label} | {rate / 1e6:,.1f} | {rate / base:.2f}x | {minutes:,.1f} | {goal} |")
    one, two = rows[1][1], rows[2][1]
    lines += ["", f"Workers: 2 give {two / one:.2f}x the rate of 1 (each worker is one single-threaded process). The "
              "in-process run already uses every CPU through Numba's threads, so on a machine with as few CPUs "
              "as workers the cluster only matches it; the cluster is for more machines, or more cores than one "
              "process's threads use well (docs/verify.md).", ""]
    return "\n".join(lines)


def main():
    bench_main(__doc__, run, render, 8, 3)


if __name__ == "__main__":
    main()
