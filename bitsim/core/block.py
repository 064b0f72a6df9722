"""Shared-scale arithmetic of block formats (plain integer Python, compiled by ``bitsim.core.build``).

A block stores element codes and one power-of-two scale 2**X. ``scale_exponent`` picks X from the
block's largest magnitude; elements are then ``convert_scaled(code, src, element, X, ...)``, i.e. the
input divided by 2**X exactly and rounded once. ``qpytorch_bfp_element`` is the one element rule that
is not a correct rounding: QPyTorch's block floating point, replayed in integers.
"""

from numba import int64, uint64

from bitsim.core.bits import bit_length, shift_right
from bitsim.core.params import RM_RNA, RM_RNE, RM_RTO, RM_RUP, RM_SR
from bitsim.core.round import round_shifted


def scale_exponent(a_sig, a_exp, r_sig, r_exp, mode, scale_bias):
    """The ratio (a_sig * 2**a_exp) / (r_sig * 2**r_exp) of two positive values, rounded to a power of
    two 2**X in ``mode``; returns X.

    rtz/rdn round down (floor of log2), rup up (ceil), rne/rna to the nearer of 2**k and 2**(k+1) (the
    tie is 1.5 * 2**k: rna takes 2**(k+1), rne the one whose scale code X + scale_bias is even), rto
    takes the one with the odd code when the ratio is not a power of two. a_sig, r_sig: 1 .. 2**53.
    """
    la = bit_length(a_sig)
    lr = bit_length(r_sig)
    width = max(la, lr)
    num = a_sig << uint64(width - la)               # both significands aligned to the same width
    den = r_sig << uint64(width - lr)
    k = a_exp + la - r_exp - lr                     # floor(log2(ratio)) when num >= den
    if num < den:
        k -= 1
        num = num << uint64(1)                      # now 1 <= num/den < 2
    if num == den:
        return k
    if mode == RM_RUP:
        return k + 1
    if mode == RM_RNE or mode == RM_RNA:
        twice = num << uint64(1)
        three = den * uint64(3)
        if twice != three:
            return k + 1 if twice > three else k
        if mode == RM_RNA or ((k + scale_bias) & 1) != 0:
            return k + 1
        return k
    if mode == RM_RTO:
        return k if ((k + scale_bias) & 1) != 0 else k + 1
    return k


def qpytorch_bfp_element(sign, sig, exp, shared_exp, wl, mode, rand):
    """QPyTorch's block floating point element, replayed exactly in integers; returns the integer k
    (value k * 2**(shared_exp + 2 - wl), |k| <= 2**(wl-1) - 1).

    The reference computes the float32 sum s = x + 6 * 2**E (so s lies in [4, 8) * 2**E and its ULP is
    u = 2**(E-21)), rounds s's bit pattern to ``wl`` mantissa bits by adding half of the discarded
    range (``mode`` rna; ties therefore go toward +inf in value) or ``rand`` < 2**(23-wl) (``mode`` sr),
    truncates, subtracts 6 * 2**E and clips. Adding x to 6 * 2**E rounds x to the ULP u first (ties to
    even), which is the double rounding reproduced here. 2 <= wl <= 22.
    """
    shift = shared_exp - 21 - exp                   # x / u = sig * 2**-shift
    t, _ = round_shifted(sig, shift, int64(0), sign, RM_RNE, uint64(0), int64(1), uint64(0))
    s_units = uint64(6) << uint64(21)               # 6 * 2**E in units of u
    s_units = s_units - t if sign != 0 else s_units + t
    drop = 23 - wl
    if mode == RM_SR:
        s_units += rand
    else:
        s_units += uint64(1) << uint64(drop - 1)
    k = int64(shift_right(s_units, drop)) - (int64(3) << (wl - 1))
    limit = (int64(1) << (wl - 1)) - 1
    return max(min(k, limit), -limit)
