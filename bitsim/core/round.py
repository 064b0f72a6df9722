"""The one rounding core: (sign, integer significand, exponent, sticky) -> code word + flags.

Every operation in bitsim ends here: conversions now, arithmetic and accumulators later. The input
value is ``(-1)**sign * (sig + s) * 2**exp`` where ``sig`` is a uint64, ``exp`` an int64 and ``s`` is 0
when ``sticky`` is 0, else some unknown amount in (0, 1). Contract: when ``sticky`` is 1, ``sig`` is
nonzero and carries every bit the rounding examines (at least one bit below the kept LSB, and for
stochastic rounding ``sr_bits`` bits below it); the sticky bit then only breaks ties.

Rounding modes (``bitsim.core.params.RM_*``), applied to the magnitude on the format's grid:
  rne  nearest, ties to the neighbour whose code word is even
  rna  nearest, ties away from zero
  rtz  toward zero                  rup  toward +inf            rdn  toward -inf
  rto  round to odd: if inexact, the neighbour whose code word is odd
  (Even/odd is the LSB of the code word, which is the significand's LSB whenever m >= 1; for m = 0
  formats such as E8M0 it is the exponent's LSB. In the gap below the smallest normal of a format
  without subnormals the candidates are 0 and min_normal, and a tie goes to 0.)
  sr   stochastic: the k = sr_bits random bits R are added just below the kept LSB and the sum is
       truncated, i.e. round away from zero iff floor(f * 2**k) + R >= 2**k, where f in [0, 1) is the
       discarded fraction. P(away) = floor(f * 2**k) / 2**k; an exact value is never changed.

Flags (``FLAG_*``): inexact, underflow (tiny and inexact; tininess after rounding, i.e. judged on the
result rounded with an unbounded exponent range, unless ``tiny_before``), overflow (the rounded
magnitude exceeds the largest finite value), invalid (NaN produced from a non-NaN, negative value for
an unsigned format).
"""

from numba import int64, uint64

from bitsim.core.bits import bit_length, low_mask, shift_left, shift_right
from bitsim.core.params import (
    FLAG_INEXACT, FLAG_INVALID, FLAG_OVERFLOW, FLAG_UNDERFLOW, KIND_FLOAT, OVF_INF, OVF_SATURATE, OVF_WRAP,
    P_BITS, P_EMIN_FIELD, P_BIAS, P_INF, P_KIND, P_MAN, P_MAX_MAG, P_MIN_INT, P_NAN, P_NEGZERO, P_OVERFLOW,
    P_SIGNED, P_SUBNORMALS, RM_RDN, RM_RNA, RM_RTO, RM_RTZ, RM_RUP, RM_SR,
)


def round_shifted(sig, shift, sticky, sign, mode, rand, sr_bits, base):
    """Round sig * 2**-shift to an integer in ``mode``; returns (kept uint64, inexact int64).

    ``base + kept`` is the code word the result lands on: "even" (rne) and "odd" (rto) refer to its
    LSB. A negative shift is exact (sig is shifted left; bits beyond 64 are the caller's concern).
    """
    if shift <= 0:
        return shift_left(sig, -shift), int64(sticky)
    kept = shift_right(sig, shift)
    rem = sig & low_mask(shift)
    if rem == uint64(0) and sticky == 0:
        return kept, int64(0)
    if mode == RM_SR:
        if shift >= sr_bits:
            top = shift_right(rem, shift - sr_bits)
        else:
            top = rem << uint64(sr_bits - shift)
        if (top + rand) >> uint64(sr_bits):
            kept += uint64(1)
    elif mode == RM_RTO:
        if ((base + kept) & uint64(1)) == uint64(0):
            kept += uint64(1)
    elif mode == RM_RUP:
        if sign == 0:
            kept += uint64(1)
    elif mode == RM_RDN:
        if sign != 0:
            kept += uint64(1)
    elif mode != RM_RTZ and shift <= 64:          # nearest; for shift > 64 the rest is below one half
        half = uint64(1) << uint64(shift - 1)
        if rem > half or (rem == half and sticky != 0):
            kept += uint64(1)
        elif rem == half and (mode == RM_RNA or ((base + kept) & uint64(1)) != uint64(0)):
            kept += uint64(1)
    return kept, int64(1)


def overflow_float(sign, p, mode):
    """Code and flags for a float result beyond the largest finite value (IEEE 754 section 7.4)."""
    flags = int64(FLAG_OVERFLOW | FLAG_INEXACT)
    sbit = uint64(sign) << uint64(p[P_BITS] - 1)
    toward_zero = mode == RM_RTZ or (mode == RM_RDN and sign == 0) or (mode == RM_RUP and sign != 0)
    ovf = p[P_OVERFLOW]
    if toward_zero or ovf == OVF_SATURATE:
        return sbit | uint64(p[P_MAX_MAG]), flags
    if ovf == OVF_INF:
        return sbit | uint64(p[P_INF]), flags
    return nan_with_sign(sign, p), flags


def nan_with_sign(sign, p):
    """The format's NaN carrying ``sign`` where a signed NaN exists (ieee, fn), else its only NaN."""
    nan = uint64(p[P_NAN])
    if p[P_SIGNED] != 0 and p[P_NEGZERO] != 0:
        return nan | (uint64(sign) << uint64(p[P_BITS] - 1))
    return nan


