"""Convolution and pooling layers (NCHW) on ``QTensor``s, through ``bitsim.dataflow``.

Conv2d's three GEMMs are ``bitsim.dataflow``'s (docs/dataflow.md has their K orders):
forward ``y = conv2d(x, w) + b`` (a = im2col(x), b = w, k = (ci, i, j)); backward data
``dx = conv2d_backward_data(dy, w)`` (a = dy, b = w, k = (co, i, j), stride gaps and borders +0 terms);
backward weight ``dw = conv2d_backward_weight(x, dy)`` (a = dy, b = im2col(x), k = (n, oh, ow)); bias
gradient ``db = dy as (C_out, N*H_out*W_out) @ 1`` through the backward-weight unit, k = (n, oh, ow).

Pooling layers keep their input's format. Their backward passes route or scale dy per window and need
non-overlapping windows (stride >= kernel), so that no input position sums two contributions (a sum
would be one more rounding, not modelled yet).
"""

from __future__ import annotations

import numpy as np

from bitsim import dataflow as df
from bitsim import ops
from bitsim.dataflow._common import Window, pad_hw, windows
from bitsim.formats import FloatFormat, format as as_format
from bitsim.quantize import encode
from bitsim.nn.gemm import conv_backward_data, conv_backward_weight, conv_forward, resolve_unit, unit_formats
from bitsim.nn.layers import GemmLayer, Layer, _check_int
from bitsim.nn.native import max_pool_tiled, unpool_tiled, zero_code
from bitsim.nn.tensor import QTensor


class Conv2d(GemmLayer):
    """y = conv(x, w) + b: x (N, C_in, H, W), w (C_out, C_in, kh, kw), b (C_out,); stride, padding,
    dilation: an int or a (height, width) pair. Quantiser points and GEMM units as for ``Linear``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 bias: bool = True, *, units=None, quant=None):
        super().__init__(bias, units, quant)
        c_in = _check_int("Conv2d", "in_channels", in_channels)
        c_out = _check_int("Conv2d", "out_channels", out_channels)
        win = Window.of(kernel_size, stride, padding, dilation, "Conv2d")
        self.geom = dict(stride=win.stride, padding=win.padding, dilation=win.dilation)
        self.weight_shape = (c_out, c_in, *win.kernel)
        self.fan_in = c_in * win.kernel[0] * win.kernel[1]

    def forward(self, x, ctx):
        if x.codes.ndim != 4 or x.shape[1] != self.weight_shape[1]:
            raise ValueError(f"{self.name or 'Conv2d'}: input must have shape (N, {self.weight_shape[1]}, H, W); "
                             f"got {x.shape}")
        return super().forward(x, ctx)

    def _gemm_forward(self, x, w, bias, u, what):
        return conv_forward(x, w, u, self.geom, what, bias)

    def _gemm_data(self, dy, w, u, x_shape, what):
        return conv_backward_data(dy, w, u, x_shape, self.geom, what)

    def _gemm_weight(self, dy, x, u, what):
        return conv_backward_weight(x, dy, u, self.weight_shape, self.geom, what)

    def _dy_rows(self, dy):
        return dy.transpose(1, 0, 2, 3).reshape(dy.shape[1], -1)


class _Pool(Layer):
    """Window geometry and the scatter of per-window gradients back to the input (non-overlapping)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        kind = type(self).__name__
        self.win = Window.of(kernel_size, kernel_size if stride is None else stride, padding, 1, kind)
        if any(s < k for s, k in zip(self.win.stride, self.win.kernel)):
            raise ValueError(f"{kind}: stride {self.win.stride} must be >= kernel_size {self.win.kernel} "
                             "(overlapping windows would sum gradients, an unmodelled rounding)")
        self.pool_args = dict(kernel=self.win.kernel, stride=self.win.stride, padding=self.win.padding)
        self._tiled = self.win.stride == self.win.kernel and not any(self.win.padding)   # windows tile the input

    def _check_4d(self, x: QTensor):
        if x.codes.ndim != 4:
            raise ValueError(f"{self.name or type(self).__name__}: input must be 4-D (N, C, H, W); got {x.shape}")

    def _scatter(self, per_tap: np.ndarray, x_shape, zero) -> np.ndarray:
        """Codes of x's shape: per_tap (N, C, H_out, W_out, kh*kw) placed at its taps, +0 elsewhere."""
        n, c, h, w = x_shape
        ph, pw = self.win.padding
        ho, wo, kh, kw = *per_tap.shape[2:4], *self.win.kernel
        if self._tiled:
            out = np.full(x_shape, zero, dtype=per_tap.dtype)
            out[:, :, :ho * kh, :wo * kw] = (per_tap.reshape(n, c, ho, wo, kh, kw).transpose(0, 1, 2, 4, 3, 5)
                                             .reshape(n, c, ho * kh, wo * kw))
            return out
        rows, cols = self.win.taps(0, ho), self.win.taps(1, wo)           # (Ho, kh), (Wo, kw)
        out = np.full((n, c, h + 2 * ph, w + 2 * pw), zero, dtype=per_tap.dtype)
        r = np.broadcast_to(rows[:, None, :, None], (ho, wo, kh, kw)).reshape(ho, wo, -1)
        cc = np.broadcast_to(cols[None, :, None, :], (ho, wo, kh, kw)).reshape(ho, wo, -1)
        out[:, :, r, cc] = per_tap
        return out[:, :, ph:ph + h, pw:pw + w]

    def _taps(self, v: np.ndarray, pad_value) -> np.ndarray:
        """(N, C, H_out, W_out, kh*kw) window taps of the array v, taps in (i, j) C order."""
        (ho, wo), (kh, kw) = self.win.out_size(v.shape[2], v.shape[3], type(self).__name__), self.win.kernel
        if self._tiled:                          # the same taps as the gather below, by a reshape
            t = v[:, :, :ho * kh, :wo * kw].reshape(*v.shape[:2], ho, kh, wo, kw)
        else:
            t = windows(pad_hw(v, self.win.padding, pad_value), self.win, (ho, wo))
        return t.transpose(0, 1, 2, 4, 3, 5).reshape(*v.shape[:2], ho, wo, -1)


