"""Exact reference of the arithmetic ops: the mathematical result as a Fraction, rounded by
``round_value``. One element per call; codes are Python ints. Shares no code with ``bitsim.core``.

Special operands follow the rules documented in ``bitsim.core.arith`` and ``bitsim.core.compare``,
restated here from IEEE 754 rather than from that code.
"""

from __future__ import annotations

import math
from fractions import Fraction

from bitsim.ref.values import INF, INFINITE, INVALID, NAN, SNAN, classify, round_value


class _Operand:
    """A decoded operand: kind ("finite", NAN, SNAN, INF), sign and exact value."""

    def __init__(self, code: int, fmt):
        self.kind, self.negative, self.value = classify(code, fmt)
        self.nan = self.kind in (NAN, SNAN)
        self.snan = self.kind == SNAN
        self.inf = self.kind == INF
        self.zero = self.kind == "finite" and self.value == 0


def _nan(invalid: bool, fmt):
    return round_value(SNAN if invalid else NAN, fmt)


def _inf(negative: bool, fmt, rounding):
    return round_value((INF, negative), fmt, rounding)


def _zero(negative: bool, fmt):
    return round_value(Fraction(0), fmt, negative=negative)


def _round(x: Fraction, fmt, rounding, kw):
    return round_value(x, fmt, rounding, **kw)


def _formats(fmt, in_formats, count):
    return tuple(in_formats) if in_formats is not None else (fmt,) * count


def _sum(x: _Operand, y_negative: bool, y: _Operand, fmt, rounding, kw):
    """x + (+-y) for non-NaN operands."""
    if x.inf or y.inf:
        if x.inf and y.inf and x.negative != y_negative:
            return _nan(True, fmt)
        return _inf(x.negative if x.inf else y_negative, fmt, rounding)
    y_value = -y.value if (y_negative != y.negative) else y.value
    total = x.value + y_value
    if total == 0:
        if x.zero and y.zero and x.negative == y_negative:
            return _zero(x.negative, fmt)
        return _zero(rounding == "rdn", fmt)
    return _round(total, fmt, rounding, kw)


def add(a: int, b: int, fmt, rounding="rne", in_formats=None, **kw):
    """(code, flags) of a + b rounded to ``fmt``."""
    fa, fb = _formats(fmt, in_formats, 2)
    x, y = _Operand(a, fa), _Operand(b, fb)
    if x.nan or y.nan:
        return _nan(x.snan or y.snan, fmt)
    return _sum(x, y.negative, y, fmt, rounding, kw)


def sub(a: int, b: int, fmt, rounding="rne", in_formats=None, **kw):
    """(code, flags) of a - b rounded to ``fmt``."""
    fa, fb = _formats(fmt, in_formats, 2)
    x, y = _Operand(a, fa), _Operand(b, fb)
    if x.nan or y.nan:
        return _nan(x.snan or y.snan, fmt)
    return _sum(x, not y.negative, y, fmt, rounding, kw)


def mul(a: int, b: int, fmt, rounding="rne", in_formats=None, **kw):
    """(code, flags) of a * b rounded to ``fmt``."""
    fa, fb = _formats(fmt, in_formats, 2)
    x, y = _Operand(a, fa), _Operand(b, fb)
    if x.nan or y.nan:
        return _nan(x.snan or y.snan, fmt)
    negative = x.negative != y.negative
    if (x.inf and y.zero) or (x.zero and y.inf):
        return _nan(True, fmt)
    if x.inf or y.inf:
        return _inf(negative, fmt, rounding)
    if x.zero or y.zero:
        return _zero(negative, fmt)
    return _round(x.value * y.value, fmt, rounding, kw)


def div(a: int, b: int, fmt, rounding="rne", in_formats=None, **kw):
    """(code, flags) of a / b rounded to ``fmt``; x / 0 adds the infinite flag."""
    fa, fb = _formats(fmt, in_formats, 2)
    x, y = _Operand(a, fa), _Operand(b, fb)
    if x.nan or y.nan:
        return _nan(x.snan or y.snan, fmt)
    negative = x.negative != y.negative
    if (x.inf and y.inf) or (x.zero and y.zero):
        return _nan(True, fmt)
    if x.inf:
        return _inf(negative, fmt, rounding)
    if y.inf or x.zero:
        return _zero(negative, fmt)
    if y.zero:
        code, flags = _inf(negative, fmt, rounding)
        return code, flags | INFINITE
    return _round(x.value / y.value, fmt, rounding, kw)


