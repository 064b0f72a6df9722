"""WAGE's W, A and E quantisers (``bitsim.wage``) as ``bitsim.nn`` quantiser points.

Each takes the format of its grid, ``wage_k`` (value = integer * 2**(1-k)); k is ``fmt.bits``:

* ``WageWeight("wage_2", alpha_rule)``: W -> Q(C(W, k_W), k_W) (``wage.quantize``), with the layer scale
  1/alpha carried as the tensor's power-of-two scale (scale_exp = -log2 alpha), alpha =
  ``wage.layer_scale_alpha(fan_in, k_W, alpha_rule)``, fan_in = prod(W.shape[1:]) (C_in*kh*kw for a conv,
  C_in for a Linear). The forward GEMM's result is then conv(x, W_q) / alpha exactly.
* ``WageAct("wage_8")``: a -> Q(C(a, k_A), k_A), round to nearest even (``wage.quantize``). Backward: the
  gradient passes only where -bound <= a <= bound, bound = 1 - sigma(k_A) (``grad_mask``: the clip's
  derivative, inclusive like TF's clip_by_value; the rounding is straight-through).
* ``WageError("wage_8")``: e -> Q(C(e / Shift(max|e|), k_E), k_E) over the whole tensor
  (``wage.quantize_error``); the 1/Shift scale is not undone (scale_exp 0), as in WAGE.

None of them takes a caller's scale (``scale_exp``); each rounds once, as ``bitsim.wage`` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bitsim import wage
from bitsim.formats import FixedFormat
from bitsim.nn.quant import Quantizer
from bitsim.nn.tensor import QTensor


@dataclass(frozen=True)
class _WageQuantizer(Quantizer):
    """Common checks: ``fmt`` is a WAGE grid ``wage_k`` (2 <= k <= 15), rounding RNE."""

    def __post_init__(self):
        super().__post_init__()
        kind = type(self).__name__
        f = self.fmt
        if not isinstance(f, FixedFormat) or not 2 <= f.bits <= wage.MAX_BITS or f != wage.wage_format(f.bits):
            raise ValueError(f"{kind}.fmt must be a WAGE grid wage_k (k = 2..15); got {f}")
        if self.rounding != "rne":
            raise ValueError(f"{kind}.rounding must be 'rne' (WAGE rounds with tf.round); got {self.rounding!r}")

    @property
    def k(self) -> int:
        return self.fmt.bits

    def _values(self, x, scale_exp) -> np.ndarray:
        if not isinstance(x, QTensor):
            raise TypeError(f"{self.name or type(self).__name__}: expected a QTensor; got {type(x).__name__}")
        if scale_exp is not None:
            raise ValueError(f"{self.name or type(self).__name__}: a WAGE quantiser chooses its own scale; "
                             f"got scale_exp={scale_exp!r}")
        return x.values


@dataclass(frozen=True)
class WageWeight(_WageQuantizer):
    """W: ternary (k_W = 2) weights times 1/alpha (module doc); ``alpha_rule`` "code" (sqrt(3/n)) or
    "paper" (sqrt(6/n))."""

    alpha_rule: str = "code"

    def __post_init__(self):
        super().__post_init__()
        if self.alpha_rule not in wage.ALPHA_RULES:
            raise ValueError(f"WageWeight.alpha_rule must be one of {', '.join(map(repr, wage.ALPHA_RULES))}; "
                             f"got {self.alpha_rule!r}")

    @property
    def label(self) -> str:
        return f"{super().label} /alpha({self.alpha_rule})"

    def alpha(self, shape) -> int:
        """alpha of a weight tensor of ``shape`` (fan_in = prod(shape[1:]))."""
        if len(shape) < 2:
            raise ValueError(f"{self.name or 'WageWeight'}: weights must have an output axis and at least one "
                             f"input axis; got shape {tuple(shape)}")
        return wage.layer_scale_alpha(math.prod(shape[1:]), self.k, self.alpha_rule)

    def __call__(self, x, ctx, scale_exp=None) -> QTensor:
        v = self._values(x, scale_exp)
        return QTensor(wage.quantize(v, self.k), self.fmt, -(self.alpha(v.shape).bit_length() - 1))


@dataclass(frozen=True)
class WageAct(_WageQuantizer):
    """A: activations onto the k_A grid; the gradient stops outside the clip range (module doc)."""

    @property
    def label(self) -> str:
        return f"{super().label} clip-grad"

    def grad_mask(self, x: QTensor) -> np.ndarray:
        bound = float(wage.clip_bound(self.k))
        return np.abs(x.values) <= bound

    def __call__(self, x, ctx, scale_exp=None) -> QTensor:
        return QTensor(wage.quantize(self._values(x, scale_exp), self.k), self.fmt)


@dataclass(frozen=True)
class WageError(_WageQuantizer):
    """E: errors divided by Shift(max|e|) onto the k_E grid; the scale is not undone (module doc)."""

    @property
    def label(self) -> str:
        return f"{super().label} /shift(max)"

    def __call__(self, x, ctx, scale_exp=None) -> QTensor:
        codes, _ = wage.quantize_error(self._values(x, scale_exp), self.k)
        return QTensor(codes, self.fmt)


__all__ = ["WageWeight", "WageAct", "WageError"]
