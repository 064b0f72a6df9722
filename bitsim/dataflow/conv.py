"""2-D convolution and its two gradients as the GEMMs hardware runs, on code arrays.

Each function gathers its operands into matrices (a pure index gather on codes) and makes one
``bitsim.matmul`` call, so every output element is one dot product that the unit accumulates in
increasing k (see docs/dataflow.md for the GEMM shapes). The K orders:

* forward ``y[n, co, oh, ow]``: k = (ci * kh + i) * kw + j, term x[n, ci, oh*s + i*d - p, ...] * w[co, ci, i, j];
* data gradient ``dx[n, ci, h, w]``: k = (co * kh + i) * kw + j, term dy[n, co, oh, ow] * w[co, ci, i, j]
  with oh * s - p + i * d == h (and likewise for the width); taps that reach no output position
  contribute (+0 code of the dy format) * w;
* weight gradient ``dw[co, ci, i, j]``: k = (n * H_out + oh) * W_out + ow, term dy[n, co, oh, ow] * x[n, ci, ...].

Each function takes ``backend=`` ("cpu" | "cuda" | None) for its GEMM (``bitsim.backend``), and host or
device arrays: the gathers run where the arrays are (``bitsim.dataflow.gather``), the GEMM on the chosen
backend (device arrays choose "cuda" and give device results), with the same codes.

Padding taps are +0 codes of the operand's format and enter the accumulator as ordinary terms (the
term count K is the same for every output element): +0 * inf is NaN, and +0 * w can turn a -0
running sum (a -0 bias) into +0 under round-to-nearest.
"""

from __future__ import annotations

import numpy as np

from bitsim.accum.unit import matmul
from bitsim.dataflow._common import Window, codes, pad_hw, resolve_unit, shape4, windows, zero_code
from bitsim.dataflow.gather import gather


def im2col(x: np.ndarray, win: Window, out_hw, fill: int) -> np.ndarray:
    """(N * H_out * W_out, C * kh * kw) windows of x: row (n, oh, ow), column (c, i, j), both in C order;
    padding taps hold ``fill`` (the +0 code of x's format: ``padding_fill``)."""
    cols = windows(pad_hw(x, win.padding, fill), win, out_hw)            # (N, C, Ho, kh, Wo, kw)
    n, c = x.shape[:2]
    return cols.transpose(0, 2, 4, 1, 3, 5).reshape(n * out_hw[0] * out_hw[1], c * win.kernel[0] * win.kernel[1])


def padding_fill(win: Window, fmt, what: str) -> int:
    """What ``im2col`` puts in padding taps: the +0 code of ``fmt`` (ValueError without one), 0 unpadded."""
    return zero_code(fmt, f"{what}: padding of x") if any(win.padding) else 0


def dy_taps(dy: np.ndarray, win: Window, hw, fill: int) -> np.ndarray:
    """(N * H * W, C_out * kh * kw) operand a of the data-gradient GEMM: row (n, h, w), column (co, i, j),
    both in C order; a tap that reaches no output position holds ``fill`` (``dy_taps_fill``)."""
    n, c_out, ho, wo = dy.shape
    (h, wd), (kh, kw) = hw, win.kernel
    rows, cols = win.sources(0, h, ho), win.sources(1, wd, wo)          # (H, kh), (W, kw); ho / wo = no output
    dy_ext = np.pad(dy, ((0, 0), (0, 0), (0, 1), (0, 1)), constant_values=dy.dtype.type(fill))
    g = dy_ext[:, :, rows[:, :, None, None], cols[None, None, :, :]]   # (N, C_out, H, kh, W, kw)
    return g.transpose(0, 2, 4, 1, 3, 5).reshape(n * h * wd, c_out * kh * kw)


def dy_taps_fill(win: Window, hw, out_hw, fmt, what: str) -> int:
    """What ``dy_taps`` puts in taps that reach no output position: the +0 code of ``fmt`` (ValueError
    without one), 0 where every tap reaches one."""
    rows, cols = win.sources(0, hw[0], out_hw[0]), win.sources(1, hw[1], out_hw[1])
    gaps = bool((rows == out_hw[0]).any() or (cols == out_hw[1]).any())
    return zero_code(fmt, f"{what}: zero taps of dy") if gaps else 0


def rows_to_nchw(rows: np.ndarray, n: int, h: int, w: int) -> np.ndarray:
    """(N * H * W, C) GEMM output -> (N, C, H, W)."""
    return np.ascontiguousarray(rows.reshape(n, h, w, rows.shape[1]).transpose(0, 3, 1, 2))


