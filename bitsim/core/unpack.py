"""Code word -> (class, sign, significand, exponent): the inverse of round-and-pack.

The value of a finite code is ``(-1)**sign * sig * 2**exp`` exactly (sig uint64, exp int64).
Classes: CLS_ZERO, CLS_FINITE (nonzero), CLS_INF, CLS_QNAN, CLS_SNAN (IEEE NaN with the quiet bit,
the mantissa MSB, clear; ``fn``/``fnuz`` NaNs are quiet).
"""

from numba import int64, uint64

from bitsim.core.bits import low_mask
from bitsim.core.params import (
    KIND_FLOAT, P_BIAS, P_BITS, P_EMIN_FIELD, P_EXP, P_INF, P_KIND, P_MAN, P_MAX_MAG, P_NAN, P_SIGNED,
    P_SPECIALS, P_SUBNORMALS, SPECIALS_FN, SPECIALS_FNUZ, SPECIALS_IEEE,
)

CLS_ZERO = 0
CLS_FINITE = 1
CLS_INF = 2
CLS_QNAN = 3
CLS_SNAN = 4


def unpack_float(code, p):
    """Fields of a float code word: (cls, sign, sig, exp)."""
    m = p[P_MAN]
    bits = p[P_BITS]
    mag_bits = p[P_EXP] + m
    mag = code & low_mask(mag_bits)
    sign = int64(0)
    if p[P_SIGNED] != 0:
        sign = int64((code >> uint64(bits - 1)) & uint64(1))
    specials = p[P_SPECIALS]
    if specials == SPECIALS_IEEE and mag > uint64(p[P_MAX_MAG]):
        if mag == uint64(p[P_INF]):
            return CLS_INF, sign, uint64(0), int64(0)
        if (mag >> uint64(m - 1)) & uint64(1):
            return CLS_QNAN, sign, uint64(0), int64(0)
        return CLS_SNAN, sign, uint64(0), int64(0)
    if specials == SPECIALS_FN and mag == low_mask(mag_bits):
        return CLS_QNAN, sign, uint64(0), int64(0)
    if specials == SPECIALS_FNUZ and code == uint64(p[P_NAN]):
        return CLS_QNAN, int64(0), uint64(0), int64(0)
    e_field = int64(mag >> uint64(m))
    frac = mag & low_mask(m)
    if e_field == 0 and p[P_EMIN_FIELD] != 0:
        if frac == uint64(0) or p[P_SUBNORMALS] == 0:
            return CLS_ZERO, sign, uint64(0), int64(0)
        return CLS_FINITE, sign, frac, 1 - p[P_BIAS] - m
    return CLS_FINITE, sign, frac | (uint64(1) << uint64(m)), e_field - p[P_BIAS] - m


def unpack_fixed(code, p):
    """Fields of a fixed-point code word (two's complement when signed): (cls, sign, sig, exp)."""
    bits = p[P_BITS]
    sign = int64(0)
    mag = code
    if p[P_SIGNED] != 0 and (code >> uint64(bits - 1)) & uint64(1):
        sign = int64(1)
        mag = (uint64(0) - code) & low_mask(bits)
    if mag == uint64(0):
        return CLS_ZERO, int64(0), uint64(0), int64(0)
    return CLS_FINITE, sign, mag, -p[P_MAN]


def unpack(code, p):
    """Fields of a code word of any format."""
    if p[P_KIND] == KIND_FLOAT:
        return unpack_float(code, p)
    return unpack_fixed(code, p)
