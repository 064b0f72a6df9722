"""Format specifications: immutable, hashable, validated dataclasses of primary parameters.

Every convention of a format is a named field; everything else (max, min normal, NaN code, ...) is
derived. Kernels receive ``spec.params`` (an int64 tuple, see ``bitsim.core.params``) and never a name.

Value conventions of ``FloatFormat`` (E = exponent field, F = mantissa field, m = man_bits, b = bias):

* normal:      (-1)^s * 2^(E-b) * (1 + F/2^m)
* subnormal:   (-1)^s * 2^(1-b) * (F/2^m)       when ``subnormals`` and E = 0
* no subnormals: E = 0 encodes only zero; E = 0, F != 0 codes decode as zero of their sign (DAZ) and
  are never produced. Encoding rounds correctly onto the value set {0, +-min_normal, ...}.
* ``has_zero=False`` (E8M0-style): E = 0 is an ordinary normal binade and there is no zero; positive
  values below the smallest value round up to it (underflow flag), zero and negatives become NaN.
* ``specials``: ``"ieee"``: E all ones is inf (F = 0) / NaN (F != 0); canonical NaN +quiet (F = 10..0).
  ``"fn"``: no inf; NaN = all-ones magnitude (both signs); canonical NaN is the positive one.
  ``"fnuz"``: no inf, no negative zero; the single NaN is the code 100..0.
  ``"none"``: every code is a finite number.
* ``overflow``: what a result beyond the largest finite value becomes under a rounding mode that does
  not round toward zero for that sign ("inf", "nan" or "saturate" = largest finite); modes that round
  toward zero for that sign always give the largest finite value (IEEE 754 section 7.4).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from bitsim.core import params as P

SPECIALS = ("ieee", "fn", "fnuz", "none")
FLOAT_OVERFLOW = ("inf", "saturate", "nan")
FIXED_OVERFLOW = ("saturate", "wrap")

_SPECIALS_CODE = {"ieee": P.SPECIALS_IEEE, "fn": P.SPECIALS_FN, "fnuz": P.SPECIALS_FNUZ, "none": P.SPECIALS_NONE}
_OVERFLOW_CODE = {"inf": P.OVF_INF, "saturate": P.OVF_SATURATE, "nan": P.OVF_NAN, "wrap": P.OVF_WRAP}


def _check_int(owner: str, name: str, value, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}.{name} must be an int, got {value!r} ({type(value).__name__})")
    if not lo <= value <= hi:
        raise ValueError(f"{owner}.{name} must be in {lo}..{hi}, got {value!r}")


def _check_bool(owner: str, name: str, value) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}.{name} must be a bool, got {value!r} ({type(value).__name__})")


def _check_choice(owner: str, name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{owner}.{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def code_dtype(bits: int) -> np.dtype:
    """Smallest unsigned NumPy dtype that holds a ``bits``-wide code word."""
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        if bits <= np.dtype(dt).itemsize * 8:
            return np.dtype(dt)
    raise ValueError(f"bits must be <= 64, got {bits}")


def _all_codes(fmt) -> np.ndarray:
    if fmt.bits > 24:
        raise ValueError(f"codes(): {fmt} has 2**{fmt.bits} code words; refusing to list more than 2**24")
    return np.arange(1 << fmt.bits, dtype=fmt.code_dtype)


def _params(**fields) -> tuple:
    """The kernel parameter tuple with the named ``bitsim.core.params`` slots set (others 0)."""
    p = [0] * P.P_LEN
    for slot, value in fields.items():
        p[getattr(P, slot)] = int(value)
    return tuple(p)


def _as_float_if_exact(q: Fraction):
    """A Fraction as a Python float when that float is exactly equal, else the Fraction."""
    try:
        f = float(q)
    except OverflowError:
        return q
    return f if Fraction(f) == q else q


@dataclass(frozen=True)
class FloatFormat:
    """A sign-magnitude binary floating-point format; every convention is a field (see module doc).

    Args:
        exp_bits: exponent field width e, 1..11.
        man_bits: stored mantissa (fraction) width m, 0..52.
        bias: exponent bias; ``None`` means the IEEE bias 2**(e-1) - 1.
        subnormals: whether E = 0 holds gradual-underflow values.
        specials: "ieee" | "fn" | "fnuz" | "none" (inf/NaN encoding).
        overflow: "inf" | "saturate" | "nan" (result beyond the largest finite value).
        signed: whether the code has a sign bit (False only for unsigned formats such as E8M0).
        has_zero: False for formats whose E = 0 binade is normal and that cannot represent zero (E8M0).
        name: display name (not part of equality: two specs with equal fields are the same format).
    """

    exp_bits: int
    man_bits: int
    bias: int | None = None
    subnormals: bool = True
    specials: str = "ieee"
    overflow: str = "inf"
    signed: bool = True
    has_zero: bool = True
    name: str | None = field(default=None, compare=False, hash=False)

    def __post_init__(self):
        o = "FloatFormat"
        _check_int(o, "exp_bits", self.exp_bits, 1, 11)
        _check_int(o, "man_bits", self.man_bits, 0, 52)
        if self.bias is None:
            object.__setattr__(self, "bias", 2 ** (self.exp_bits - 1) - 1)
        _check_int(o, "bias", self.bias, -4096, 4096)
        object.__setattr__(self, "bias", int(self.bias))
        for b in ("subnormals", "signed", "has_zero"):
            _check_bool(o, b, getattr(self, b))
            object.__setattr__(self, b, bool(getattr(self, b)))
        _check_choice(o, "specials", self.specials, SPECIALS)
        _check_choice(o, "overflow", self.overflow, FLOAT_OVERFLOW)
        if self.overflow == "inf" and self.specials != "ieee":
            raise ValueError(f"{o}.overflow='inf' needs specials='ieee' (specials={self.specials!r} has no infinity)")
        if self.overflow == "nan" and self.specials == "none":
            raise ValueError(f"{o}.overflow='nan' needs a NaN encoding (specials='none' has none)")
        if self.specials == "ieee" and self.man_bits == 0:
            raise ValueError(f"{o}.specials='ieee' needs man_bits >= 1 to encode NaN (man_bits=0)")
        if self.specials == "fnuz" and not self.signed:
            raise ValueError(f"{o}.specials='fnuz' needs signed=True (its NaN is the sign bit alone)")
        if not self.has_zero and self.subnormals:
            raise ValueError(f"{o}.has_zero=False needs subnormals=False (E=0 is then a normal binade)")
        if self.bits > 64:
            raise ValueError(f"{o}: {self.bits} bits is wider than 64")
        if self.max_code_magnitude < self.min_code_magnitude:
            raise ValueError(f"{o}: {self.layout} with specials={self.specials!r} has no finite nonzero value")

    # ---- layout
    @property
    def bits(self) -> int:
        """Width of a code word: sign + exponent + mantissa."""
        return int(self.signed) + self.exp_bits + self.man_bits

    @property
    def layout(self) -> str:
        """Bit layout, most significant first, e.g. ``SEEEEMMM``."""
        return ("S" if self.signed else "") + "E" * self.exp_bits + "M" * self.man_bits

    @property
    def code_dtype(self) -> np.dtype:
        """NumPy dtype of code arrays of this format."""
        return code_dtype(self.bits)

    @property
    def precision(self) -> int:
        """Significand precision in bits, hidden bit included (m + 1)."""
        return self.man_bits + 1

    @property
    def sign_mask(self) -> int:
        """The sign bit of a code word (0 for unsigned formats)."""
        return 1 << (self.bits - 1) if self.signed else 0

    @property
    def magnitude_mask(self) -> int:
        """The exponent and mantissa bits of a code word."""
        return (1 << (self.exp_bits + self.man_bits)) - 1

    # ---- exponent range
    @property
    def emin_field(self) -> int:
        """Exponent field of the lowest normal binade: 1, or 0 when the format has no zero."""
        return 1 if self.has_zero else 0

    @property
    def emin(self) -> int:
        """Unbiased exponent of the smallest normal value."""
        return self.emin_field - self.bias

    @property
    def max_code_magnitude(self) -> int:
        """Magnitude bits (exponent and mantissa fields) of the largest finite value."""
        top = self.magnitude_mask
        if self.specials == "ieee":
            return top - (1 << self.man_bits)   # the whole top binade is inf/NaN
        if self.specials == "fn":
            return top - 1                      # only the all-ones magnitude is NaN
        return top

    @property
    def min_code_magnitude(self) -> int:
        """Magnitude bits of the smallest positive value."""
        if not self.has_zero:
            return 0
        return 1 if self.subnormals and self.man_bits > 0 else 1 << self.man_bits

    @property
    def emax(self) -> int:
        """Unbiased exponent of the largest finite value."""
        return (self.max_code_magnitude >> self.man_bits) - self.bias

    # ---- exact values
    def value_of(self, code: int):
        """Exact value of one code word: a Fraction, or float('nan') / +-float('inf') for specials."""
        code = int(code)
        if not 0 <= code < (1 << self.bits):
            raise ValueError(f"code must be in 0..{(1 << self.bits) - 1} for {self}, got {code}")
        neg = bool(code & self.sign_mask)
        mag = code & self.magnitude_mask
        if self.is_nan_code(code):
            return float("nan")
        if self.specials == "ieee" and mag == self.max_code_magnitude + 1:
            return float("-inf") if neg else float("inf")
        e_field, f_field = mag >> self.man_bits, mag & ((1 << self.man_bits) - 1)
        if e_field == 0 and self.has_zero:
            v = Fraction(f_field, 1 << self.man_bits) * Fraction(2) ** (1 - self.bias) if self.subnormals else Fraction(0)
        else:
            v = (1 + Fraction(f_field, 1 << self.man_bits)) * Fraction(2) ** (e_field - self.bias)
        return -v if neg else v

    def is_nan_code(self, code: int) -> bool:
        """Whether a code word is a NaN of this format."""
        mag = code & self.magnitude_mask
        if self.specials == "ieee":
            return mag > self.max_code_magnitude + 1
        if self.specials == "fn":
            return mag == self.magnitude_mask
        if self.specials == "fnuz":
            return code == self.sign_mask
        return False

    @property
    def max(self):
        """Largest finite value (float when exact, else Fraction)."""
        return _as_float_if_exact(self.value_of(self.max_code_magnitude))

    @property
    def min_normal(self):
        """Smallest positive normal value."""
        return _as_float_if_exact(Fraction(2) ** self.emin)

    @property
    def min_subnormal(self):
        """Smallest positive subnormal value, or None when the format has no subnormals."""
        if not (self.subnormals and self.man_bits > 0):
            return None
        return _as_float_if_exact(Fraction(2) ** (self.emin - self.man_bits))

    @property
    def smallest(self):
        """Smallest positive value (the min subnormal, or the min normal without subnormals)."""
        return _as_float_if_exact(self.value_of(self.min_code_magnitude))

    @property
    def eps(self):
        """2**-man_bits: the distance from 1.0 to the next larger value (NumPy's convention)."""
        return _as_float_if_exact(Fraction(1, 1 << self.man_bits))

    # ---- special codes
    @property
    def nan_code(self) -> int | None:
        """The canonical NaN this format produces, or None without NaN."""
        if self.specials == "ieee":
            return ((self.max_code_magnitude >> self.man_bits) + 1) << self.man_bits | (1 << (self.man_bits - 1))
        if self.specials == "fn":
            return self.magnitude_mask
        if self.specials == "fnuz":
            return self.sign_mask
        return None

    @property
    def inf_code(self) -> int | None:
        """The +inf code, or None without infinities (-inf is ``inf_code | sign_mask``)."""
        return self.max_code_magnitude + 1 if self.specials == "ieee" else None

    @property
    def max_code(self) -> int:
        """Code of the largest finite positive value."""
        return self.max_code_magnitude

    @property
    def has_negative_zero(self) -> bool:
        return self.signed and self.has_zero and self.specials != "fnuz"

    def codes(self) -> np.ndarray:
        """Every code word (2**bits of them, NaNs included) in ascending code order."""
        return _all_codes(self)

    # ---- kernels
    @functools.cached_property
    def params(self) -> tuple:
        """The int64 parameter tuple the kernels receive (layout in ``bitsim.core.params``)."""
        return _params(P_KIND=P.KIND_FLOAT, P_BITS=self.bits, P_MAN=self.man_bits, P_EXP=self.exp_bits,
                       P_BIAS=self.bias, P_SUBNORMALS=self.subnormals, P_EMIN_FIELD=self.emin_field,
                       P_SIGNED=self.signed, P_MAX_MAG=self.max_code_magnitude,
                       P_NAN=-1 if self.nan_code is None else self.nan_code,
                       P_INF=-1 if self.inf_code is None else self.inf_code,
                       P_OVERFLOW=_OVERFLOW_CODE[self.overflow], P_NEGZERO=self.has_negative_zero,
                       P_SPECIALS=_SPECIALS_CODE[self.specials])

    def replace(self, **changes) -> "FloatFormat":
        """A copy with some fields changed (validated again); the name is dropped unless given."""
        fields = dict(exp_bits=self.exp_bits, man_bits=self.man_bits, bias=self.bias, subnormals=self.subnormals,
                      specials=self.specials, overflow=self.overflow, signed=self.signed, has_zero=self.has_zero)
        fields.update(changes)
        return FloatFormat(**fields)

    def __str__(self):
        return self.name or self.spec_string()

    def spec_string(self) -> str:
        """All fields in one line, e.g. ``FloatFormat(e4m3, bias=7, subnormals, specials=fn, overflow=nan)``."""
        parts = [f"e{self.exp_bits}m{self.man_bits}", f"bias={self.bias}",
                 "subnormals" if self.subnormals else "no-subnormals",
                 f"specials={self.specials}", f"overflow={self.overflow}"]
        if not self.signed:
            parts.append("unsigned")
        if not self.has_zero:
            parts.append("no-zero")
        return "FloatFormat(" + ", ".join(parts) + ")"


@dataclass(frozen=True)
class FixedFormat:
    """A binary fixed-point format: code = integer k (two's complement if signed), value = k * 2**-frac_bits.

    Args:
        bits: code width, 1..64 (1..63 unsigned).
        frac_bits: fraction bits (any integer in -1024..1024; may exceed ``bits`` or be negative).
        signed: two's complement (True) or unsigned.
        overflow: "saturate" (clamp to the range) or "wrap" (keep the low ``bits`` bits).
        symmetric: signed range without the most negative code, [-(2**(bits-1)-1), 2**(bits-1)-1]
            (the most negative code is then never produced, and decodes to its two's-complement value).
        name: display name (not part of equality).
    """

    bits: int
    frac_bits: int
    signed: bool = True
    overflow: str = "saturate"
    symmetric: bool = False
    name: str | None = field(default=None, compare=False, hash=False)

    def __post_init__(self):
        o = "FixedFormat"
        _check_bool(o, "signed", self.signed)
        _check_int(o, "bits", self.bits, 2 if self.signed else 1, 64 if self.signed else 63)
        _check_int(o, "frac_bits", self.frac_bits, -1024, 1024)
        _check_choice(o, "overflow", self.overflow, FIXED_OVERFLOW)
        _check_bool(o, "symmetric", self.symmetric)
        if self.symmetric and not self.signed:
            raise ValueError(f"{o}.symmetric=True needs signed=True")
        object.__setattr__(self, "signed", bool(self.signed))
        object.__setattr__(self, "symmetric", bool(self.symmetric))

    @property
    def code_dtype(self) -> np.dtype:
        return code_dtype(self.bits)

    @property
    def max_int(self) -> int:
        """Largest integer k."""
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def min_int(self) -> int:
        """Smallest integer k produced by encoding."""
        if not self.signed:
            return 0
        return -self.max_int if self.symmetric else -(1 << (self.bits - 1))

    @property
    def resolution(self):
        """Step between neighbouring values, 2**-frac_bits."""
        return _as_float_if_exact(Fraction(2) ** -self.frac_bits)

    eps = resolution

    @property
    def max(self):
        return _as_float_if_exact(self.max_int * Fraction(2) ** -self.frac_bits)

    @property
    def min(self):
        return _as_float_if_exact(self.min_int * Fraction(2) ** -self.frac_bits)

    def int_of(self, code: int) -> int:
        """The integer k of a code word (two's complement when signed)."""
        code = int(code)
        if not 0 <= code < (1 << self.bits):
            raise ValueError(f"code must be in 0..{(1 << self.bits) - 1} for {self}, got {code}")
        return code - (1 << self.bits) if self.signed and code >> (self.bits - 1) else code

    def value_of(self, code: int) -> Fraction:
        """Exact value of one code word."""
        return self.int_of(code) * Fraction(2) ** -self.frac_bits

    def codes(self) -> np.ndarray:
        """Every code word in ascending code order."""
        return _all_codes(self)

    @functools.cached_property
    def params(self) -> tuple:
        """The int64 parameter tuple the kernels receive (layout in ``bitsim.core.params``)."""
        return _params(P_KIND=P.KIND_FIXED, P_BITS=self.bits, P_MAN=self.frac_bits, P_SIGNED=self.signed,
                       P_MAX_MAG=self.max_int, P_MIN_INT=self.min_int, P_NAN=-1, P_INF=-1,
                       P_OVERFLOW=_OVERFLOW_CODE[self.overflow])

    def replace(self, **changes) -> "FixedFormat":
        fields = dict(bits=self.bits, frac_bits=self.frac_bits, signed=self.signed,
                      overflow=self.overflow, symmetric=self.symmetric)
        fields.update(changes)
        return FixedFormat(**fields)

    def __str__(self):
        return self.name or self.spec_string()

    def spec_string(self) -> str:
        return (f"FixedFormat(bits={self.bits}, frac_bits={self.frac_bits}, "
                f"{'signed' if self.signed else 'unsigned'}, overflow={self.overflow}"
                f"{', symmetric' if self.symmetric else ''})")