def zero_float(sign, p):
    """Signed zero of a float format (+0 where -0 does not exist); NaN for formats without zero."""
    if p[P_EMIN_FIELD] == 0:
        return uint64(p[P_NAN]), int64(FLAG_INVALID)
    if sign != 0 and p[P_NEGZERO] != 0:
        return uint64(1) << uint64(p[P_BITS] - 1), int64(0)
    return uint64(0), int64(0)


def round_pack_float(sign, sig, exp, sticky, p, mode, rand, sr_bits, tiny_before):
    """Round (-1)**sign * (sig + sticky) * 2**exp to the float format ``p``; returns (code, flags)."""
    if sig == uint64(0) and sticky == 0:
        return zero_float(sign, p)
    if sign != 0 and p[P_SIGNED] == 0:
        if p[P_NAN] >= 0:
            return uint64(p[P_NAN]), int64(FLAG_INVALID)
        return uint64(0), int64(FLAG_INVALID)
    m = p[P_MAN]
    bias = p[P_BIAS]
    emin = p[P_EMIN_FIELD] - bias
    ev = exp + bit_length(sig) - 1                 # floor(log2(value))
    if ev + bias > (p[P_MAX_MAG] >> m):            # beyond the top binade holding finite values
        return overflow_float(sign, p, mode)
    sbit = uint64(sign) << uint64(p[P_BITS] - 1)
    if ev < emin and p[P_EMIN_FIELD] == 0:         # no zero: saturate underflow at the smallest value
        return sbit, int64(FLAG_UNDERFLOW | FLAG_INEXACT)
    base = uint64(0)                               # code of the result = base + kept (normal, subnormal)
    if ev >= emin:
        qe = ev - m
        base = binade_base(ev + bias, m)
    elif p[P_SUBNORMALS] != 0:
        qe = emin - m
    else:
        qe = emin                                  # no subnormals: the grid below min normal is {0, min};
    kept, inexact = round_shifted(sig, qe - exp, sticky, sign, mode, rand, sr_bits, base)
    if ev >= emin or p[P_SUBNORMALS] != 0:
        mag = base + kept
    else:
        mag = kept << uint64(m)                    # a tie in that gap goes to zero
    if mag > uint64(p[P_MAX_MAG]):
        return overflow_float(sign, p, mode)
    flags = int64(0)
    if inexact != 0:
        flags = int64(FLAG_INEXACT)
        if ev < emin and (tiny_before != 0 or ev < emin - 1 or not carries_to_min_normal(
                sig, exp, sticky, sign, mode, rand, sr_bits, ev - m, m, ev + bias)):
            flags |= FLAG_UNDERFLOW
    if mag == uint64(0) and p[P_EMIN_FIELD] != 0:
        code, zflags = zero_float(sign, p)
        return code, flags | zflags
    return sbit | mag, flags


def binade_base(e_field, m):
    """Code minus significand in the binade with exponent field ``e_field``: (e_field - 1) * 2**m (mod 2**64)."""
    return (uint64(e_field) << uint64(m)) - (uint64(1) << uint64(m))


def carries_to_min_normal(sig, exp, sticky, sign, mode, rand, sr_bits, qe, m, e_field):
    """For a value in [min_normal/2, min_normal): does rounding at full precision reach min_normal?"""
    kept, _ = round_shifted(sig, qe - exp, sticky, sign, mode, rand, sr_bits, binade_base(e_field, m))
    return kept >> uint64(m + 1) != uint64(0)


def round_pack_fixed(sign, sig, exp, sticky, p, mode, rand, sr_bits):
    """Round (-1)**sign * (sig + sticky) * 2**exp to the fixed-point format ``p``; returns (code, flags)."""
    bits = p[P_BITS]
    shift = -p[P_MAN] - exp                        # bits below the quantum 2**-frac_bits
    flags = int64(0)
    too_big = False
    if shift >= 0:
        k, inexact = round_shifted(sig, shift, sticky, sign, mode, rand, sr_bits, uint64(0))
        if inexact != 0:
            flags = int64(FLAG_INEXACT)
    else:
        too_big = sig != uint64(0) and bit_length(sig) - shift > 64     # must fit uint64; limit checks the rest
        k = shift_left(sig, -shift)
    limit = uint64(p[P_MAX_MAG]) if sign == 0 else uint64(0) - uint64(int64(p[P_MIN_INT]))
    if too_big or k > limit:
        flags |= FLAG_OVERFLOW | FLAG_INEXACT
        if p[P_OVERFLOW] != OVF_WRAP:
            k = limit
    code = (uint64(0) - k) if sign != 0 else k
    return code & low_mask(bits), flags


def round_pack(sign, sig, exp, sticky, p, mode, rand, sr_bits, tiny_before):
    """Round to any format ``p`` (float or fixed); returns (code uint64, flags int64)."""
    if p[P_KIND] == KIND_FLOAT:
        return round_pack_float(sign, sig, exp, sticky, p, mode, rand, sr_bits, tiny_before)
    return round_pack_fixed(sign, sig, exp, sticky, p, mode, rand, sr_bits)

