"""``QTensor``: the tensor that travels between layers -- code words, their format and a power-of-two scale.

value = decode(codes, fmt) * 2**scale_exp, exactly (float64 holds every value of formats up to fp32 and of
integer codes up to 53 bits; a power-of-two scale is an exact exponent shift). Element formats use
``scale_exp = 0``; a per-tensor scaled integer format (``ScaledQuantizer``) carries its scale here, and a
GEMM of two scaled tensors has the scale ``scale_a + scale_b``. Block tensors (a scale per block) are
``bitsim.nn.block_tensor.BlockQTensor``s, made by a ``BlockQuantizer``.
"""

from __future__ import annotations

import numpy as np

from bitsim.core.params import FLAG_INEXACT, FLAG_OVERFLOW
from bitsim.formats import FixedFormat, FloatFormat, format as as_format
from bitsim.quantize import decode, encode

_IEEE = {as_format(name).params: np.dtype(dt) for name, dt in (("fp16", np.float16), ("fp32", np.float32),
                                                              ("fp64", np.float64))}


def ieee_dtype(fmt, codes: np.ndarray | None = None):
    """The NumPy float dtype whose bit patterns are ``fmt``'s code words (IEEE binary16/32/64; held in
    ``codes``' dtype, if given, of that width), or None."""
    dt = _IEEE.get(getattr(fmt, "params", None))
    return dt if dt is not None and (codes is None or codes.dtype == fmt.code_dtype) else None


def ieee_rne(values: np.ndarray, fmt) -> np.ndarray | None:
    """Codes of RNE_fmt(values) for ``fmt`` IEEE binary32 or binary64 by NumPy's cast, which is that
    rounding (subnormals, overflow to inf, the sign of zero); None for other formats, non-float input
    or a NaN (the core's NaN is not the cast's)."""
    dt = ieee_dtype(fmt)
    if dt not in (np.float32, np.float64) or values.dtype.kind != "f" or np.isnan(values).any():
        return None
    with np.errstate(over="ignore"):
        return values.astype(dt).view(fmt.code_dtype)


def element_format(fmt, what: str):
    """A FloatFormat or FixedFormat from a spec or a name; TypeError naming ``what`` otherwise."""
    try:
        f = as_format(fmt)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{what}: unknown format {fmt!r} ({err})") from None
    if not isinstance(f, (FloatFormat, FixedFormat)):
        raise TypeError(f"{what} must be an element format (float or fixed point); got {fmt!r} "
                        "(block formats: BlockQuantizer)")
    return f


class QTensor:
    """Codes of ``fmt`` times ``2**scale_exp``; ``values`` is the exact float64 array (computed once)."""

    __slots__ = ("codes", "fmt", "scale_exp", "_values")

    def __init__(self, codes: np.ndarray, fmt, scale_exp: int = 0):
        self.codes = codes
        self.fmt = element_format(fmt, "QTensor.fmt")
        self.scale_exp = int(scale_exp)
        self._values = None

    @classmethod
    def exact(cls, values, fmt, scale_exp: int = 0) -> "QTensor":
        """Wrap values that must be representable in ``fmt`` at ``scale_exp``; ValueError if one is not."""
        fmt = element_format(fmt, "QTensor.exact fmt")
        x = np.ldexp(np.asarray(values, dtype=np.float64), -int(scale_exp))
        codes = ieee_rne(x, fmt)
        if codes is not None and np.array_equal(codes.view(ieee_dtype(fmt)), x):      # exact: the cast's codes
            return cls(codes, fmt, scale_exp)
        codes, flags = encode(x, fmt, "rne", return_flags=True)
        bad = (flags & (FLAG_INEXACT | FLAG_OVERFLOW)) != 0
        if bad.any():
            i = np.flatnonzero(bad.reshape(-1))[0]
            raise ValueError(f"value {np.asarray(values).reshape(-1)[i]!r} is not representable in {fmt} "
                             f"at scale 2**{scale_exp}")
        return cls(codes, fmt, scale_exp)

    @property
    def values(self) -> np.ndarray:
        if self._values is None:
            f = self.ieee_floats()
            v = decode(self.codes, self.fmt) if f is None else f.astype(np.float64)
            self._values = np.ldexp(v, self.scale_exp) if self.scale_exp else v
        return self._values

    def floats(self) -> np.ndarray:
        """The exact values as a float array: the codes viewed as IEEE binary16/32/64 floats where they
        are such codes at scale 2**0 without NaN (no copy), else ``values``."""
        f = self.ieee_floats() if self._values is None else None
        return self.values if f is None else f

    def ieee_floats(self) -> np.ndarray | None:
        """The codes viewed as their IEEE float type, or None (other formats, a scale, a NaN: a NaN's
        value is the decoder's NaN, not its bit pattern)."""
        dt = None if self.scale_exp else ieee_dtype(self.fmt, self.codes)
        if dt is None:
            return None
        f = self.codes.view(dt)
        return None if np.isnan(f).any() else f

    @property
    def shape(self) -> tuple:
        return self.codes.shape

    def reshape(self, *shape) -> "QTensor":
        return QTensor(self.codes.reshape(*shape), self.fmt, self.scale_exp)

    def transpose(self, *axes) -> "QTensor":
        return QTensor(np.ascontiguousarray(self.codes.transpose(*axes)), self.fmt, self.scale_exp)

    def with_codes(self, codes: np.ndarray) -> "QTensor":
        """Same format and scale, other codes (e.g. ReLU, pooling, a reshape)."""
        return QTensor(codes, self.fmt, self.scale_exp)

    def __repr__(self):
        scale = f" * 2**{self.scale_exp}" if self.scale_exp else ""
        return f"QTensor({self.shape}, {self.fmt}{scale})"
