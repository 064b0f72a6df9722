"""CUDA kernels of the tensor-core fused dot-product units: the core of ``bitsim.core.fused`` compiled for
the GPU by ``bitsim.core.build("cuda")`` -- the source the CPU kernel (``bitsim.kernels.fused_cpu``)
compiles -- so both give the same code words.

A call decodes A and B once into operand words (``fused_decode_kernel``; B of a GEMM is read as (K, N)
and written transposed, so device operands need no transposed copy), then runs one thread per output:
``fused_gemm_kernel`` stages TILE rows of A's and of B's words, KT columns at a time, in shared memory
(TILE x TILE outputs per thread block) where an instruction's K divides KT; otherwise, and for rows of dot
products, ``fused_output_kernel`` reads the words from global memory. Every output runs its whole chain
of instructions in increasing k. Host (NumPy) arrays are copied to the GPU and the results back; device
arrays stay there and the results are device arrays. Nothing compiles until first use.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, int64, uint64

from bitsim.backend import is_device_array
from bitsim.core import build
from bitsim.core.fused import F_STEP
from bitsim.kernels.cuda import SIMULATOR
from bitsim.kernels.cuda_run import grid_1d, on_device
from bitsim.kernels.fused_cpu import check_operands, fused_plan

TILE = 4 if SIMULATOR else 16       # fused_gemm_kernel: TILE x TILE outputs per thread block
KT = 64                             # ... and K staged KT columns at a time (whole instructions)

_G = build("cuda")
output_index = _G.output_index
fused_decode = _G.fused_decode
fused_instruction = _G.fused_instruction
fused_output = _G.fused_output


@cuda.jit
def fused_decode_kernel(X, transpose, p, W):
    """W[r, k] = the operand word of X[r, k] (X[k, r] with ``transpose``), codes of format ``p``."""
    for t in range(cuda.grid(1), W.size, cuda.gridsize(1)):
        r, k = output_index(t, False, W.shape[1])
        code = uint64(X[k, r]) if transpose else uint64(X[r, k])
        W[r, k] = fused_decode(code, p)


@cuda.jit
def fused_output_kernel(WA, WBT, rowwise, C, use_c, po, plan, out):
    """out[t] = output t (rows WA[i] and WBT[j], ``output_index``), one thread each, grid-stride."""
    K = WA.shape[1]
    n_cols = WBT.shape[0]
    for t in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        i, j = output_index(t, rowwise, n_cols)
        c = uint64(C[t]) if use_c else uint64(0)
        out[t] = fused_output(WA, i, WBT, j, K, c, po, plan)


@cuda.jit
def fused_gemm_kernel(WA, WBT, C, use_c, po, plan, out):
    """D = C + A @ B from operand words WA (M, K) and WBT (N, K), out flat (M * N): a TILE x TILE thread
    block owns a TILE x TILE block of outputs; K is staged KT columns at a time in shared memory (KT a
    multiple of the instruction's K, so slices hold whole instructions), and each thread runs the
    instructions of its output in increasing k."""
    a_tile = cuda.shared.array((TILE, KT), dtype=uint64)
    b_tile = cuda.shared.array((TILE, KT), dtype=uint64)
    ty = cuda.threadIdx.y
    tx = cuda.threadIdx.x
    row0 = int64(cuda.blockIdx.y) * TILE
    col0 = int64(cuda.blockIdx.x) * TILE
    M = WA.shape[0]
    N = WBT.shape[0]
    K = WA.shape[1]
    i = row0 + ty
    j = col0 + tx
    live = i < M and j < N
    t = i * N + j
    c = uint64(C[t]) if (use_c and live) else uint64(0)
    step = plan[F_STEP]
    if K == 0:                                   # one instruction of padding
        if live:
            out[t] = fused_instruction(a_tile, ty, b_tile, tx, 0, 0, c, po, plan)
        return
    for k0 in range(0, K, KT):
        width = min(KT, K - k0)
        for col in range(tx, width, TILE):       # row ty of each tile; consecutive threads, consecutive k
            a_tile[ty, col] = uint64(WA[row0 + ty, k0 + col]) if row0 + ty < M else uint64(0)
            b_tile[ty, col] = uint64(WBT[col0 + ty, k0 + col]) if col0 + ty < N else uint64(0)
        cuda.syncthreads()
        if live:
            for lo in range(0, width, step):
                c = fused_instruction(a_tile, ty, b_tile, tx, lo, min(lo + step, width), c, po, plan)
        cuda.syncthreads()
    if live:
        out[t] = c


def _words(X, transpose, pa):
    """Operand words (device, uint64) of the codes X (host or device), transposed when asked."""
    if isinstance(X, np.ndarray):
        X = X.astype(np.uint64)                  # one compiled signature for host inputs
    rows, cols = (X.shape[1], X.shape[0]) if transpose else X.shape
    W = cuda.device_array((rows, cols), dtype=np.uint64)
    fused_decode_kernel[grid_1d(rows * cols)](on_device(X), transpose, pa, W)
    return W


def _run(A, B, C, rowwise, shape, acc, unit_plan):
    """Codes (acc.out's dtype) of every output; host inputs give host results, device inputs device ones."""
    plan, pa, po = unit_plan
    device_inputs = any(is_device_array(x) for x in (A, B, C))
    n = int(np.prod(shape))
    use_c = C is not None
    if not use_c:
        C = np.zeros(1, np.uint64)
    dC = on_device(C.astype(np.uint64).reshape(-1) if isinstance(C, np.ndarray) else C.reshape(-1))
    WA = _words(A, False, pa)
    WBT = _words(B, not rowwise, pa)
    out = cuda.device_array(n, dtype=acc.out.code_dtype)
    if not rowwise and KT % plan[F_STEP] == 0 and n:
        blocks = (-(-shape[1] // TILE), -(-shape[0] // TILE))
        fused_gemm_kernel[blocks, (TILE, TILE)](WA, WBT, dC, use_c, po, plan, out)
    elif n:
        fused_output_kernel[grid_1d(n)](WA, WBT, rowwise, dC, use_c, po, plan, out)
    out = out.reshape(shape)
    return out if device_inputs else out.copy_to_host()


def fused_rows(A, B, c, fmt_in, acc, instruction_k=None):
    """``bitsim.kernels.fused_cpu.fused_rows`` on the GPU: rows ``c[i] + sum_k A[i, k] * B[i, k]``; codes of
    ``acc.out`` in its code dtype, shape (n,), on the device for device inputs."""
    unit_plan = fused_plan(acc, fmt_in, instruction_k)
    A, B, c, shape = check_operands(A, B, c, fmt_in, acc, True)
    return _run(A, B, c, True, shape, acc, unit_plan)


def fused_gemm(A, B, C, fmt_in, acc, instruction_k=None):
    """``bitsim.kernels.fused_cpu.fused_gemm`` on the GPU: D = C + A @ B (A (M, K), B (K, N), C (M, N) or
    None); codes of ``acc.out`` in its code dtype, shape (M, N), on the device for device inputs."""
    unit_plan = fused_plan(acc, fmt_in, instruction_k)
    A, B, C, shape = check_operands(A, B, C, fmt_in, acc, False)
    return _run(A, B, C, False, shape, acc, unit_plan)
