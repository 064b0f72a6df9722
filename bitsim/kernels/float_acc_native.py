"""A fast CPU path for sequential and chunked ``FloatAcc`` units in native binary64 arithmetic.

It takes the units the int64 grid of ``float_acc_fast`` cannot hold: binary32 accumulators (``fp32_seq``,
bf16 x bf16 -> fp32), wide-range 16-bit ones (Wang's fp16_wang), chunked sums of them. Each step
s = round_acc(s + p) is one correct rounding of the exact sum, computed so:

1. the operands' values are binary64 and every product p = a * b is exact (at most 53 significant bits,
   inside binary64's normal range: ``native_plan`` checks the formats);
2. TwoSum gives x = RN64(s + p) and its exact error; where the error is non-zero, x is replaced by its
   neighbour with an odd significand toward the exact sum (round to odd at 53 bits);
3. x is rounded to the accumulator's ``man_bits`` on its own bit pattern, by the step's mode. Round to
   odd at 53 >= man_bits + 3 bits followed by any of the rounding modes gives that mode's rounding of the
   exact value (Boldo and Melquiond, 2008), since an odd last bit keeps "strictly between" apart from
   "exactly on" every point of the coarser grid.

Signed zeros follow IEEE 754: the native sum of two zeros and an exact cancellation give the signs of
round-to-nearest, and rdn's -0 is set by hand. Only the accumulator's normal range is rounded here: a
sum below its smallest normal is kept when exact (a multiple of its smallest subnormal), and otherwise
the output is recomputed by the generic kernel (``dot_cpu.generic_output``), which owns the underflow
flag. So is an output whose sum passes the largest finite value (inf, saturation, NaN: the format's own
rule), whose row, column or addend holds an inf or NaN, or whose addend does not convert exactly.

A GEMM steps COLUMN_TILE chains together, k outermost: those of one row of A and a tile of B's columns,
or, where B has fewer columns than A has rows and than a tile (a convolution's few output channels),
those of one column of B and a tile of A's rows. Each chain takes its products in increasing k either way,
and the mode is a compile-time constant (RNE, or every mode read at run time), so the step has no
branch. ``tests/test_float_acc_native.py`` holds the path to the generic
kernel and to ``bitsim.ref``.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from numba import prange, uint64

from bitsim.accum.models import ChunkedAcc, FloatAcc, SplitKAcc
from bitsim.core import build
from bitsim.core.native import ODD_BITS
from bitsim.core.params import FLAG_INEXACT, RM_RNE
from bitsim.formats import FloatFormat
from bitsim.kernels.dot_cpu import generic_output
from bitsim.rounding import mode_code

COLUMN_TILE = 128
RANGE_EXP = 1000           # every value, product and sum stays inside (2**-RANGE_EXP, 2**RANGE_EXP)

_C = build("cpu")
native_step = _C.native_step          # the step and the conversions around a chain: bitsim/core/native.py
native_start = _C.native_start
native_finish = _C.native_finish


def _accumulator_ok(fmt) -> bool:
    """Whether ``fmt`` can hold the native running sum: a signed float format with zeros of both signs and
    subnormals, at most ODD_BITS - 3 fraction bits, its range inside binary64's."""
    return (isinstance(fmt, FloatFormat) and fmt.subnormals and fmt.signed and fmt.has_zero
            and fmt.has_negative_zero and fmt.man_bits + 3 <= ODD_BITS
            and fmt.emin - fmt.man_bits > -RANGE_EXP and fmt.emax < RANGE_EXP)


def _step_constants(acc: FloatAcc) -> tuple:
    """(mode, dropped bits, smallest normal's bits, largest finite value's bits, 1 / smallest subnormal)."""
    fmt = acc.fmt
    normal, largest = np.float64(fmt.min_normal), np.float64(fmt.max)
    return (mode_code(acc.rounding), ODD_BITS - 1 - fmt.man_bits, int(normal.view(np.int64)),
            int(largest.view(np.int64)), float(np.ldexp(1.0, fmt.man_bits - fmt.emin)))


def native_plan(unit, length: int):
    """(chunk, inner constants, outer constants) of the native path for ``unit`` on dots of ``length``,
    or None where it does not apply. chunk 0: a plain FloatAcc (inner = outer); otherwise the chunk
    length of a ChunkedAcc (a SplitKAcc's chunking for this length)."""
    acc = unit.acc.chunked(length) if isinstance(unit.acc, SplitKAcc) else unit.acc
    if isinstance(acc, FloatAcc):
        chunk, inner, outer = 0, acc, acc
    elif isinstance(acc, ChunkedAcc):
        chunk, inner, outer = acc.chunk, acc.inner, acc.outer
    else:
        return None
    return _plan(unit.a, unit.b, chunk, inner, outer)


