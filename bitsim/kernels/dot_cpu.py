"""Numba CPU kernel of dot-product units: one parallel loop over output elements, each accumulating
its K products in order with the unit's model (``bitsim.core.accum``). No fastmath, ever.

Output element t pairs row ``i`` of A with row ``j`` of BT (B transposed): ``rowwise`` gives i = j = t
(``bitsim.dot``), otherwise i = t // N, j = t % N (``bitsim.matmul``).
"""

import numba
from numba import int64, prange, uint64

from bitsim.core import build

MODEL_FLOAT = 0        # FloatAcc, sequential
MODEL_CHUNKED = 1      # ChunkedAcc: FloatAcc chunks (inner) summed by a FloatAcc (outer)
MODEL_REGISTER = 2     # KulischAcc / IntAcc: exact two's complement register

_C = build("cpu")
fma_codes = _C.fma_codes
add_codes = _C.add_codes
convert_one = _C.convert_one
unpack = _C.unpack
product_term = _C.product_term
register_term = _C.register_term
register_result = _C.register_result


@numba.njit(nogil=True)
def _float_chain(A, BT, i, j, lo, hi, pa, pb, s, p_acc, mode):  # pragma: no cover - compiled
    """s = round(a_k * b_k + s) for k in lo .. hi-1; returns (s, flags)."""
    flags = int64(0)
    for k in range(lo, hi):
        s, f = fma_codes(uint64(A[i, k]), pa, uint64(BT[j, k]), pb, s, p_acc, p_acc, mode, uint64(0), int64(1),
                         int64(0))
        flags |= f
    return s, flags


@numba.njit(nogil=True)
def _register_dot(A, BT, i, j, c, use_c, pa, pb, pc, frac, width, overflow, po, mode_out):  # pragma: no cover
    hi = uint64(0)
    lo = uint64(0)
    specials = int64(0)
    status = int64(0)
    if use_c:
        cls, sign, m, e = unpack(c, pc)
        hi, lo, specials, status = register_term(hi, lo, specials, status, sign, cls, uint64(0), m, e, frac, width,
                                                 overflow)
    for k in range(A.shape[1]):
        sign, cls, mh, ml, e = product_term(uint64(A[i, k]), pa, uint64(BT[j, k]), pb)
        hi, lo, specials, st = register_term(hi, lo, specials, status, sign, cls, mh, ml, e, frac, width, overflow)
        status = st if status == 0 else status
    code, flags = register_result(hi, lo, specials, frac, po, mode_out)
    return code, flags, status


@numba.njit(parallel=True, nogil=True, cache=True)
def dot_array(A, BT, rowwise, C, use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac,
              width, overflow, po, mode_out, out, flags, status):  # pragma: no cover - compiled
    """out[t], flags[t] (ORed over every rounding step), status[t] (register errors) of every output."""
    n_out = out.shape[0]
    n_cols = BT.shape[0]
    K = A.shape[1]
    for t in prange(n_out):
        i = int64(t) if rowwise else int64(t) // n_cols
        j = int64(t) if rowwise else int64(t) % n_cols
        c = uint64(C[t]) if use_c else uint64(0)
        if model == MODEL_REGISTER:
            code, f, st = _register_dot(A, BT, i, j, c, use_c, pa, pb, pc, frac, width, overflow, po, mode_out)
            out[t] = code
            flags[t] = f
            status[t] = st
            continue
        f = int64(0)
        s = uint64(0)
        if use_c:
            s, f = convert_one(c, pc, p_acc, mode_acc, uint64(0), int64(1), int64(0))
        if model == MODEL_FLOAT:
            s, f2 = _float_chain(A, BT, i, j, 0, K, pa, pb, s, p_acc, mode_acc)
            f |= f2
        else:
            for lo in range(0, K, chunk):
                part, f2 = _float_chain(A, BT, i, j, lo, min(lo + chunk, K), pa, pb, uint64(0), p_inner, mode_inner)
                s, f3 = add_codes(s, p_acc, part, p_inner, 0, p_acc, mode_acc, uint64(0), int64(1), int64(0))
                f |= f2 | f3
        code, f4 = convert_one(s, p_acc, po, mode_out, uint64(0), int64(1), int64(0))
        out[t] = code
        flags[t] = f | f4
        status[t] = 0
