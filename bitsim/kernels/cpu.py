"""Numba CPU array kernels: parallel loops over the compiled scalar core. No fastmath, ever.

Arrays arrive flat and contiguous, already in their final dtypes (views are made in Python: Numba
0.68 loses writes through ``out.view`` inside ``parallel=True`` functions).
"""

import numba
from numba import int64, prange, uint64

from bitsim.core import build
from bitsim.core.fast_encode import FE_DST_BIAS, FE_SAME_EXP
from bitsim.core.params import RM_RDN, RM_RNA, RM_RNE, RM_RTO, RM_RTZ, RM_RUP, RM_SR

_C = build("cpu")
convert_one = _C.convert_one
stream_key = _C.stream_key
random_bits = _C.random_bits
element_rand = _C.element_rand


@numba.njit(parallel=True, nogil=True, cache=True)
def convert_array(src, src_p, dst_p, mode, sr_bits, seed, stream, offset, rand, tiny_before,
                  out, flags):  # pragma: no cover - compiled
    """out[i], flags[i] = convert(src[i]); SR bits come from ``rand`` if it is non-empty, else from the
    counter-based generator keyed by (seed, stream, offset + i). ``flags`` may be empty (not wanted)."""
    n = src.shape[0]
    key = stream_key(uint64(seed), uint64(stream))
    use_rand = rand.shape[0] > 0
    want_flags = flags.shape[0] > 0
    for i in prange(n):
        r = element_rand(i, mode, use_rand, rand, key, offset, sr_bits)
        code, f = convert_one(uint64(src[i]), src_p, dst_p, mode, r, sr_bits, tiny_before)
        out[i] = code
        if want_flags:
            flags[i] = f


@numba.njit(parallel=True, nogil=True, cache=True)
def counter_bits_array(seed, stream, offset, bits, out):  # pragma: no cover - compiled
    """out[i] = the generator's ``bits`` random bits for counter offset + i (what SR draws for element i)."""
    key = stream_key(uint64(seed), uint64(stream))
    for i in prange(out.shape[0]):
        out[i] = random_bits(key, int64(offset) + i, bits)


encode_same_exponent = _C.encode_same_exponent
encode_fast_biased = _C.encode_fast_biased
FAST_CHUNK = 1 << 14


@numba.njit(nogil=True, inline="always")
def _element_rand(i, mode, key, offset, rand, sr_bits, use_rand):  # pragma: no cover - compiled
    """Element i's SR bits (0 for the other modes)."""
    if mode != RM_SR:
        return uint64(0)
    return uint64(rand[i]) if use_rand else random_bits(key, int64(offset) + i, sr_bits)


@numba.njit(nogil=True)
def _encode_fast_chunk(src, lo, hi, plan, mode, key, offset, rand, sr_bits, use_rand,
                       out):  # pragma: no cover - compiled
    """out[lo:hi] = encode_fast(src[lo:hi]); compiled into callers that pass ``mode``/``use_rand`` as constants.
    The plan's two cases (``FE_SAME_EXP``) are two loops, so that each stays branch-free."""
    if plan[FE_SAME_EXP] != 0:
        for i in range(lo, hi):
            r = _element_rand(i, mode, key, offset, rand, sr_bits, use_rand)
            out[i] = encode_same_exponent(uint64(src[i]), plan, mode, r, sr_bits)
    else:
        for i in range(lo, hi):
            r = _element_rand(i, mode, key, offset, rand, sr_bits, use_rand)
            out[i] = encode_fast_biased(uint64(src[i]), plan, plan[FE_DST_BIAS], mode, r, sr_bits)


