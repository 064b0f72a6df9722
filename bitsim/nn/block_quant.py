"""``BlockQuantizer``: round a GEMM operand point (act, weight, error) into a block format.

The quantiser reads the exact values of the point's tensor, builds the operand matrices of the GEMMs
that read it (``bitsim.nn.block_layout``) and rounds them once with ``bitsim.encode`` into ``fmt``; it
returns a ``BlockQTensor`` holding each GEMM's operand with its blocks along that GEMM's K. The tiling
of ``fmt`` says how:

* ``Tiling.tiles(T)`` (Block Minifloat's square blocks): each base matrix is rounded once in T x T tiles
  (tile grid from the matrix's top-left corner) and read by both GEMMs without another rounding, the
  tile's scale repeated along K (so both orientations of one matrix share codes and scales);
* 1-D blocks of L (``Tiling.along(L, axis)``, the axis is replaced; OCP MX): each GEMM's operand is
  rounded separately from the exact values in blocks of L along its K (two roundings of one tensor into
  two layouts, as MX training code quantises a tensor and its transpose separately).

SR draws are keyed ``"<layer>.<point>:<base or gemm>"`` (``Context.sr_key``, drawn when the quantiser is
called); block b's slot j uses counter offset + b * block_len + j (``bitsim.blocks``). The rounding
itself runs when a GEMM first reads the operand (``BlockQTensor.operand``), so an operand no GEMM reads
(the first layer's backward-data operand) is never rounded. A block quantiser only sits at a GEMM
layer's act / weight / error point (``at``); anywhere else (output, saved, weight_grad, the model input)
it is an error.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from bitsim.blocks.codec import encode as block_encode
from bitsim.blocks.spec import BlockFormat, BlockTensor
from bitsim.formats import format as as_format
from bitsim.nn import block_layout
from bitsim.nn.block_tensor import BlockQTensor, along_k, transpose
from bitsim.nn.quant import Quantizer
from bitsim.nn.tensor import QTensor


@dataclass(frozen=True)
class BlockQuantizer(Quantizer):
    """Round to the block format ``fmt`` (a BlockFormat or catalog name; tiling T x T tiles or 1-D blocks)
    with ``rounding`` for the elements (``sr_bits`` random bits for "sr"); scales follow ``fmt``'s rule."""

    layer: object = field(default=None, compare=False, repr=False)
    point: str | None = None

    def _format(self, fmt, what: str) -> BlockFormat:
        try:
            f = as_format(fmt)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{what}: unknown format {fmt!r} ({err})") from None
        if not isinstance(f, BlockFormat):
            raise TypeError(f"{what} must be a BlockFormat (e.g. 'mxfp8_e4m3'); got {fmt!r} (use Quantizer for "
                            "element formats)")
        if f.tiling.kind not in ("tile", "axis"):
            raise ValueError(f"{what}.tiling must be T x T tiles (Tiling.tiles) or 1-D blocks (an int block "
                             f"length); got {f.tiling}")
        return f

    def at(self, layer, point: str) -> "BlockQuantizer":
        block_layout.operands(layer, point)                       # checks the point and the layer kind
        return replace(self, name=f"{layer.name}.{point}", layer=layer, point=point)

    @property
    def label(self) -> str:
        bits = f"{self.sr_bits}" if self.rounding == "sr" else ""
        return f"{self.fmt} ({self.fmt.tiling}) {self.rounding}{bits}"

    def _pending(self, build, fmt: BlockFormat, ctx, key: str, size: int):
        """A callable that rounds the matrix ``build()`` into ``fmt`` once, on its first call; the SR
        key is drawn now."""
        kw = {}
        if self.rounding == "sr":
            kw = dict(sr_bits=self.sr_bits, **ctx.sr_key(f"{self.name}:{key}", size))
        return functools.cache(lambda: block_encode(build(), fmt, self.rounding, **kw))

    def __call__(self, x: QTensor, ctx, scale_exp: int | None = None) -> BlockQTensor:
        who = self.name or "BlockQuantizer"
        if not isinstance(x, QTensor):
            raise TypeError(f"{who}: expected a QTensor; got {type(x).__name__}")
        if self.layer is None:
            raise ValueError(f"{who}: a block quantiser sits at a GEMM layer's act, weight or error point "
                             "(LayerQuant), not at the model input, the loss gradient or an optimizer point")
        if scale_exp not in (None, 0):
            raise ValueError(f"{who}: block tensors carry their scales per block; got scale_exp={scale_exp!r}")
        v, layer, tiles = x.values, self.layer, self.fmt.tiling.kind == "tile"
        stored, out = {}, {}
        for op in block_layout.operands(layer, self.point):
            size = block_layout.base_size(layer, op.base, x.shape)
            if tiles:
                if op.base not in stored:
                    stored[op.base] = self._pending(partial(block_layout.base_matrix, layer, op.base, v), self.fmt,
                                                    ctx, op.base, size)
                out[op.gemm] = partial(_tile_operand, stored[op.base], op)
            else:
                fmt = self.fmt.replace(block=self.fmt.tiling.size, axis=op.k_axis)
                out[op.gemm] = self._pending(partial(_oriented, layer, op, v), fmt, ctx, op.gemm, size)
        return BlockQTensor(out, self.fmt, x.shape)


def _tile_operand(base, op) -> BlockTensor:
    """The operand ``op`` of a T x T tiled base matrix (the callable ``base``): transposed, blocks along K."""
    t = base()
    return along_k(transpose(t) if op.transposed else t, op.k_axis)


def _oriented(layer, op, v) -> np.ndarray:
    m = block_layout.base_matrix(layer, op.base, v)
    return np.ascontiguousarray(m.T) if op.transposed else m