class MaxPool2d(_Pool):
    """Window maxima on codes (``bitsim.dataflow.max_pool2d``, IEEE maximum, NaN propagates); no rounding.
    Backward: dy goes to the first tap ((i, j) C order) whose value equals the maximum; every other
    input position gets +0 (a window whose maximum is NaN passes no gradient). Stored: the winner index."""

    def forward(self, x, ctx):
        self._check_4d(x)
        f = x.ieee_floats()
        if f is not None and self._tiled:        # IEEE codes without NaN: the maximum of the bit patterns' order
            (ho, wo), (kh, kw) = self.win.out_size(*x.shape[2:], self.name), self.win.kernel
            bits = np.ascontiguousarray(f).view(np.dtype(f"i{f.itemsize}"))
            top = np.empty((*x.shape[:2], ho, wo), bits.dtype)
            self._winner = np.empty(top.shape, np.int64)
            max_pool_tiled(bits, np.iinfo(bits.dtype).max, kh, kw, top, self._winner)
            y, self._has = x.with_codes(top.view(x.codes.dtype)), np.ones(top.shape, np.bool_)
        else:
            y = x.with_codes(df.max_pool2d(x.codes, x.fmt, **self.pool_args))
            match = self._taps(x.values, -np.inf) == y.values[..., None]
            self._winner, self._has = np.argmax(match, axis=-1), match.any(axis=-1)
        self._x_shape = x.shape
        self._record(ctx, "forward", "output", y)
        return y

    def backward(self, dy, ctx, need_dx=True):
        if dy.shape != self._winner.shape:
            raise ValueError(f"{self.name}: gradient shape {dy.shape} differs from the output shape {self._winner.shape}")
        zero = zero_code(dy.fmt)
        if self._tiled:
            dx = np.full(self._x_shape, zero, dy.codes.dtype)
            unpool_tiled(np.ascontiguousarray(dy.codes), self._winner, self._has, *self.win.kernel, dx)
        else:
            k = self.win.kernel[0] * self.win.kernel[1]
            hit = (np.arange(k) == self._winner[..., None]) & self._has[..., None]
            dx = self._scatter(np.where(hit, dy.codes[..., None], dy.codes.dtype.type(zero)), self._x_shape, zero)
        dx = dy.with_codes(dx)
        self._record(ctx, "backward", "grad_input", dx)
        return dx


class AvgPool2d(_Pool):
    """Window means (``bitsim.dataflow.avg_pool2d``: the window sum through ``unit``, default a running
    sum in x's format, then RNE_fmt(sum * r) with r = RNE_out(1/n), n = kh*kw) on float formats.
    Backward: every tap of a window gets RNE_dyfmt(dy * r) (``bitsim.ops.mul``, one rounding in dy's format;
    trace rounding label ``"<fmt> rne"``), positions outside every window +0."""

    def __init__(self, kernel_size, stride=None, padding=0, unit=None):
        super().__init__(kernel_size, stride, padding)
        self.unit = None if unit is None else resolve_unit(unit, "AvgPool2d.unit")

    def _float(self, t: QTensor, what: str):
        if not isinstance(t.fmt, FloatFormat) or t.scale_exp:
            raise TypeError(f"{self.name or 'AvgPool2d'}: {what} must be in a float format (scale 2**0); got {t!r}")

    def forward(self, x, ctx):
        self._check_4d(x)
        self._float(x, "the input")
        y = x.with_codes(df.avg_pool2d(x.codes, x.fmt, unit=self.unit, **self.pool_args))
        self._x_shape = x.shape
        self._out_fmt = as_format(unit_formats(self.unit)[3]) if self.unit is not None else x.fmt
        self._record(ctx, "forward", "output", y)
        return y

    def backward(self, dy, ctx, need_dx=True):
        self._float(dy, "the gradient")
        fp64, fo = as_format("fp64"), self._out_fmt
        n = self.win.kernel[0] * self.win.kernel[1]
        r = ops.div(encode(np.ones(1), fp64), encode(np.full(1, float(n)), fp64), fo, in_formats=(fp64, fp64))[0]
        g = ops.mul(dy.codes, r, dy.fmt, in_formats=(dy.fmt, fo))[0]
        zero = zero_code(dy.fmt)
        per_tap = np.broadcast_to(g[..., None], (*g.shape, n))
        dx = dy.with_codes(self._scatter(per_tap, self._x_shape, zero))
        self._record(ctx, "backward", "grad_input", dx, f"{dy.fmt} rne")
        return dx
