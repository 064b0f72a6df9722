"""Block formats: Block Minifloat, block floating point, OCP MX (element codes + shared scales)."""

from bitsim.blocks.catalog import BLOCK_ENTRIES, lookup_block
from bitsim.blocks.codec import decode, encode
from bitsim.blocks.spec import (
    BlockFormat, BlockMinifloat, BlockTensor, element_emax, kulisch_bits, power_of_two_scale,
)
from bitsim.blocks.tiling import Layout, Tiling

__all__ = ["BlockFormat", "BlockTensor", "BlockMinifloat", "Tiling", "Layout", "encode", "decode",
           "power_of_two_scale", "kulisch_bits", "element_emax", "BLOCK_ENTRIES", "lookup_block"]
