"""A fast CPU path for sequential ``FloatAcc`` units whose accumulator lives on an int64 grid.

When the accumulator format and every product are integer multiples of one quantum 2**q and stay
below 2**61 of it (FP8 products into an FP16 accumulator, for one), the running sum is kept as an
int64 count of quanta. Each step adds the product's exact integer value, then rounds the sum to the
accumulator format's precision (``bitsim.core.grid.lane_step``, shared by the per-output chains and the
GEMM lanes; the GPU's float64 lanes round with ``grid.f64_round_hi``, held to it by tests/test_grid.py): keep ``man_bits + 1`` bits, and never round below the accumulator's
own quantum, since its subnormals are exact on the grid. That is the same single rounding ``fma_codes``
performs. Signed zeros follow IEEE 754 (x + y of two zeros is -0
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
from numba import int64, prange, uint64

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
lane_step = _C.lane_step
grid_zero_sign = _C.grid_zero_sign
grid_finish = _C.grid_finish


def lanes_exact(unit, acc) -> bool:
    """Whether ``float_acc_gemm`` applies: every product is a multiple of the accumulator's quantum."""
    return quantum_exponent(unit.a) + quantum_exponent(unit.b) >= quantum_exponent(acc.fmt)


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
    q = min(q_acc - 1, q_prod)      # q_low = q_acc - q >= 1: every rounding drops at least one bit
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


@numba.njit(nogil=True, inline="always")
def _grid_step(s, s_neg, p, p_neg, mode, keep, q_low, max_units):  # pragma: no cover - compiled
    """One rounded addition s + p on the grid with IEEE signed zeros: (s, s_neg, lost, overflowed); on
    overflow s is unchanged. The rounding is the core's ``lane_step``."""
    v = s + p
    if v == 0:
        if s == 0 and p == 0:
            return int64(0), ((s_neg | p_neg) if mode == RM_RDN else (s_neg & p_neg)), False, False
        return int64(0), (int64(1) if mode == RM_RDN else int64(0)), False, False
    rounded, _, rem = lane_step(s, p, mode, keep, q_low)
    if abs(rounded) > max_units:
        return s, s_neg, rem != uint64(0), True
    return rounded, int64(v < 0), rem != uint64(0), False


def _grid_chain_for(mode):
    """The grid chain with ``mode`` a compile-time constant (see ``_by_mode``)."""
    @numba.njit(nogil=True)
    def grid_chain(Ai, BTi, Aneg, BTneg, i, j, K, s, s_neg, p_acc, keep, q_low, max_units):  # pragma: no cover
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
    return grid_chain


def _by_mode(factory):
    """A jitted ``call(mode, args)`` = factory(mode)(*args): one compiled loop per rounding mode, with the
    mode a compile-time constant inside it, so the hot loop carries no test of the mode."""
    rne, rna, rup, rdn, rto, rtz = (factory(m) for m in (RM_RNE, RM_RNA, RM_RUP, RM_RDN, RM_RTO, RM_RTZ))

    @numba.njit(nogil=True)
    def call(mode, args):  # pragma: no cover - compiled
        if mode == RM_RNE:
            return rne(*args)
        if mode == RM_RNA:
            return rna(*args)
        if mode == RM_RUP:
            return rup(*args)
        if mode == RM_RDN:
            return rdn(*args)
        if mode == RM_RTO:
            return rto(*args)
        return rtz(*args)
    return call


_grid_chain_by_mode = _by_mode(_grid_chain_for)


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
    out[t], flags[t] = grid_finish(s, s_neg, f | state[2], final, p_acc, q, po, mode_out)


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


# ------------------------------------------------------------------------------------------ GEMM tiles
# A GEMM has M*N independent chains. Feeding one chain at a time leaves the CPU waiting on each step's
# dependent integer operations; stepping a row of COLUMN_TILE chains together, k outermost, keeps many
# independent steps in flight. Each chain still takes its products in increasing k, so the bits are those
# of ``_grid_chain``. The lane step is lean: no zero sign, no overflow stop, inexactness and the largest
# magnitude gathered by OR and max. That is exact when every product is a multiple of the accumulator's
# quantum (``lane_plan``): no nonzero sum then rounds to zero, so a zero result's sign follows from the
# terms alone (``grid_zero_sign``), and an output that may have overflowed (the OR of its magnitudes passed the
# largest value), or whose row, column or addend is special, is recomputed alone by ``_one_output``.

COLUMN_TILE = 256


