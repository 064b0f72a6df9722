"""Exact reference of the GEMM level (``bitsim.accum.gemm_level``): one output per call, each step literally.

K is sliced per the split and promotion rules of ``GemmLevel`` (restated with their own formulas, sharing no
code with the fast path): with S splits of k-tiles of width T, a contiguous split s covers ``k`` in
``[s*L, min((s+1)*L, K))`` with ``L = T * ceil(K / (S*T))``, an interleaved one every ``k`` with
``(k // T) mod S == s``; a split's elements are cut every N_C into chunks. Every chunk is one instruction
chain, evaluated by the validated ``fused_dot`` on that slice with ``c = +0``; the chunk results, split
partials and the API's C are then added as exact rationals (``bitsim.ref.accum.exact_sum``, IEEE special and
signed-zero rules) and rounded to fp32 with RNE after every add. A NaN result is the canonical NaN with every
magnitude bit set (0x7FFFFFFF).
"""

from __future__ import annotations

import numpy as np

from bitsim.accum.fused import fused_dot
from bitsim.accum.gemm_level import GemmLevel
from bitsim.ref.accum import ZERO, Val, code_of, exact_sum, round_to


def split_slices(K: int, gemm: GemmLevel) -> list[list[int]]:
    """The k indices of each split, in increasing k."""
    S, T = gemm.split_k, gemm.split_tile_k
    if S == 1:
        return [list(range(K))]
    if gemm.split_layout == "contiguous":
        L = T * -(-K // (S * T))
        return [[k for k in range(K) if s * L <= k < (s + 1) * L] for s in range(S)]
    return [[k for k in range(K) if (k // T) % S == s] for s in range(S)]


def chunk_slices(ks: list[int], gemm: GemmLevel) -> list[list[int]]:
    """A split's indices cut every promotion_interval (one chunk without promotion, none if empty)."""
    if not ks:
        return []
    n_c = gemm.promotion_interval or len(ks)
    return [ks[i:i + n_c] for i in range(0, len(ks), n_c)]


def _add(x: Val, y: Val, fmt) -> Val:
    """RN(x + y) in ``fmt``."""
    return round_to(exact_sum(x, y), fmt, "rne")


def _chain(a_codes, b_codes, ks, fmt_in, acc, instruction_k) -> Val:
    """The instruction chain over the products k in ``ks``, from c = +0."""
    a = np.asarray(a_codes)[ks][None, :]
    b = np.asarray(b_codes)[ks][None, :]
    code = fused_dot(a, b, np.zeros(1, np.int64), fmt_in, acc, instruction_k=instruction_k)[0]
    return Val.of_code(int(code), acc.out)


def _partial(a_codes, b_codes, ks, fmt_in, acc, gemm, instruction_k) -> Val:
    """A split's partial: its chain, or its chunks' chains added into an fp32 accumulator from +0."""
    chunks = [_chain(a_codes, b_codes, chunk, fmt_in, acc, instruction_k) for chunk in chunk_slices(ks, gemm)]
    if gemm.promotion_interval is None:
        return chunks[0] if chunks else ZERO
    total = ZERO
    for value in chunks:
        total = _add(total, value, acc.out)
    return total


def _combine(partials: list[Val], how: str, fmt) -> Val:
    """The split partials added serially in split order, or pairwise."""
    if how == "serial":
        total = partials[0]
        for p in partials[1:]:
            total = _add(total, p, fmt)
        return total
    level = partials                  # pairwise: adjacent pairs per level, an odd last one moves up
    while len(level) > 1:
        level = [_add(level[i], level[i + 1], fmt) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return level[0]


def gemm_dot(a_codes, b_codes, c_code, fmt_in, acc, gemm: GemmLevel, instruction_k: int) -> int:
    """The fp32 code of one output ``C + sum_k a_k * b_k`` (c_code None: no epilogue add)."""
    K = len(a_codes)
    partials = [_partial(a_codes, b_codes, ks, fmt_in, acc, gemm, instruction_k) for ks in split_slices(K, gemm)]
    total = _combine(partials, gemm.combine, acc.out)
    if c_code is not None:
        total = _add(total, Val.of_code(int(c_code), acc.out), acc.out)
    return acc.out.magnitude_mask if total.kind == "nan" else code_of(total, acc.out, "rne")


def gemm_rows(A, B, C, fmt_in, acc, gemm: GemmLevel, instruction_k: int) -> np.ndarray:
    """``gemm_dot`` for every row of A, B (and C, or None), as int64 codes."""
    return np.array([gemm_dot(A[i], B[i], None if C is None else C[i], fmt_in, acc, gemm, instruction_k)
                     for i in range(len(A))], dtype=np.int64)
