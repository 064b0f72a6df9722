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

Units whose outer steps are IEEE binary32 RNE conversions and additions take ``float_block_matmul``
instead (``float_outer_plan`` states the conditions and the bound): the same exact block sums, computed
by a Numba kernel vectorised along the longer output axis (no BLAS threads; in int64 where they may
reach 2**53, then rounded to odd at 53 bits), then each block value, an exact float64, converted and
added in native float32 arithmetic; a non-finite output sends the whole call to the kernels above. ``tests/test_block_dot_float.py`` holds it to the generic kernel.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numba
import numpy as np
from numba import int64, prange, uint64

from bitsim.core import build
from bitsim.core.accum import REG_OVF_WRAP
from bitsim.kernels.parallel import serial_and_parallel
from bitsim.kernels.register_fast import EXACT_FLOAT_BITS, integer_values, quantum_exponent

_C = build("cpu")
output_index = _C.output_index
register_add_integer = _C.register_add_integer
block_outer_step = _C.block_outer_step
block_dot_start = _C.block_dot_start
block_dot_output = _C.block_dot_output
convert_one = _C.convert_one
bit_length = _C.bit_length


@functools.lru_cache(maxsize=32)
def block_register_plan(fa, fb, L: int, frac: int, width: int, overflow: int, sum_bits: int = EXACT_FLOAT_BITS):
    """(shift, ta, sa, tb, sb) when every block's register is its exact integer sum (module doc), else
    None: element formats of at most 16 bits, products on the register's grid (shift >= 0), block sums
    below 2**sum_bits (2**53: exact in float64 BLAS) and, unless the register wraps, below its range."""
    if fa.bits > 16 or fb.bits > 16 or width > 126:
        return None
    shift = frac + quantum_exponent(fa) + quantum_exponent(fb)      # product units -> register units
    va, vb = integer_values(fa), integer_values(fb)
    if shift < 0 or shift > 62 or va is None or vb is None:
        return None
    (ta, sa), (tb, sb) = va, vb
    max_sum = int(np.abs(ta).max()) * int(np.abs(tb).max()) * L
    if max_sum >= 2 ** sum_bits:
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


# ---------------------------------------------------------------- outer steps in native IEEE arithmetic

SCALE_EXP_BOUND = 300         # |X| of every finite scale, and |qa + qb|, at most this (float_outer_plan)
LANES = 256                   # outputs per task along the lane axis
PARALLEL_MIN_MACS = 1 << 24   # smaller GEMMs run serially (bitsim.kernels.parallel says why)


@dataclass(frozen=True)
class FloatOuterPlan:
    """Tables of ``float_outer_plan``: per element code its integer value in units of its quantum (float64;
    NaN for inf/NaN codes), per scale code 2**X (NaN for the NaN code), a's scales times 2**(qa + qb).
    ``wide``: block sums may reach 2**53, so they are summed in int64 (``ia``, ``ib``: the integer values,
    ``sa``, ``sb``: which codes are inf or NaN) and rounded to odd at 53 bits before the scaling."""

    va: np.ndarray
    vb: np.ndarray
    pa: np.ndarray
    pb: np.ndarray
    wide: bool = False
    ia: np.ndarray | None = None
    ib: np.ndarray | None = None
    sa: np.ndarray | None = None
    sb: np.ndarray | None = None


def _ieee_fp32(fmt) -> bool:
    from bitsim.formats import format as as_format
    return getattr(fmt, "params", None) == as_format("fp32").params


def _pow2_table(scale_fmt, extra: int):
    """2**(X + extra) per scale code (NaN at the NaN code), or None if a finite |X| > SCALE_EXP_BOUND."""
    from bitsim.quantize import decode
    v = decode(np.arange(1 << scale_fmt.bits, dtype=scale_fmt.code_dtype), scale_fmt)
    finite = v[np.isfinite(v)]
    if finite.size and np.abs(np.log2(finite)).max() > SCALE_EXP_BOUND:
        return None
    return np.ldexp(v, extra)


