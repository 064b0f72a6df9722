"""Pooling and ReLU on code arrays (NCHW).

* ``max_pool2d``: IEEE 754-2019 ``maximum`` (NaN propagates as the canonical NaN; -0 < +0) through
  ``bitsim.ops.max``, or ``maximumNumber`` with ``nan="ignore"``; fixed-point formats compare integers.
  Padding taps hold the format's lowest code (-inf, else the most negative finite value).
* ``avg_pool2d``: the window sum through a dot-product unit (window @ a column of 1.0 codes, taps in
  (i, j) C order, padding taps +0), then one ``bitsim.ops.mul`` by 1/n, where 1/n is rounded once
  (RNE) to the unit's output format; the product is rounded once (RNE) into ``fmt``.
* ``relu``: negative values and -0 become +0; NaN codes are returned unchanged.
"""

from __future__ import annotations

import numpy as np

from bitsim import ops
from bitsim.accum.models import FloatAcc
from bitsim.accum.unit import DotUnit, matmul
from bitsim.arrays import host_only, operand_codes
from bitsim.dataflow._common import Window, codes, lowest_code, pad_hw, resolve_unit, windows, zero_code
from bitsim.formats import FixedFormat, FloatFormat, format as as_format
from bitsim.quantize import decode, encode

NAN_POLICIES = ("propagate", "ignore")


def _element_format(fmt, what: str):
    f = as_format(fmt)
    if not isinstance(f, (FloatFormat, FixedFormat)):
        raise TypeError(f"{what}: fmt must be an element format (float or fixed); got {fmt!r}")
    return f


def _pool_window(kernel, stride, padding, what: str) -> Window:
    """kernel, stride (default: kernel) and padding (at most half the kernel, so that every window
    holds an input element)."""
    win = Window.of(kernel, kernel if stride is None else stride, padding, 1, what)
    if any(p > k // 2 for p, k in zip(win.padding, win.kernel)):
        raise ValueError(f"{what}: padding must be at most half the kernel {win.kernel}; got {padding!r}")
    return win


def _taps(x: np.ndarray, win: Window, pad_value: int, what: str):
    """(N, C, H_out, W_out, kh * kw) window taps in (i, j) C order, and (H_out, W_out)."""
    out_hw = win.out_size(x.shape[2], x.shape[3], what)
    t = windows(pad_hw(x, win.padding, pad_value), win, out_hw)       # (N, C, Ho, kh, Wo, kw)
    n, c = x.shape[:2]
    return t.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, *out_hw, -1), out_hw


