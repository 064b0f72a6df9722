"""BLPA recipes (Chakrabarti & Moseley, NeurIPS 2019): ``blpa4`` and ``blpa8``.

The ``fp32`` recipe's dataflow (every GEMM through ``fp32_seq``, fp32 RNE quantisers, fp32 SGD), except
that the activation a GEMM layer keeps for its backward-weight GEMM (the ``saved`` point) is BLPA's K-bit
copy, ``BlpaSaved``: the forward pass uses the exact activation, the backward pass the approximation.

``BlpaSaved("fp32", bits=K)`` on an activation x (float32 values >= 0, channels on axis 1: (N, C) or
(N, C, H, W)) computes, with ``bitsim.blpa`` and per channel gamma = 1, beta = 0 (our nets have no
BatchNorm; see below):

    codes, shift = blpa.encode(x, gamma, beta, K, axis=1)         # the stored K-bit codes
    saved = blpa.restored_activation(blpa.decode(codes, shift, K, axis=1), gamma, axis=1)

i.e. relu(zhat * gamma), the input the reference graph feeds to its weight-gradient convolution, as fp32
codes (exact: the kernel's result is a binary32). With gamma = 1, beta = 0 the shift is n/2 and the grid
has step 6/n on [-3, 3) (bins of 0.375 for K = 4, 6/256 for K = 8); values from about 3 up saturate to the
top bin. Encoding the ReLU output instead of BLPA's pre-ReLU BN output gives the same saved activation:
every y <= 0 gets a code below the shift and restores to 0 either way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from bitsim import blpa
from bitsim.formats import format as as_format
from bitsim.quantize import encode
from bitsim.nn.quant import Quantizer
from bitsim.nn.recipes import LayerRecipe, Recipe, get, register
from bitsim.nn.tensor import QTensor

FP32 = as_format("fp32")


@dataclass(frozen=True)
class BlpaSaved(Quantizer):
    """BLPA's K-bit stored activation (module doc); ``fmt`` must be fp32 (the restored activation's
    format, operand b of the backward-weight unit); ``bits``: K = 4 or 8."""

    bits: int = 4

    def __post_init__(self):
        super().__post_init__()
        if self.fmt != FP32 or self.rounding != "rne":
            raise ValueError(f"BlpaSaved restores float32 activations: fmt must be fp32 with rounding 'rne'; "
                             f"got fmt={self.fmt}, rounding={self.rounding!r}")
        if isinstance(self.bits, bool) or self.bits not in blpa.BITS:
            raise ValueError(f"BlpaSaved.bits must be 4 or 8; got {self.bits!r}")

    @property
    def label(self) -> str:
        return f"blpa{self.bits} gamma=1 beta=0 -> fp32"

    def __call__(self, x, ctx, scale_exp=None) -> QTensor:
        what = self.name or "BlpaSaved"
        if not isinstance(x, QTensor):
            raise TypeError(f"{what}: expected a QTensor; got {type(x).__name__}")
        if scale_exp is not None:
            raise ValueError(f"{what}: BLPA chooses its own grid; got scale_exp={scale_exp!r}")
        v = x.values
        if v.ndim < 2:
            raise ValueError(f"{what}: activations need a channel axis 1, (N, C) or (N, C, H, W); got shape {v.shape}")
        v32 = v.astype(np.float32)
        if not np.array_equal(v32, v) or np.any(v < 0):
            raise ValueError(f"{what}: BLPA stores ReLU outputs: float32 values >= 0; got {x.fmt} values in "
                             f"[{v.min()!r}, {v.max()!r}]")
        channels = v.shape[1]
        if self.bits == 4 and channels % 2:
            raise ValueError(f"{what}: 4-bit BLPA codes pack two channels per byte; the activation has "
                             f"{channels} channels (axis 1)")
        gamma, beta = np.ones(channels, np.float32), np.zeros(channels, np.float32)
        codes, shift = blpa.encode(v32, gamma, beta, self.bits, axis=1)
        saved = blpa.restored_activation(blpa.decode(codes, shift, self.bits, axis=1), gamma, axis=1)
        return QTensor(encode(saved, FP32), FP32)


def blpa_recipe(bits: int) -> Recipe:
    """``blpa<bits>``: the fp32 recipe with ``BlpaSaved(bits)`` at every GEMM layer's saved point but the
    first's (whose input is the image, kept exact as in BLPA)."""
    base = get("fp32").layers
    quant = replace(base.quant, saved=BlpaSaved(FP32, bits=bits))
    n = 1 << bits
    return Recipe(
        f"blpa{bits}", LayerRecipe(base.units, quant), overrides={"first": base},
        doc=f"BLPA (Chakrabarti & Moseley, NeurIPS 2019) with K = {bits}: the fp32 recipe's exact forward and "
            "backward (fp32_seq GEMMs, fp32 RNE quantisers, fp32 SGD with the caller's momentum / weight decay; "
            "the paper's runs use momentum 0.9) except that the activation each GEMM layer but the first keeps "
            f"for its backward-weight GEMM is BLPA's {bits}-bit copy (bitsim.blpa encode -> decode -> "
            "restored_activation, the reference CUDA kernels bit for bit), per channel along axis 1. "
            "Deviations: our nets have no BatchNorm, so the grid uses gamma = 1, beta = 0 (shift n/2, step "
            f"6/{n} on [-3, 3) in the activation's own units, not in units of the BN scale; values above ~3 "
            "saturate); the paper's nets are pre-activation ResNet-164 (CIFAR) / ResNet-152 (ImageNet) with BN, "
            "whose BN backward also uses the approximate x-hat (not modelled: no BN here); BLPA keeps the last "
            "layer's input exact because it is a global-average-pool output, here the last GEMM layer's input "
            "is a ReLU output and is quantised like the others; the ReLU derivative is the ReLU layer's exact "
            "1-bit mask (x > 0), BLPA's is read from the codes (q >= s), which differs only for x in "
            "(0, float32(1e-6)]; the reference's GEMMs are cuDNN fp32 (order not pinned), here fp32_seq.")


BLPA4 = register(blpa_recipe(4))
BLPA8 = register(blpa_recipe(8))

__all__ = ["BlpaSaved", "blpa_recipe", "BLPA4", "BLPA8"]
