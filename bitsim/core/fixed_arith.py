"""Fixed-point arithmetic on code words: add, sub, mul, shift (plain integer Python, compiled by
``bitsim.core.build`` for the CPU and the GPU kernels of ``bitsim.fixed``).

Plain integer scalar functions (uint64 magnitudes, int64 exponents, int64 parameter tuples). Every
result ends in ``round_shifted`` (the rounding decision) and ``round_pack_fixed`` (overflow rule and
code word).

Method. The output quantum is 2**qe (qe = -frac_bits). Each exact result is reduced to its *window*:
the magnitude's bits from 2**(qe-64) up to (excluding) 2**(qe+64) as a 128-bit integer W (64 integer
bits of quanta on top, 64 fraction bits below), a sticky bit for anything nonzero below the window,
and ``huge`` = whether the magnitude is at least 2**(qe+64) (2**64 quanta: beyond every fixed-point
range). A huge magnitude is an overflow, and the window then still holds the magnitude modulo 2**64
quanta, which is all that wrapping keeps. The rounding examines W's top 62 fraction bits (as many as
``sr_bits`` can ask for) and the sticky rest. Products (at most 2**126) and shifted operands are
exact 128-bit integers; sums whose operands' binary points lie at most 64 bits apart are too; a sum
of operands further apart is formed in the window directly (see ``sum_window``).
"""

from numba import int64, uint64

from bitsim.core.bits import bit_length, low_mask, shift_right
from bitsim.core.params import FLAG_INEXACT, FLAG_OVERFLOW, OVF_WRAP, P_MAN, P_OVERFLOW
from bitsim.core.round import round_pack_fixed, round_shifted
from bitsim.core.unpack import unpack_fixed
from bitsim.core.wide import add_128, bit_length_128, less_128, mul_64x64, shl_128, sub_128

OP_ADD = 0
OP_SUB = 1
OP_MUL = 2
OP_SHIFT = 3

WINDOW_FRACTION = 64   # fraction bits of the window below the output quantum
ROUND_BITS = 62        # fraction bits the rounding examines (the most sr_bits may be)


def shr_sticky_128(hi, lo, n):
    """(hi, lo) >> n for n >= 1, and 1 if any bit shifted out was set."""
    if n >= 128:
        return uint64(0), uint64(0), int64((hi | lo) != uint64(0))
    if n >= 64:
        lost = lo != uint64(0) or (hi & low_mask(n - 64)) != uint64(0)
        return uint64(0), shift_right(hi, n - 64), int64(lost)
    lost = (lo & low_mask(n)) != uint64(0)
    return hi >> uint64(n), (lo >> uint64(n)) | (hi << uint64(64 - n)), int64(lost)


def magnitude_window(hi, lo, e, e0):
    """Window of the magnitude (hi, lo) * 2**e at the window LSB 2**e0: (w_hi, w_lo, sticky, huge)."""
    huge = (hi | lo) != uint64(0) and bit_length_128(hi, lo) + e > e0 + 128
    if e - e0 >= 128:                                # every bit lies above the window
        return uint64(0), uint64(0), int64(0), huge
    if e >= e0:
        w_hi, w_lo = shl_128(hi, lo, e - e0)          # modulo 2**128
        return w_hi, w_lo, int64(0), huge
    w_hi, w_lo, sticky = shr_sticky_128(hi, lo, e0 - e)
    return w_hi, w_lo, sticky, huge


def shr_jam_64(m, n):
    """m >> n (n >= 0) with every bit shifted out ORed into the LSB."""
    return shift_right(m, n) | uint64((m & low_mask(n)) != uint64(0))


def compare_pow2(m, e, t):
    """Compare m * 2**e (m > 0) with 2**t: (greater, equal)."""
    top = e + bit_length(m)                          # 2**(top-1) <= m * 2**e < 2**top
    single_bit = (m & (m - uint64(1))) == uint64(0)
    return top > t + 1 or (top == t + 1 and not single_bit), top == t + 1 and single_bit


def signed_sum_128(sa, ma, d, sb, mb):
    """(-1)**sa * ma * 2**d + (-1)**sb * mb exactly, for 0 <= d <= 64: (sign, hi, lo)."""
    a_hi, a_lo = shl_128(uint64(0), ma, d)            # < 2**127, so the sum fits 128 bits
    if sa == sb:
        s_hi, s_lo = add_128(a_hi, a_lo, uint64(0), mb)
        return sa, s_hi, s_lo
    if less_128(a_hi, a_lo, uint64(0), mb):
        s_hi, s_lo = sub_128(uint64(0), mb, a_hi, a_lo)
        return sb, s_hi, s_lo
    s_hi, s_lo = sub_128(a_hi, a_lo, uint64(0), mb)
    return sa, s_hi, s_lo


