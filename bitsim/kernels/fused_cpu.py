"""Numba CPU kernel of the tensor-core fused dot-product units (``bitsim.core.fused``): A and B decoded once
into operand words (parallel over rows), then one parallel loop over outputs, each running its whole
instruction chain. No fastmath, ever.

Output t pairs row ``i`` of A with row ``j`` of BT (B transposed): ``rowwise`` gives i = j = t (rows of
dot products), otherwise i = t // N, j = t % N (a GEMM, without expanding A and B to M*N rows).
``fused_plan`` turns a ``FusedAcc`` into the kernels' integer plan and refuses what the integer core does
not cover: ``window_bits=None`` (the exact unit stays on the NumPy model ``bitsim.accum.fused.fused_dot``),
windows whose cut sum could leave int64, inputs whose significands do not fit the 32-bit operand words.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from numba import prange, uint64

from bitsim.accum.fused import FusedAcc, _as_float_format
from bitsim.arrays import code_array
from bitsim.core import build
from bitsim.core.fused import (
    C_HALVES_F16, C_JOINT, C_LATE_IEEE_ADD, F_C_MODE, F_FLOOR, F_FLOOR_CUT, F_FRAC, F_GROUP, F_HAS_FLOOR,
    F_HAS_ZERO_C, F_LEN, F_MAN_SUM, F_NORMALISED, F_ROUND, F_STEP, F_WINDOW, F_ZERO_C, W_SIG_MASK,
)
from bitsim.core.params import OVF_INF, OVF_SATURATE, P_OVERFLOW, RM_RNE, RM_RTZ

_C = build("cpu")
output_index = _C.output_index
fused_decode = _C.fused_decode
fused_output = _C.fused_output

_C_MODES = {"joint": C_JOINT, "late_ieee_add": C_LATE_IEEE_ADD, "halves_f16": C_HALVES_F16}
_ROUNDINGS = {"rtz": RM_RTZ, "rne": RM_RNE}
_OVERFLOWS = {"inf": OVF_INF, "maxfinite": OVF_SATURATE}
SUM_BITS = 63          # the cut sum's bound 2**(W + 1) * (2g + 1) must stay below 2**63 (bitsim.core.fused)


def kernel_supports(acc) -> bool:
    """Whether the compiled kernels run ``acc`` (a FusedAcc with a finite window); the exact unit
    (``window_bits=None``) runs on the NumPy model ``bitsim.accum.fused.fused_dot``."""
    return isinstance(acc, FusedAcc) and acc.window_bits is not None


@functools.lru_cache(maxsize=128)
def fused_plan(acc, fmt_in, instruction_k=None) -> tuple:
    """(plan, pa, po): the ``bitsim.core.fused`` plan of ``acc`` with instructions of ``instruction_k``
    columns (default: one group), the input format's params and the output's with the unit's overflow rule.
    TypeError / ValueError name the field the kernels cannot take."""
    if not isinstance(acc, FusedAcc):
        raise TypeError(f"acc must be a FusedAcc; got {type(acc).__name__}")
    fmt_in = _as_float_format("fmt_in", fmt_in)
    step = acc.group if instruction_k is None else instruction_k
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1 or step % acc.group:
        raise ValueError(f"instruction_k must be a positive multiple of group={acc.group}; got {instruction_k!r}")
    if acc.window_bits is None:
        raise ValueError("FusedAcc.window_bits=None (the exact unit) has no compiled kernel; it runs on the NumPy "
                         "model bitsim.accum.fused.fused_dot (CPU only)")
    bound = (1 << (acc.window_bits + 1)) * (2 * acc.group + 1)
    if bound >= 1 << SUM_BITS:
        raise ValueError(f"FusedAcc.window_bits={acc.window_bits} with group={acc.group}: the cut terms' sum (up to "
                         f"2**(W+1) * (2g+1) = {bound}) does not fit int64; the compiled kernels need it below 2**63")
    if fmt_in.man_bits + 1 > W_SIG_MASK.bit_length():
        raise ValueError(f"fmt_in {fmt_in}: {fmt_in.man_bits + 1}-bit significands do not fit the kernels' 32-bit "
                         "operand words (man_bits <= 31)")
    plan = [0] * F_LEN
    plan[F_GROUP] = acc.group
    plan[F_STEP] = int(step)
    plan[F_WINDOW] = acc.window_bits
    plan[F_FLOOR_CUT] = int(acc.window_cut == "floor")
    plan[F_NORMALISED] = int(acc.product_exponent == "normalised")
    plan[F_C_MODE] = _C_MODES[acc.c_mode]
    plan[F_HAS_FLOOR] = int(acc.exponent_floor is not None)
    plan[F_FLOOR] = acc.exponent_floor or 0
    plan[F_HAS_ZERO_C] = int(acc.zero_c_exponent is not None)
    plan[F_ZERO_C] = acc.zero_c_exponent or 0
    plan[F_FRAC] = acc.result_frac_bits
    plan[F_ROUND] = _ROUNDINGS[acc.result_rounding]
    plan[F_MAN_SUM] = 2 * fmt_in.man_bits
    po = list(acc.out.params)
    po[P_OVERFLOW] = _OVERFLOWS[acc.overflow]
    return tuple(plan), fmt_in.params, tuple(po)


def check_operands(A, B, c, fmt_in, acc, rowwise):
    """A, B and c as code arrays (host or device; ranges checked): rows (n, K), (n, K) and (n,) when
    ``rowwise``, else a GEMM's (M, K), (K, N) and (M, N); c None = +0."""
    fmt_in = _as_float_format("fmt_in", fmt_in)
    A, B = code_array(A, fmt_in, "A"), code_array(B, fmt_in, "B")
    if A.ndim != 2 or B.ndim != 2 or (A.shape != B.shape if rowwise else A.shape[1] != B.shape[0]):
        want = "A and B (n, K)" if rowwise else "A (M, K) and B (K, N)"
        raise ValueError(f"fused kernels: {want} expected; got {tuple(A.shape)} and {tuple(B.shape)}")
    shape = (A.shape[0],) if rowwise else (A.shape[0], B.shape[1])
    if c is not None:
        c = code_array(c, acc.out, "c")
        if tuple(c.shape) != shape:
            raise ValueError(f"fused kernels: c must have shape {shape}; got {tuple(c.shape)}")
    return A, B, c, shape


