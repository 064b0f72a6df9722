"""Accumulator steps of dot-product units (plain integer Python, compiled by ``bitsim.core.build``).

Float accumulators reuse the arithmetic core: a FloatAcc step is ``fma_codes(a, b, s)`` (exact product,
one rounding into the accumulator format) and a chunk sum enters the outer accumulator through
``add_codes``. Fixed-point registers (Kulisch and integer accumulators) are 128-bit two's complement
(hi, lo) pairs in units of 2**-frac of which the low ``width`` bits are the register (width <= 127):
every product or addend is added exactly, then overflow is checked (raise / wrap / saturate).
Non-finite terms are tracked beside the register in ``specials`` bits (SP_*).
"""

from numba import int64, uint64

from bitsim.core.bits import low_mask, shift_left, shift_right
from bitsim.core.convert import pack_inf, pack_nan
from bitsim.core.round import round_pack
from bitsim.core.unpack import CLS_FINITE, CLS_INF, CLS_QNAN, CLS_SNAN, CLS_ZERO, unpack
from bitsim.core.wide import add_128, bit_length_128, mul_64x64, narrow_128, shl_128, sub_128

REG_OVF_RAISE = 0
REG_OVF_WRAP = 1
REG_OVF_SATURATE = 2

SP_NAN = 1           # a NaN term or 0 x inf
SP_POS_INF = 2
SP_NEG_INF = 4

ST_OK = 0
ST_OVERFLOW = 1      # the register overflowed with REG_OVF_RAISE
ST_OFF_GRID = 2      # a term is not a multiple of the register's quantum 2**-frac


def negate_128(hi, lo):
    """-(hi, lo) mod 2**128."""
    return sub_128(uint64(0), uint64(0), hi, lo)


def register_bound(sign, width):
    """The register's extreme: -2**(width-1) (sign 1) or 2**(width-1) - 1 (sign 0), as (hi, lo)."""
    h, l_ = shl_128(uint64(0), uint64(1), width - 1)
    if sign != 0:
        return negate_128(h, l_)
    return sub_128(h, l_, uint64(0), uint64(1))


def register_fits(hi, lo, width):
    """Whether a 128-bit two's complement value lies in the ``width``-bit range (width <= 127)."""
    neg = (hi >> uint64(63)) != uint64(0)
    top_hi, top_lo = sar_128(hi, lo, width - 1)    # the sign bit and everything above it
    if neg:
        return top_hi == ~uint64(0) and top_lo == ~uint64(0)
    return top_hi == uint64(0) and top_lo == uint64(0)


def sar_128(hi, lo, n):
    """Arithmetic right shift of a 128-bit two's complement value by 0 <= n < 128: (hi, lo)."""
    if n == 0:
        return hi, lo
    fill = ~uint64(0) if (hi >> uint64(63)) != uint64(0) else uint64(0)
    if n >= 64:
        return fill, (hi >> uint64(n - 64)) | shift_left(fill, 128 - n)
    return (hi >> uint64(n)) | shift_left(fill, 64 - n), (lo >> uint64(n)) | (hi << uint64(64 - n))


def register_add(hi, lo, sign, mhi, mlo, shift, width, overflow):
    """Add (-1)**sign * (mhi, mlo) * 2**shift (shift >= 0, register units) to the register, then apply
    the overflow rule; returns (hi, lo, overflowed)."""
    if bit_length_128(mhi, mlo) + shift > 126:     # |term| >= 2**126: beyond every register (width <= 127)
        if overflow == REG_OVF_SATURATE:
            h, l_ = register_bound(sign, width)
            return h, l_, True
        if overflow == REG_OVF_RAISE:
            return hi, lo, True
    th, tl = shl_128(mhi, mlo, shift) if shift < 128 else (uint64(0), uint64(0))
    if sign != 0:
        th, tl = negate_128(th, tl)
    hi, lo = add_128(hi, lo, th, tl)
    if register_fits(hi, lo, width):
        return hi, lo, False
    if overflow == REG_OVF_SATURATE:
        h, l_ = register_bound(hi >> uint64(63), width)
        return h, l_, True
    if overflow == REG_OVF_WRAP:                   # keep the low width bits, sign-extended
        h, l_ = shl_128(hi, lo, 128 - width)
        h, l_ = sar_128(h, l_, 128 - width)
        return h, l_, True
    return hi, lo, True



