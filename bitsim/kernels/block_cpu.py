"""Numba CPU kernel of block-format encoding: one parallel loop over blocks. No fastmath, ever.

The source arrives flat (C order) as IEEE binary16/32/64 codes, with the tiling's slot map
(``bitsim.blocks.tiling.Layout.slot_sources``); the kernel finds each block's largest magnitude from the bits, its scale exponent X, then the element
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
def _source(slots, use_slots, b, j, block_len):  # pragma: no cover - compiled
    """Flat element index of slot j of block b (-1: padding)."""
    k = int64(b) * block_len + j
    return slots[k] if use_slots else k


@numba.njit(nogil=True)
def _block_amax(src, slots, use_slots, b, block_len, mag_mask):  # pragma: no cover - compiled
    amax = uint64(0)
    lo = int64(b) * block_len
    if use_slots:
        for k in range(lo, lo + block_len):
            i = slots[k]
            if i >= 0:
                amax = max(amax, uint64(src[i]) & mag_mask)
    else:
        for i in range(lo, lo + block_len):
            amax = max(amax, uint64(src[i]) & mag_mask)
    return amax


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
def _fast_elements(src, slots, use_slots, b, block_len, plan, bias, mode, use_rand, rand, key, offset, sr_bits,
                   codes):  # pragma: no cover - compiled
    lo = int64(b) * block_len
    if use_slots:
        for k in range(lo, lo + block_len):
            i = slots[k]
            if i >= 0:
                r = _slot_rand(i, k, mode, use_rand, rand, key, offset, sr_bits)
                codes[i] = encode_fast_biased(uint64(src[i]), plan, bias, mode, r, sr_bits)
    else:                                   # consecutive runs: a loop LLVM vectorises
        for i in range(lo, lo + block_len):
            r = _slot_rand(i, i, mode, use_rand, rand, key, offset, sr_bits)
            codes[i] = encode_fast_biased(uint64(src[i]), plan, bias, mode, r, sr_bits)


@numba.njit(parallel=True, nogil=True, cache=True)
def block_encode_array(src, slots, n_blocks, block_len, src_p, elem_p, rule, plan, mode, sr_bits, seed, stream,
                       offset, rand, codes, scales, status):  # pragma: no cover - compiled
    """codes (flat, like src), scales[b], status[b] of every block b; ``slots`` maps block slots to flat
    element indices (``Layout.slot_sources``; empty: block b is elements b*block_len ... in order)."""
    key = stream_key(uint64(seed), uint64(stream))
    use_rand = rand.shape[0] > 0
    use_slots = slots.shape[0] > 0
    mag_mask = (uint64(1) << uint64(src_p[P_BITS] - 1)) - uint64(1)
    elem_mask = (uint64(1) << uint64(elem_p[P_BITS])) - uint64(1)
    for b in prange(n_blocks):
        amax = _block_amax(src, slots, use_slots, b, block_len, mag_mask)
        if amax >= uint64(src_p[P_INF]):
            for j in range(block_len):
                i = _source(slots, use_slots, b, j, block_len)
                if i >= 0:
                    codes[i] = 0
            if rule[R_SCALE_NAN] < 0:
                status[b] = STATUS_NONFINITE
                continue
            scales[b] = rule[R_SCALE_NAN]
            status[b] = STATUS_OK
            continue
        x, st = _block_scale(amax, src_p, rule)
        status[b] = st
        if st != STATUS_OK:
            continue
        scales[b] = x + rule[R_SCALE_BIAS]
        bias = elem_p[P_BIAS] - x
        if rule[R_USE_FAST] != 0 and bias <= src_p[P_BIAS]:
            if mode == RM_RNE:
                _fast_elements(src, slots, use_slots, b, block_len, plan, bias, RM_RNE, False, rand, key, offset,
                               sr_bits, codes)
            else:
                _fast_elements(src, slots, use_slots, b, block_len, plan, bias, mode, use_rand, rand, key, offset,
                               sr_bits, codes)
            continue
        for j in range(block_len):
            i = _source(slots, use_slots, b, j, block_len)
            if i < 0:
                continue
            r = _slot_rand(i, int64(b) * block_len + j, mode, use_rand, rand, key, offset, sr_bits)
            if rule[R_PROFILE] == PROFILE_QPYTORCH_BFP:
                _, sign, sig, exp = unpack(uint64(src[i]), src_p)
                k = qpytorch_bfp_element(sign, sig, exp, x, elem_p[P_BITS], mode, r)
                codes[i] = uint64(k) & elem_mask
            else:
                codes[i], _ = convert_scaled(uint64(src[i]), src_p, elem_p, x, mode, r, sr_bits, 0)
