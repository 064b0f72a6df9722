"""Block-format encode throughput (BM8, MXFP8) next to a naive NumPy implementation of the same rule.

    python benchmarks/bench_blocks.py [--n N] [--repeats R] [--append docs/performance.md]

Input: N float32 values from a seeded standard normal. bitsim produces element codes and scale codes;
the naive baseline computes the same rule on values in float64 NumPy (block amax by reshape, X from
``np.frexp``, elements rounded with ``np.round`` on the element grid, saturated) without producing
codes -- the cheapest vectorised NumPy formulation a user would write. Medians of R runs.
"""

from __future__ import annotations

import numpy as np

from timing import bench_main, median_seconds
from bitsim.blocks import Tiling, encode, lookup_block


def naive_element_round(a, element):
    """RNE of |a| onto a float element grid (subnormals, saturation), in float64 NumPy."""
    m, emin, top = element.man_bits, element.emin, float(element.max)
    with np.errstate(divide="ignore"):
        _, ex = np.frexp(a)
    q = np.ldexp(1.0, np.maximum(ex - 1, emin) - m)
    return np.minimum(np.round(a / q) * q, top)


def naive_block_quantize(blocks, element, emax):
    """blocks: (..., L) float64 view whose last axis is one block; OCP/BM floor rule, RNE elements."""
    a = np.abs(blocks)
    amax = a.max(axis=-1, keepdims=True)
    _, ex = np.frexp(np.where(amax > 0, amax, 1.0))
    x = ex - 1 - emax
    return np.copysign(np.ldexp(naive_element_round(np.ldexp(a, -x), element), x), blocks)


def cases(n):
    mx = lookup_block("mxfp8_e4m3")
    bm = lookup_block("bm8")
    t = bm.tile
    bm_shape = (max(1, n // (2 * t ** 3)), 2 * t, t, t)   # (N, C, H, W) with C and H*W multiples of T
    paper = bm.activation.replace(block=Tiling.tiles(t))
    mx_shape = (n // 1024, 1024)

    def bm_naive(x):
        nn, c, hw = x.shape[0], x.shape[1], x.shape[2] * x.shape[3]
        tiles = x.astype(np.float64).reshape(nn, c // t, t, hw // t, t).transpose(0, 1, 3, 2, 4)
        return naive_block_quantize(tiles.reshape(nn, c // t, hw // t, t * t), bm.forward, bm.activation.emax)

    def paper_naive(x):
        r, c = x.shape
        tiles = x.astype(np.float64).reshape(r // t, t, c // t, t).transpose(0, 2, 1, 3)
        return naive_block_quantize(tiles.reshape(r // t, c // t, t * t), bm.forward, paper.emax)

    def mx_naive(x):
        return naive_block_quantize(x.astype(np.float64).reshape(-1, 32), mx.element, mx.emax)

    paper_shape = (t * (n // (t * t * 8) or 1), 8 * t)
    return [("mxfp8_e4m3 (1x32 blocks)", mx, mx_shape, mx_naive),
            ("bm8 activation (reference tiling 1x48x48 of N,C,H*W)", bm.activation, bm_shape, bm_naive),
            ("bm8 forward, 48x48 tiles (paper)", paper, paper_shape, paper_naive)]


def run(n, repeats):
    rng = np.random.default_rng(0)
    rows = []
    for label, fmt, shape, naive in cases(n):
        x = rng.standard_normal(shape).astype(np.float32)
        size = x.size
        rne = size / median_seconds(lambda: encode(x, fmt, "rne"), repeats)
        sr = size / median_seconds(lambda: encode(x, fmt, "sr", sr_bits=16, seed=1), repeats)
        base = size / median_seconds(lambda: naive(x), repeats)
        rows.append((label, shape, rne, sr, base))
    return rows


def render(rows, n, repeats):
    lines = ["", "## block formats: encode (float32 -> element codes + scale codes)", "",
             f"Measured by `python benchmarks/bench_blocks.py --append docs/performance.md` (part of `make bench`): "
             f"about {n:,} float32 values from a standard normal (seed 0), median of {repeats} runs. Baseline in "
             "the same run: a naive float64 NumPy implementation of the same rule (block amax, floor scale, RNE "
             "elements with saturation) that returns values, not codes.", "",
             "| format | shape | bitsim RNE (M elem/s) | bitsim SR 16 bits (M elem/s) | naive NumPy (M elem/s) "
             "| RNE / NumPy |", "|---|---|---:|---:|---:|---:|"]
    for label, shape, rne, sr, base in rows:
        lines.append(f"| {label} | {shape} | {rne / 1e6:,.0f} | {sr / 1e6:,.0f} | {base / 1e6:,.0f} | "
                     f"{rne / base:.1f}x |")
    lines += ["", "Target of the block-format issue (>= 300 M elem/s on 2 cores for BM8 and MXFP8), judged on this "
              "run: " + "; ".join(f"{label.split(' (')[0].split(',')[0]} {rne / 1e6:,.0f} M/s "
                                  f"{'met' if rne >= 300e6 else 'NOT met'}" for label, _, rne, *_ in rows) + ".", ""]
    return "\n".join(lines)


def main():
    bench_main(__doc__, run, render, 4_000_000, 7)


if __name__ == "__main__":
    main()
