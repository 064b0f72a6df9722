"""Exact decode / round / encode / convert for any FloatFormat or FixedFormat.

Rounding is stated the textbook way: find the two neighbours of |x| on the format's grid (the grid
continues above the largest finite value with the top binade's spacing), pick one by the mode, then
apply the overflow rule and write the code word. Special values follow ``bitsim.core.convert``'s
documented policy.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

from bitsim.formats.spec import FixedFormat, FloatFormat

INEXACT, UNDERFLOW, OVERFLOW, INFINITE, INVALID = 1, 2, 4, 8, 16
NAN = "nan"      # a quiet NaN
SNAN = "snan"    # an IEEE signaling NaN
INF = "inf"      # with a sign: ("inf", negative)


def _pow2(e: int) -> Fraction:
    return Fraction(2) ** e


def _floor_log2(a: Fraction) -> int:
    e = a.numerator.bit_length() - a.denominator.bit_length()
    while _pow2(e) > a:
        e -= 1
    while _pow2(e + 1) <= a:
        e += 1
    return e


# ---------------------------------------------------------------- decode

def classify(code: int, fmt):
    """(kind, negative, value): kind is "finite", NAN, SNAN or INF; value a Fraction for finite codes."""
    return _classify(int(code), fmt)


@functools.lru_cache(maxsize=1 << 18)
def _classify(code: int, fmt):
    assert 0 <= code < (1 << fmt.bits), (code, fmt)
    if isinstance(fmt, FixedFormat):
        k = code - (1 << fmt.bits) if fmt.signed and code >> (fmt.bits - 1) else code
        return "finite", k < 0, Fraction(k) * _pow2(-fmt.frac_bits)
    e, m, bias = fmt.exp_bits, fmt.man_bits, fmt.bias
    negative = fmt.signed and bool(code >> (e + m))
    mag = code & ((1 << (e + m)) - 1)
    ef, frac = mag >> m, mag & ((1 << m) - 1)
    top = (1 << e) - 1
    if fmt.specials == "ieee" and ef == top:
        if frac == 0:
            return INF, negative, None
        return (NAN if frac >> (m - 1) else SNAN), negative, None
    if fmt.specials == "fn" and mag == (1 << (e + m)) - 1:
        return NAN, negative, None
    if fmt.specials == "fnuz" and code == 1 << (e + m):
        return NAN, False, None
    if ef == 0 and fmt.has_zero:
        value = Fraction(frac, 1 << m) * _pow2(1 - bias) if fmt.subnormals else Fraction(0)
    else:
        value = (1 + Fraction(frac, 1 << m)) * _pow2(ef - bias)
    return "finite", negative, (-value if negative else value)


def decode(code: int, fmt):
    """Exact value of a code word: Fraction (finite; -0 comes back as Fraction(0)), NaN as float('nan'),
    infinities as +-float('inf')."""
    kind, negative, value = classify(code, fmt)
    if kind == "finite":
        return value
    if kind == INF:
        return -math.inf if negative else math.inf
    return math.nan


# ---------------------------------------------------------------- rounding

def _choose(n: int, frac: Fraction, negative: bool, mode: str, rand, sr_bits, odd) -> int:
    """n or n + 1 for a magnitude n + frac (0 <= frac < 1) in ``mode``; ``odd(k)`` says whether the
    candidate k has an odd code word (what "even" and "odd" mean for rne and rto)."""
    if frac == 0:
        return n
    if mode == "rne":
        return n + 1 if frac > Fraction(1, 2) or (frac == Fraction(1, 2) and odd(n)) else n
    if mode == "rna":
        return n + 1 if frac >= Fraction(1, 2) else n
    if mode == "rtz":
        return n
    if mode == "rup":
        return n if negative else n + 1
    if mode == "rdn":
        return n + 1 if negative else n
    if mode == "rto":
        return n if odd(n) else n + 1
    if mode == "sr":
        return n + 1 if math.floor(frac * 2 ** sr_bits) + rand >= 2 ** sr_bits else n
    raise ValueError(f"unknown rounding mode {mode!r}")


def _parity(k: int) -> bool:
    return k % 2 == 1


def _code_is_odd(r: Fraction, fmt: FloatFormat, unbounded=False) -> bool:
    """LSB of the code word of magnitude r on the grid continued beyond the format's range (and, if
    ``unbounded``, below its smallest normal binade as if the exponent range had no lower end)."""
    if r == 0:
        return False
    m = fmt.man_bits
    emin = (1 if fmt.has_zero else 0) - fmt.bias
    e = _floor_log2(r)
    if e < emin and fmt.subnormals and not unbounded:
        return _parity(int(r / _pow2(emin - m)))
    if m == 0:
        return _parity(e + fmt.bias)
    return _parity(int((r / _pow2(e) - 1) * (1 << m)))


def _quantum_exp(a: Fraction, fmt: FloatFormat, unbounded_below=False) -> int:
    e = _floor_log2(a)
    emin = (1 if fmt.has_zero else 0) - fmt.bias
    if e >= emin or unbounded_below:
        return e - fmt.man_bits
    return emin - fmt.man_bits if fmt.subnormals else emin


def _float_code(r: Fraction, negative: bool, fmt: FloatFormat) -> int:
    """Code word of a finite representable magnitude r (r > 0, or r == 0 for formats with zero)."""
    m, bias = fmt.man_bits, fmt.bias
    sign = (1 << (fmt.exp_bits + m)) if negative else 0
    emin = (1 if fmt.has_zero else 0) - bias
    if r == 0:
        return sign if fmt.has_negative_zero else 0
    if r < _pow2(emin):
        f = r / _pow2(emin - m)
        assert f.denominator == 1 and fmt.subnormals
        return sign | int(f)
    e = _floor_log2(r)
    f = (r / _pow2(e) - 1) * (1 << m)
    assert f.denominator == 1
    return sign | (e + bias) << m | int(f)


def _max_value(fmt: FloatFormat) -> Fraction:
    return classify(fmt.max_code_magnitude, fmt)[2]


def _overflow(negative: bool, fmt: FloatFormat, mode: str):
    toward_zero = mode == "rtz" or (mode == "rdn" and not negative) or (mode == "rup" and negative)
    flags = OVERFLOW | INEXACT
    if toward_zero or fmt.overflow == "saturate":
        return _float_code(_max_value(fmt), negative, fmt), flags
    sign = (1 << (fmt.bits - 1)) if negative else 0
    if fmt.overflow == "inf":
        return sign | fmt.inf_code, flags
    signed_nan = fmt.specials in ("ieee", "fn") and fmt.signed
    return (sign if signed_nan else 0) | fmt.nan_code, flags


def _round_float(x: Fraction, negative: bool, fmt: FloatFormat, mode, rand, sr_bits, tininess):
    a = abs(x)
    if a == 0:
        if not fmt.has_zero:
            return fmt.nan_code, INVALID
        return _float_code(Fraction(0), negative, fmt), 0
    if negative and not fmt.signed:
        return (fmt.nan_code if fmt.nan_code is not None else 0), INVALID
    emin = (1 if fmt.has_zero else 0) - fmt.bias
    if not fmt.has_zero and a < _pow2(emin):
        return _float_code(_pow2(emin), negative, fmt), UNDERFLOW | INEXACT
    q = _pow2(_quantum_exp(a, fmt))
    n = math.floor(a / q)
    frac = a / q - n
    in_flush_gap = a < _pow2(emin) and not fmt.subnormals     # candidates 0 and min_normal; ties to 0
    odd = _parity if in_flush_gap else (lambda k: _code_is_odd(k * q, fmt))
    r = _choose(n, frac, negative, mode, rand, sr_bits, odd) * q
    if r > _max_value(fmt):
        return _overflow(negative, fmt, mode)
    flags = 0
    if frac != 0:
        flags = INEXACT
        if tininess == "before":
            tiny = a < _pow2(emin)
        else:
            q1 = _pow2(_quantum_exp(a, fmt, unbounded_below=True))
            n1 = math.floor(a / q1)
            odd1 = lambda k: _code_is_odd(k * q1, fmt, unbounded=True)   # noqa: E731
            tiny = _choose(n1, a / q1 - n1, negative, mode, rand, sr_bits, odd1) * q1 < _pow2(emin)
        if tiny:
            flags |= UNDERFLOW
    return _float_code(r, negative, fmt), flags


def _round_fixed(x: Fraction, negative: bool, fmt: FixedFormat, mode, rand, sr_bits):
    q = _pow2(-fmt.frac_bits)
    a = abs(x)
    n = math.floor(a / q)
    frac = a / q - n
    k = _choose(n, frac, negative, mode, rand, sr_bits, _parity)
    k = -k if negative else k
    flags = INEXACT if frac != 0 else 0
    if not fmt.min_int <= k <= fmt.max_int:
        flags |= OVERFLOW | INEXACT
        if fmt.overflow == "saturate":
            k = min(max(k, fmt.min_int), fmt.max_int)
    return k % (1 << fmt.bits), flags


def round_value(x, fmt, rounding="rne", *, rand=0, sr_bits=None, tininess="after", negative=None):
    """Round an exact value to ``fmt``: returns (code, flags).

    ``x`` is a Fraction/int/float, or NAN, SNAN, or (INF, negative). ``negative`` gives the sign of a
    zero (-0). ``rand``/``sr_bits`` are the stochastic-rounding bits of this element.
    """
    if isinstance(x, tuple) and x[0] == INF:
        return _round_inf(x[1], fmt, rounding)
    if x in (NAN, SNAN):
        return _round_nan(x == SNAN, fmt)
    if isinstance(x, float) and math.isnan(x):
        return _round_nan(False, fmt)
    if isinstance(x, float) and math.isinf(x):
        return _round_inf(x < 0, fmt, rounding)
    neg = (math.copysign(1.0, x) < 0 if isinstance(x, float) else x < 0) if negative is None else negative
    return _round_finite(Fraction(x), bool(neg), fmt, rounding, int(rand), sr_bits, tininess)


@functools.lru_cache(maxsize=1 << 18)      # exhaustive tests meet the same exact values many times
def _round_finite(x: Fraction, negative: bool, fmt, rounding, rand, sr_bits, tininess):
    if isinstance(fmt, FixedFormat):
        return _round_fixed(x, negative, fmt, rounding, rand, sr_bits)
    return _round_float(x, negative, fmt, rounding, rand, sr_bits, tininess)


def _round_inf(negative: bool, fmt, mode):
    if isinstance(fmt, FixedFormat):
        return (fmt.min_int if negative else fmt.max_int) % (1 << fmt.bits), INVALID
    if negative and not fmt.signed:
        return fmt.nan_code, INVALID
    if fmt.inf_code is not None:
        return ((1 << (fmt.bits - 1)) if negative else 0) | fmt.inf_code, 0
    return _overflow(negative, fmt, mode)


def _round_nan(signaling: bool, fmt):
    if isinstance(fmt, FloatFormat) and fmt.nan_code is not None:
        return fmt.nan_code, INVALID if signaling else 0
    if isinstance(fmt, FloatFormat):
        return fmt.max_code_magnitude, INVALID
    return 0, INVALID


def encode(x: float, fmt, rounding="rne", **kw):
    """Round a Python float (or Fraction/int) to ``fmt``; returns (code, flags)."""
    return round_value(x, fmt, rounding, **kw)


def convert(code: int, src, dst, rounding="rne", **kw):
    """Convert one code word of ``src`` to ``dst``; returns (code, flags)."""
    kind, negative, value = classify(code, src)
    if kind == INF:
        return round_value((INF, negative), dst, rounding, **kw)
    if kind in (NAN, SNAN):
        return round_value(kind, dst, rounding, **kw)
    return round_value(value, dst, rounding, negative=negative, **kw)