def far_sum_window(sa, ma, ea, sb, mb, eb, e0):
    """``sum_window`` for ea - eb > 64 and ea >= e0: a lies on the window's grid and |b| <= 2**(ea-2),
    so the sign is a's and the window of |a| +- |b| is |a|'s window +- |b|'s (modulo 2**128; only b has
    bits below the window). Huge iff |a| > 2**(e0+128), or |a| = 2**(e0+128) and b adds to it."""
    a_hi, a_lo, _, _ = magnitude_window(uint64(0), ma, ea, e0)
    b_hi, b_lo, sticky, _ = magnitude_window(uint64(0), mb, eb, e0)
    if sa == sb:
        w_hi, w_lo = add_128(a_hi, a_lo, b_hi, b_lo)
    else:                                             # |a| - (B + s) = (|a| - B - 1) + (1 - s)
        w_hi, w_lo = sub_128(a_hi, a_lo, b_hi, b_lo)
        w_hi, w_lo = sub_128(w_hi, w_lo, uint64(0), uint64(sticky))
    greater, equal = compare_pow2(ma, ea, e0 + 128)
    return sa, w_hi, w_lo, sticky, greater or (equal and sa == sb)


def sum_window(sa, ma, ea, sb, mb, eb, e0):
    """Window of (-1)**sa * ma * 2**ea + (-1)**sb * mb * 2**eb: (sign, w_hi, w_lo, sticky, huge)."""
    if ma == uint64(0):
        return (sb,) + magnitude_window(uint64(0), mb, eb, e0)
    if mb == uint64(0):
        return (sa,) + magnitude_window(uint64(0), ma, ea, e0)
    if ea < eb:                                       # let a be the operand on the coarser grid
        sa, ma, ea, sb, mb, eb = sb, mb, eb, sa, ma, ea
    if ea - eb > 64 and ea < e0:
        # both end below the window: b (below a's LSB by more than 64 bits) only needs to keep its
        # place; OR its low bits into a sticky LSB at 2**(ea-64), far below the window
        mb = shr_jam_64(mb, ea - 64 - eb)
        eb = ea - 64
    if ea - eb > 64:
        return far_sum_window(sa, ma, ea, sb, mb, eb, e0)
    sign, s_hi, s_lo = signed_sum_128(sa, ma, ea - eb, sb, mb)
    return (sign,) + magnitude_window(s_hi, s_lo, eb, e0)


def round_window(sign, w_hi, w_lo, sticky, huge, po, mode, rand, sr_bits):
    """Round a window (see the module doc) to the fixed-point format ``po``: (code, flags).

    ``round_shifted`` decides on the LSB of the integer part and the top ROUND_BITS fraction bits;
    the rounded integer (modulo 2**64) then goes to ``round_pack_fixed`` exactly, which applies the
    range of ``po`` (a huge magnitude is passed as 2**64 - 1 to saturate, or kept modulo 2**64 to wrap).
    """
    parity = w_hi & uint64(1)
    sig = (parity << uint64(ROUND_BITS)) | (w_lo >> uint64(WINDOW_FRACTION - ROUND_BITS))
    below = int64(sticky != 0 or (w_lo & low_mask(WINDOW_FRACTION - ROUND_BITS)) != uint64(0))
    kept, inexact = round_shifted(sig, ROUND_BITS, below, sign, mode, rand, sr_bits, uint64(0))
    base = w_hi - parity
    k = base + kept
    huge = huge or k < base                          # rounded up to 2**64 quanta
    if huge and po[P_OVERFLOW] != OVF_WRAP:
        k = ~uint64(0)
    code, flags = round_pack_fixed(sign, k, -po[P_MAN], int64(0), po, mode, rand, sr_bits)
    if inexact != 0:
        flags |= FLAG_INEXACT
    if huge:
        flags |= FLAG_OVERFLOW | FLAG_INEXACT
    return code, flags


def fixed_one(op, a, pa, b, pb, po, n, mode, rand, sr_bits):
    """One element: op (OP_*) on codes a (format pa) and b (pb; unused by OP_SHIFT, which scales a by
    2**n) rounded to the format po: (code, flags)."""
    _, sa, ma, ea = unpack_fixed(a, pa)
    e0 = -po[P_MAN] - WINDOW_FRACTION
    if op == OP_SHIFT:
        sign = sa
        w_hi, w_lo, sticky, huge = magnitude_window(uint64(0), ma, ea + n, e0)
    else:
        _, sb, mb, eb = unpack_fixed(b, pb)
        if op == OP_MUL:
            sign = sa ^ sb
            p_hi, p_lo = mul_64x64(ma, mb)
            w_hi, w_lo, sticky, huge = magnitude_window(p_hi, p_lo, ea + eb, e0)
        else:
            if op == OP_SUB:
                sb = 1 - sb
            sign, w_hi, w_lo, sticky, huge = sum_window(sa, ma, ea, sb, mb, eb, e0)
    return round_window(sign, w_hi, w_lo, sticky, huge, po, mode, rand, sr_bits)
