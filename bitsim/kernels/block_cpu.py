"""Numba CPU kernel of block-format encoding: one parallel loop over blocks. No fastmath, ever.

The source arrives flat (C order) as IEEE binary16/32/64 codes, each block as runs of consecutive
elements (``bitsim.blocks.tiling.Layout.runs``); the kernel finds each block's largest magnitude from the bits, its scale exponent X, then the element
codes. ``rule`` is an int64 tuple laid out by the ``R_*`` indices below (built by ``bitsim.blocks.codec``).
Stochastic rounding uses counter ``offset + b * block_len + j`` for slot j of block b.
"""

import numba
from numba import int64, prange, uint64

from bitsim.core import build
from bitsim.core.params import P_BIAS, P_BITS, P_INF, P_MAN, RM_RNE, RM_SR

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

_C = build("cpu")
unpack = _C.unpack
scale_exponent = _C.scale_exponent
convert_scaled = _C.convert_scaled
encode_fast_biased = _C.encode_fast_biased
qpytorch_bfp_element = _C.qpytorch_bfp_element
random_bits = _C.random_bits
stream_key = _C.stream_key


@numba.njit(nogil=True)
def _block_amax(src, starts, lengths, b, runs, mag_mask):  # pragma: no cover - compiled
    amax = int64(0)                         # signed: magnitudes are < 2**63 and AVX2 compares int64 only
    for r in range(int64(b) * runs, int64(b + 1) * runs):
        lo = starts[r]
        for i in range(lo, lo + lengths[r]):
            amax = max(amax, int64(uint64(src[i]) & mag_mask))
    return uint64(amax)


@numba.njit(nogil=True)
def _block_scale(amax, src_p, rule):  # pragma: no cover - compiled
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


@numba.njit(nogil=True)
def _slot_rand(i, k, mode, use_rand, rand, key, offset, sr_bits):  # pragma: no cover - compiled
    """SR bits of the element at flat index i in slot k (= b * block_len + j): rand[i] or counter k."""
    if mode != RM_SR:
        return uint64(0)
    if use_rand:
        return uint64(rand[i])
    return random_bits(key, int64(offset) + k, sr_bits)


@numba.njit(nogil=True)
def _fast_run(src, lo, n, k0, plan, bias, mode, use_rand, rand, key, offset, sr_bits, codes):  # pragma: no cover
    """Elements lo .. lo+n-1 (slot counters k0 ...): a loop over consecutive memory that LLVM vectorises."""
    for j in range(n):
        i = lo + j
        r = _slot_rand(i, k0 + j, mode, use_rand, rand, key, offset, sr_bits)
        codes[i] = encode_fast_biased(uint64(src[i]), plan, bias, mode, r, sr_bits)


@numba.njit(nogil=True)
def _generic_run(src, lo, n, k0, src_p, elem_p, rule, x, mode, use_rand, rand, key, offset, sr_bits,
                 codes):  # pragma: no cover - compiled
    elem_mask = (uint64(1) << uint64(elem_p[P_BITS])) - uint64(1)
    for j in range(n):
        i = lo + j
        r = _slot_rand(i, k0 + j, mode, use_rand, rand, key, offset, sr_bits)
        if rule[R_PROFILE] == PROFILE_QPYTORCH_BFP:
            _, sign, sig, exp = unpack(uint64(src[i]), src_p)
            k = qpytorch_bfp_element(sign, sig, exp, x, elem_p[P_BITS], mode, r)
            codes[i] = uint64(k) & elem_mask
        else:
            codes[i], _ = convert_scaled(uint64(src[i]), src_p, elem_p, x, mode, r, sr_bits, 0)


@numba.njit(parallel=True, nogil=True, cache=True)
def block_encode_array(src, run_len, starts, lengths, src_p, elem_p, rule, plan, mode, sr_bits, seed, stream,
                       offset, rand, codes, scales, status):  # pragma: no cover - compiled
    """codes (flat, like src), scales[b], status[b] of every block b, the blocks given as runs of
    consecutive elements (``Layout.runs``)."""
    key = stream_key(uint64(seed), uint64(stream))
    use_rand = rand.shape[0] > 0
    n_blocks = scales.shape[0]
    runs = starts.shape[0] // max(n_blocks, 1)
    block_len = runs * run_len
    mag_mask = (uint64(1) << uint64(src_p[P_BITS] - 1)) - uint64(1)
    for b in prange(n_blocks):
        amax = _block_amax(src, starts, lengths, b, runs, mag_mask)
        x = int64(0)
        if amax >= uint64(src_p[P_INF]):
            if rule[R_SCALE_NAN] < 0:
                status[b] = STATUS_NONFINITE
                continue
            scales[b] = rule[R_SCALE_NAN]
        else:
            x, st = _block_scale(amax, src_p, rule)
            status[b] = st
            if st != STATUS_OK:
                continue
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
                _fast_run(src, lo, n, k0, plan, bias, RM_RNE, False, rand, key, offset, sr_bits, codes)
            elif fast:
                _fast_run(src, lo, n, k0, plan, bias, mode, use_rand, rand, key, offset, sr_bits, codes)
            else:
                _generic_run(src, lo, n, k0, src_p, elem_p, rule, x, mode, use_rand, rand, key, offset, sr_bits,
                             codes)
