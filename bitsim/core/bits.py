"""Bit helpers on uint64 significands (plain integer Python; compiled by ``bitsim.core.build``).

Conventions: significands are uint64, exponents and counts int64; every shift amount is cast to
uint64 and guarded so that no shift reaches 64 (undefined in LLVM, different in the CUDA simulator).
"""

from numba import int64, uint64


def bit_length(x):
    """Number of significant bits of a uint64 (0 for 0)."""
    n = int64(0)
    if x >> uint64(32):
        n += 32
        x = x >> uint64(32)
    if x >> uint64(16):
        n += 16
        x = x >> uint64(16)
    if x >> uint64(8):
        n += 8
        x = x >> uint64(8)
    if x >> uint64(4):
        n += 4
        x = x >> uint64(4)
    if x >> uint64(2):
        n += 2
        x = x >> uint64(2)
    if x >> uint64(1):
        n += 1
        x = x >> uint64(1)
    return n + int64(x)


def low_mask(n):
    """uint64 with the low n bits set, for 0 <= n <= 64."""
    if n >= 64:
        return ~uint64(0)
    return (uint64(1) << uint64(n)) - uint64(1)


def shift_left(x, n):
    """x << n as uint64, 0 when n >= 64 (the bits beyond 64 are dropped)."""
    if n >= 64:
        return uint64(0)
    return x << uint64(n)


def shift_right(x, n):
    """x >> n as uint64, 0 when n >= 64."""
    if n >= 64:
        return uint64(0)
    return x >> uint64(n)
