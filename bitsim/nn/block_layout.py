"""Where the blocks of a block-format GEMM lie: the operand matrices of a GEMM layer's three GEMMs.

A ``BlockDotUnit`` reads A (M, K) in 1-D blocks along K (axis 1) and B (K, N) in 1-D blocks along K
(axis 0). The matrices are exactly those of the element-format GEMMs (docs/nn.md, ``bitsim.dataflow``),
built here from a tensor's exact values (a float array) with the same gathers (``im2col``, ``dy_taps``:
their index maps, made by running them on element indices, cached per shape), so a block quantiser
rounds the gathered operand, as the hardware's operand path does:

=======  ===============  ====  ====================  ===============================================
point    GEMM             role  Linear                Conv2d (x: N, C_in, H, W; w: C_out, C_in, kh, kw)
=======  ===============  ====  ====================  ===============================================
act      forward          a     x (N, in)             im2col(x) (N*Ho*Wo, C_in*kh*kw), k = (ci, i, j)
act      backward_weight  b     x (N, in), k = n      im2col(x), k = (n, oh, ow)
weight   forward          b     W^T (in, out)         w.reshape(C_out, C_in*kh*kw)^T, k = (ci, i, j)
weight   backward_data    b     W (out, in), k = o    w.transpose(0, 2, 3, 1).reshape(C_out*kh*kw, C_in)
error    backward_data    a     dy (N, out)           dy_taps(dy) (N*H*W, C_out*kh*kw), k = (co, i, j)
error    backward_weight  a     dy^T (out, N)         dy.transpose(1, 0, 2, 3).reshape(C_out, N*Ho*Wo)
=======  ===============  ====  ====================  ===============================================

Every operand is a *base* matrix, possibly transposed: operands with one base are one matrix read in two
orientations (Linear: all three points; Conv2d: ``act``), so one square-tiled quantisation serves both.
Padding taps and taps that reach no output are +0 (exact in every format; they never raise a block max).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitsim.dataflow._common import Window
from bitsim.dataflow.conv import dy_taps, im2col, rows_to_nchw
from bitsim.dataflow.gather import index_map
from bitsim.nn.conv import Conv2d
from bitsim.nn.layers import Linear

GEMMS = ("forward", "backward_data", "backward_weight")


@dataclass(frozen=True)
class Operand:
    """One GEMM operand made from the tensor at a point: ``base`` (transposed or not) read by ``gemm`` as
    its operand ``role`` ("a": (M, K), blocks along axis 1; "b": (K, N), blocks along axis 0)."""

    gemm: str
    role: str
    base: str
    transposed: bool = False

    @property
    def k_axis(self) -> int:
        return 1 if self.role == "a" else 0


_LINEAR = {"act": (Operand("forward", "a", "x"), Operand("backward_weight", "b", "x")),
           "weight": (Operand("forward", "b", "w", True), Operand("backward_data", "b", "w")),
           "error": (Operand("backward_data", "a", "dy"), Operand("backward_weight", "a", "dy", True))}
_CONV = {"act": (Operand("forward", "a", "im2col"), Operand("backward_weight", "b", "im2col")),
         "weight": (Operand("forward", "b", "w_rows", True), Operand("backward_data", "b", "w_taps")),
         "error": (Operand("backward_data", "a", "dy_taps"), Operand("backward_weight", "a", "dy_rows"))}
POINTS = tuple(_LINEAR)


def _kind(layer) -> str:
    if isinstance(layer, Conv2d):
        return "conv"
    if isinstance(layer, Linear):
        return "linear"
    raise TypeError(f"block GEMMs are defined for Linear and Conv2d layers; got {type(layer).__name__}")


def operands(layer, point: str) -> tuple[Operand, ...]:
    """The operands the tensor at ``point`` ("act", "weight", "error") of ``layer`` becomes."""
    if point not in POINTS:
        raise ValueError(f"a block quantiser sits at a GEMM operand point ({', '.join(POINTS)}); got {point!r}")
    return (_CONV if _kind(layer) == "conv" else _LINEAR)[point]


def _window(layer) -> Window:
    return Window.of(layer.weight_shape[2:], **layer.geom, what=layer.name)


def base_size(layer, base: str, shape) -> int:
    """The number of elements of the base matrix ``base`` of a point's tensor of ``shape``."""
    if base not in ("im2col", "dy_taps"):
        return int(np.prod(shape))
    h, w = _window(layer).out_size(*shape[2:], layer.name) if base == "im2col" else layer._x_shape[2:]
    return shape[0] * h * w * shape[1] * int(np.prod(layer.weight_shape[2:]))       # rows (n, h, w), columns (c, i, j)


def base_matrix(layer, base: str, v: np.ndarray) -> np.ndarray:
    """The base matrix ``base`` of the exact values v (a float array) of the point's tensor, C-contiguous."""
    if _kind(layer) == "linear":
        if v.ndim != 2:
            raise ValueError(f"{layer.name}: a Linear operand must be 2-D; got shape {v.shape}")
        return np.ascontiguousarray(v)
    if base in ("im2col", "dy_taps"):
        hw = layer._x_shape[2:] if base == "dy_taps" else None
        idx = _gather_map(base, _window(layer), v.shape[1:], hw, f"{layer.name} block operand {base}")
        ext = np.concatenate([np.zeros((v.shape[0], 1), v.dtype), v.reshape(v.shape[0], -1)], axis=1)
        return ext.take(idx, axis=1).reshape(-1, idx.shape[1])
    if base == "w_rows":
        return v.reshape(v.shape[0], -1)
    if base == "w_taps":
        return np.ascontiguousarray(v.transpose(0, 2, 3, 1).reshape(-1, v.shape[1]))
    return np.ascontiguousarray(v.transpose(1, 0, 2, 3).reshape(v.shape[1], -1))          # dy_rows


def _gather_map(base: str, win: Window, sample_shape: tuple, hw, what: str) -> np.ndarray:
    """The rows of one sample of ``im2col`` / ``dy_taps`` as indices into [0, sample...]: the gather
    itself run on the element indices 1, 2, ... of one sample, its +0 taps landing on index 0
    (``bitsim.dataflow.gather.index_map``, cached)."""
    if base == "im2col":
        out_hw = win.out_size(sample_shape[1], sample_shape[2], what)
        return index_map(im2col, (1, *sample_shape), (win, tuple(out_hw)))
    return index_map(dy_taps, (1, *sample_shape), (win, tuple(hw)))


def result(layer, gemm: str, d: np.ndarray, x_shape) -> np.ndarray:
    """The 2-D GEMM result ``d`` in the layer's tensor layout (x_shape: the layer input's shape)."""
    if _kind(layer) == "linear":
        return d
    if gemm == "backward_weight":
        return d.reshape(layer.weight_shape)
    n, _, h, w = x_shape
    if gemm == "forward":
        h, w = _window(layer).out_size(h, w, layer.name)
    return rows_to_nchw(d, n, h, w)