@numba.njit(parallel=True, nogil=True, cache=True)
def encode_fast_array(src, plan, mode, sr_bits, seed, stream, offset, rand, out):  # pragma: no cover - compiled
    """``convert_array`` without flags for a ``plans.fast_encode_plan`` case: same codes, vectorised.

    Each branch below passes the mode as a literal so that LLVM compiles one branch-free loop per mode.
    """
    n = src.shape[0]
    key = stream_key(uint64(seed), uint64(stream))
    use_rand = rand.shape[0] > 0
    for c in prange((n + FAST_CHUNK - 1) // FAST_CHUNK):
        lo = c * FAST_CHUNK
        hi = min(lo + FAST_CHUNK, n)
        if mode == RM_RNE:
            _encode_fast_chunk(src, lo, hi, plan, RM_RNE, key, offset, rand, sr_bits, False, out)
        elif mode == RM_RNA:
            _encode_fast_chunk(src, lo, hi, plan, RM_RNA, key, offset, rand, sr_bits, False, out)
        elif mode == RM_RTZ:
            _encode_fast_chunk(src, lo, hi, plan, RM_RTZ, key, offset, rand, sr_bits, False, out)
        elif mode == RM_RUP:
            _encode_fast_chunk(src, lo, hi, plan, RM_RUP, key, offset, rand, sr_bits, False, out)
        elif mode == RM_RDN:
            _encode_fast_chunk(src, lo, hi, plan, RM_RDN, key, offset, rand, sr_bits, False, out)
        elif mode == RM_RTO:
            _encode_fast_chunk(src, lo, hi, plan, RM_RTO, key, offset, rand, sr_bits, False, out)
        elif use_rand:
            _encode_fast_chunk(src, lo, hi, plan, RM_SR, key, offset, rand, sr_bits, True, out)
        else:
            _encode_fast_chunk(src, lo, hi, plan, RM_SR, key, offset, rand, sr_bits, False, out)


arith_one = _C.arith_one
compare_one = _C.compare_one


@numba.njit(parallel=True, nogil=True, cache=True)
def arith_array(op, a, pa, b, pb, c, pc, po, mode, sr_bits, seed, stream, offset, rand, tiny_before,
                out, flags):  # pragma: no cover - compiled
    """out[i], flags[i] = op(a[i], b[i], c[i]) (``bitsim.core.arith`` OP_*); operands the op does not
    use may be length-1 dummies. SR bits as in ``convert_array``."""
    n = out.shape[0]
    key = stream_key(uint64(seed), uint64(stream))
    use_rand = rand.shape[0] > 0
    nb = b.shape[0]
    nc = c.shape[0]
    for i in prange(n):
        r = element_rand(i, mode, use_rand, rand, key, offset, sr_bits)
        jb = int64(i) if nb == n else int64(0)
        jc = int64(i) if nc == n else int64(0)
        code, f = arith_one(op, uint64(a[i]), pa, uint64(b[jb]), pb, uint64(c[jc]), pc, po, mode, r, sr_bits,
                            tiny_before)
        out[i] = code
        flags[i] = f


@numba.njit(parallel=True, nogil=True, cache=True)
def compare_array(op, a, b, p, out, flags):  # pragma: no cover - compiled
    """out[i], flags[i] = op(a[i], b[i]) (``bitsim.core.compare`` CMP_*/SEL_*)."""
    for i in prange(out.shape[0]):
        code, f = compare_one(op, uint64(a[i]), uint64(b[i]), p)
        out[i] = code
        flags[i] = f


@numba.njit(parallel=True, nogil=True, cache=True)
def pair_table_array(a, b, b_bits, table, table_flags, out, flags):  # pragma: no cover - compiled
    """out[i], flags[i] = table[(a[i] << b_bits) | b[i]]: a binary op on narrow codes by lookup."""
    for i in prange(out.shape[0]):
        j = (int64(a[i]) << b_bits) | int64(b[i])
        out[i] = table[j]
        flags[i] = table_flags[j]


@numba.njit(parallel=True, nogil=True, cache=True)
def code_table_array(a, table, table_flags, out, flags):  # pragma: no cover - compiled
    """out[i], flags[i] = table[a[i]]: a unary op on narrow codes by lookup."""
    for i in prange(out.shape[0]):
        out[i] = table[a[i]]
        flags[i] = table_flags[a[i]]


@numba.njit(parallel=True, nogil=True, cache=True)
def fma_table_array(a, b, c, b_bits, prod, prod_flags, c_bits, total, total_flags, out,
                    flags):  # pragma: no cover - compiled
    """fma by two lookups: p = prod[(a << b_bits) | b] (exact), out = total[(p << c_bits) | c]."""
    for i in prange(out.shape[0]):
        j = (int64(a[i]) << b_bits) | int64(b[i])
        k = (int64(prod[j]) << c_bits) | int64(c[i])
        out[i] = total[k]
        flags[i] = total_flags[k] | prod_flags[j]