def column_tiles(BTi):
    """BTi (N, K) as contiguous (K, COLUMN_TILE) tiles of columns, (n_tiles, K, COLUMN_TILE), zero-padded."""
    N, K = BTi.shape
    n_tiles = -(-N // COLUMN_TILE)
    tiles = np.zeros((n_tiles * COLUMN_TILE, K), np.int64)
    tiles[:N] = BTi
    return np.ascontiguousarray(tiles.reshape(n_tiles, COLUMN_TILE, K).transpose(0, 2, 1))


def _tile_chains_for(mode):
    """The tile's chains with ``mode`` a compile-time constant (see ``_by_mode``)."""
    @numba.njit(nogil=True)
    def tile_chains(Ai, B_tile, i, width, s, lost, peak, keep, q_low):  # pragma: no cover - compiled
        """Steps the chains of row i and the tile's first ``width`` columns (B_tile: (K, COLUMN_TILE)) through
        every k: sums in s, OR of dropped
        bits in lost, OR of |rounded| (or |rounded| - 1 below zero, ``lane_step``) in peak, so that
        peak <= max_units rules out overflow (the top binade's ulp is more than one quantum)."""
        for k in range(Ai.shape[1]):
            a = Ai[i, k]
            for jj in range(width):
                s[jj], rounded, rem = lane_step(s[jj], a * B_tile[k, jj], mode, keep, q_low)
                lost[jj] |= rem
                peak[jj] |= rounded
    return tile_chains


_tile_chains_by_mode = _by_mode(_tile_chains_for)


@numba.njit(parallel=True, nogil=True, cache=True)
def float_acc_gemm(A, BT, tables, Ai, BTi, Aneg, BTneg, B_tiles, row_special, col_special, acc_values, acc_special,
                   C, use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width, overflow,
                   p_prod, po, mode_out, q, q_low, man, max_units, out, flags, status):  # pragma: no cover - compiled
    """``float_acc_dot_array`` for a GEMM (not row-wise), COLUMN_TILE chains at a time (see above).
    tables: (ta, na, tb, nb), the operand formats' values and signs per code; B_tiles: ``column_tiles(BTi)``;
    needs ``lanes_exact``."""
    M, N = Ai.shape[0], BTi.shape[0]
    n_tiles = (N + COLUMN_TILE - 1) // COLUMN_TILE
    for tile in prange(M * n_tiles):
        i = tile % M                                 # consecutive tiles share B's columns (cache)
        j0 = (tile // M) * COLUMN_TILE
        n = min(COLUMN_TILE, N - j0)
        s = np.zeros(n, np.int64)
        s0 = np.zeros(n, np.int64)
        s0_neg = np.zeros(n, np.int64)
        lost = np.zeros(n, np.uint64)
        peak = np.zeros(n, np.uint64)
        start_flags = np.zeros(n, np.int64)
        bad = np.zeros(n, np.bool_)
        for jj in range(n):
            c = uint64(C[i * N + j0 + jj]) if use_c else uint64(0)
            state = dot_init(c, use_c, pc, model, p_acc, mode_acc, frac, width, overflow)
            s_code = state[0]
            start_flags[jj] = state[2]
            bad[jj] = row_special[i] or col_special[j0 + jj] or acc_special[s_code]
            s0[jj] = 0 if bad[jj] else acc_values[s_code]
            s0_neg[jj] = int64((s_code >> uint64(p_acc[P_BITS] - 1)) & uint64(1))
            s[jj] = s0[jj]
        if not row_special[i]:
            _tile_chains_by_mode(mode_acc, (Ai, B_tiles[j0 // COLUMN_TILE], i, n, s, lost, peak, man + 1, q_low))
        for jj in range(n):
            t, j = i * N + j0 + jj, j0 + jj
            if bad[jj] or peak[jj] > uint64(max_units):
                _one_output(t, i, j, A, BT, Ai, BTi, Aneg, BTneg, row_special, col_special, acc_values,
                            acc_special, C, use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk,
                            frac, width, overflow, p_prod, po, mode_out, q, q_low, man, max_units, out, flags,
                            status)
                continue
            status[t] = 0
            s_neg = grid_zero_sign(A, BT, *tables, i, j, A.shape[1], s0[jj], s0_neg[jj], mode_acc) if s[jj] == 0 \
                else int64(0)
            f = start_flags[jj] | (FLAG_INEXACT if lost[jj] != uint64(0) else 0)
            out[t], flags[t] = grid_finish(s[jj], s_neg, f, int64(-1), p_acc, q, po, mode_out)
