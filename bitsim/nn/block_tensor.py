"""``BlockQTensor``: a tensor rounded into a block format, held as the operands of the GEMMs that read it.

``operands[gemm]`` is a 2-D ``BlockTensor`` (codes + one scale code per block) laid out as that GEMM's
``BlockDotUnit`` reads it: operand a (M, K) in 1-D blocks along axis 1, operand b (K, N) along axis 0
(``bitsim.nn.block_layout`` names the matrices). Values are exact: decode(codes) * 2**X per block, so
``scale_exp`` is 0. A T x T tiled matrix becomes such an operand without rounding: ``transpose`` swaps
the tile grid, ``along_k`` repeats each tile's scale for each of its T rows (or columns) along K.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitsim.blocks.spec import BlockFormat, BlockTensor


def transpose(t: BlockTensor) -> BlockTensor:
    """The transpose of a T x T tiled 2-D BlockTensor (tile (r, c) becomes tile (c, r)), exactly."""
    return BlockTensor(np.ascontiguousarray(t.codes.T), np.ascontiguousarray(t.scales.T), tuple(t.shape[::-1]),
                       t.format)


def along_k(t: BlockTensor, k_axis: int) -> BlockTensor:
    """A T x T tiled 2-D BlockTensor as 1-D blocks of T along ``k_axis`` (same codes and values)."""
    size = t.format.tiling.size
    rows, cols = t.shape
    scales = (np.repeat(t.scales, size, axis=0)[:rows] if k_axis == 1 else
              np.repeat(t.scales, size, axis=1)[:, :cols])
    return BlockTensor(t.codes, np.ascontiguousarray(scales), tuple(t.shape),
                       t.format.replace(block=size, axis=k_axis))


@dataclass(frozen=True)
class BlockTraceEntry:
    """The trace of a block point: ``operands`` {gemm: BlockTensor (copies)}, the quantiser's ``fmt``
    (a BlockFormat), ``scale_exp`` 0 and ``rounding`` (``"<fmt> <mode>"``, None at a pass-through point)."""

    operands: dict
    fmt: BlockFormat
    scale_exp: int
    rounding: str | None

    @property
    def values(self) -> dict:
        """{gemm: exact float64 values of that operand}."""
        return {g: t.decode() for g, t in self.operands.items()}


class BlockQTensor:
    """A tensor of ``shape`` rounded into ``fmt`` (a BlockFormat), as ``operands`` {gemm: BlockTensor}.

    An operand may be given as a zero-argument callable that rounds it: it runs on the first read
    (``operand(gemm)``, or ``operands`` for all), so an operand no GEMM reads is never rounded (the
    first layer's backward-data operand). The callable must not depend on when it runs: the quantiser
    draws its SR keys when it is called, and the tensor it read must not change in place before the
    operand is read (``bitsim.nn`` never changes code arrays in place)."""

    __slots__ = ("_operands", "fmt", "shape")
    scale_exp = 0

    def __init__(self, operands: dict, fmt: BlockFormat, shape):
        self._operands, self.fmt, self.shape = dict(operands), fmt, tuple(shape)

    @property
    def gemms(self) -> tuple:
        """The GEMMs this tensor has an operand for."""
        return tuple(self._operands)

    def operand(self, gemm: str):
        """The BlockTensor read by ``gemm`` (rounded now if it is still pending), or None."""
        t = self._operands.get(gemm)
        if callable(t):
            t = self._operands[gemm] = t()
        return t

    @property
    def operands(self) -> dict:
        """{gemm: BlockTensor} of every operand (pending ones rounded now)."""
        return {g: self.operand(g) for g in self._operands}

    def trace_entry(self, rounding: str | None) -> BlockTraceEntry:
        copies = {g: BlockTensor(t.codes.copy(), t.scales.copy(), t.shape, t.format) for g, t in self.operands.items()}
        return BlockTraceEntry(copies, self.fmt, 0, rounding)

    def __repr__(self):
        return f"BlockQTensor({self.shape}, {self.fmt}, GEMMs {', '.join(self._operands)})"