@functools.lru_cache(maxsize=64)
def _plan(fa, fb, chunk, inner, outer):
    if not all(isinstance(f, FloatFormat) for f in (fa, fb)):
        return None
    if inner.order != "sequential" or outer.order != "sequential":
        return None
    if not (_accumulator_ok(inner.fmt) and _accumulator_ok(outer.fmt)):
        return None
    exact_product = (fa.man_bits + 1) + (fb.man_bits + 1) <= ODD_BITS
    in_range = (fa.emin - fa.man_bits) + (fb.emin - fb.man_bits) > -RANGE_EXP and fa.emax + fb.emax < RANGE_EXP - 2
    if not (exact_product and in_range):
        return None
    return chunk, _step_constants(inner), _step_constants(outer)


def operand_values(codes: np.ndarray, fmt) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, whether any is inf or NaN per row) of a 2-D array of ``fmt`` codes: IEEE codes
    read as floats, others through ``decode`` (a per-code table for formats of at most 16 bits)."""
    from bitsim.nn.tensor import ieee_dtype
    from bitsim.quantize import decode
    dt = ieee_dtype(fmt, codes)
    if dt is None:
        values = decode(codes, fmt)
    else:
        with np.errstate(invalid="ignore"):                 # a signalling NaN's cast raises "invalid"
            values = codes.view(dt).astype(np.float64)
    return values, ~np.isfinite(values).all(axis=1)


def _lanes_for(mode):
    """The lanes of a ``native_gemm`` tile with ``mode`` a compile-time constant for both sums (-1: the
    constants' own modes, read at run time)."""
    @numba.njit(nogil=True)
    def lanes(Af, LT, i, l0, n, chunk, inner, outer, s, part, inexact, bad):  # pragma: no cover - compiled
        """Steps the chains of row i of Af and lanes l0 .. l0 + n - 1 of LT (K, lanes) through every k (module
        doc)."""
        mode_i, sh_i, normal_i, max_i, inv_i = inner
        mode_o, sh_o, normal_o, max_o, inv_o = outer
        if mode >= 0:
            mode_i = mode_o = mode
        K = Af.shape[1]
        for k in range(K):
            a = Af[i, k]
            if chunk == 0:
                for jj in range(n):
                    s[jj], lost, redo = native_step(s[jj], a * LT[k, l0 + jj], mode_o, sh_o, normal_o, max_o, inv_o)
                    inexact[jj] |= lost
                    bad[jj] |= redo
                continue
            for jj in range(n):
                part[jj], lost, redo = native_step(part[jj], a * LT[k, l0 + jj], mode_i, sh_i, normal_i, max_i,
                                                   inv_i)
                inexact[jj] |= lost
                bad[jj] |= redo
            if (k + 1) % chunk == 0 or k + 1 == K:
                for jj in range(n):
                    s[jj], lost, redo = native_step(s[jj], part[jj], mode_o, sh_o, normal_o, max_o, inv_o)
                    part[jj] = 0.0
                    inexact[jj] |= lost
                    bad[jj] |= redo
    return lanes


_lanes_rne = _lanes_for(RM_RNE)
_lanes_any = _lanes_for(-1)


@numba.njit(nogil=True)
def _chain(a_row, b_row, s, chunk, inner, outer):  # pragma: no cover - compiled
    """(sum, inexact, redo) of one chain from s: ``_lanes_any`` with one lane."""
    s_lane, part, inexact, bad = np.full(1, s), np.zeros(1), np.zeros(1, np.bool_), np.zeros(1, np.bool_)
    _lanes_any(a_row.reshape(1, -1), b_row.reshape(-1, 1), 0, 0, 1, chunk, inner, outer, s_lane, part, inexact, bad)
    return s_lane[0], inexact[0], bad[0]


@numba.njit(nogil=True)
def _write(t, i, j, native, s, inexact, start_flags, A, BT, c, use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner,
           mode_inner, chunk_arg, frac, width, overflow, p_prod, po, mode_out, out, flags,
           status):  # pragma: no cover - compiled
    """Output t = (i, j): from the native sum s where ``native``, else from the generic kernel."""
    status[t] = 0
    if not native:
        out[t], flags[t], status[t] = generic_output(A, BT, i, j, c, use_c, pa, pb, pc, model, p_acc, mode_acc,
                                                     p_inner, mode_inner, chunk_arg, frac, width, overflow, p_prod,
                                                     po, mode_out)
        return
    code, f = native_finish(s, p_acc, po, mode_out)
    out[t] = code
    flags[t] = f | start_flags | (FLAG_INEXACT if inexact else 0)


@numba.njit(parallel=True, nogil=True, cache=True)
def native_dot_rows(A, BT, Af, BTf, a_special, b_special, chunk, inner, outer, C, use_c, pa, pb, pc, model, p_acc,
                    mode_acc, p_inner, mode_inner, chunk_arg, frac, width, overflow, p_prod, po, mode_out, out, flags,
                    status):  # pragma: no cover - compiled
    """Row-wise dots (output t pairs A[t] with BT[t]) by the native path; Af, BTf: the operands' values."""
    for t in prange(out.shape[0]):
        c = uint64(C[t]) if use_c else uint64(0)
        s, start_flags, bad = native_start(c, use_c, pc, p_acc, mode_acc)
        bad = bad or a_special[t] or b_special[t]
        inexact = False
        if not bad:
            s, inexact, bad = _chain(Af[t], BTf[t], s, chunk, inner, outer)
        _write(t, t, t, not bad, s, inexact, start_flags, A, BT, c, use_c, pa, pb, pc, model, p_acc, mode_acc,
               p_inner, mode_inner, chunk_arg, frac, width, overflow, p_prod, po, mode_out, out, flags, status)


@numba.njit(parallel=True, nogil=True, cache=True)
def native_gemm(A, BT, Rf, LT, a_special, b_special, swap, chunk, inner, outer, C, use_c, pa, pb, pc, model,
                p_acc, mode_acc, p_inner, mode_inner, chunk_arg, frac, width, overflow, p_prod, po, mode_out, out,
                flags, status):  # pragma: no cover - compiled
    """A GEMM (output t = i * N + j pairs A[i] with BT[j]) by the native path, COLUMN_TILE chains together,
    k outermost: the chains of one row of A (values Rf) and a tile of B's columns (LT: B's values, (K, N)),
    or with ``swap`` those of one column of B (Rf: BT's values) and a tile of A's rows (LT: A's values
    transposed)."""
    M, N = A.shape[0], BT.shape[0]
    rows, lanes = (N, M) if swap else (M, N)
    n_tiles = (lanes + COLUMN_TILE - 1) // COLUMN_TILE
    for tile in prange(rows * n_tiles):
        r = tile % rows                                  # consecutive tiles share a lane tile (cache)
        l0 = (tile // rows) * COLUMN_TILE
        n = min(COLUMN_TILE, lanes - l0)
        s = np.zeros(n, np.float64)
        part = np.zeros(n, np.float64)
        inexact = np.zeros(n, np.bool_)
        bad = np.zeros(n, np.bool_)
        start_flags = np.zeros(n, np.int64)
        r_special = b_special[r] if swap else a_special[r]
        for ll in range(n):
            i, j = (l0 + ll, r) if swap else (r, l0 + ll)
            c = uint64(C[i * N + j]) if use_c else uint64(0)
            s[ll], start_flags[ll], bad[ll] = native_start(c, use_c, pc, p_acc, mode_acc)
            bad[ll] = bad[ll] or a_special[i] or b_special[j]
        if not r_special:
            if inner[0] == RM_RNE and outer[0] == RM_RNE:
                _lanes_rne(Rf, LT, r, l0, n, chunk, inner, outer, s, part, inexact, bad)
            else:
                _lanes_any(Rf, LT, r, l0, n, chunk, inner, outer, s, part, inexact, bad)
        for ll in range(n):
            i, j = (l0 + ll, r) if swap else (r, l0 + ll)
            t = i * N + j
            c = uint64(C[t]) if use_c else uint64(0)
            _write(t, i, j, not bad[ll], s[ll], inexact[ll], start_flags[ll], A, BT, c, use_c, pa, pb, pc, model,
                   p_acc, mode_acc, p_inner, mode_inner, chunk_arg, frac, width, overflow, p_prod, po, mode_out, out,
                   flags, status)


def gemm_layout(Af, BTf):
    """(Rf, LT, swap) for ``native_gemm``: lanes along B's columns, or along A's rows where B has fewer
    columns than A rows and than a tile."""
    swap = BTf.shape[0] < min(Af.shape[0], COLUMN_TILE)
    return (BTf, np.ascontiguousarray(Af.T), True) if swap else (Af, np.ascontiguousarray(BTf.T), False)
