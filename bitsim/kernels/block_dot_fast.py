"""A fast CPU path for block-format dot-product units: each block's Kulisch register from one exact
integer matrix product per block.

Within a block, the register receives the exact products a_k * b_k and its result is their exact sum
(the overflow rule aside). When the element formats' values are integer multiples of their quanta and a
block's sum of |products| stays below 2**53, the sums of every output and block are float64 matrix
products of those integers, one per block of K (``block_sums``): each product and partial sum is an
integer below 2**53, so BLAS returns them exactly in any order. The register then takes the sum as one
addition (``register_add``, shift = frac + quanta exponents), with the overflow rule of the unit: "wrap"
wraps the exact sum once, as wrapping after every addition would; "raise" and "saturate" need no partial
sum to leave the register, which the plan checks (``block_register_plan``). The outer steps (scales,
conversion, outer accumulator) are the core's ``block_outer_step``, the same as the generic kernel's.

Outputs whose rows hold an inf or NaN element code run the generic kernel (``block_dot_cpu``).
``tests/test_block_dot.py`` holds both paths to ``bitsim.ref.block_dot``.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from numba import int64, prange, uint64

from bitsim.core import build
from bitsim.core.accum import REG_OVF_WRAP
from bitsim.kernels.register_fast import EXACT_FLOAT_BITS, integer_values, quantum_exponent

_C = build("cpu")
output_index = _C.output_index
register_add_integer = _C.register_add_integer
block_outer_step = _C.block_outer_step
block_dot_start = _C.block_dot_start
block_dot_output = _C.block_dot_output
convert_one = _C.convert_one


@functools.lru_cache(maxsize=32)
def block_register_plan(fa, fb, L: int, frac: int, width: int, overflow: int):
    """(shift, ta, sa, tb, sb) when every block's register is its exact integer sum (module doc), else
    None: element formats of at most 16 bits, products on the register's grid (shift >= 0), block sums
    below 2**53 and, unless the register wraps, below its range."""
    if fa.bits > 16 or fb.bits > 16 or width > 126:
        return None
    shift = frac + quantum_exponent(fa) + quantum_exponent(fb)      # product units -> register units
    va, vb = integer_values(fa), integer_values(fb)
    if shift < 0 or shift > 62 or va is None or vb is None:
        return None
    (ta, sa), (tb, sb) = va, vb
    max_sum = int(np.abs(ta).max()) * int(np.abs(tb).max()) * L
    if max_sum >= 2 ** EXACT_FLOAT_BITS:
        return None
    if overflow != REG_OVF_WRAP and max_sum << shift >= 2 ** (width - 1):
        return None
    return shift, ta, sa, tb, sb


def block_sums(Ai, BTi, L: int, rowwise: bool) -> np.ndarray:
    """(n_blocks, n_out) exact int64 sums of products per block of L along K: Ai (M, K), BTi (N, K)
    integer values; outputs (i, j) row-major, or rows paired (``rowwise``)."""
    K = Ai.shape[1]
    n_blocks = -(-K // L)
    n_out = Ai.shape[0] if rowwise else Ai.shape[0] * BTi.shape[0]
    sums = np.empty((n_blocks, n_out), np.int64)
    af, bf = Ai.astype(np.float64), BTi.astype(np.float64)
    for kb in range(n_blocks):
        a, b = af[:, kb * L:(kb + 1) * L], bf[:, kb * L:(kb + 1) * L]
        part = np.einsum("ik,ik->i", a, b) if rowwise else a @ b.T
        sums[kb] = part.reshape(-1)
    return sums


@numba.njit(parallel=True, nogil=True, cache=True)
def block_dot_sums_array(A, SA, BT, SBT, rowwise, L, sums, shift, row_special, col_special, C, use_c, pa, pb, psa,
                         psb, pc, frac, width, overflow, p_acc, mode_acc, mode_conv, fused, po, mode_out, out, flags,
                         status):  # pragma: no cover - compiled
    """``block_dot_cpu.block_dot_array`` with each block's register from ``sums`` (``block_sums``), the
    generic kernel steps where a row holds a special element code."""
    n_cols = BT.shape[0]
    K = A.shape[1]
    for t in prange(out.shape[0]):
        i, j = output_index(t, rowwise, n_cols)
        c = uint64(C[t]) if use_c else uint64(0)
        if row_special[i] or col_special[j]:
            out[t], flags[t], status[t] = block_dot_output(A, SA, BT, SBT, i, j, K, L, c, use_c, pa, pb, psa, psb,
                                                           pc, frac, width, overflow, p_acc, mode_acc, mode_conv,
                                                           fused, po, mode_out)
            continue
        s, f = block_dot_start(c, use_c, pc, p_acc, mode_acc)
        st = int64(0)
        for kb in range(sums.shape[0]):
            hi, lo, st = register_add_integer(uint64(0), uint64(0), sums[kb, t], shift, width, overflow, st)
            s, f2 = block_outer_step(s, hi, lo, int64(0), SA, SBT, i, j, kb, psa, psb, frac, p_acc, mode_acc,
                                     mode_conv, fused)
            f |= f2
        code, f2 = convert_one(s, p_acc, po, mode_out, uint64(0), int64(1), int64(0))
        out[t], flags[t], status[t] = code, f | f2, st