# One sample's layout changes, in ``gather``'s form fn(x, *args, fill): the GEMM operands and results.

def _nchw(rows, h, w, fill):
    return rows_to_nchw(rows, rows.shape[0] // (h * w), h, w)


def _weight_columns(w, fill):
    """w (C_out, C_in, kh, kw) as the forward GEMM's b: (C_in*kh*kw, C_out)."""
    return w.reshape(w.shape[0], -1).T


def _weight_taps(w, fill):
    """w as the data gradient's b: (C_out*kh*kw, C_in), row (co, i, j)."""
    return w.transpose(0, 2, 3, 1).reshape(-1, w.shape[1])


def _dy_rows(dy, fill):
    """dy (N, C_out, Ho, Wo) as the weight gradient's a: (C_out, N*Ho*Wo)."""
    return dy.transpose(1, 0, 2, 3).reshape(dy.shape[1], -1)


def _row(b, fill):
    return b.reshape(1, -1)


def _gather_im2col(x, win, out_hw, fill):
    n, c, h, w = x.shape
    rows = out_hw[0] * out_hw[1]
    k = c * win.kernel[0] * win.kernel[1]
    return gather(im2col, x, (1, c, h, w), n, (win, tuple(out_hw)), fill, (n * rows, k))


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
    x, w = codes(x, fa, "x", what, device=True), codes(w, fb, "w", what, device=True)
    n, c_in, h, wd = x.shape
    c_out, c_w, kh, kw = w.shape
    if c_w != c_in:
        raise ValueError(f"{what}: w has {c_w} input channels (w.shape[1]) but x has {c_in} (x.shape[1])")
    win = Window.of((kh, kw), stride, padding, dilation, what)
    out_hw = win.out_size(h, wd, what)
    a = _gather_im2col(x, win, out_hw, padding_fill(win, fa, what))
    addend = None
    if bias is not None:
        b = codes(bias, fc, "bias", what, ndim=None, device=True)
        if tuple(b.shape) != (c_out,):
            raise ValueError(f"{what}: bias must have shape ({c_out},) (one code per output channel); got "
                             f"{tuple(b.shape)}")
        addend = gather(_row, b, (c_out,), a.shape[0], (), 0, (a.shape[0], c_out), shared=True)
    b_matrix = gather(_weight_columns, w, tuple(w.shape), 1, (), 0, (c_in * kh * kw, c_out))
    y = matmul(a, b_matrix, u, addend, backend=backend)
    return gather(_nchw, y, (out_hw[0] * out_hw[1], c_out), n, tuple(out_hw), 0, (n, c_out, *out_hw))


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
    dy, w = codes(dy, fa, "dy", what, device=True), codes(w, fb, "w", what, device=True)
    n, c_in, h, wd = shape4(x_shape, "x_shape", what)
    c_out, c_w, kh, kw = w.shape
    if c_w != c_in:
        raise ValueError(f"{what}: w has {c_w} input channels (w.shape[1]) but x_shape has {c_in}")
    win = Window.of((kh, kw), stride, padding, dilation, what)
    ho, wo = win.out_size(h, wd, what)
    _check_dy(dy, (n, c_out, ho, wo), what)
    fill = dy_taps_fill(win, (h, wd), (ho, wo), fa, what)
    a = gather(dy_taps, dy, (1, c_out, ho, wo), n, (win, (h, wd)), fill, (n * h * wd, c_out * kh * kw))
    b = gather(_weight_taps, w, tuple(w.shape), 1, (), 0, (c_out * kh * kw, c_in))
    d = matmul(a, b, u, backend=backend)
    return gather(_nchw, d, (h * wd, c_in), n, (h, wd), 0, (n, c_in, h, wd))


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
    dy, x = codes(dy, fa, "dy", what, device=True), codes(x, fb, "x", what, device=True)
    c_out, c_in, kh, kw = shape4(w_shape, "w_shape", what)
    n, c_x, h, wd = x.shape
    if c_x != c_in:
        raise ValueError(f"{what}: x has {c_x} channels (x.shape[1]) but w_shape has {c_in} input channels")
    win = Window.of((kh, kw), stride, padding, dilation, what)
    out_hw = win.out_size(h, wd, what)
    _check_dy(dy, (n, c_out, *out_hw), what)
    a = gather(_dy_rows, dy, tuple(dy.shape), 1, (), 0, (c_out, n * out_hw[0] * out_hw[1]))
    b = _gather_im2col(x, win, out_hw, padding_fill(win, fb, what))
    return matmul(a, b, u, backend=backend).reshape(c_out, c_in, kh, kw)