def fma(a: int, b: int, c: int, fmt, rounding="rne", in_formats=None, **kw):
    """(code, flags) of a * b + c with one rounding to ``fmt``."""
    fa, fb, fc = _formats(fmt, in_formats, 3)
    x, y, z = _Operand(a, fa), _Operand(b, fb), _Operand(c, fc)
    if (x.inf and y.zero) or (x.zero and y.inf):
        return _nan(True, fmt)
    if x.nan or y.nan or z.nan:
        return _nan(x.snan or y.snan or z.snan, fmt)
    product = _Operand.__new__(_Operand)
    product.negative = x.negative != y.negative
    product.inf = x.inf or y.inf
    product.zero = not product.inf and (x.zero or y.zero)
    product.value = None if product.inf else x.value * y.value
    return _sum(product, z.negative, z, fmt, rounding, kw)


def sqrt(a: int, fmt, rounding="rne", in_formats=None, **kw):
    """(code, flags) of the square root of a rounded to ``fmt``."""
    (fa,) = _formats(fmt, in_formats, 1)
    x = _Operand(a, fa)
    if x.nan:
        return _nan(x.snan, fmt)
    if x.zero:
        return _zero(x.negative, fmt)
    if x.negative:
        return _nan(True, fmt)
    if x.inf:
        return _inf(False, fmt, rounding)
    v = x.value                                   # a dyadic rational p / 2**s
    p, s = v.numerator, v.denominator.bit_length() - 1
    if s % 2:
        p, s = 2 * p, s + 1
    t = max(0, 1400 - s // 2)                     # result bits far below any grid or SR boundary
    r = math.isqrt(p << (2 * t))
    scale = Fraction(1, 1 << (s // 2 + t))
    if r * r == p << (2 * t):
        return _round(r * scale, fmt, rounding, kw)
    # sqrt lies strictly inside (r, r + 1) * scale, an interval with dyadic ends finer than every
    # rounding boundary, so its midpoint rounds exactly as the irrational root does.
    return _round((r + Fraction(1, 2)) * scale, fmt, rounding, kw)


def _key(o: _Operand):
    return -math.inf if o.inf and o.negative else math.inf if o.inf else o.value


def eq(a: int, b: int, fmt):
    """(0/1, flags) of a == b; invalid only for a signaling NaN."""
    x, y = _Operand(a, fmt), _Operand(b, fmt)
    flags = INVALID if (x.snan or y.snan) else 0
    if x.nan or y.nan:
        return 0, flags
    return int(_key(x) == _key(y)), flags


def lt(a: int, b: int, fmt):
    """(0/1, flags) of a < b; invalid for any NaN."""
    x, y = _Operand(a, fmt), _Operand(b, fmt)
    if x.nan or y.nan:
        return 0, INVALID
    return int(_key(x) < _key(y)), 0


def le(a: int, b: int, fmt):
    """(0/1, flags) of a <= b; invalid for any NaN."""
    x, y = _Operand(a, fmt), _Operand(b, fmt)
    if x.nan or y.nan:
        return 0, INVALID
    return int(_key(x) <= _key(y)), 0


def _select(a: int, b: int, fmt, smaller: bool, ignore_nan: bool):
    x, y = _Operand(a, fmt), _Operand(b, fmt)
    flags = INVALID if (x.snan or y.snan) else 0
    if x.nan or y.nan:
        if ignore_nan and not (x.nan and y.nan):
            return (b if x.nan else a), flags
        return _nan(False, fmt)[0], flags
    kx, ky = _key(x), _key(y)
    if kx == ky:                                  # only +0 and -0 differ: -0 is the smaller
        pick_a = x.negative if smaller else not x.negative
    else:
        pick_a = (kx < ky) == smaller
    return (a if pick_a else b), flags


def minimum(a, b, fmt):
    return _select(a, b, fmt, True, False)


def maximum(a, b, fmt):
    return _select(a, b, fmt, False, False)


def minimum_number(a, b, fmt):
    return _select(a, b, fmt, True, True)


def maximum_number(a, b, fmt):
    return _select(a, b, fmt, False, True)
