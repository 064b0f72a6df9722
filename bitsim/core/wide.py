"""128-bit unsigned integers as (hi, lo) pairs of uint64: just what exact products and sums need.

Conventions as in ``bits``: plain integer Python, every shift guarded below 64. "Jam" shifts OR every
bit shifted out into the result's LSB (the sticky bit), which keeps later rounding exact as long as
the LSB lies below every bit the rounding examines.
"""

from numba import int64, uint64

from bitsim.core.bits import bit_length, low_mask, shift_left, shift_right


def mul_64x64(a, b):
    """The full 128-bit product of two uint64: (hi, lo)."""
    mask = uint64(0xFFFFFFFF)
    a0, a1 = a & mask, a >> uint64(32)
    b0, b1 = b & mask, b >> uint64(32)
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> uint64(32)) + (p01 & mask) + (p10 & mask)
    lo = (p00 & mask) | (mid << uint64(32))
    hi = p11 + (p01 >> uint64(32)) + (p10 >> uint64(32)) + (mid >> uint64(32))
    return hi, lo


def bit_length_128(hi, lo):
    """Number of significant bits of (hi, lo)."""
    if hi != uint64(0):
        return 64 + bit_length(hi)
    return bit_length(lo)


def shl_128(hi, lo, n):
    """(hi, lo) << n for 0 <= n < 128 (bits beyond 128 are dropped)."""
    if n == 0:
        return hi, lo
    if n >= 64:
        return shift_left(lo, n - 64), uint64(0)
    return (hi << uint64(n)) | (lo >> uint64(64 - n)), lo << uint64(n)


def shr_jam_128(hi, lo, n):
    """(hi, lo) >> n with every bit shifted out ORed into the LSB, for any n >= 0."""
    if n == 0:
        return hi, lo
    if n >= 128:
        return uint64(0), uint64((hi | lo) != uint64(0))
    if n >= 64:
        lost = (lo != uint64(0)) or ((hi & low_mask(n - 64)) != uint64(0))
        return uint64(0), shift_right(hi, n - 64) | uint64(lost)
    lost = (lo & low_mask(n)) != uint64(0)
    return hi >> uint64(n), ((lo >> uint64(n)) | (hi << uint64(64 - n))) | uint64(lost)


def add_128(ah, al, bh, bl):
    """(ah, al) + (bh, bl) mod 2**128."""
    lo = al + bl
    return ah + bh + uint64(lo < al), lo


def sub_128(ah, al, bh, bl):
    """(ah, al) - (bh, bl) mod 2**128."""
    return ah - bh - uint64(al < bl), al - bl


def less_128(ah, al, bh, bl):
    """(ah, al) < (bh, bl)."""
    return ah < bh or (ah == bh and al < bl)


def narrow_128(hi, lo):
    """(sig, shift, sticky) with (hi, lo) = (sig + s) * 2**shift, sig < 2**63, s in [0, 1), sticky = s != 0."""
    n = bit_length_128(hi, lo)
    if n <= 63:
        return lo, int64(0), int64(0)
    s = n - 63
    if s >= 64:
        sticky = lo != uint64(0) or (hi & low_mask(s - 64)) != uint64(0)
        return shift_right(hi, s - 64), int64(s), int64(sticky)
    sticky = (lo & low_mask(s)) != uint64(0)
    return (lo >> uint64(s)) | (hi << uint64(64 - s)), int64(s), int64(sticky)
