"""Fast CPU encode of IEEE inputs into fixed-point formats, deterministic modes, no flags.

A value x goes to the integer k = round(x * 2**frac_bits) in the mode. In binary64, x * 2**frac_bits is
exact (a power-of-two scale, |frac_bits| <= 900) unless it under- or overflows, and floor, ceil, trunc and
rint (round half to even) of a binary64 are exact; the difference y - floor(y) is exact below 2**52. So
every step is exact, and the code is the generic kernel's wherever the kernel below accepts the element:
a finite x whose scaled value is zero or normal and whose rounded integer lies in the format's range.
Any other element (NaN, inf, a nonzero x whose scaled value is not normal, an integer that would
saturate or wrap) makes the whole call fall back to the generic kernel, which also owns SR and flags.
tests/test_fixed.py holds the two to the same codes.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import int64, prange

from bitsim.core.params import RM_RDN, RM_RNA, RM_RNE, RM_RTZ, RM_RUP, RM_SR
from bitsim.formats.spec import FixedFormat

SMALLEST_NORMAL = 2.0 ** -1022


def fixed_encode_plan(dst, mode: int):
    """(2**frac_bits, min_int, max_int, code mask) for IEEE sources into ``dst``, or None."""
    if not isinstance(dst, FixedFormat) or mode == RM_SR or abs(dst.frac_bits) > 900 or dst.bits > 53:
        return None
    return float(np.ldexp(1.0, dst.frac_bits)), dst.min_int, dst.max_int, (1 << dst.bits) - 1


@numba.njit(nogil=True, inline="always")
def _round_integer(y, mode):  # pragma: no cover - compiled
    """y rounded to an integer (binary64, exact) in ``mode``."""
    if mode == RM_RNE:
        return np.rint(y)
    if mode == RM_RTZ:
        return np.trunc(y)
    if mode == RM_RUP:
        return np.ceil(y)
    if mode == RM_RDN:
        return np.floor(y)
    if mode == RM_RNA:
        if y >= 0.0:
            f = np.floor(y)
            return f + 1.0 if y - f >= 0.5 else f
        c = np.ceil(y)
        return c - 1.0 if c - y >= 0.5 else c
    t = np.trunc(y)                                     # RM_RTO: the odd neighbour when inexact
    if t != y and int64(t) % 2 == 0:
        t += 1.0 if y > 0.0 else -1.0
    return t


@numba.njit(parallel=True, nogil=True, cache=True)
def fixed_encode_array(x, scale, min_int, max_int, mask, mode, out, ok):  # pragma: no cover - compiled
    """out[i] = the code of round(x[i] * scale); ok[0] = 0 if an element needs the generic kernel."""
    for i in prange(x.shape[0]):
        y = x[i] * scale                                # exact unless it overflows or leaves the normal range
        if not (abs(y) < 9.0e15) or (x[i] != 0.0 and abs(y) < SMALLEST_NORMAL):
            ok[0] = 0
            continue
        r = _round_integer(y, mode)
        if r < min_int or r > max_int:
            ok[0] = 0
            continue
        out[i] = int64(r) & mask
