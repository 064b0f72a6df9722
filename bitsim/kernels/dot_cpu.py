"""Numba CPU kernel of dot-product units: one parallel loop over output elements, each accumulating
its K products in order with the unit's model (``bitsim.core.dot``). No fastmath, ever.

Output element t pairs row ``i`` of A with row ``j`` of BT (B transposed): ``rowwise`` gives i = j = t
(``bitsim.dot``), otherwise i = t // N, j = t % N (``bitsim.matmul``).
"""

import numba
import numpy as np
from numba import prange, uint64

from bitsim.core import build
from bitsim.core.dot import STACK_DEPTH

_C = build("cpu")
output_index = _C.output_index
dot_init = _C.dot_init
dot_steps = _C.dot_steps
dot_finish = _C.dot_finish


@numba.njit(nogil=True)
def generic_output(A, BT, i, j, c, use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width,
                   overflow, p_prod, po, mode_out):  # pragma: no cover - compiled
    """(code, flags, status) of the output of rows A[i] and BT[j]: every product through the core's steps."""
    K = A.shape[1]
    stack = np.empty(STACK_DEPTH, dtype=np.uint64)     # the pairwise tree's levels (unused otherwise)
    state = dot_init(c, use_c, pc, model, p_acc, mode_acc, frac, width, overflow)
    state = dot_steps(state, A, BT, i, j, 0, K, 0, K, pa, pb, model, p_acc, mode_acc, p_inner, mode_inner, chunk,
                      frac, width, overflow, stack, p_prod)
    return dot_finish(state, model, use_c, K, stack, p_prod, p_acc, mode_acc, frac, po, mode_out)


@numba.njit(parallel=True, nogil=True, cache=True)
def dot_array(A, BT, rowwise, C, use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac,
              width, overflow, p_prod, po, mode_out, out, flags, status):  # pragma: no cover - compiled
    """out[t], flags[t] (ORed over every rounding step), status[t] (register errors) of every output."""
    n_cols = BT.shape[0]
    for t in prange(out.shape[0]):
        i, j = output_index(t, rowwise, n_cols)
        c = uint64(C[t]) if use_c else uint64(0)
        out[t], flags[t], status[t] = generic_output(A, BT, i, j, c, use_c, pa, pb, pc, model, p_acc, mode_acc,
                                                     p_inner, mode_inner, chunk, frac, width, overflow, p_prod, po,
                                                     mode_out)
