"""Sequential float accumulation on an integer grid: the rounding steps of the CPU and GPU fast paths.

When the accumulator format and every product are integer multiples of one quantum 2**q and stay below
2**61 of it, a FloatAcc's running sum is an int64 count of quanta (``bitsim.kernels.float_acc_fast``
says when). Each step adds the product's exact value and rounds the sum to the accumulator's precision
(``lane_step``): the single rounding the core's ``fma_codes`` performs, in a few integer operations.
The GPU holds the same count in a float64 and rounds it on the float64's words (``f64_round_hi``).
"""

from numba import int64, uint32, uint64

from bitsim.core.bits import bit_length
from bitsim.core.convert import convert_one
from bitsim.core.params import RM_RDN, RM_RNA, RM_RNE, RM_RTO, RM_RUP
from bitsim.core.round import round_pack, zero_float


def lane_step(s, p, mode, keep, q_low):
    """(v = s + p rounded on the grid, v's magnitude bound, v's dropped bits): drop
    d = max(bit_length - keep, q_low) >= 1 bits.

    Works on the two's complement v, where each mode is one biased arithmetic shift (floor): RNE adds
    half - 1 plus the kept lsb, RNA half (half - 1 below zero), RUP step - 1, RDN nothing, RTZ step - 1
    below zero. The bit length is that of v ^ (v >> 63), which is |v| - 1 below zero: one less only when
    |v| is a power of two, which every d in reach keeps exactly. The bound is |rounded| (|rounded| - 1
    below zero)."""
    v = s + p
    below = v >> int64(63)                                  # -1 below zero, else 0
    floor = uint64(1) << uint64(q_low + keep - 1)           # bit length >= q_low + keep: d >= q_low
    d = bit_length(uint64(v ^ below) | floor) - keep
    step = int64(1) << d
    half = step >> int64(1)
    if mode == RM_RNE:
        bias = half - int64(1) + ((v >> d) & int64(1))
    elif mode == RM_RNA:
        bias = half + below
    elif mode == RM_RUP:
        bias = step - int64(1)
    elif mode == RM_RDN:
        bias = int64(0)
    else:                                                   # RTZ, and RTO's truncation
        bias = (step - int64(1)) & below
    rounded = ((v + bias) >> d) << d
    rem = uint64(v & (step - int64(1)))
    if mode == RM_RTO and rem != uint64(0) and ((rounded >> d) & int64(1)) == int64(0):
        rounded += (step ^ below) - below                  # |rounded| + step: the odd neighbour
    return rounded, uint64(rounded ^ (rounded >> int64(63))), rem


def f64_round_hi(hi, lo, mode, sh):
    """A float64 given by its words (hi, lo), its magnitude rounded by ``mode`` (RNE .. RTO; the sign
    bit chooses the direction of rup/rdn) to the bits of hi above bit sh: sign, exponent and 20 - sh
    fraction bits, 1 <= sh <= 20. Returns (rounded hi word, whose lo word is 0; the dropped bits ORed,
    nonzero when the rounding was inexact). A carry out of the fraction steps the exponent: the
    rounding up to the next power of two. The caller keeps the value away from the float64 range's ends.

    Written on 32-bit words, so that a GPU spends one 32-bit operation per step: the float64 lanes of
    ``bitsim.kernels.cuda.float_acc_lanes_kernel`` add exactly in float64 and round here; it agrees
    with ``lane_step`` on every value of their domain (tests/test_grid.py)."""
    one = uint32(1)
    mask = uint32((one << uint32(sh)) - one)
    rem = uint32((hi & mask) | lo)
    tail = uint32(lo != uint32(0))
    negative = (hi >> uint32(31)) != uint32(0)
    if mode == RM_RNE:                                      # half - 1, plus 1 if the kept lsb is odd or lo
        up = uint32((mask >> one) + (((hi >> uint32(sh)) & one) | tail))   # holds a bit: ties go to even
    elif mode == RM_RNA:
        up = uint32((mask >> one) + one)
    elif (mode == RM_RUP and not negative) or (mode == RM_RDN and negative):
        up = uint32(mask + tail)                            # away from zero when anything was dropped
    else:                                                   # RTZ, RTO, and rup/rdn towards zero
        up = uint32(0)
    rounded = uint32((hi + up) & ~mask)
    if mode == RM_RTO and rem != uint32(0):
        rounded = uint32(rounded | (mask + one))            # truncated, then the odd neighbour
    return rounded, rem


def zero_sign_rule(s0, s0_neg, mode):
    """(usual, undecided) for a chain from s0 (zero sign s0_neg) that ended at an exact zero without any
    nonzero sum rounding to zero. IEEE 754 gives the usual sign (+0; -0 under rdn) unless the start and
    every product are zeros of the other sign: undecided says whether the products must be looked at."""
    usual = int64(mode == RM_RDN)
    return usual, s0 == 0 and s0_neg != usual


def grid_zero_sign(A, BT, ta, na, tb, nb, i, j, K, s0, s0_neg, mode):
    """The sign of an exact-zero end of output (i, j)'s chain (``zero_sign_rule``): rows A[i] and BT[j] are
    codes, ta/tb their values and na/nb their signs per code."""
    usual, undecided = zero_sign_rule(s0, s0_neg, mode)
    if not undecided:
        return usual
    for k in range(K):
        a = A[i, k]
        b = BT[j, k]
        if ta[a] * tb[b] != 0 or int64(na[a] ^ nb[b]) == usual:
            return usual
    return int64(1) - usual


def grid_finish(s, s_neg, f, final, p_acc, q, po, mode_out):
    """(code, flags) of an output whose grid chain ended with (s quanta of 2**q, zero sign s_neg, flags f,
    final accumulator code or -1), converted to the output format ``po``."""
    if final >= 0:
        acc_code = uint64(final)
    elif s == 0:
        acc_code, _ = zero_float(s_neg, p_acc)
    else:
        mag = uint64(-s) if s < 0 else uint64(s)
        acc_code, _ = round_pack(int64(s < 0), mag, q, int64(0), p_acc, RM_RNE, uint64(0), int64(1),
                                 int64(0))
    code, f2 = convert_one(acc_code, p_acc, po, mode_out, uint64(0), int64(1), int64(0))
    return code, f | f2
