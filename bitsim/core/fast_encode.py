"""Branch-free encode of an IEEE binary16/32/64 word into a common float format: the fast path.

``round_pack`` handles every format and returns flags; this routine computes the same code word with
selects instead of branches so that a loop over it vectorises. It applies to a (source, target,
mode) triple described by a *plan* (an int64 tuple, layout ``FE_*`` below, built by
``bitsim.kernels.plans.fast_encode_plan``) and only when

* the source is an IEEE binary format (sign, exponent, mantissa; subnormals, inf and NaN), and
* the target is a signed float format with a zero and subnormals, ``1 <= m < source m``, and a bias
  no larger than the source's (so a source subnormal is never normal in the target).

Every other case, and every call that asks for flags, goes through ``convert_one``; the tests check
that both give the same code word for every binary16 input and for boundary-heavy binary32/64 inputs
in every mode.

Where the target's exponent field and bias are the source's (float32 -> bfloat16), the magnitude is
simply rounded at the dropped mantissa bits (``encode_same_exponent``). Otherwise, with the source exponent field E (taken as 1 for subnormals) the target exponent field
is ``Et = E - src_bias + dst_bias``. The significand (hidden bit included) is shifted right by
``src_m - m`` plus ``1 - Et`` when the result is subnormal in the target; adding the rounded
significand to ``(max(Et, 1) - 1) << m`` gives the magnitude code, carries into the exponent
included. Shifts are clamped at 63, which is exact because a binary64 significand has 53 bits.
"""

from numba import int64, uint64

from bitsim.core.params import RM_RDN, RM_RNA, RM_RNE, RM_RTO, RM_RTZ, RM_RUP

FE_SRC_MAN = 0        # mantissa bits of the source
FE_SRC_BIAS = 1       # exponent bias of the source
FE_SRC_EXP_ONES = 2   # the source's all-ones exponent field (inf and NaN)
FE_SRC_SIGN = 3       # position of the source's sign bit
FE_DST_MAN = 4        # mantissa bits m of the target
FE_DST_BIAS = 5       # exponent bias of the target
FE_DST_SIGN = 6       # position of the target's sign bit
FE_MAX_MAG = 7        # largest finite magnitude code of the target
FE_NEGZERO = 8        # 1 if the target has -0
FE_NAN = 9            # target code for a NaN input
FE_INF_POS = 10       # target code for +inf (for the plan's mode)
FE_INF_NEG = 11       # target code for -inf
FE_OVF_POS = 12       # target code for a positive overflow (for the plan's mode)
FE_OVF_NEG = 13       # target code for a negative overflow
FE_SAME_EXP = 14      # 1 if the target's exponent field and bias are the source's (float32 -> bfloat16)
FE_LEN = 15


def fast_increment(sig, sh, shift, sign, mode, rand, sr_bits):
    """0 or 1: does ``sig * 2**-shift`` round away from zero? (``sh = min(shift, 63)``, 1 <= sh.)"""
    one = uint64(1)
    kept = sig >> sh
    rem = sig & ((one << sh) - one)
    below = (one << sh) - one                       # the largest possible discarded part
    if mode == RM_RNE:
        return (rem + (below >> one) + (kept & one)) >> sh
    if mode == RM_RNA:
        return (rem + (one << (sh - one))) >> sh
    if mode == RM_RTZ:
        return uint64(0)
    if mode == RM_RUP:
        return (rem + (below if sign == uint64(0) else uint64(0))) >> sh
    if mode == RM_RDN:
        return (rem + (below if sign != uint64(0) else uint64(0))) >> sh
    if mode == RM_RTO:
        return (one - (kept & one)) & uint64(rem != uint64(0))
    d = shift - sr_bits                             # sr: top sr_bits of the discarded fraction, plus rand
    top = (rem >> uint64(min(d, int64(63)))) if d >= 0 else (rem << uint64(-d))
    top = top if d < 64 else uint64(0)
    return (top + rand) >> uint64(sr_bits)


def encode_fast(u, plan, mode, rand, sr_bits):
    """The target code word of the source word ``u`` (uint64) under ``plan`` and ``mode``."""
    if plan[FE_SAME_EXP] != 0:
        return encode_same_exponent(u, plan, mode, rand, sr_bits)
    return encode_fast_biased(u, plan, plan[FE_DST_BIAS], mode, rand, sr_bits)


def encode_same_exponent(u, plan, mode, rand, sr_bits):
    """``encode_fast`` where the target's exponent field and bias are the source's: the source magnitude
    (exponent and mantissa) rounded at the mantissa bits the target drops, normals and subnormals alike,
    a carry stepping the exponent."""
    one = uint64(1)
    sign = (u >> uint64(plan[FE_SRC_SIGN])) & one
    mag = u & ((one << uint64(plan[FE_SRC_SIGN])) - one)
    shift = plan[FE_SRC_MAN] - plan[FE_DST_MAN]
    inc = fast_increment(mag, uint64(shift), shift, sign, mode, rand, sr_bits)
    special = (mag >> uint64(plan[FE_SRC_MAN])) == uint64(plan[FE_SRC_EXP_ONES])
    frac = mag & ((one << uint64(plan[FE_SRC_MAN])) - one)
    return fast_code(sign, (mag >> uint64(shift)) + inc, special, frac, plan)


def fast_code(sign, mag, special, frac, plan):
    """The target code of a rounded magnitude code ``mag`` (overflow and -0 by the plan), or of the
    source's inf (frac 0) or NaN where ``special``."""
    code = (sign << uint64(plan[FE_DST_SIGN])) | mag
    code = code if (mag != uint64(0)) | (plan[FE_NEGZERO] != 0) else uint64(0)
    overflow = uint64(plan[FE_OVF_NEG]) if sign != uint64(0) else uint64(plan[FE_OVF_POS])
    code = overflow if mag > uint64(plan[FE_MAX_MAG]) else code
    inf = uint64(plan[FE_INF_NEG]) if sign != uint64(0) else uint64(plan[FE_INF_POS])
    nan_or_inf = inf if frac == uint64(0) else uint64(plan[FE_NAN])
    return nan_or_inf if special else code


def encode_fast_biased(u, plan, dst_bias, mode, rand, sr_bits):
    """``encode_fast`` with the target bias given: a bias of ``b - X`` encodes ``u * 2**-X`` into the
    target of bias b (block formats scale this way). Needs ``dst_bias <= FE_SRC_BIAS``."""
    one = uint64(1)
    src_m = plan[FE_SRC_MAN]
    sign = (u >> uint64(plan[FE_SRC_SIGN])) & one
    e_src = int64((u >> uint64(src_m)) & ((one << uint64(plan[FE_SRC_SIGN] - src_m)) - one))
    frac = u & ((one << uint64(src_m)) - one)
    sig = frac | (uint64(e_src != 0) << uint64(src_m))
    e_dst = max(e_src, int64(1)) - plan[FE_SRC_BIAS] + dst_bias
    shift = src_m - plan[FE_DST_MAN] + max(int64(1) - e_dst, int64(0))
    sh = uint64(min(shift, int64(63)))
    inc = fast_increment(sig, sh, shift, sign, mode, rand, sr_bits)
    base = uint64(max(e_dst, int64(1)) - 1) << uint64(plan[FE_DST_MAN])
    mag = (base + (sig >> sh) + inc) if sig != uint64(0) else uint64(0)
    return fast_code(sign, mag, e_src == plan[FE_SRC_EXP_ONES], frac, plan)
