"""Correctly rounded add, sub, mul, div, sqrt and fma on code words: exact in integers, rounded once.

Each function unpacks its operands (each in its own format), settles special operands (IEEE 754
section 6 and 7), computes the exact result as (sign, significand, exponent) -- wide significands
in 128 bits, a sticky bit where the exact result is wider than the rounding needs -- and ends in
``round_pack`` for the output format ``po``. Returns (code uint64, flags int64).

Special results (the IEEE rules, in every format):
  * a NaN operand gives the output's canonical NaN (flag invalid if any operand is a signaling NaN);
    invalid operations (inf - inf, 0 * inf, 0/0, inf/inf, sqrt of a negative) give it with invalid;
    an output format without NaN gives +max with invalid instead (as conversions do).
  * infinite results become the output's infinity; an output without infinity treats them as an
    overflow (its overflow rule, flags overflow|inexact), as conversions do.
  * x / 0 for finite nonzero x is an infinite result with the infinite (divide-by-zero) flag.
  * an exact zero sum of nonzero terms is +0 in every mode but rdn, where it is -0; the sum of two
    zeros of the same sign keeps that sign; sqrt(-0) = -0.
  * fma(0, inf, c) and fma(inf, 0, c) are invalid even when c is a quiet NaN.

Stochastic rounding needs ``sr_bits`` exact bits below the kept LSB; the significands built here carry
at least ``59 - m`` such bits (m = the output's mantissa bits), so ``bitsim.ops`` limits sr_bits to that.
"""

from numba import int64, uint64

from bitsim.core.bits import bit_length, low_mask
from bitsim.core.convert import pack_inf, pack_nan
from bitsim.core.params import FLAG_INFINITE, P_MAN, RM_RDN, RM_SR
from bitsim.core.round import round_pack, zero_float
from bitsim.core.unpack import CLS_INF, CLS_QNAN, CLS_SNAN, CLS_ZERO, unpack
from bitsim.core.wide import (
    add_128, bit_length_128, less_128, mul_64x64, narrow_128, shl_128, shr_jam_128, sub_128,
)

OP_ADD = 0
OP_SUB = 1
OP_MUL = 2
OP_DIV = 3
OP_SQRT = 4
OP_FMA = 5


def exact_zero_sign(mode):
    """Sign of an exact zero sum of nonzero terms (or of +0 + -0): 1 under rdn, else 0."""
    return int64(1) if mode == RM_RDN else int64(0)


def sum_exact(sa, ha, la, ea, sb, hb, lb, eb):
    """(-1)**sa * (ha, la) * 2**ea + (-1)**sb * (hb, lb) * 2**eb for nonzero 128-bit terms of at most
    106 bits; returns (sign, sig, exp, sticky) with value (sig + s) * 2**exp, sig < 2**63."""
    na = bit_length_128(ha, la)
    nb = bit_length_128(hb, lb)
    ha, la = shl_128(ha, la, 125 - na)            # both MSBs at bit 124; at least 19 zero bits below
    ea -= 125 - na
    hb, lb = shl_128(hb, lb, 125 - nb)
    eb -= 125 - nb
    if ea < eb:
        sa, ha, la, ea, sb, hb, lb, eb = sb, hb, lb, eb, sa, ha, la, ea
    hb, lb = shr_jam_128(hb, lb, ea - eb)
    if sa == sb:
        h, l = add_128(ha, la, hb, lb)
        sign = sa
    elif less_128(ha, la, hb, lb):
        h, l = sub_128(hb, lb, ha, la)
        sign = sb
    else:
        h, l = sub_128(ha, la, hb, lb)
        sign = sa
    sig, shift, sticky = narrow_128(h, l)
    return sign, sig, ea + shift, sticky


def finish_sum(sign, sig, exp, sticky, po, mode, rand, sr_bits, tiny_before):
    """Round a sum; an exact zero gets the sign IEEE 754 gives it in ``mode``."""
    if sig == uint64(0) and sticky == 0:
        return zero_float(exact_zero_sign(mode), po)
    return round_pack(sign, sig, exp, sticky, po, mode, rand, sr_bits, tiny_before)


def is_nan_class(cls):
    return cls == CLS_QNAN or cls == CLS_SNAN


