"""Numba CPU kernel of the fixed-point arithmetic in ``bitsim.fixed``: add, sub, mul, shift.

One parallel array loop over the core's ``fixed_one`` (``bitsim.core.fixed_arith``, where the method
is described); ``bitsim.kernels.cuda.fixed_kernel`` is its GPU twin over the same core.
"""

import numba
from numba import int64, prange, uint64

from bitsim.core import build
from bitsim.core.fixed_arith import OP_ADD, OP_MUL, OP_SHIFT, OP_SUB  # noqa: F401 - the op codes callers pass

_C = build("cpu")
fixed_one = _C.fixed_one
element_rand = _C.element_rand
stream_key = _C.stream_key


@numba.njit(parallel=True, nogil=True, cache=True)
def fixed_array(op, a, pa, b, pb, po, n, mode, sr_bits, seed, stream, offset, rand, out,
                flags):  # pragma: no cover - compiled
    """out[i], flags[i] = fixed_one(op, a[i], b[i]); a, b, out are uint64 (b may be a length-1 dummy for
    OP_SHIFT). SR bits come from ``rand`` if it is non-empty, else from the generator keyed by
    (seed, stream, offset + i)."""
    count = out.shape[0]
    key = stream_key(uint64(seed), uint64(stream))
    use_rand = rand.shape[0] > 0
    nb = b.shape[0]
    for i in prange(count):
        r = element_rand(i, mode, use_rand, rand, key, offset, sr_bits)
        jb = int64(i) if nb == count else int64(0)
        code, f = fixed_one(op, a[i], pa, b[jb], pb, po, n, mode, r, sr_bits)
        out[i] = code
        flags[i] = f
