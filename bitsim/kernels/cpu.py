"""Numba CPU array kernels: parallel loops over the compiled scalar core. No fastmath, ever.

Arrays arrive flat and contiguous, already in their final dtypes (views are made in Python: Numba
0.68 loses writes through ``out.view`` inside ``parallel=True`` functions).
"""

import numba
from numba import int64, prange, uint64

from bitsim.core import build
from bitsim.core.params import RM_SR

_C = build("cpu")
convert_one = _C.convert_one
stream_key = _C.stream_key
random_bits = _C.random_bits


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
        r = uint64(0)
        if mode == RM_SR:
            if use_rand:
                r = uint64(rand[i])
            else:
                r = random_bits(key, int64(offset) + i, sr_bits)
        code, f = convert_one(uint64(src[i]), src_p, dst_p, mode, r, sr_bits, tiny_before)
        out[i] = code
        if want_flags:
            flags[i] = f
