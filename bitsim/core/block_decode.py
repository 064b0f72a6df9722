"""Block-format decoding: each element code times its block's power-of-two scale, as a binary64 code
(plain integer Python, compiled by ``bitsim.core.build`` for the CPU and GPU kernels of
``bitsim.blocks.codec.decode``).

Blocks are given as runs of consecutive elements (``Layout.runs``), as for encoding. An element's value
is ``convert_scaled`` of its code into binary64 with the scale exponent X: one exact step, whose
inexact or overflow flag means the value has no binary64 code (the block is then marked). A block whose
scale is the scale format's NaN decodes to NaN throughout.
"""

from numba import int64, uint64

from bitsim.core.convert import convert_scaled, pack_nan
from bitsim.core.params import FLAG_INEXACT, FLAG_OVERFLOW, RM_RNE

DECODE_OK = 0
DECODE_NOT_BINARY64 = 1      # an element of the block has no exact binary64 value


def decode_block(b, codes, starts, lengths, runs, scales, scale_bias, scale_nan, elem_p, f64_p, out, status):
    """Block b: the binary64 code of each of its elements into ``out`` (flat, like ``codes``), its
    DECODE_* into status[b]. ``scale_nan`` is the scale format's NaN code, or -1 if it has none."""
    nan_block = scale_nan >= 0 and int64(scales[b]) == scale_nan
    minus_x = scale_bias - int64(scales[b])               # convert_scaled multiplies by 2**-scale_exp
    st = DECODE_OK
    for r in range(int64(b) * runs, int64(b + 1) * runs):
        lo = starts[r]
        for i in range(lo, lo + lengths[r]):
            if nan_block:
                code, flags = pack_nan(False, f64_p)
            else:
                code, flags = convert_scaled(uint64(codes[i]), elem_p, f64_p, minus_x, RM_RNE, uint64(0), int64(0),
                                             int64(0))
            out[i] = code
            if flags & (FLAG_INEXACT | FLAG_OVERFLOW):
                st = DECODE_NOT_BINARY64
    status[b] = st
