"""Exact shortcuts in native IEEE arithmetic for the nn layers' binary32 steps (no fastmath, ever).

``fma32(a, b, c)``: RNE_binary32(a * b + c) for binary32 a (a scalar), b, c, with one rounding, as
``bitsim.ops.fma`` in "rne" computes it. a * b is exact in binary64 (24 + 24 significant bits, at least
2**-298 in magnitude); TwoSum gives the exact error of s = RN64(a * b + c); where it is non-zero, s is
replaced by its neighbour with an odd significand toward the exact value (round to odd) and the result
is RN32 of that: round-to-odd with 53 >= 24 + 2 bits followed by round-to-nearest equals one
round-to-nearest of the exact value (Boldo and Melquiond, 2008), subnormal and overflowing binary32
results included. Every binary64 step is finite for binary32 inputs, and zero signs follow IEEE 754 as in
the core (an exact zero sum of non-zero terms is +0; a tiny result keeps the sign of the exact value).
Callers use the results only where they are finite and run ``bitsim.ops`` otherwise (NaN payloads and
the core's NaN are not compared here).
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from bitsim.nn.tensor import QTensor

TWO_53 = 9007199254740992.0


@numba.njit(nogil=True, cache=True)
def _fma32(a, b, c, out):  # pragma: no cover - compiled
    """out[i] = RNE_binary32(a * b[i] + c[i]) (module doc); a float64 holding a binary32 value."""
    for i in range(out.shape[0]):
        p = a * np.float64(b[i])
        z = np.float64(c[i])
        s = p + z
        bb = s - p
        err = (p - (s - bb)) + (z - bb)
        if err != 0.0:
            m, _ = math.frexp(s)
            if (np.int64(m * TWO_53) & 1) == 0:
                s = np.nextafter(s, np.inf if err > 0.0 else -np.inf)
        out[i] = np.float32(s)


def fma32(a, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """RNE_binary32(a * b + c) elementwise, one rounding: a a binary32 scalar, b and c float32 arrays of
    one shape; returns float32."""
    b, c = np.ascontiguousarray(b, np.float32), np.ascontiguousarray(c, np.float32)
    out = np.empty(b.size, np.float32)
    _fma32(float(np.float32(a)), b.reshape(-1), c.reshape(-1), out)
    return out.reshape(b.shape)


@functools.lru_cache(maxsize=64)
def zero_code(fmt) -> int:
    """The code of +0 in the element format ``fmt``."""
    return int(QTensor.exact(np.zeros(1), fmt).codes[0])


@numba.njit(nogil=True, cache=True)
def max_pool_tiled(bits, mag_mask, kh, kw, top, winner):  # pragma: no cover - compiled
    """IEEE 754 ``maximum`` (-0 < +0) of every kh x kw window of ``bits`` (N, C, H, W), the signed-integer
    view of IEEE codes without NaN, windows tiling the input from the top-left (stride = kernel, no
    padding): its bits into ``top`` (N, C, Ho, Wo), and into ``winner`` the first tap in (i, j) C order
    whose value equals it (+0 and -0 are equal values). The order: non-negative patterns as they are,
    negative ones as ~magnitude (below every non-negative one, reversed); mag_mask clears the sign bit."""
    n_, c_, ho_, wo_ = top.shape
    for n in range(n_):
        for c in range(c_):
            for oh in range(ho_):
                for ow in range(wo_):
                    best = bits[n, c, oh * kh, ow * kw]
                    best_key = best if best >= 0 else ~(best & mag_mask)
                    for i in range(kh):
                        for j in range(kw):
                            b = bits[n, c, oh * kh + i, ow * kw + j]
                            key = b if b >= 0 else ~(b & mag_mask)
                            if key > best_key:
                                best, best_key = b, key
                    win = -1
                    for i in range(kh):
                        for j in range(kw):
                            b = bits[n, c, oh * kh + i, ow * kw + j]
                            if win < 0 and (b == best or (b & mag_mask) == 0 and (best & mag_mask) == 0):
                                win = i * kw + j
                    top[n, c, oh, ow] = best
                    winner[n, c, oh, ow] = win


@numba.njit(nogil=True, cache=True)
def unpool_tiled(dy, winner, has, kh, kw, dx):  # pragma: no cover - compiled
    """dx[n, c, oh * kh + i, ow * kw + j] = dy[n, c, oh, ow] at the winning tap t = i * kw + j of each
    window that has one; dx (N, C, H, W) holds the +0 code elsewhere on entry."""
    n_, c_, ho_, wo_ = dy.shape
    for n in range(n_):
        for c in range(c_):
            for oh in range(ho_):
                for ow in range(wo_):
                    if has[n, c, oh, ow]:
                        i, j = divmod(winner[n, c, oh, ow], kw)
                        dx[n, c, oh * kh + i, ow * kw + j] = dy[n, c, oh, ow]
