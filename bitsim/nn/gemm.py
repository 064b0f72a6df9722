"""The GEMMs of a layer on ``QTensor``s, each through its own dot-product unit.

``GemmUnits(forward, backward_data, backward_weight)``: DotUnits, tensor-core units or preset names
(``bitsim.unit``); the backward units default to the forward one. Every GEMM takes the operands' codes,
which must already be in the unit's a / b formats (ValueError naming the operand otherwise: the
quantisers put them there), runs ``bitsim.matmul`` (or a ``bitsim.dataflow`` convolution, one matmul),
and returns the unit's output codes with the scale ``scale_a + scale_b``. The accumulation order is the
unit's over the stated K index (see ``Linear`` / ``Conv2d`` and docs/nn.md); nothing else rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitsim import dataflow as df
from bitsim.accum.block_dot import BlockDotUnit
from bitsim.accum.presets import TensorCoreUnit
from bitsim.accum.unit import DotUnit, matmul, unit as named_unit
from bitsim.quantize import decode, encode
from bitsim.nn.tensor import QTensor


def resolve_unit(u, what: str):
    """A DotUnit, TensorCoreUnit or BlockDotUnit (bitsim.nn.block_gemm) from a unit or a preset name."""
    if isinstance(u, str):
        try:
            u = named_unit(u)
        except ValueError as err:
            raise ValueError(f"{what}: {err}") from None
    if not isinstance(u, (DotUnit, TensorCoreUnit, BlockDotUnit)):
        raise TypeError(f"{what} must be a DotUnit, a TensorCoreUnit, a BlockDotUnit or a preset name; got {u!r}")
    return u


def unit_formats(u) -> tuple:
    """(a, b, c, out) formats of a unit."""
    if isinstance(u, TensorCoreUnit):
        return u.fmt_in, u.fmt_in, u.out, u.out
    return u.a, u.b, u.c, u.out


@dataclass(frozen=True)
class GemmUnits:
    """The units of a layer's three GEMMs: forward (y = x W^T), backward_data (dx = dy W),
    backward_weight (dW = dy^T x). None = the forward unit."""

    forward: object
    backward_data: object = None
    backward_weight: object = None

    def __post_init__(self):
        fwd = resolve_unit(self.forward, "GemmUnits.forward")
        object.__setattr__(self, "forward", fwd)
        for name in ("backward_data", "backward_weight"):
            u = getattr(self, name)
            object.__setattr__(self, name, fwd if u is None else resolve_unit(u, f"GemmUnits.{name}"))


def _check(t: QTensor, fmt, what: str, operand: str) -> np.ndarray:
    if t.fmt != fmt:
        raise ValueError(f"{what}: operand {operand} is in {t.fmt} but the unit takes {fmt} "
                         f"(put a quantiser to {fmt} at this point)")
    return t.codes


def _result(codes, out_fmt, scale) -> QTensor:
    return QTensor(codes, out_fmt, scale)


def gemm(a: QTensor, b: QTensor, u, what: str, c: QTensor | None = None) -> QTensor:
    """D = C + A @ B through ``u``: A (M, K), B (K, N); output k runs 0 .. K-1 in the unit's order."""
    fa, fb, fc, fo = unit_formats(u)
    A, B = _check(a, fa, what, "a"), _check(b, fb, what, "b")
    C = None
    if c is not None:
        C = _check(c, fc, what, "c (addend)")
        C = np.ascontiguousarray(np.broadcast_to(C, (A.shape[0], B.shape[1])))
    return _result(matmul(A, B, u, C), fo, a.scale_exp + b.scale_exp)


def ones(fmt, n: int, what: str) -> QTensor:
    """n codes of 1.0 in ``fmt`` (ValueError if 1.0 is not exact there)."""
    one = encode(np.ones(1), fmt)
    if decode(one, fmt)[0] != 1.0:
        raise ValueError(f"{what}: 1.0 is not representable in {fmt}")
    return QTensor(np.full((n, 1), one[0], dtype=one.dtype), fmt, 0)


def conv_forward(x: QTensor, w: QTensor, u, geom: dict, what: str, bias: QTensor | None = None) -> QTensor:
    fa, fb, fc, fo = unit_formats(u)
    b = None if bias is None else _check(bias, fc, what, "c (bias)")
    y = df.conv2d(_check(x, fa, what, "a (x)"), _check(w, fb, what, "b (w)"), u, bias=b, **geom)
    return _result(y, fo, x.scale_exp + w.scale_exp)


def conv_backward_data(dy: QTensor, w: QTensor, u, x_shape, geom: dict, what: str) -> QTensor:
    fa, fb, _, fo = unit_formats(u)
    dx = df.conv2d_backward_data(_check(dy, fa, what, "a (dy)"), _check(w, fb, what, "b (w)"), u, tuple(x_shape),
                                 **geom)
    return _result(dx, fo, dy.scale_exp + w.scale_exp)


def conv_backward_weight(x: QTensor, dy: QTensor, u, w_shape, geom: dict, what: str) -> QTensor:
    fa, fb, _, fo = unit_formats(u)
    dw = df.conv2d_backward_weight(_check(x, fb, what, "b (x)"), _check(dy, fa, what, "a (dy)"), u, tuple(w_shape),
                                   **geom)
    return _result(dw, fo, x.scale_exp + dy.scale_exp)
