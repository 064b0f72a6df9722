"""Format-to-format conversion of one code word, correctly rounded (the scalar behind encode/decode).

Special inputs: zero keeps its sign where the target has -0. Infinity becomes the target's infinity;
a target without infinity treats it as an overflow (largest finite or NaN by the target's overflow
rule, flags overflow|inexact); a fixed-point target saturates and raises invalid. NaN becomes the
target's canonical NaN (invalid if it was signaling); a target without NaN gives +largest finite
(float) or 0 (fixed), with invalid.
"""

from numba import int64, uint64

from bitsim.core.params import FLAG_INVALID, KIND_FLOAT, P_INF, P_KIND, P_MAX_MAG, P_MIN_INT, P_NAN, P_BITS, P_SIGNED
from bitsim.core.round import overflow_float, round_pack, zero_float
from bitsim.core.bits import low_mask
from bitsim.core.unpack import CLS_FINITE, CLS_INF, CLS_SNAN, CLS_ZERO, unpack


def pack_inf(sign, p, mode):
    """An infinite input converted to format ``p``."""
    if p[P_KIND] != KIND_FLOAT:
        k = uint64(p[P_MAX_MAG]) if sign == 0 else uint64(int64(p[P_MIN_INT]))   # two's complement bits
        return k & low_mask(p[P_BITS]), int64(FLAG_INVALID)
    if sign != 0 and p[P_SIGNED] == 0:
        return uint64(p[P_NAN]), int64(FLAG_INVALID)
    if p[P_INF] >= 0:
        return (uint64(sign) << uint64(p[P_BITS] - 1)) | uint64(p[P_INF]), int64(0)
    return overflow_float(sign, p, mode)


def pack_nan(signaling, p):
    """A NaN input converted to format ``p``."""
    flags = int64(FLAG_INVALID) if signaling else int64(0)
    if p[P_NAN] >= 0:
        return uint64(p[P_NAN]), flags
    if p[P_KIND] == KIND_FLOAT:
        return uint64(p[P_MAX_MAG]), int64(FLAG_INVALID)
    return uint64(0), int64(FLAG_INVALID)


def convert_one(code, src, dst, mode, rand, sr_bits, tiny_before):
    """Convert one code word of format ``src`` to format ``dst``; returns (code uint64, flags int64)."""
    return convert_scaled(code, src, dst, int64(0), mode, rand, sr_bits, tiny_before)


def convert_scaled(code, src, dst, scale_exp, mode, rand, sr_bits, tiny_before):
    """Convert ``value(code) * 2**-scale_exp`` to ``dst`` (one rounding; specials as ``convert_one``)."""
    cls, sign, sig, exp = unpack(code, src)
    if cls == CLS_FINITE:
        return round_pack(sign, sig, exp - scale_exp, 0, dst, mode, rand, sr_bits, tiny_before)
    if cls == CLS_ZERO:
        if dst[P_KIND] == KIND_FLOAT:
            return zero_float(sign, dst)
        return uint64(0), int64(0)
    if cls == CLS_INF:
        return pack_inf(sign, dst, mode)
    return pack_nan(cls == CLS_SNAN, dst)