def _value_table(fmt):
    t, special = integer_values(fmt)
    return np.where(special, np.nan, t.astype(np.float64))


@functools.lru_cache(maxsize=32)
def float_outer_plan(unit):
    """A ``FloatOuterPlan`` when every output of ``unit`` whose result is finite can be computed with
    native IEEE arithmetic, else None.

    Conditions: ``block_register_plan`` holds with every block sum of |products| below 2**62 and, even
    for a wrapping register, below 2**(width-1) (the register is then the exact sum S, in units of
    2**(qa + qb)); "convert_add" with RNE conversion, outer sum and output; outer, out and c formats
    IEEE binary32; |X| <= 300 for every finite scale and |qa + qb| <= 300. Then the block value
    S * 2**(qa + qb + Xa + Xb) is an exact float64 product (1 <= |S| < 2**53, the power of two within
    2**+-900: no overflow, no subnormal), its RNE conversion to float32 is the unit's conversion and the
    float32 additions are the outer sum's RNE additions (IEEE 754, zero signs included). Sums that may
    reach 2**53 (``wide``: MX e5m2 x e4m3) are exact int64 sums, rounded to odd at 53 bits first: RNE to
    float32 of that is RNE of S (53 >= 24 + 2; Boldo and Melquiond). A NaN scale,
    an inf/NaN element (NaN in the tables) or an inf anywhere in the chain leaves a non-finite output:
    the caller runs the generic kernel then (``float_block_matmul`` returns None).
    """
    if unit.block_add != "convert_add" or {unit.outer.rounding, unit.convert_rounding, unit.out_rounding} != {"rne"}:
        return None
    if not all(_ieee_fp32(f) for f in (unit.outer.fmt, unit.out, unit.c)):
        return None
    frac, width = unit.register()
    fa, fb, L = unit.a.element, unit.b.element, unit.block_length
    reg = block_register_plan(fa, fb, L, frac, width, REG_OVF_WRAP, sum_bits=62)
    if reg is None:
        return None
    shift, ta, sa, tb, sb = reg
    if (int(np.abs(ta).max()) * int(np.abs(tb).max()) * L) << shift >= 2 ** (width - 1):
        return None
    q = quantum_exponent(fa) + quantum_exponent(fb)
    pa, pb = _pow2_table(unit.a.scale, q), _pow2_table(unit.b.scale, 0)
    if pa is None or pb is None or abs(q) > SCALE_EXP_BOUND:
        return None
    wide = int(np.abs(ta).max()) * int(np.abs(tb).max()) * L >= 2 ** EXACT_FLOAT_BITS
    return FloatOuterPlan(_value_table(fa), _value_table(fb), pa, pb, wide, *((ta, tb, sa, sb) if wide else ()))


def _block_sums_lanes(UC, VC, tu, tv, L, S):  # pragma: no cover - compiled
    """S[kb, q, p] = sum over k of block kb of tu[UC[k, p]] * tv[VC[k, q]], in S's dtype: float64 (exact, in
    any order, for integer values whose block sums of |products| stay below 2**53) or int64."""
    K, P = UC.shape
    Q = VC.shape[1]
    n_chunks = (P + LANES - 1) // LANES
    for task in prange(S.shape[0] * n_chunks):
        kb = task // n_chunks
        p0 = (task % n_chunks) * LANES
        n = min(P, p0 + LANES) - p0
        k0 = kb * L
        m = min(K, k0 + L) - k0
        u = np.empty((m, LANES), S.dtype)
        for k in range(m):
            for p in range(n):
                u[k, p] = tu[UC[k0 + k, p0 + p]]
        acc = np.empty(LANES, S.dtype)
        for q in range(Q):
            acc[:] = 0
            for k in range(m):
                v = tv[VC[k0 + k, q]]
                for p in range(n):
                    acc[p] += u[k, p] * v
            for p in range(n):
                S[kb, q, p0 + p] = acc[p]