def register_add_integer(hi, lo, total, shift, width, overflow, status):
    """(hi, lo, status) after one addition of the signed int64 ``total`` * 2**shift register units under
    the overflow rule; status becomes ST_OVERFLOW at the first overflow under REG_OVF_RAISE."""
    negative = total < 0
    magnitude = uint64(-total) if negative else uint64(total)
    hi, lo, ovf = register_add(hi, lo, int64(negative), uint64(0), magnitude, shift, width, overflow)
    if ovf and overflow == REG_OVF_RAISE and status == 0:
        status = int64(ST_OVERFLOW)
    return hi, lo, status

def shr_exact_128(hi, lo, n):
    """(hi, lo) >> n and whether no set bit was shifted out, for n >= 1."""
    if n >= 128:
        return uint64(0), uint64(0), hi == uint64(0) and lo == uint64(0)
    if n >= 64:
        lost = lo != uint64(0) or (hi & low_mask(n - 64)) != uint64(0)
        return uint64(0), shift_right(hi, n - 64), not lost
    lost = (lo & low_mask(n)) != uint64(0)
    return hi >> uint64(n), (lo >> uint64(n)) | (hi << uint64(64 - n)), not lost


def register_term(hi, lo, specials, status, sign, cls, mhi, mlo, exp, frac, width, overflow):
    """One term (sign, class, 128-bit magnitude * 2**exp) into the register: (hi, lo, specials, status)."""
    if cls == CLS_QNAN or cls == CLS_SNAN:
        return hi, lo, specials | SP_NAN, status
    if cls == CLS_INF:
        return hi, lo, specials | (SP_NEG_INF if sign != 0 else SP_POS_INF), status
    if cls != CLS_FINITE:
        return hi, lo, specials, status
    shift = exp + frac
    if shift < 0:
        mhi, mlo, on_grid = shr_exact_128(mhi, mlo, -shift)
        if not on_grid:
            return hi, lo, specials, ST_OFF_GRID
        shift = int64(0)
    hi, lo, ovf = register_add(hi, lo, sign, mhi, mlo, shift, width, overflow)
    if ovf and overflow == REG_OVF_RAISE:
        return hi, lo, specials, ST_OVERFLOW
    return hi, lo, specials, status


def product_term(a, pa, b, pb):
    """(sign, class, hi, lo, exp) of the exact product of two codes (class CLS_QNAN for 0 x inf)."""
    ca, sa, ma, ea = unpack(a, pa)
    cb, sb, mb, eb = unpack(b, pb)
    sign = sa ^ sb
    if ca == CLS_QNAN or ca == CLS_SNAN or cb == CLS_QNAN or cb == CLS_SNAN:
        return sign, CLS_QNAN, uint64(0), uint64(0), int64(0)
    if ca == CLS_INF or cb == CLS_INF:
        if ca == CLS_ZERO or cb == CLS_ZERO:
            return sign, CLS_QNAN, uint64(0), uint64(0), int64(0)
        return sign, CLS_INF, uint64(0), uint64(0), int64(0)
    if ca == CLS_ZERO or cb == CLS_ZERO:
        return sign, CLS_ZERO, uint64(0), uint64(0), int64(0)
    hi, lo = mul_64x64(ma, mb)
    return sign, CLS_FINITE, hi, lo, ea + eb


def special_result(specials, po, mode):
    """NaN for a NaN term or +inf with -inf, else the infinity of the infinite terms, in ``po``."""
    if (specials & SP_NAN) != 0 or ((specials & SP_POS_INF) != 0 and (specials & SP_NEG_INF) != 0):
        return pack_nan(False, po)
    return pack_inf(int64(1) if (specials & SP_NEG_INF) != 0 else int64(0), po, mode)


def register_result(hi, lo, specials, frac, po, mode):
    """Round the register (or its special outcome) once to the float or fixed format ``po``: (code,
    flags). A zero register is +0 (a fixed-point register has no negative zero)."""
    if specials != 0:
        return special_result(specials, po, mode)
    sign = int64(hi >> uint64(63))
    if sign != 0:
        hi, lo = negate_128(hi, lo)
    sig, shift, sticky = narrow_128(hi, lo)
    return round_pack(sign, sig, shift - frac, sticky, po, mode, uint64(0), int64(1), int64(0))
