"""GEMM throughput of dot-product units next to NumPy float32 matmul, same run.

    python benchmarks/bench_dot.py [--n N] [--repeats R] [--append docs/performance.md]

N x N x N GEMMs of codes from a seeded standard normal (int8: uniform integers); medians of R runs.
The issue's targets are for 512^3, the default N.
"""

from __future__ import annotations

import numpy as np

import bitsim
from timing import bench_main, median_seconds
from bitsim.accum import DotUnit, FloatAcc, KulischAcc


def cases():
    fp16 = bitsim.format("fp16")
    return [("e4m3 x e4m3, FloatAcc(fp16) [int64 grid]", "e4m3", DotUnit("e4m3", "e4m3", FloatAcc(fp16), "fp16"),
             1e9),
            ("fp8_wang, wang_fp8 chunk 64 in fp16_wang [native binary64]", "fp8_wang", bitsim.unit("wang_fp8"), None),
            ("fp32 x fp32, fp32_seq [native binary64]", "fp32", bitsim.unit("fp32_seq"), None),
            ("e4m3 x e4m3, Kulisch -> fp32 [exact integer sums]", "e4m3", DotUnit("e4m3", "e4m3", KulischAcc(), "fp32"),
             2e9),
            ("int8 x int8 -> int32 [exact integer sums]", "int8", bitsim.unit("int8_int32"), 2e9),
            ("fp16 x fp16, H100 tensor core -> fp32 [fused model]", "fp16", bitsim.unit("nvidia_h100_fp16_fp32"),
             None)]


def run(n, repeats):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, n)).astype(np.float32)
    y = rng.standard_normal((n, n)).astype(np.float32)
    numpy32 = n ** 3 / median_seconds(lambda: x @ y, repeats)
    rows = []
    for label, fmt, unit, target in cases():
        if fmt == "int8":
            a = bitsim.encode(rng.integers(-128, 128, (n, n)).astype(np.float64), fmt)
            b = bitsim.encode(rng.integers(-128, 128, (n, n)).astype(np.float64), fmt)
        else:
            a, b = bitsim.encode(x, fmt), bitsim.encode(y, fmt)
        rate = n ** 3 / median_seconds(lambda: bitsim.matmul(a, b, unit), repeats)
        rows.append((label, rate, target))
    return numpy32, rows


def render(result, n, repeats):
    numpy32, rows = result
    lines = ["", "## GEMM through dot-product units (codes -> codes)", "",
             f"Measured by `python benchmarks/bench_dot.py --append docs/performance.md` (part of `make bench`): "
             f"{n}x{n}x{n}, median of {repeats} runs; baseline NumPy float32 matmul (BLAS) on the same values in "
             f"the same run: {numpy32 / 1e6:,.0f} M MAC/s.", "",
             "| unit | bitsim (M MAC/s) | / numpy float32 | issue 5 target |", "|---|---:|---:|---|"]
    for label, rate, target in rows:
        goal = "-" if target is None else f">= {target / 1e9:g} G MAC/s: {'met' if rate >= target else 'NOT met'}"
        lines.append(f"| {label} | {rate / 1e6:,.1f} | {rate / numpy32:.3f}x | {goal} |")
    lines += ["", "How each unit runs on the CPU (all bit-identical to `bitsim.ref.accum`): [int64 grid] a sequential FloatAcc whose accumulator and products "
              "share an int64 grid of quanta (one add and one integer rounding per product; in a GEMM "
              "whose products are multiples of the accumulator's quantum, 256 chains of a row step together, "
              "branch-free, k outermost; "
              "`bitsim/kernels/float_acc_fast.py`); [native binary64] a sequential or chunked FloatAcc whose products are "
              "exact in binary64: TwoSum, round to odd, then the accumulator's rounding on the bit pattern, 128 "
              "chains of a row at a time (`bitsim/kernels/float_acc_native.py`); [exact integer sums] register models whose sums fit 62 bits: the "
              "integer dot products as a float64 BLAS product of integers below 2**53 (exact in any order), then the "
              "register's addend, overflow rule and one rounding (`bitsim/kernels/register_fast.py`); [fused model] "
              "the tensor-core model of `bitsim.accum.fused`.", ""]
    return "\n".join(lines)


def main():
    bench_main(__doc__, run, render, 512, 3)


if __name__ == "__main__":
    main()
