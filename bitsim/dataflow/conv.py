"""2-D convolution and its two gradients as the GEMMs hardware runs, on code arrays.

Each function gathers its operands into matrices (a pure index gather on codes) and makes one
``bitsim.matmul`` call, so every output element is one dot product that the unit accumulates in
increasing k (see docs/dataflow.md for the GEMM shapes). The K orders:

* forward ``y[n, co, oh, ow]``: k = (ci * kh + i) * kw + j, term x[n, ci, oh*s + i*d - p, ...] * w[co, ci, i, j];
* data gradient ``dx[n, ci, h, w]``: k = (co * kh + i) * kw + j, term dy[n, co, oh, ow] * w[co, ci, i, j]
  with oh * s - p + i * d == h (and likewise for the width); taps that reach no output position
  contribute (+0 code of the dy format) * w;
* weight gradient ``dw[co, ci, i, j]``: k = (n * H_out + oh) * W_out + ow, term dy[n, co, oh, ow] * x[n, ci, ...].

Each function takes ``backend=`` ("cpu" | "cuda" | None) for its GEMM (``bitsim.backend``): the
gathers run on the host (host arrays only), the GEMM on the chosen backend, with the same codes.

Padding taps are +0 codes of the operand's format and enter the accumulator as ordinary terms (the
term count K is the same for every output element): +0 * inf is NaN, and +0 * w can turn a -0
running sum (a -0 bias) into +0 under round-to-nearest.
"""

from __future__ import annotations

import numpy as np

from bitsim.accum.unit import matmul
from bitsim.dataflow._common import Window, codes, pad_hw, resolve_unit, shape4, windows, zero_code


def im2col(x: np.ndarray, win: Window, out_hw, fmt, what: str) -> np.ndarray:
    """(N * H_out * W_out, C * kh * kw) windows of x: row (n, oh, ow), column (c, i, j), both in C order;
    padding taps hold the +0 code of ``fmt`` (operand a of the forward GEMM, b of the weight gradient)."""
    zero = zero_code(fmt, f"{what}: padding of x") if any(win.padding) else 0
    cols = windows(pad_hw(x, win.padding, zero), win, out_hw)            # (N, C, Ho, kh, Wo, kw)
    n, c = x.shape[:2]
    return cols.transpose(0, 2, 4, 1, 3, 5).reshape(n * out_hw[0] * out_hw[1], c * win.kernel[0] * win.kernel[1])


def dy_taps(dy: np.ndarray, win: Window, hw, fmt, what: str) -> np.ndarray:
    """(N * H * W, C_out * kh * kw) operand a of the data-gradient GEMM: row (n, h, w), column (co, i, j),
    both in C order; a tap that reaches no output position holds the +0 code of ``fmt``."""
    n, c_out, ho, wo = dy.shape
    (h, wd), (kh, kw) = hw, win.kernel
    rows, cols = win.sources(0, h, ho), win.sources(1, wd, wo)          # (H, kh), (W, kw); ho / wo = no output
    gaps = bool((rows == ho).any() or (cols == wo).any())
    zero = zero_code(fmt, f"{what}: zero taps of dy") if gaps else 0
    dy_ext = np.pad(dy, ((0, 0), (0, 0), (0, 1), (0, 1)), constant_values=dy.dtype.type(zero))
    g = dy_ext[:, :, rows[:, :, None, None], cols[None, None, :, :]]   # (N, C_out, H, kh, W, kw)
    return g.transpose(0, 2, 4, 1, 3, 5).reshape(n * h * wd, c_out * kh * kw)


def rows_to_nchw(rows: np.ndarray, n: int, h: int, w: int) -> np.ndarray:
    """(N * H * W, C) GEMM output -> (N, C, H, W)."""
    return np.ascontiguousarray(rows.reshape(n, h, w, rows.shape[1]).transpose(0, 3, 1, 2))


def _check_dy(dy: np.ndarray, expected: tuple, what: str) -> None:
    if dy.shape != expected:
        raise ValueError(f"{what}: dy must have shape {expected} (N, C_out, H_out, W_out of the forward "
                         f"convolution); got {dy.shape}")


