"""Numba CPU kernel of block-format encoding: one parallel loop over blocks, each encoded by the
shared ``bitsim.core.block_encode.encode_block``. No fastmath, ever."""

import numba
from numba import prange, uint64

from bitsim.core import build
from bitsim.core.params import P_BITS

_C = build("cpu")
stream_key = _C.stream_key
encode_block = _C.encode_block


@numba.njit(parallel=True, nogil=True, cache=True)
def block_encode_array(src, run_len, starts, lengths, src_p, elem_p, rule, plan, mode, sr_bits, seed, stream,
                       offset, rand, codes, scales, status):  # pragma: no cover - compiled
    """codes (flat, like src), scales[b], status[b] (zero on entry) of every block b, the blocks given as
    runs of consecutive elements (``Layout.runs``)."""
    key = stream_key(uint64(seed), uint64(stream))
    use_rand = rand.shape[0] > 0
    n_blocks = scales.shape[0]
    runs = starts.shape[0] // max(n_blocks, 1)
    block_len = runs * run_len
    mag_mask = (uint64(1) << uint64(src_p[P_BITS] - 1)) - uint64(1)
    for b in prange(n_blocks):
        encode_block(b, src, run_len, starts, lengths, src_p, elem_p, rule, plan, mode, sr_bits, key, offset, rand,
                     use_rand, runs, block_len, mag_mask, codes, scales, status)
