"""Numba CPU kernel of block-format encoding: one parallel loop over blocks, each encoded by the
shared ``bitsim.core.block_encode.encode_block``. No fastmath, ever."""

import numba
from numba import prange

from bitsim.core import build

_C = build("cpu")
block_encode_setup = _C.block_encode_setup
encode_block = _C.encode_block


@numba.njit(parallel=True, nogil=True, cache=True)
def block_encode_array(src, run_len, starts, lengths, src_p, elem_p, rule, plan, mode, sr_bits, seed, stream,
                       offset, rand, codes, scales, status):  # pragma: no cover - compiled
    """codes (flat, like src), scales[b], status[b] (zero on entry) of every block b, the blocks given as
    runs of consecutive elements (``Layout.runs``)."""
    n_blocks = scales.shape[0]
    key, use_rand, runs, block_len, mag_mask = block_encode_setup(seed, stream, rand, starts, n_blocks, run_len, src_p)
    for b in prange(n_blocks):
        encode_block(b, src, run_len, starts, lengths, src_p, elem_p, rule, plan, mode, sr_bits, key, offset, rand,
                     use_rand, runs, block_len, mag_mask, codes, scales, status)