def add_codes(a, pa, b, pb, negate_b, po, mode, rand, sr_bits, tiny_before):
    """a + b (or a - b with ``negate_b``) rounded to ``po``."""
    ca, sa, ma, ea = unpack(a, pa)
    cb, sb, mb, eb = unpack(b, pb)
    sb ^= int64(negate_b)
    if is_nan_class(ca) or is_nan_class(cb):
        return pack_nan(ca == CLS_SNAN or cb == CLS_SNAN, po)
    if ca == CLS_INF or cb == CLS_INF:
        if ca == CLS_INF and cb == CLS_INF and sa != sb:
            return pack_nan(True, po)
        return pack_inf(sa if ca == CLS_INF else sb, po, mode)
    if ca == CLS_ZERO and cb == CLS_ZERO:
        return zero_float(sa if sa == sb else exact_zero_sign(mode), po)
    if cb == CLS_ZERO:
        return round_pack(sa, ma, ea, 0, po, mode, rand, sr_bits, tiny_before)
    if ca == CLS_ZERO:
        return round_pack(sb, mb, eb, 0, po, mode, rand, sr_bits, tiny_before)
    sign, sig, exp, sticky = sum_exact(sa, uint64(0), ma, ea, sb, uint64(0), mb, eb)
    return finish_sum(sign, sig, exp, sticky, po, mode, rand, sr_bits, tiny_before)


def mul_codes(a, pa, b, pb, po, mode, rand, sr_bits, tiny_before):
    """a * b rounded to ``po``."""
    ca, sa, ma, ea = unpack(a, pa)
    cb, sb, mb, eb = unpack(b, pb)
    if is_nan_class(ca) or is_nan_class(cb):
        return pack_nan(ca == CLS_SNAN or cb == CLS_SNAN, po)
    sign = sa ^ sb
    if (ca == CLS_INF and cb == CLS_ZERO) or (ca == CLS_ZERO and cb == CLS_INF):
        return pack_nan(True, po)
    if ca == CLS_INF or cb == CLS_INF:
        return pack_inf(sign, po, mode)
    if ca == CLS_ZERO or cb == CLS_ZERO:
        return zero_float(sign, po)
    hi, lo = mul_64x64(ma, mb)
    sig, shift, sticky = narrow_128(hi, lo)
    return round_pack(sign, sig, ea + eb + shift, sticky, po, mode, rand, sr_bits, tiny_before)


def fma_codes(a, pa, b, pb, c, pc, po, mode, rand, sr_bits, tiny_before):
    """a * b + c with one rounding, to ``po``."""
    ca, sa, ma, ea = unpack(a, pa)
    cb, sb, mb, eb = unpack(b, pb)
    cc, sc, mc, ec = unpack(c, pc)
    if (ca == CLS_INF and cb == CLS_ZERO) or (ca == CLS_ZERO and cb == CLS_INF):
        return pack_nan(True, po)
    if is_nan_class(ca) or is_nan_class(cb) or is_nan_class(cc):
        return pack_nan(ca == CLS_SNAN or cb == CLS_SNAN or cc == CLS_SNAN, po)
    sp = sa ^ sb
    if ca == CLS_INF or cb == CLS_INF:
        if cc == CLS_INF and sc != sp:
            return pack_nan(True, po)
        return pack_inf(sp, po, mode)
    if cc == CLS_INF:
        return pack_inf(sc, po, mode)
    if ca == CLS_ZERO or cb == CLS_ZERO:
        if cc == CLS_ZERO:
            return zero_float(sp if sp == sc else exact_zero_sign(mode), po)
        return round_pack(sc, mc, ec, 0, po, mode, rand, sr_bits, tiny_before)
    hi, lo = mul_64x64(ma, mb)
    if cc == CLS_ZERO:
        sig, shift, sticky = narrow_128(hi, lo)
        return round_pack(sp, sig, ea + eb + shift, sticky, po, mode, rand, sr_bits, tiny_before)
    sign, sig, exp, sticky = sum_exact(sp, hi, lo, ea + eb, sc, uint64(0), mc, ec)
    return finish_sum(sign, sig, exp, sticky, po, mode, rand, sr_bits, tiny_before)


def result_bits(po, mode, sr_bits):
    """Significand bits a quotient or root must carry: kept bits, a guard bit, and the SR bits."""
    n = po[P_MAN] + 3
    if mode == RM_SR:
        n += sr_bits
    return min(n, int64(61))


