"""Quantisers: the only places where a tensor's values are rounded between GEMMs.

A quantiser maps a ``QTensor`` (exact values) to a ``QTensor`` of its format with one rounding of every
element (``bitsim.encode`` of the exact float64 value, so one correctly rounded step):

* ``Quantizer(fmt, rounding, sr_bits)``: an element format, scale 2**0 (or a scale the caller fixes,
  e.g. a bias entering a GEMM of scaled operands).
* ``ScaledQuantizer(fmt, rounding, sr_bits)``: an integer / fixed-point format with one power-of-two
  scale per tensor: ``scale_exp`` = the smallest integer e with max|x| <= fmt.max * 2**e (found with exact
  ``frexp``/``ldexp``, no log2), so the largest magnitude lands in [fmt.max / 2, fmt.max] and nothing
  saturates; an all-zero tensor gets e = 0. With int8 this is symmetric per-tensor INT8 (codes -127..127).

``name`` is the point's full name (``"<layer>.<point>"``), given when a layer binds the quantiser
(``bind``, or ``at`` by a GEMM layer); it keys the SR draws (``Context.sr_key``). Block formats:
``bitsim.nn.block_quant.BlockQuantizer`` (block tensors for block units); the layers only call ``q(x, ctx)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from bitsim.formats import FixedFormat
from bitsim.quantize import encode
from bitsim.rounding import MODES
from bitsim.nn.tensor import QTensor, element_format, ieee_rne


@dataclass(frozen=True)
class Quantizer:
    """Round to the element format ``fmt`` with ``rounding`` (``sr_bits`` random bits for "sr")."""

    fmt: object
    rounding: str = "rne"
    sr_bits: int | None = None
    name: str = ""

    def __post_init__(self):
        kind = type(self).__name__
        object.__setattr__(self, "fmt", self._format(self.fmt, f"{kind}.fmt"))
        if self.rounding not in MODES:
            raise ValueError(f"{kind}.rounding must be one of {', '.join(MODES)}; got {self.rounding!r}")
        if (self.rounding == "sr") != (self.sr_bits is not None):
            raise ValueError(f"{kind}.sr_bits is required with rounding='sr' and only then; got "
                             f"rounding={self.rounding!r}, sr_bits={self.sr_bits!r}")

    def _format(self, fmt, what: str):
        """The quantiser's format from a spec or a name (subclasses take other kinds of format)."""
        return element_format(fmt, what)

    def bind(self, name: str) -> "Quantizer":
        """This quantiser at the point ``name``."""
        return replace(self, name=name)

    def at(self, layer, point: str) -> "Quantizer":
        """This quantiser at ``point`` of a GEMM layer (named ``"<layer>.<point>"``)."""
        return self.bind(f"{layer.name}.{point}")

    @property
    def label(self) -> str:
        """``"<fmt> <rounding>"``, as the trace records it."""
        bits = f"{self.sr_bits}" if self.rounding == "sr" else ""
        return f"{self.fmt} {self.rounding}{bits}"

    def scale_for(self, x: QTensor) -> int:
        return 0

    def grad_mask(self, x: QTensor) -> np.ndarray | None:
        """Where the gradient passes back through this point (bool, x's shape), or None: everywhere
        (straight-through, the default). A clipping quantiser (WAGE's A) returns its clip range."""
        return None

    def __call__(self, x: QTensor, ctx, scale_exp: int | None = None) -> QTensor:
        """x rounded once into ``fmt`` at ``scale_exp`` (default: this quantiser's rule)."""
        if not isinstance(x, QTensor):
            raise TypeError(f"{self.name or type(self).__name__}: expected a QTensor; got {type(x).__name__}")
        e = self.scale_for(x) if scale_exp is None else int(scale_exp)
        v = np.ldexp(x.values, -e) if e else x.floats()
        codes = ieee_rne(v, self.fmt) if self.rounding == "rne" else None
        if codes is not None:
            return QTensor(codes, self.fmt, e)
        v = v.astype(np.float64, copy=False)
        kw = {}
        if self.rounding == "sr":
            kw = dict(sr_bits=self.sr_bits, **ctx.sr_key(self.name, v.size))
        return QTensor(encode(v, self.fmt, self.rounding, **kw), self.fmt, e)


@dataclass(frozen=True)
class ScaledQuantizer(Quantizer):
    """Per-tensor power-of-two scaled fixed-point quantiser (see the module doc for the scale rule)."""

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.fmt, FixedFormat):
            raise TypeError(f"ScaledQuantizer.fmt must be a fixed-point / integer format; got {self.fmt}")

    @property
    def label(self) -> str:
        return f"{super().label} pow2-per-tensor"

    def scale_for(self, x: QTensor) -> int:
        v = x.values
        if not np.isfinite(v).all():
            raise ValueError(f"{self.name}: cannot choose a scale for a tensor with NaN or inf")
        m = float(np.max(np.abs(v))) if v.size else 0.0
        if m == 0.0:
            return 0
        top = float(self.fmt.max)
        e = math.frexp(m)[1] - math.frexp(top)[1]
        while m > math.ldexp(top, e):
            e += 1
        while m <= math.ldexp(top, e - 1):
            e -= 1
        return e
