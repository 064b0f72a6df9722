"""Encoding one block of a block format from an array (plain integer Python, compiled by
``bitsim.core.build``; every backend's block-encode kernel runs ``encode_block`` per block).

The source arrives flat (C order) as IEEE binary16/32/64 codes, each block as runs of consecutive
elements (``bitsim.blocks.tiling.Layout.runs``): the block's largest magnitude comes from the bits,
then its scale exponent X (``bitsim.core.block.scale_exponent``), then the element codes. ``rule`` is
an int64 tuple laid out by the ``R_*`` indices below (built by ``bitsim.blocks.codec``). Stochastic
rounding uses counter ``offset + b * block_len + j`` for slot j of block b.
"""

from numba import int64, uint64

from bitsim.core.block import qpytorch_bfp_element, scale_exponent
from bitsim.core.convert import convert_scaled
from bitsim.core.fast_encode import encode_fast_biased
from bitsim.core.params import P_BIAS, P_BITS, P_INF, P_MAN, RM_RNE
from bitsim.core.rng import slot_rand, stream_key
from bitsim.core.unpack import unpack

R_REF_SIG = 0        # the scale rule's reference value amax is divided by: sig * 2**exp
R_REF_EXP = 1
R_SCALE_MODE = 2     # rounding of that ratio to a power of two (RM_*)
R_X_MIN = 3          # smallest / largest scale exponent of the scale format
R_X_MAX = 4
R_SCALE_BIAS = 5     # scale code = X + bias
R_SCALE_NAN = 6      # the scale format's NaN code, -1 if it has none
R_SATURATE = 7       # 1: X above R_X_MAX clamps; 0: the block is reported (status 2)
R_PROFILE = 8        # PROFILE_EXACT or PROFILE_QPYTORCH_BFP
R_USE_FAST = 9       # 1 if ``plan`` is a fast-encode plan of (source, element)
R_LEN = 10

PROFILE_EXACT = 0
PROFILE_QPYTORCH_BFP = 1

STATUS_OK = 0
STATUS_NONFINITE = 1   # inf/NaN in the block and no NaN scale
STATUS_SCALE_OVERFLOW = 2


def block_encode_setup(seed, stream, rand, starts, n_blocks, run_len, src_p):
    """(key, use_rand, runs, block_len, mag_mask): what every block of one encode call shares."""
    runs = starts.shape[0] // max(n_blocks, 1)
    mag_mask = (uint64(1) << uint64(src_p[P_BITS] - 1)) - uint64(1)
    return stream_key(uint64(seed), uint64(stream)), rand.shape[0] > 0, runs, runs * run_len, mag_mask


def block_amax(src, starts, lengths, b, runs, mag_mask):
    """The largest magnitude code (sign bit cleared) of block b."""
    amax = int64(0)                         # signed: magnitudes are < 2**63 and AVX2 compares int64 only
    for r in range(int64(b) * runs, int64(b + 1) * runs):
        lo = starts[r]
        for i in range(lo, lo + lengths[r]):
            amax = max(amax, int64(uint64(src[i]) & mag_mask))
    return uint64(amax)


def block_scale(amax, src_p, rule):
    """(X, status) of a block whose largest magnitude code is ``amax`` (finite)."""
    if amax == uint64(0):
        return rule[R_X_MIN], STATUS_OK
    if rule[R_PROFILE] == PROFILE_QPYTORCH_BFP:
        x = int64(amax >> uint64(src_p[P_MAN])) - src_p[P_BIAS]
        x = max(x, -src_p[P_BIAS])
    else:
        _, _, sig, exp = unpack(amax, src_p)
        x = scale_exponent(sig, exp, uint64(rule[R_REF_SIG]), rule[R_REF_EXP], rule[R_SCALE_MODE],
                           rule[R_SCALE_BIAS])
    x = max(x, rule[R_X_MIN])
    if x > rule[R_X_MAX]:
        if rule[R_SATURATE] == 0:
            return x, STATUS_SCALE_OVERFLOW
        x = rule[R_X_MAX]
    return x, STATUS_OK


def fast_run(src, lo, n, k0, plan, bias, mode, use_rand, rand, key, offset, sr_bits, codes):
    """Elements lo .. lo+n-1 (slot counters k0 ...): a loop over consecutive memory that LLVM vectorises."""
    for j in range(n):
        i = lo + j
        r = slot_rand(i, k0 + j, mode, use_rand, rand, key, offset, sr_bits)
        codes[i] = encode_fast_biased(uint64(src[i]), plan, bias, mode, r, sr_bits)


def generic_run(src, lo, n, k0, src_p, elem_p, rule, x, mode, use_rand, rand, key, offset, sr_bits, codes):
    """Elements lo .. lo+n-1 of a block with scale exponent x, each by the core's one rounding (or
    QPyTorch's BFP rule)."""
    elem_mask = (uint64(1) << uint64(elem_p[P_BITS])) - uint64(1)
    for j in range(n):
        i = lo + j
        r = slot_rand(i, k0 + j, mode, use_rand, rand, key, offset, sr_bits)
        if rule[R_PROFILE] == PROFILE_QPYTORCH_BFP:
            _, sign, sig, exp = unpack(uint64(src[i]), src_p)
            k = qpytorch_bfp_element(sign, sig, exp, x, elem_p[P_BITS], mode, r)
            codes[i] = uint64(k) & elem_mask
        else:
            codes[i], _ = convert_scaled(uint64(src[i]), src_p, elem_p, x, mode, r, sr_bits, 0)


def encode_block(b, src, run_len, starts, lengths, src_p, elem_p, rule, plan, mode, sr_bits, key, offset, rand,
                 use_rand, runs, block_len, mag_mask, codes, scales, status):
    """Block b: its scale code into scales[b], its element codes into ``codes``, its STATUS_* into status[b]."""
    amax = block_amax(src, starts, lengths, b, runs, mag_mask)
    x = int64(0)
    if amax >= uint64(src_p[P_INF]):
        if rule[R_SCALE_NAN] < 0:
            status[b] = STATUS_NONFINITE
            return
        scales[b] = rule[R_SCALE_NAN]
    else:
        x, st = block_scale(amax, src_p, rule)
        status[b] = st
        if st != STATUS_OK:
            return
        scales[b] = x + rule[R_SCALE_BIAS]
    bias = elem_p[P_BIAS] - x
    fast = rule[R_USE_FAST] != 0 and bias <= src_p[P_BIAS]
    for r in range(int64(b) * runs, int64(b + 1) * runs):
        lo = starts[r]
        n = lengths[r]
        k0 = int64(b) * block_len + (r - int64(b) * runs) * run_len
        if amax >= uint64(src_p[P_INF]):
            for i in range(lo, lo + n):
                codes[i] = 0
        elif fast and mode == RM_RNE:
            fast_run(src, lo, n, k0, plan, bias, RM_RNE, False, rand, key, offset, sr_bits, codes)
        elif fast:
            fast_run(src, lo, n, k0, plan, bias, mode, use_rand, rand, key, offset, sr_bits, codes)
        else:
            generic_run(src, lo, n, k0, src_p, elem_p, rule, x, mode, use_rand, rand, key, offset, sr_bits, codes)
