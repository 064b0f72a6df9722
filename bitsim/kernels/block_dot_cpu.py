"""Numba CPU kernel of block-format dot-product units: one parallel loop over output elements, each
running ``bitsim.core.block_dot.block_dot_output`` (blocks of K in increasing order). No fastmath, ever.

Output t pairs row ``i`` of A (codes (M, K), scales SA (M, n_blocks)) with row ``j`` of BT (codes
(N, K), scales SBT (N, n_blocks)): ``rowwise`` gives i = j = t, otherwise i = t // N, j = t % N. Codes
and scales arrive as uint64 so that one compiled signature serves every format.
"""

import numba
from numba import prange, uint64

from bitsim.core import build

_C = build("cpu")
output_index = _C.output_index
block_dot_output = _C.block_dot_output


@numba.njit(parallel=True, nogil=True, cache=True)
def block_dot_array(A, SA, BT, SBT, rowwise, L, C, use_c, pa, pb, psa, psb, pc, frac, width, overflow, p_acc, mode_acc,
                    mode_conv, fused, po, mode_out, out, flags, status):  # pragma: no cover - compiled
    """out[t], flags[t] (ORed over every rounding step), status[t] (first register error) of every output."""
    n_cols = BT.shape[0]
    K = A.shape[1]
    for t in prange(out.shape[0]):
        i, j = output_index(t, rowwise, n_cols)
        c = uint64(C[t]) if use_c else uint64(0)
        out[t], flags[t], status[t] = block_dot_output(A, SA, BT, SBT, i, j, K, L, c, use_c, pa, pb, psa, psb, pc,
                                                       frac, width, overflow, p_acc, mode_acc, mode_conv, fused, po,
                                                       mode_out)
