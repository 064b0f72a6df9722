"""A fast CPU path for sequential ``FloatAcc`` units whose accumulator lives on an int64 grid.

When the accumulator format and every product are integer multiples of one quantum 2**q and stay
below 2**61 of it (FP8 products into an FP16 accumulator, for one), the running sum is kept as an
int64 count of quanta. Each step adds the product's exact integer value, then rounds the sum to the
accumulator format's precision with the core's ``round_shifted``: keep ``man_bits + 1`` bits, and
never round below the accumulator's own quantum, since its subnormals are exact on the grid. That is
the same single rounding ``fma_codes`` performs. Signed zeros follow IEEE 754 (x + y of two zeros is -0
only when both are -0, or under rdn when either is; an exact cancellation is +0, or -0 under rdn).
Overflow takes the core's ``overflow_float`` code. A saturated sum goes on as the largest value, and an
infinity or NaN ends the chain, since adding finite products to it raises no flag and changes nothing.

Outputs whose row or column holds an inf or NaN code, or whose addend is not finite, run the generic
kernel steps. ``tests/test_dot.py`` holds both paths to ``bitsim.ref``.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from llvmlite import ir
from numba import int64, prange, types, uint64
from numba.extending import intrinsic

from bitsim.core import build
from bitsim.core.params import FLAG_INEXACT, P_BITS, P_MAX_MAG, RM_RDN, RM_RNA, RM_RNE, RM_RTO, RM_RTZ, RM_RUP
from bitsim.formats import FloatFormat
from bitsim.kernels.dot_cpu import generic_output
from bitsim.kernels.register_fast import integer_values, quantum_exponent

GRID_BITS = 61             # |sum| + |product| < 2**62 quanta: int64 never overflows

_C = build("cpu")
output_index = _C.output_index
dot_init = _C.dot_init
overflow_float = _C.overflow_float
round_pack = _C.round_pack
zero_float = _C.zero_float
convert_one = _C.convert_one


def float_acc_plan(unit, acc):
    """Tables and constants of the fast path for ``unit`` with the FloatAcc ``acc``, or None (not a
    sequential sum in a float format, or the grid does not fit int64)."""
    if acc.order != "sequential" or not isinstance(acc.fmt, FloatFormat):
        return None
    return _plan(unit.a, unit.b, acc.fmt)


@functools.lru_cache(maxsize=32)
def _plan(fa, fb, fmt):
    """``float_acc_plan`` for operand formats fa, fb and accumulator format fmt (cached per triple)."""
    if not (fa.bits <= 16 and fb.bits <= 16 and fmt.bits <= 16 and fmt.subnormals and fmt.signed
            and fmt.has_negative_zero and fmt.man_bits >= 1 and fmt.has_zero):
        return None
    q_prod = quantum_exponent(fa) + quantum_exponent(fb)
    q_acc = quantum_exponent(fmt)
    q = min(q_acc, q_prod)
    va, vb, vacc = integer_values(fa), integer_values(fb), integer_values(fmt)
    if va is None or vb is None or vacc is None:
        return None
    (ta, sa), (tb, sb), (acc_values, acc_special) = va, vb, vacc
    max_prod = int(np.abs(ta).max()) * int(np.abs(tb).max()) << (q_prod - q)
    max_units = int(np.ldexp(float(fmt.max), -q))
    if max_prod >= 2 ** GRID_BITS or max_units >= 2 ** GRID_BITS:
        return None
    acc_values = acc_values << (q_acc - q)
    neg_a = np.signbit(_decoded(fa)).astype(np.uint8)
    neg_b = np.signbit(_decoded(fb)).astype(np.uint8)
    return (ta << (q_prod - q), sa, neg_a, tb, sb, neg_b, acc_values, acc_special, q, q_acc - q, fmt.man_bits,
            max_units)


def _decoded(fmt):
    from bitsim.quantize import decode
    return decode(np.arange(1 << fmt.bits, dtype=fmt.code_dtype), fmt)


@intrinsic
def _leading_zeros(typingctx, x):
    """LLVM's ctlz on a uint64 (64 for 0): one instruction where the core's bit_length loops."""
    def codegen(context, builder, signature, args):
        return builder.ctlz(args[0], ir.Constant(ir.IntType(1), 0))
    return types.uint64(types.uint64), codegen


@numba.njit(nogil=True)
def _round_on_grid(mag, drop, negative, mode):  # pragma: no cover - compiled
    """(mag rounded to a multiple of 2**drop (drop >= 1) in ``mode``, inexact): ``round_shifted``'s rule,
    written branch-light for the hot loop (mode is a compile-time constant there)."""
    one = uint64(1)
    rem = mag & ((one << uint64(drop)) - one)
    base = mag - rem
    step = one << uint64(drop)
    half = one << uint64(drop - 1)
    if mode == RM_RNE:
        up = rem > half or (rem == half and (mag & step) != uint64(0))
    elif mode == RM_RNA:
        up = rem >= half
    elif mode == RM_RUP:
        up = rem != uint64(0) and not negative
    elif mode == RM_RDN:
        up = rem != uint64(0) and negative
    elif mode == RM_RTO:
        return (base | step) if rem != uint64(0) else base, rem != uint64(0)
    else:
        up = False
    return base + step if up else base, rem != uint64(0)


@numba.njit(nogil=True)
def _grid_step(s, s_neg, p, p_neg, mode, keep, q_low, max_units):  # pragma: no cover - compiled
    """One rounded addition s + p on the grid: (s, s_neg, lost, overflowed); on overflow s is unchanged."""
    v = s + p
    if v == 0:
        if s == 0 and p == 0:
            return int64(0), ((s_neg | p_neg) if mode == RM_RDN else (s_neg & p_neg)), False, False
        return int64(0), (int64(1) if mode == RM_RDN else int64(0)), False, False
    negative = v < 0
    mag = uint64(-v) if negative else uint64(v)
    drop = max(int64(64) - int64(_leading_zeros(mag)) - keep, q_low)
    lost = False
    if drop > 0:
        mag, lost = _round_on_grid(mag, drop, negative, mode)
        if mag > uint64(max_units):
            return s, s_neg, lost, True
    return (-int64(mag) if negative else int64(mag)), int64(negative), lost, False


@numba.njit(nogil=True)
def _grid_chain(mode, Ai, BTi, Aneg, BTneg, i, j, K, s, s_neg, p_acc, keep, q_low,
                max_units):  # pragma: no cover - compiled
    """(sum, zero sign, flags, final code or -1) after the K products of output (i, j), from s (quanta)."""
    inexact = False
    flags = int64(0)
    for k in range(K):
        p = Ai[i, k] * BTi[j, k]
        s_next, s_neg, lost, overflowed = _grid_step(s, s_neg, p, int64(Aneg[i, k] ^ BTneg[j, k]), mode, keep,
                                                     q_low, max_units)
        inexact = inexact or lost
        if overflowed:
            negative = s + p < 0
            code, f = overflow_float(int64(negative), p_acc, mode)
            flags |= f
            if (code & ((uint64(1) << uint64(p_acc[P_BITS] - 1)) - uint64(1))) != uint64(p_acc[P_MAX_MAG]):
                return s, s_neg, flags | (FLAG_INEXACT if inexact else 0), int64(code)   # inf / NaN: final
            s_next = -int64(max_units) if negative else int64(max_units)
            s_neg = int64(negative)
        s = s_next
    return s, s_neg, flags | (FLAG_INEXACT if inexact else 0), int64(-1)


def _by_literal_mode(fn):
    """A jitted ``call(mode, args)`` = fn(mode, *args) with ``mode`` a compile-time constant in each
    branch, so every rounding mode gets its own branch-free loop (``fn`` is bound as a constant, not a
    function pointer, so LLVM inlines it)."""
    @numba.njit(nogil=True)
    def call(mode, args):  # pragma: no cover - compiled
        if mode == RM_RNE:
            return fn(RM_RNE, *args)
        if mode == RM_RNA:
            return fn(RM_RNA, *args)
        if mode == RM_RUP:
            return fn(RM_RUP, *args)
        if mode == RM_RDN:
            return fn(RM_RDN, *args)
        if mode == RM_RTO:
            return fn(RM_RTO, *args)
        return fn(RM_RTZ, *args)
    return call


_grid_chain_by_mode = _by_literal_mode(_grid_chain)


@numba.njit(nogil=True)
def _finish(s, s_neg, f, final, p_acc, q, po, mode_out):  # pragma: no cover - compiled
    """(code, flags) of an output whose grid chain ended with (s, s_neg, flags f, final code or -1)."""
    if final >= 0:
        acc_code = uint64(final)
    elif s == 0:
        acc_code, _ = zero_float(s_neg, p_acc)
    else:
        mag = uint64(-s) if s < 0 else uint64(s)
        acc_code, _ = round_pack(int64(s < 0), mag, q, int64(0), p_acc, RM_RNE, uint64(0), int64(1), int64(0))
    code, f2 = convert_one(acc_code, p_acc, po, mode_out, uint64(0), int64(1), int64(0))
    return code, f | f2


@numba.njit(nogil=True)
def _one_output(t, i, j, A, BT, Ai, BTi, Aneg, BTneg, row_special, col_special, acc_values, acc_special, C, use_c,
                pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width, overflow, p_prod, po,
                mode_out, q, q_low, man, max_units, out, flags, status):  # pragma: no cover - compiled
    """Output t = (i, j) alone: the grid chain, or the generic steps where it does not apply."""
    c = uint64(C[t]) if use_c else uint64(0)
    state = dot_init(c, use_c, pc, model, p_acc, mode_acc, frac, width, overflow)
    s_code = state[0]
    status[t] = 0
    if row_special[i] or col_special[j] or acc_special[s_code]:
        out[t], flags[t], status[t] = generic_output(A, BT, i, j, c, use_c, pa, pb, pc, model, p_acc, mode_acc,
                                                     p_inner, mode_inner, chunk, frac, width, overflow, p_prod, po,
                                                     mode_out)
        return
    s_neg = int64((s_code >> uint64(p_acc[P_BITS] - 1)) & uint64(1))
    s, s_neg, f, final = _grid_chain_by_mode(mode_acc, (Ai, BTi, Aneg, BTneg, i, j, A.shape[1], acc_values[s_code],
                                                                s_neg, p_acc, man + 1, q_low, max_units))
    out[t], flags[t] = _finish(s, s_neg, f | state[2], final, p_acc, q, po, mode_out)


@numba.njit(parallel=True, nogil=True, cache=True)
def float_acc_dot_array(A, BT, Ai, BTi, Aneg, BTneg, rowwise, row_special, col_special, acc_values, acc_special,
                        C, use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width,
                        overflow, p_prod, po, mode_out, q, q_low, man, max_units, out, flags,
                        status):  # pragma: no cover - compiled
    """``dot_cpu.dot_array`` for a sequential FloatAcc on an int64 grid of 2**q quanta (module doc)."""
    n_cols = BT.shape[0]
    for t in prange(out.shape[0]):
        i, j = output_index(t, rowwise, n_cols)
        _one_output(t, i, j, A, BT, Ai, BTi, Aneg, BTneg, row_special, col_special, acc_values, acc_special, C,
                    use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width, overflow,
                    p_prod, po, mode_out, q, q_low, man, max_units, out, flags, status)
