"""Numba CPU kernels of block-format encoding and decoding: one loop over blocks, each encoded by the
shared ``bitsim.core.block_encode.encode_block`` (decoded by ``core.block_decode.decode_block``),
parallel from ``PARALLEL_MIN_ELEMENTS`` elements on (a parallel launch costs more than it saves below
that, and much more on a loaded machine). No fastmath, ever."""

from numba import prange

from bitsim.core import build
from bitsim.kernels.parallel import serial_and_parallel

_C = build("cpu")
block_encode_setup = _C.block_encode_setup
encode_block = _C.encode_block
decode_block = _C.decode_block
PARALLEL_MIN_ELEMENTS = 1 << 20


def _block_encode_array(src, run_len, starts, lengths, src_p, elem_p, rule, plan, mode, sr_bits, seed, stream,
                        offset, rand, codes, scales, status):  # pragma: no cover - compiled
    n_blocks = scales.shape[0]
    key, use_rand, runs, block_len, mag_mask = block_encode_setup(seed, stream, rand, starts, n_blocks, run_len, src_p)
    for b in prange(n_blocks):
        encode_block(b, src, run_len, starts, lengths, src_p, elem_p, rule, plan, mode, sr_bits, key, offset, rand,
                     use_rand, runs, block_len, mag_mask, codes, scales, status)


_KERNELS = serial_and_parallel(_block_encode_array)


def block_encode_array(src, run_len, starts, lengths, src_p, elem_p, rule, plan, mode, sr_bits, seed, stream, offset,
                       rand, codes, scales, status):
    """codes (flat, like src), scales[b], status[b] (zero on entry) of every block b, the blocks given as
    runs of consecutive elements (``Layout.runs``)."""
    _KERNELS[src.shape[0] >= PARALLEL_MIN_ELEMENTS](src, run_len, starts, lengths, src_p, elem_p, rule, plan, mode,
                                                   sr_bits, seed, stream, offset, rand, codes, scales, status)


def _block_decode_array(codes, starts, lengths, scales, scale_bias, scale_nan, elem_p, f64_p, out,
                        status):  # pragma: no cover - compiled
    runs = starts.shape[0] // max(scales.shape[0], 1)
    for b in prange(scales.shape[0]):
        decode_block(b, codes, starts, lengths, runs, scales, scale_bias, scale_nan, elem_p, f64_p, out, status)


_DECODE_KERNELS = serial_and_parallel(_block_decode_array)


def block_decode_array(codes, starts, lengths, scales, scale_bias, scale_nan, elem_p, f64_p, out, status):
    """out (flat binary64 codes, like codes) and status[b] (``core.block_decode.DECODE_*``) of every block
    b, the blocks given as runs of consecutive elements (``Layout.runs``)."""
    _DECODE_KERNELS[codes.shape[0] >= PARALLEL_MIN_ELEMENTS](codes, starts, lengths, scales, scale_bias, scale_nan,
                                                            elem_p, f64_p, out, status)
