"""Exact reference of ``bitsim.fixed``: one element per call, Python ints and Fractions, rounded by
``round_value``. Shares no code with the kernels.

A code's value is its two's-complement (or unsigned) integer times 2**-frac_bits; the result is the
exact value of the operation, rounded once into ``out`` (round to the grid, then saturate or wrap
modulo 2**bits). Returns (code, flags) as Python ints.
"""

from __future__ import annotations

import functools
from fractions import Fraction

from bitsim.ref.values import round_value


def value(code: int, fmt) -> Fraction:
    """Exact value of one code word of a FixedFormat."""
    return _value(int(code), fmt)


@functools.lru_cache(maxsize=1 << 16)      # exhaustive tests meet the same codes many times
def _value(code: int, fmt) -> Fraction:
    assert 0 <= code < (1 << fmt.bits), (code, fmt)
    k = code - (1 << fmt.bits) if fmt.signed and code >> (fmt.bits - 1) else code
    return Fraction(k, 1 << fmt.frac_bits) if fmt.frac_bits >= 0 else Fraction(k << -fmt.frac_bits)


def _round(x: Fraction, out, rounding, rand, sr_bits):
    return round_value(x, out, rounding, rand=rand, sr_bits=sr_bits)


def add(a, b, fa, fb, out, rounding="rne", *, rand=0, sr_bits=None):
    return _round(value(a, fa) + value(b, fb), out, rounding, rand, sr_bits)


def sub(a, b, fa, fb, out, rounding="rne", *, rand=0, sr_bits=None):
    return _round(value(a, fa) - value(b, fb), out, rounding, rand, sr_bits)


def mul(a, b, fa, fb, out, rounding="rne", *, rand=0, sr_bits=None):
    return _round(value(a, fa) * value(b, fb), out, rounding, rand, sr_bits)


def shift(a, fa, n, out, rounding="rne", *, rand=0, sr_bits=None):
    return _round(value(a, fa) * Fraction(2) ** n, out, rounding, rand, sr_bits)


def requantize(a, fa, out, rounding="rne", *, rand=0, sr_bits=None):
    return _round(value(a, fa), out, rounding, rand, sr_bits)


__all__ = ["value", "add", "sub", "mul", "shift", "requantize"]