def div_codes(a, pa, b, pb, po, mode, rand, sr_bits, tiny_before):
    """a / b rounded to ``po`` (restoring long division, one quotient bit per step)."""
    ca, sa, ma, ea = unpack(a, pa)
    cb, sb, mb, eb = unpack(b, pb)
    if is_nan_class(ca) or is_nan_class(cb):
        return pack_nan(ca == CLS_SNAN or cb == CLS_SNAN, po)
    sign = sa ^ sb
    if (ca == CLS_INF and cb == CLS_INF) or (ca == CLS_ZERO and cb == CLS_ZERO):
        return pack_nan(True, po)
    if ca == CLS_INF:
        return pack_inf(sign, po, mode)
    if cb == CLS_INF or ca == CLS_ZERO:
        return zero_float(sign, po)
    if cb == CLS_ZERO:
        code, flags = pack_inf(sign, po, mode)
        return code, flags | FLAG_INFINITE
    na = bit_length(ma)
    nb = bit_length(mb)
    if na < nb:
        ma <<= uint64(nb - na)
        ea -= nb - na
    else:
        mb <<= uint64(na - nb)
        eb -= na - nb
    if ma < mb:                                   # now mb <= ma < 2 mb: the quotient is in [1, 2)
        ma <<= uint64(1)
        ea -= 1
    nq = result_bits(po, mode, sr_bits)
    q = uint64(0)
    rem = ma
    for _ in range(nq):
        q <<= uint64(1)
        if rem >= mb:
            rem -= mb
            q |= uint64(1)
        rem <<= uint64(1)
    return round_pack(sign, q, ea - eb - (nq - 1), int64(rem != uint64(0)), po, mode, rand, sr_bits,
                      tiny_before)


def sqrt_codes(a, pa, po, mode, rand, sr_bits, tiny_before):
    """sqrt(a) rounded to ``po`` (digit-by-digit integer square root with a remainder)."""
    ca, sa, ma, ea = unpack(a, pa)
    if is_nan_class(ca):
        return pack_nan(ca == CLS_SNAN, po)
    if ca == CLS_ZERO:
        return zero_float(sa, po)
    if sa != 0:
        return pack_nan(True, po)
    if ca == CLS_INF:
        return pack_inf(int64(0), po, mode)
    if ea & 1:                                    # make the exponent even
        ma <<= uint64(1)
        ea -= 1
    pairs = (bit_length(ma) + 1) >> 1             # radicand digits (bit pairs) held by ma
    nr = result_bits(po, mode, sr_bits)
    root = uint64(0)
    rem = uint64(0)
    for i in range(nr):
        digit = uint64(0)
        if i < pairs:
            digit = (ma >> uint64(2 * (pairs - 1 - i))) & uint64(3)
        rem = (rem << uint64(2)) | digit
        trial = (root << uint64(2)) | uint64(1)
        root <<= uint64(1)
        if rem >= trial:
            rem -= trial
            root |= uint64(1)
    sticky = rem != uint64(0)
    if nr < pairs:                                # radicand digits never brought down
        sticky = sticky or (ma & low_mask(2 * (pairs - nr))) != uint64(0)
    return round_pack(int64(0), root, (ea >> 1) + pairs - nr, int64(sticky), po, mode, rand, sr_bits,
                      tiny_before)


def arith_one(op, a, pa, b, pb, c, pc, po, mode, rand, sr_bits, tiny_before):
    """Dispatch one element of ``op`` (OP_*); unused operands are ignored."""
    if op == OP_ADD:
        return add_codes(a, pa, b, pb, 0, po, mode, rand, sr_bits, tiny_before)
    if op == OP_SUB:
        return add_codes(a, pa, b, pb, 1, po, mode, rand, sr_bits, tiny_before)
    if op == OP_MUL:
        return mul_codes(a, pa, b, pb, po, mode, rand, sr_bits, tiny_before)
    if op == OP_DIV:
        return div_codes(a, pa, b, pb, po, mode, rand, sr_bits, tiny_before)
    if op == OP_SQRT:
        return sqrt_codes(a, pa, po, mode, rand, sr_bits, tiny_before)
    return fma_codes(a, pa, b, pb, c, pc, po, mode, rand, sr_bits, tiny_before)