@numba.njit(parallel=True, nogil=True, cache=True)
def fused_array(A, BT, rowwise, C, pa, po, plan, out):  # pragma: no cover - compiled
    """out[t] = the code of output t: C[t] + sum_k A[i, k] * BT[j, k] through the unit's chain (A and BT
    codes of ``pa``, each decoded once into operand words)."""
    WA = np.empty(A.shape, np.uint64)
    WBT = np.empty(BT.shape, np.uint64)
    n_a = A.shape[0]
    for r in prange(n_a + BT.shape[0]):                # the rows of A, then those of BT
        if r < n_a:
            for k in range(A.shape[1]):
                WA[r, k] = fused_decode(uint64(A[r, k]), pa)
        else:
            for k in range(BT.shape[1]):
                WBT[r - n_a, k] = fused_decode(uint64(BT[r - n_a, k]), pa)
    n_cols = BT.shape[0]
    K = A.shape[1]
    for t in prange(out.shape[0]):
        i, j = output_index(t, rowwise, n_cols)
        out[t] = fused_output(WA, i, WBT, j, K, uint64(C[t]), po, plan)


def _run(A, BT, rowwise, C, n_out, unit_plan):
    plan, pa, po = unit_plan
    C = np.zeros(n_out, np.uint64) if C is None else np.ascontiguousarray(C, dtype=np.uint64).reshape(-1)
    out = np.empty(n_out, np.uint64)          # one compiled signature: uint64 codes everywhere
    fused_array(np.ascontiguousarray(A, dtype=np.uint64), np.ascontiguousarray(BT, dtype=np.uint64), rowwise, C,
                pa, po, plan, out)
    return out.astype(np.int64)


def fused_rows(A, B, c, fmt_in, acc, instruction_k=None) -> np.ndarray:
    """``bitsim.accum.fused.fused_dot`` on the compiled kernel: rows ``c[i] + sum_k A[i, k] * B[i, k]``
    (A, B (n, K) codes of ``fmt_in``; c (n,) codes of ``acc.out`` or None = +0); int64 codes (n,)."""
    unit_plan = fused_plan(acc, fmt_in, instruction_k)
    A, B, c, shape = check_operands(A, B, c, fmt_in, acc, True)
    return _run(A, B, True, c, shape[0], unit_plan)


def fused_gemm(A, B, C, fmt_in, acc, instruction_k=None) -> np.ndarray:
    """D = C + A @ B through the unit's chain per output (A (M, K), B (K, N) codes of ``fmt_in``; C (M, N)
    codes of ``acc.out`` or None = +0), without expanding A and B to M*N rows; int64 codes (M, N)."""
    unit_plan = fused_plan(acc, fmt_in, instruction_k)
    A, B, C, shape = check_operands(A, B, C, fmt_in, acc, False)
    return _run(A, B.T, False, C, shape[0] * shape[1], unit_plan).reshape(shape)