def _outer_fp32_lanes(S, pu, pv, c, out):  # pragma: no cover - compiled
    """out[q, p] = c[q, p] + sum over kb (increasing) of RNE_fp32(S[kb, q, p] * pu[kb, p] * pv[kb, q]),
    every addition an RNE float32 addition (float32 arrays c and out)."""
    nb, Q, P = S.shape
    n_chunks = (P + LANES - 1) // LANES
    for task in prange(Q * n_chunks):
        q = task // n_chunks
        p0 = (task % n_chunks) * LANES
        n = min(P, p0 + LANES) - p0
        s = np.empty(LANES, np.float32)
        for p in range(n):
            s[p] = c[q, p0 + p]
        for kb in range(nb):
            w = pv[kb, q]
            for p in range(n):
                s[p] = s[p] + np.float32(S[kb, q, p0 + p] * (pu[kb, p0 + p] * w))
        for p in range(n):
            out[q, p0 + p] = s[p]


def _odd_float64(S, out):  # pragma: no cover - compiled
    """out = S (int64, |S| < 2**63) rounded to odd at 53 significant bits, as float64: exact below 2**53."""
    for t in prange(S.shape[0]):
        s = S[t]
        m = uint64(-s) if s < 0 else uint64(s)
        if m < uint64(1) << uint64(EXACT_FLOAT_BITS):
            out[t] = np.float64(s)
            continue
        k = bit_length(m) - EXACT_FLOAT_BITS
        hi = m >> uint64(k)
        if m & ((uint64(1) << uint64(k)) - uint64(1)):
            hi |= uint64(1)
        v = np.float64(hi) * 2.0 ** k
        out[t] = -v if s < 0 else v


block_sums_lanes = serial_and_parallel(_block_sums_lanes)
odd_float64 = serial_and_parallel(_odd_float64)
outer_fp32_lanes = serial_and_parallel(_outer_fp32_lanes)


def float_block_matmul(A, SA, B, SB, C, plan: FloatOuterPlan, L: int):
    """The (M, N) float32 results of a unit with ``plan`` (``float_outer_plan``) on codes A (M, K) with
    scale codes SA (M, n_blocks) and B (K, N) with SB (n_blocks, N); C: None or (M, N) float32 addends
    (any strides). None when some output is not finite (the caller runs the generic kernel).

    Lanes (the vectorised, parallel axis) run along the longer of M and N; no operand is copied."""
    M, K = A.shape
    N = B.shape[1]
    nb = -(-K // L)
    rows = M >= N
    UC, VC = (A.T, B) if rows else (B, A.T)
    tu, tv = (plan.va, plan.vb) if rows else (plan.vb, plan.va)
    pu = np.ascontiguousarray(plan.pa[SA.T] if rows else plan.pb[SB])          # (nb, P)
    pv = np.ascontiguousarray(plan.pb[SB] if rows else plan.pa[SA.T])          # (nb, Q)
    P, Q = UC.shape[1], VC.shape[1]
    c = np.zeros((1, 1), np.float32) if C is None else C
    c = np.broadcast_to(c.T if rows else c, (Q, P))
    pick = int(M * N * K >= PARALLEL_MIN_MACS)
    if plan.wide:
        if plan.sa[A].any() or plan.sb[B].any():                              # inf / NaN elements
            return None
        tu, tv = (plan.ia, plan.ib) if rows else (plan.ib, plan.ia)
        wide = np.empty((nb, Q, P), np.int64)
        block_sums_lanes[pick](UC, VC, tu, tv, L, wide)
        S = np.empty((nb, Q, P))
        odd_float64[pick](wide.reshape(-1), S.reshape(-1))
    else:
        S = np.empty((nb, Q, P))
        block_sums_lanes[pick](UC, VC, tu, tv, L, S)
    out = np.empty((Q, P), np.float32)
    outer_fp32_lanes[pick](S, pu, pv, c, out)
    if not np.isfinite(out).all():
        return None
    return np.ascontiguousarray(out.T) if rows else out
