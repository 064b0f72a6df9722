"""Accumulator models of dot-product units.

``bitsim.accum.models``: FloatAcc, ChunkedAcc, SplitKAcc, KulischAcc, IntAcc (specs; exact references in
``bitsim.ref.accum``); ``bitsim.accum.fused``: the multi-term fused dot-product unit of GPU tensor cores
(``FusedAcc``, ``fused_group``, ``fused_dot``); ``bitsim.accum.presets``: its named NVIDIA presets
(``PRESETS``, ``unit``); ``bitsim.accum.gemm_level``: the library level on top of it (``GemmLevel``:
promotion, split-K, epilogue).
"""

from bitsim.accum.block_dot import BLOCK_PRESETS, BlockDotUnit, block_dot, block_matmul
from bitsim.accum.fused import FusedAcc, fused_dot, fused_group
from bitsim.accum.gemm_level import GemmLevel
from bitsim.accum.models import (
    AccumulatorOverflow, ChunkedAcc, FloatAcc, IntAcc, KulischAcc, SplitKAcc, kulisch_layout,
)
from bitsim.accum.presets import PRESETS, TensorCoreUnit
from bitsim.accum.unit import DotUnit, dot, matmul, unit

__all__ = ["FusedAcc", "GemmLevel", "fused_group", "fused_dot", "PRESETS", "TensorCoreUnit", "unit", "FloatAcc", "ChunkedAcc", "SplitKAcc",
           "KulischAcc", "IntAcc", "kulisch_layout", "DotUnit", "dot", "matmul", "AccumulatorOverflow",
           "BlockDotUnit", "block_dot", "block_matmul", "BLOCK_PRESETS"]