def conv2d(x, w, unit, *, stride=1, padding=0, dilation=1, bias=None, backend=None) -> np.ndarray:
    """y = conv(x, w) + bias through ``unit``: x (N, C_in, H, W) codes of the unit's a format, w (C_out,
    C_in, kh, kw) codes of its b format, bias (C_out,) codes of its c format (the addend: it enters
    first); returns (N, C_out, H_out, W_out) codes of the unit's output format.

    One GEMM: im2col(x) (M = N*H_out*W_out, K = C_in*kh*kw) @ w.reshape(C_out, K).T (K, N = C_out);
    K index k = (ci * kh + i) * kw + j. Padding inserts the +0 code of the a format (ValueError without one).
    """
    what = "conv2d"
    u, fa, fb, fc, _ = resolve_unit(unit, what)
    x, w = codes(x, fa, "x", what), codes(w, fb, "w", what)
    n, c_in, h, wd = x.shape
    c_out, c_w, kh, kw = w.shape
    if c_w != c_in:
        raise ValueError(f"{what}: w has {c_w} input channels (w.shape[1]) but x has {c_in} (x.shape[1])")
    win = Window.of((kh, kw), stride, padding, dilation, what)
    out_hw = win.out_size(h, wd, what)
    a = im2col(x, win, out_hw, fa, what)
    addend = None
    if bias is not None:
        b = codes(bias, fc, "bias", what, ndim=None)
        if b.shape != (c_out,):
            raise ValueError(f"{what}: bias must have shape ({c_out},) (one code per output channel); got {b.shape}")
        addend = np.broadcast_to(b, (a.shape[0], c_out))
    y = matmul(a, w.reshape(c_out, -1).T, u, addend, backend=backend)
    return rows_to_nchw(y, n, *out_hw)


def conv2d_backward_data(dy, w, unit, x_shape, *, stride, padding, dilation, backend=None) -> np.ndarray:
    """dx, the gradient of conv2d with respect to x (the transposed convolution), through ``unit``:
    dy (N, C_out, H_out, W_out) codes of the unit's a format, w (C_out, C_in, kh, kw) codes of its b
    format; returns (N, C_in, H, W) = ``x_shape`` codes of the unit's output format.

    dx[n, ci, h, w] = sum over (co, i, j) in C order (k = (co * kh + i) * kw + j) of dy[n, co, oh, ow] *
    w[co, ci, i, j] with oh * s_h - p_h + i * d_h == h, ow likewise. Every output takes all K = C_out*kh*kw
    terms: where a tap reaches no output position (stride gaps, borders) dy is the +0 code of the a
    format, as in the zero-stuffed formulation. One GEMM: M = N*H*W, K = C_out*kh*kw, N = C_in.
    """
    what = "conv2d_backward_data"
    u, fa, fb, _, _ = resolve_unit(unit, what)
    dy, w = codes(dy, fa, "dy", what), codes(w, fb, "w", what)
    n, c_in, h, wd = shape4(x_shape, "x_shape", what)
    c_out, c_w, kh, kw = w.shape
    if c_w != c_in:
        raise ValueError(f"{what}: w has {c_w} input channels (w.shape[1]) but x_shape has {c_in}")
    win = Window.of((kh, kw), stride, padding, dilation, what)
    ho, wo = win.out_size(h, wd, what)
    _check_dy(dy, (n, c_out, ho, wo), what)
    a = dy_taps(dy, win, (h, wd), fa, what)
    b = w.transpose(0, 2, 3, 1).reshape(c_out * kh * kw, c_in)
    return rows_to_nchw(matmul(a, b, u, backend=backend), n, h, wd)


def conv2d_backward_weight(x, dy, unit, w_shape, *, stride, padding, dilation, backend=None) -> np.ndarray:
    """dw, the gradient of conv2d with respect to w, through ``unit``: dy (N, C_out, H_out, W_out) codes
    of the unit's a format, x (N, C_in, H, W) codes of its b format; returns (C_out, C_in, kh, kw) =
    ``w_shape`` codes of the unit's output format.

    dw[co, ci, i, j] = sum over (n, oh, ow) in C order (k = (n * H_out + oh) * W_out + ow) of
    dy[n, co, oh, ow] * x[n, ci, oh*s_h + i*d_h - p_h, ow*s_w + j*d_w - p_w]; padding taps are the +0 code
    of the b format. One GEMM: dy as (M = C_out, K = N*H_out*W_out) @ im2col(x) (K, N = C_in*kh*kw).
    """
    what = "conv2d_backward_weight"
    u, fa, fb, _, _ = resolve_unit(unit, what)
    dy, x = codes(dy, fa, "dy", what), codes(x, fb, "x", what)
    c_out, c_in, kh, kw = shape4(w_shape, "w_shape", what)
    n, c_x, h, wd = x.shape
    if c_x != c_in:
        raise ValueError(f"{what}: x has {c_x} channels (x.shape[1]) but w_shape has {c_in} input channels")
    win = Window.of((kh, kw), stride, padding, dilation, what)
    out_hw = win.out_size(h, wd, what)
    _check_dy(dy, (n, c_out, *out_hw), what)
    a = dy.transpose(1, 0, 2, 3).reshape(c_out, -1)
    b = im2col(x, win, out_hw, fb, what)
    return matmul(a, b, u, backend=backend).reshape(c_out, c_in, kh, kw)