def _fixed_ints(x: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    k = x.astype(np.int64)
    return k - (k >> (fmt.bits - 1) << fmt.bits) if fmt.signed else k


def max_pool2d(x, fmt, kernel, stride=None, padding=0, *, nan="propagate") -> np.ndarray:
    """Window maxima of x (N, C, H, W) codes of ``fmt``; stride defaults to kernel, padding <= kernel // 2.

    Floats: IEEE 754-2019 ``maximum`` (nan="propagate": any NaN in the window gives the canonical NaN)
    or ``maximumNumber`` (nan="ignore": NaNs are skipped, an all-NaN window gives the canonical NaN);
    +0 beats -0. Padding taps are -inf, or the most negative finite value in formats without
    infinities (they never change a result). Fixed point: the largest integer. Flags are not reported.
    """
    what = "max_pool2d"
    fmt = _element_format(fmt, what)
    if nan not in NAN_POLICIES:
        raise ValueError(f"{what}: nan must be 'propagate' (IEEE maximum) or 'ignore' (maximumNumber); got {nan!r}")
    x = codes(x, fmt, "x", what)
    win = _pool_window(kernel, stride, padding, what)
    taps, _ = _taps(x, win, lowest_code(fmt), what)
    if isinstance(fmt, FixedFormat):
        best = np.argmax(_fixed_ints(taps, fmt), axis=-1)
        return np.take_along_axis(taps, best[..., None], axis=-1)[..., 0]
    out = ops.max(taps[..., 0], taps[..., 0], fmt, nan=nan)[0]       # canonical NaN already for 1 tap
    for t in range(1, taps.shape[-1]):
        out = ops.max(out, taps[..., t], fmt, nan=nan)[0]
    return out


def _default_unit(fmt: FloatFormat) -> DotUnit:
    return DotUnit(fmt, fmt, FloatAcc(fmt), fmt)


def _reciprocals(counts: np.ndarray, fmt: FloatFormat, what: str) -> np.ndarray:
    """Codes of 1/n rounded once (RNE) to ``fmt`` (one correctly rounded division of exact binary64
    operands); ValueError when 1/n rounds to zero, or to a non-finite value."""
    fp64 = as_format("fp64")
    values, inverse = np.unique(counts, return_inverse=True)
    r = ops.div(encode(np.ones(values.size), fp64), encode(values.astype(np.float64), fp64), fmt,
                in_formats=(fp64, fp64))[0]
    got = decode(r, fmt)
    bad = ~(np.isfinite(got) & (got > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{what}: 1/{int(values[i])} rounds to {got[i]} in the unit's output format {fmt}; "
                         "choose a unit with a wider output format")
    return r[inverse.reshape(counts.shape)]


def avg_pool2d(x, fmt, kernel, stride=None, padding=0, unit=None, *, count_include_pad=True) -> np.ndarray:
    """Window averages of x (N, C, H, W) codes of the float format ``fmt``; returns codes of ``fmt``.

    sum = the unit's dot of the window taps ((i, j) C order, padding taps +0) with 1.0 codes of its b
    format (default unit: ``DotUnit(fmt, fmt, FloatAcc(fmt), fmt)``, a running sum in ``fmt``); then
    y = RNE_fmt(sum * r) with r = RNE_out(1/n), ``out`` the unit's output format: two roundings after the
    sum, one of them in the constant. n = kh * kw (count_include_pad=True), else the number of taps
    inside the input. The unit's a format must be ``fmt``; its output format must be a float format.
    """
    what = "avg_pool2d"
    fmt = _element_format(fmt, what)
    if not isinstance(fmt, FloatFormat):
        raise TypeError(f"{what}: fmt must be a float format (the division runs in bitsim.ops); got {fmt}")
    u, fa, fb, _, fout = resolve_unit(_default_unit(fmt) if unit is None else unit, what)
    if fa != fmt:
        raise ValueError(f"{what}: the unit's a format {fa} differs from fmt {fmt}")
    if not isinstance(fout, FloatFormat):
        raise TypeError(f"{what}: the unit's output format must be a float format; got {fout}")
    one = encode(np.ones(1), fb)
    if decode(one, fb)[0] != 1.0:
        raise ValueError(f"{what}: 1.0 is not exact in the unit's b format {fb}")
    x = codes(x, fmt, "x", what)
    win = _pool_window(kernel, stride, padding, what)
    zero = zero_code(fmt, f"{what}: padding of x") if any(win.padding) else 0
    taps, out_hw = _taps(x, win, zero, what)
    k = taps.shape[-1]
    sums = matmul(taps.reshape(-1, k), np.full((k, 1), one[0], dtype=one.dtype), u)[:, 0]
    if count_include_pad:
        counts = np.full(sums.shape, k)
    else:
        inside = np.ones((1, 1) + x.shape[2:], dtype=np.uint8)
        counts = _taps(inside, win, 0, what)[0].sum(axis=-1, dtype=np.int64).reshape(-1)
        counts = np.broadcast_to(counts, (x.shape[0] * x.shape[1], counts.size)).reshape(-1)
    r = _reciprocals(counts, fout, what)
    y = ops.mul(sums, r, fmt, in_formats=(fout, fout))[0]
    return y.reshape(*x.shape[:2], *out_hw)


def relu(x, fmt) -> np.ndarray:
    """max(x, +0) on codes of ``fmt`` (any shape): negative values and -0 become the +0 code; NaN codes
    (either sign) are returned unchanged; unsigned formats are returned as they are."""
    what = "relu"
    fmt = _element_format(fmt, what)
    host_only(x, f"bitsim.dataflow.{what}")
    x = operand_codes(x, fmt, f"{what}: x")
    if not fmt.signed:
        return x.copy()
    zero = x.dtype.type(zero_code(fmt, f"{what}: result"))
    negative = (x >> x.dtype.type(fmt.bits - 1)) != 0
    if isinstance(fmt, FloatFormat):
        negative &= ops.eq(x, x, fmt)[0]                                # NaN != NaN: keep NaN codes
    return np.where(negative, zero, x).astype(fmt.code_dtype)
