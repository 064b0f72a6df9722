"""A fast CPU path for register accumulators (KulischAcc, IntAcc) whose whole dot fits an int64.

When every operand value is an integer multiple of its format's quantum and every product, summed over
the dot, fits 62 bits, the register's K additions are one integer dot product of the operands' integer
values (``register_plan``), followed by the register's own steps: the addend c, the overflow rule and the
one rounding (``bitsim.core.accum``). Where the sum of |products| stays below 2**53 the integer dot
products of a whole GEMM are computed as a float64 matrix product of those integers (``exact_totals``):
every product and every partial sum is then an integer below 2**53, so each float64 operation is exact
in any order, with or without FMA, and BLAS returns the exact integer sums. Beyond 2**53 an int64 loop
does it. The result is the register model's:

* with overflow "wrap", wrapping after every addition equals wrapping the exact sum once (arithmetic
  modulo 2**width);
* with "raise" or "saturate" the path is taken only when no partial sum can leave the register
  (K * max|product| + max|c| < 2**(width-1)), so there is nothing to raise or saturate.

Outputs whose row or column holds an inf or NaN code, and units that fail the conditions, run the
generic per-product kernel (``dot_cpu``). ``tests/test_dot.py`` holds both paths to ``bitsim.ref``.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import int64, prange, uint64

from bitsim.core import build
from bitsim.formats import FloatFormat
from bitsim.kernels.dot_cpu import generic_output

MAX_SUM_BITS = 62          # |sum of the products| < 2**62: no int64 overflow, with room for the sign
EXACT_FLOAT_BITS = 53      # integers below 2**53 are exact in float64, and so are their sums below it

_C = build("cpu")
output_index = _C.output_index
dot_init = _C.dot_init
register_add_integer = _C.register_add_integer
register_result = _C.register_result


def quantum_exponent(fmt) -> int:
    """Every finite value of ``fmt`` is an integer multiple of 2**this."""
    return fmt.emin - fmt.man_bits if isinstance(fmt, FloatFormat) else -fmt.frac_bits


@functools.lru_cache(maxsize=32)
def integer_values(fmt):
    """(values, special) over every code of a format of at most 16 bits: value / 2**quantum as int64,
    and whether the code is inf or NaN (value 0 there); None when a value reaches 2**62 quanta."""
    from bitsim.quantize import decode
    codes = np.arange(1 << fmt.bits, dtype=fmt.code_dtype)
    real = decode(codes, fmt)
    special = ~np.isfinite(real)
    scaled = np.ldexp(np.where(special, 0.0, real), -quantum_exponent(fmt))   # exact: < 2**53 for <= 16 bits
    if np.abs(scaled).max() >= 2.0 ** 62:
        return None
    values = scaled.astype(np.int64)
    values.setflags(write=False)
    special.setflags(write=False)
    return values, special


def register_plan(unit, K: int, frac: int, width: int, use_c: bool):
    """(shift, table_a, special_a, table_b, special_b, float_exact) when the fast path gives the register
    model's result for dots of K products, else None (see the module doc)."""
    fa, fb = unit.a, unit.b
    if fa.bits > 16 or fb.bits > 16 or width > 63:
        return None
    shift = frac + quantum_exponent(fa) + quantum_exponent(fb)      # product units -> register units
    if shift < 0 or shift > 32:
        return None
    va, vb = integer_values(fa), integer_values(fb)
    if va is None or vb is None:
        return None
    (ta, sa), (tb, sb) = va, vb
    max_prod = int(np.abs(ta).max()) * int(np.abs(tb).max())
    if max_prod * max(K, 1) >= 2 ** (MAX_SUM_BITS - shift):
        return None
    if unit.acc.overflow != "wrap":
        c_max = math.ldexp(float(unit.c.max), frac) if use_c else 0.0
        if float(max_prod) * 2.0 ** shift * K + c_max >= 2.0 ** (width - 1) * (1 - 2.0 ** -40):
            return None
    return shift, ta, sa, tb, sb, max_prod * max(K, 1) < 2 ** EXACT_FLOAT_BITS


def exact_totals(Ai, BTi, rowwise: bool) -> np.ndarray:
    """Every output's exact integer sum of products, flat: a float64 BLAS product of integers whose
    partial sums stay below 2**53 (the caller checked), hence exact."""
    af, bf = Ai.astype(np.float64), BTi.astype(np.float64)
    totals = np.einsum("ik,ik->i", af, bf) if rowwise else af @ bf.T
    return totals.reshape(-1).astype(np.int64)


@numba.njit(parallel=True, nogil=True, cache=True)
def register_dot_array(A, BT, Ai, BTi, totals, rowwise, row_special, col_special, C, use_c, pa, pb, pc, model,
                       p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width, overflow, p_prod, po, mode_out, shift,
                       out, flags, status):  # pragma: no cover - compiled
    """``dot_cpu.dot_array`` for a register model: the exact sum (``totals[t]`` if given, else an int64
    dot of the integer values Ai, BTi) where row and column are free of specials, the generic kernel
    steps elsewhere."""
    n_cols = BT.shape[0]
    K = A.shape[1]
    for t in prange(out.shape[0]):
        i, j = output_index(t, rowwise, n_cols)
        c = uint64(C[t]) if use_c else uint64(0)
        if row_special[i] or col_special[j]:
            out[t], flags[t], status[t] = generic_output(A, BT, i, j, c, use_c, pa, pb, pc, model, p_acc, mode_acc,
                                                         p_inner, mode_inner, chunk, frac, width, overflow, p_prod,
                                                         po, mode_out)
            continue
        state = dot_init(c, use_c, pc, model, p_acc, mode_acc, frac, width, overflow)
        total = int64(0)
        if totals.shape[0] > 0:
            total = totals[t]
        else:
            for k in range(K):
                total += Ai[i, k] * BTi[j, k]
        _, _, _, hi, lo, specials, st = state
        hi, lo, st = register_add_integer(hi, lo, total, shift, width, overflow, st)
        out[t], flags[t] = register_result(hi, lo, specials, frac, po, mode_out)
        status[t] = st

