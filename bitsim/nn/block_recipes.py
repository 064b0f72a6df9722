"""Block-format recipes: ``bm8``, ``bm6``, ``bm5``, ``bm6_nodenorm`` (Fox et al., ICLR 2021) and ``mxfp8``
(OCP MX v1.0), registered on import (docs/nn.md, "Block-format recipes", states every choice).

Every GEMM runs through a ``BlockDotUnit``: an exact Kulisch sum per K-block, the two scales applied,
the block sum rounded to FP32 and added in FP32 (RNE, blocks in increasing k), FP32 out. Operands come
from ``BlockQuantizer`` points (act, weight: forward format; error: backward format); weight gradients,
master weights and the update as stated per recipe.
"""

from __future__ import annotations

from dataclasses import replace

from bitsim.accum.block_dot import BlockDotUnit
from bitsim.accum.models import FloatAcc, KulischAcc
from bitsim.blocks.catalog import lookup_block
from bitsim.blocks.spec import BlockFormat, BlockMinifloat
from bitsim.formats import format as as_format
from bitsim.nn.block_quant import BlockQuantizer
from bitsim.nn.block_tensor import BlockQTensor  # noqa: F401  (re-exported by bitsim.nn)
from bitsim.nn.gemm import GemmUnits
from bitsim.nn.layers import LayerQuant
from bitsim.nn.recipes import LayerRecipe, Recipe, register

BM_SR_BITS = 24          # the resolution of the reference code's float32 torch.rand draws


def block_unit(a: BlockFormat, b: BlockFormat, width: int | None = None, name: str | None = None) -> BlockDotUnit:
    """a (blocks along K = axis 1) x b (along axis 0), blocks of a's length; a ``width``-bit Kulisch
    register per block (None: derived so that every block of that length fits), overflow raises; FP32
    between blocks (RNE convert, RNE add); FP32 out (RNE). The presets' conventions."""
    size = a.tiling.size
    return BlockDotUnit(a.replace(block=size, axis=1), b.replace(block=size, axis=0),
                        KulischAcc(width=width, overflow="raise"), FloatAcc(as_format("fp32")), "fp32", name=name)


def bm_config(name: str, denormals: bool = True) -> BlockMinifloat:
    """The catalog's Block Minifloat configuration ``name`` with the paper's square 48 x 48 tiles."""
    cfg = replace(lookup_block(name), paper_tiles=True)
    return cfg if denormals else cfg.without_denormals()


def bm_units(cfg: BlockMinifloat) -> GemmUnits:
    """Forward: forward x forward format, the paper's Table 3 register width (as bm8_kulisch / bm6_kulisch);
    both backward GEMMs: backward (error) x forward format, the register derived to hold a full block."""
    fwd = block_unit(cfg.activation, cfg.weight, cfg.accumulator_bits, f"{cfg.name}.forward")
    bwd = block_unit(cfg.error, cfg.weight, None, f"{cfg.name}.backward")
    return GemmUnits(fwd, bwd, bwd)


def bm_recipe(name: str, cfg: BlockMinifloat, paper: str) -> Recipe:
    sr = dict(rounding="sr", sr_bits=BM_SR_BITS)
    quant = LayerQuant(act=BlockQuantizer(cfg.activation, **sr), weight=BlockQuantizer(cfg.weight, **sr),
                       error=BlockQuantizer(cfg.error, **sr), weight_grad=None)
    fw, bw = cfg.forward, cfg.backward
    return Recipe(name, LayerRecipe(bm_units(cfg), quant), doc=(
        f"Block Minifloat {paper} (Fox et al., ICLR 2021, Tables 1 and 3): weights and activations in "
        f"BM ({fw.exp_bits},{fw.man_bits}), errors in BM ({bw.exp_bits},{bw.man_bits}), elements with bias "
        f"2**(e-1), {'subnormals' if fw.subnormals else 'no subnormals (flush below the smallest normal)'}, "
        "saturation; an 8-bit shared exponent per 48 x 48 tile of every GEMM operand matrix (scale "
        "2**(floor(log2 amax) - emax)), SR with 24 random bits; each GEMM: exact Kulisch sum per block of 48 "
        f"along K ({cfg.accumulator_bits}-bit register forward; backward registers wide enough for a full "
        "block), block sums rounded to FP32 and added in FP32 (RNE); FP32 weight gradients, FP32 master "
        "weights and RNE updates (the paper's scalar FP32 units). Deviations: see docs/nn.md."))


for _name, _cfg, _paper in (("bm8", bm_config("bm8"), "BM8"), ("bm6", bm_config("bm6"), "BM6"),
                            ("bm5", bm_config("bm5"), "BM5"),
                            ("bm6_nodenorm", bm_config("bm6", denormals=False), "BM6 without denormals (4.5)")):
    register(bm_recipe(_name, _cfg, _paper))

MX_FORWARD = lookup_block("mxfp8_e4m3")
MX_BACKWARD = lookup_block("mxfp8_e5m2")
_MX_BACKWARD_UNIT = block_unit(MX_BACKWARD, MX_FORWARD, None, "mxfp8.backward")
register(Recipe(
    "mxfp8", LayerRecipe(GemmUnits("mxfp8_fp32", _MX_BACKWARD_UNIT, _MX_BACKWARD_UNIT),
                         LayerQuant(act=BlockQuantizer(MX_FORWARD), weight=BlockQuantizer(MX_FORWARD),
                                    error=BlockQuantizer(MX_BACKWARD))),
    doc="OCP MX v1.0 MXFP8: activations and weights in MXFP8 E4M3, errors in MXFP8 E5M2 (the FP8 convention "
        "of Micikevicius et al. 2022: E4M3 forward, E5M2 gradients), 32 elements per E8M0 scale "
        "(X = floor(log2 amax) - emax, elements RNE, saturating), every GEMM operand rounded separately in "
        "blocks of 32 along that GEMM's K; forward unit mxfp8_fp32 (exact block sums, FP32 between blocks), "
        "backward units E5M2 x E4M3 alike; FP32 weight gradients, FP32 master weights and RNE updates."))
