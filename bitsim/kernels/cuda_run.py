"""Launch the CUDA kernels with the CPU kernels' signatures, on host or device arrays.

Each function here takes the arguments of its namesake in ``bitsim.kernels.cpu`` /
``block_cpu`` / ``dot_cpu``. An argument that is a NumPy array is copied to the GPU (outputs are
copied back into it afterwards); a device array (anything with ``__cuda_array_interface__``: Numba,
CuPy, PyTorch) is used in place, without a host copy.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from bitsim.kernels import cuda as G

THREADS = 8 if G.SIMULATOR else 256          # the simulator runs one Python thread per GPU thread
MAX_BLOCKS = 2 if G.SIMULATOR else 8192      # grid-stride loops cover the rest


def grid_1d(n: int) -> tuple[int, int]:
    """(blocks, threads) for a grid-stride loop over n items."""
    return max(1, min(-(-n // THREADS), MAX_BLOCKS)), THREADS


def _on_device(a):
    """A NumPy array staged on the GPU; anything else (device arrays, scalars, tuples) as it is."""
    if isinstance(a, np.ndarray):
        return cuda.to_device(np.ascontiguousarray(a))
    return a


def _launch(kernel, config, args, n_outputs: int):
    """kernel[config](*args) with host arrays staged on the GPU; the last ``n_outputs`` args are outputs."""
    dev = [_on_device(a) for a in args]
    kernel[config](*dev)
    for host, d in zip(args[-n_outputs:], dev[-n_outputs:]):
        if isinstance(host, np.ndarray) and host.size:
            d.copy_to_host(host)


def convert_array(src, src_p, dst_p, mode, sr_bits, seed, stream, offset, rand, tiny_before, out, flags):
    _launch(G.convert_kernel, grid_1d(src.shape[0]),
            (src, src_p, dst_p, mode, sr_bits, seed, stream, offset, rand, tiny_before, out, flags), 2)


def encode_fast_array(src, plan, mode, sr_bits, seed, stream, offset, rand, out):
    _launch(G.encode_fast_kernel, grid_1d(src.shape[0]), (src, plan, mode, sr_bits, seed, stream, offset, rand, out),
            1)


def counter_bits_array(seed, stream, offset, bits, out):
    _launch(G.counter_bits_kernel, grid_1d(out.shape[0]), (seed, stream, offset, bits, out), 1)


def arith_array(op, a, pa, b, pb, c, pc, po, mode, sr_bits, seed, stream, offset, rand, tiny_before, out, flags):
    _launch(G.arith_kernel, grid_1d(out.shape[0]),
            (op, a, pa, b, pb, c, pc, po, mode, sr_bits, seed, stream, offset, rand, tiny_before, out, flags), 2)


def compare_array(op, a, b, p, out, flags):
    _launch(G.compare_kernel, grid_1d(out.shape[0]), (op, a, b, p, out, flags), 2)


def block_encode_array(src, run_len, starts, lengths, src_p, elem_p, rule, plan, mode, sr_bits, seed, stream, offset,
                       rand, codes, scales, status):
    _launch(G.block_encode_kernel, grid_1d(scales.shape[0]),
            (src, run_len, starts, lengths, src_p, elem_p, rule, plan, mode, sr_bits, seed, stream, offset, rand,
             codes, scales, status), 3)


def dot_array(A, B, rowwise, C, use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width,
              overflow, p_prod, po, mode_out, out, flags, status):
    """``dot_cpu.dot_array``, except that B is (K, N) -- not transposed -- for a matmul (rows (n, K) when
    ``rowwise``), so device operands need no transposed copy."""
    args = (A, B, C, use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width, overflow,
            p_prod, po, mode_out, out, flags, status)
    if rowwise:
        _launch(G.dot_rows_kernel, grid_1d(out.shape[0]), args, 3)
        return
    M, N = A.shape[0], B.shape[1]
    blocks = (-(-N // G.TILE), -(-M // G.TILE))
    _launch(G.gemm_kernel, (blocks, (G.TILE, G.TILE)), args, 3)


def block_dot_array(A, SA, BT, SBT, rowwise, L, C, use_c, pa, pb, psa, psb, pc, frac, width, overflow, p_acc, mode_acc,
                    mode_conv, fused, po, mode_out, out, flags, status):
    _launch(G.block_dot_kernel, grid_1d(out.shape[0]),
            (A, SA, BT, SBT, rowwise, L, C, use_c, pa, pb, psa, psb, pc, frac, width, overflow, p_acc, mode_acc,
             mode_conv, fused, po, mode_out, out, flags, status), 3)


def device_max(x) -> int:
    """The largest value of an unsigned integer device array (0 if empty)."""
    result = cuda.to_device(np.zeros(1, dtype=np.uint64))
    if x.shape[0]:
        G.max_kernel[grid_1d(x.shape[0])](x, result)
    return int(result.copy_to_host()[0])


def device_or(flags) -> int:
    """All uint8 flags of a device array ORed."""
    result = cuda.to_device(np.zeros(1, dtype=np.uint64))
    if flags.shape[0]:
        G.or_kernel[grid_1d(flags.shape[0])](flags, result)
    return int(result.copy_to_host()[0])


def zeros_like_input(n: int, dtype, on_device: bool):
    """n zeros on the GPU (``on_device``) or on the host."""
    if on_device:
        return cuda.to_device(np.zeros(n, dtype=dtype))
    return np.zeros(n, dtype=dtype)


def narrow_codes(codes, dtype):
    """A device array of codes in a narrower unsigned dtype (values already fit)."""
    if np.dtype(dtype) == codes.dtype:
        return codes
    out = cuda.device_array(codes.shape[0], dtype=dtype)
    G.narrow_kernel[grid_1d(codes.shape[0])](codes, out)
    return out
