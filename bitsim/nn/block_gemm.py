"""A GEMM layer's GEMMs through a ``BlockDotUnit`` (``bitsim.accum.block_matmul``).

Operands are ``BlockQTensor``s from ``BlockQuantizer`` points; each GEMM reads the operand laid out for
it (``operands[gemm]``: a in blocks along axis 1, b along axis 0; ``bitsim.nn.block_layout``), whose
element format, scale format and block length must be the unit's (ValueError naming the GEMM, the operand
and both formats otherwise). The bias enters the forward GEMM as the unit's addend c (codes of ``unit.c``).
The result is the unit's output codes (fp32 in the presets) as a QTensor with scale 2**0, in the layer's
tensor layout.
"""

from __future__ import annotations

import functools

import numpy as np

from bitsim.accum.block_dot import BlockDotUnit, block_matmul
from bitsim.blocks.codec import encode as block_encode
from bitsim.blocks.spec import BlockFormat, BlockTensor
from bitsim.nn import block_layout
from bitsim.nn.block_tensor import BlockQTensor
from bitsim.nn.gemm import unit_formats
from bitsim.nn.tensor import QTensor


def _operand(t, gemm: str, role: str, fmt: BlockFormat, what: str) -> BlockTensor:
    if not isinstance(t, BlockQTensor):
        got = getattr(t, "fmt", type(t).__name__)
        raise ValueError(f"{what}: operand {role} is in {got} but the unit takes the block format {fmt} (put a "
                         "BlockQuantizer at this point)")
    op = t.operand(gemm)
    if op is None:
        raise ValueError(f"{what}: operand {role} was rounded for the {', '.join(t.gemms)} GEMM(s), not this one")
    f = op.format
    if f.element != fmt.element or f.scale != fmt.scale or f.tiling.size != fmt.tiling.size:
        raise ValueError(f"{what}: operand {role} is in {t.fmt} (element {f.element}, scale {f.scale}, blocks of "
                         f"{f.tiling.size}) but the unit takes element {fmt.element}, scale {fmt.scale}, blocks of "
                         f"{fmt.tiling.size}")
    return op


def layer_gemm(layer, gemm: str, a, b, unit: BlockDotUnit, what: str, c: QTensor | None = None) -> QTensor:
    """The layer's ``gemm`` GEMM: D = C + A @ B through ``unit`` (k in increasing order, the unit's steps)."""
    if not isinstance(unit, BlockDotUnit):
        role, t = ("a", a) if isinstance(a, BlockQTensor) else ("b", b)
        raise ValueError(f"{what}: operand {role} is in {t.fmt} but the unit takes {unit_formats(unit)[role == 'b']} "
                         "(a block tensor needs a BlockDotUnit)")
    A = _operand(a, gemm, "a", unit.a, what)
    B = _operand(b, gemm, "b", unit.b, what)
    C = None
    if c is not None:
        if c.fmt != unit.c or c.scale_exp:
            raise ValueError(f"{what}: the addend (bias) is {c!r} but the unit takes {unit.c} at scale 2**0")
        C = np.ascontiguousarray(np.broadcast_to(c.codes, (A.shape[0], B.shape[1])))
    x_shape = a.shape if gemm == "forward" else layer._x_shape
    return QTensor(block_layout.result(layer, gemm, block_matmul(A, B, unit, C), x_shape), unit.out)


def bias_gradient(e, unit: BlockDotUnit, what: str) -> QTensor:
    """db = e^T 1 through the backward-weight unit: a = the error's backward-weight operand (C_out, K),
    b = 1.0 in ``unit.b`` (K, 1) (exact: ValueError otherwise)."""
    A = _operand(e, "backward_weight", "a", unit.a, what)
    ones = _ones(A.shape[1], unit.b)
    if ones is None:
        raise ValueError(f"{what}: 1.0 is not exact in {unit.b}")
    return QTensor(block_matmul(A, ones, unit).reshape(-1), unit.out)


@functools.lru_cache(maxsize=32)
def _ones(k: int, fmt: BlockFormat) -> BlockTensor | None:
    """A (k, 1) column of 1.0 in ``fmt`` (read-only), or None where 1.0 is not exact."""
    ones = block_encode(np.ones((k, 1)), fmt)
    if not (ones.decode() == 1.0).all():
        return None
    ones.codes.setflags(write=False)
    ones.scales.setflags(write=False)
    return ones
