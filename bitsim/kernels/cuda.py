"""CUDA kernels (``numba.cuda``) over the scalar core compiled for the GPU: the same Python source as
the CPU kernels (``bitsim.core.build("cuda")``), so results are bit-identical by construction.

Elementwise kernels run a grid-stride loop over flat arrays; argument lists match the CPU kernels in
``bitsim.kernels.cpu`` (``bitsim.kernels.cuda_run`` launches them on host or device arrays). The
golden path is integer arithmetic only: no float operation is emitted, so FMA contraction and
fast-math cannot change a result (``tests/test_cuda.py`` checks the PTX for float instructions).
Nothing here compiles until first use; importing the module needs no GPU.
"""

from numba import config, cuda, int64, uint64, uint8

from bitsim.core import build
from bitsim.core.dot import STACK_DEPTH

SIMULATOR = bool(config.ENABLE_CUDASIM)
TILE = 4 if SIMULATOR else 16        # GEMM: a TILE x TILE block of outputs per thread block, K in TILE steps

_G = build("cuda")
output_index = _G.output_index
stream_key = _G.stream_key
random_bits = _G.random_bits
element_rand = _G.element_rand
convert_one = _G.convert_one
encode_fast = _G.encode_fast
arith_one = _G.arith_one
compare_one = _G.compare_one
encode_block = _G.encode_block
block_encode_setup = _G.block_encode_setup
dot_init = _G.dot_init
dot_steps = _G.dot_steps
dot_finish = _G.dot_finish
block_dot_output = _G.block_dot_output


@cuda.jit
def convert_kernel(src, src_p, dst_p, mode, sr_bits, seed, stream, offset, rand, tiny_before, out, flags):
    """``cpu.convert_array`` on the GPU."""
    key = stream_key(uint64(seed), uint64(stream))
    use_rand = rand.shape[0] > 0
    want_flags = flags.shape[0] > 0
    for i in range(cuda.grid(1), src.shape[0], cuda.gridsize(1)):
        r = element_rand(i, mode, use_rand, rand, key, offset, sr_bits)
        code, f = convert_one(uint64(src[i]), src_p, dst_p, mode, r, sr_bits, tiny_before)
        out[i] = code
        if want_flags:
            flags[i] = f


@cuda.jit
def encode_fast_kernel(src, plan, mode, sr_bits, seed, stream, offset, rand, out):
    """``cpu.encode_fast_array`` on the GPU."""
    key = stream_key(uint64(seed), uint64(stream))
    use_rand = rand.shape[0] > 0
    for i in range(cuda.grid(1), src.shape[0], cuda.gridsize(1)):
        r = element_rand(i, mode, use_rand, rand, key, offset, sr_bits)
        out[i] = encode_fast(uint64(src[i]), plan, mode, r, sr_bits)


@cuda.jit
def counter_bits_kernel(seed, stream, offset, bits, out):
    """``cpu.counter_bits_array`` on the GPU."""
    key = stream_key(uint64(seed), uint64(stream))
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[i] = random_bits(key, int64(offset) + i, bits)


@cuda.jit
def arith_kernel(op, a, pa, b, pb, c, pc, po, mode, sr_bits, seed, stream, offset, rand, tiny_before, out,
                 flags):
    """``cpu.arith_array`` on the GPU; an operand of length 1 is broadcast (``a`` too)."""
    n = out.shape[0]
    key = stream_key(uint64(seed), uint64(stream))
    use_rand = rand.shape[0] > 0
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        r = element_rand(i, mode, use_rand, rand, key, offset, sr_bits)
        ja = int64(i) if a.shape[0] == n else int64(0)
        jb = int64(i) if b.shape[0] == n else int64(0)
        jc = int64(i) if c.shape[0] == n else int64(0)
        code, f = arith_one(op, uint64(a[ja]), pa, uint64(b[jb]), pb, uint64(c[jc]), pc, po, mode, r, sr_bits,
                            tiny_before)
        out[i] = code
        flags[i] = f


@cuda.jit
def compare_kernel(op, a, b, p, out, flags):
    """``cpu.compare_array`` on the GPU; an operand of length 1 is broadcast."""
    n = out.shape[0]
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        ja = int64(i) if a.shape[0] == n else int64(0)
        jb = int64(i) if b.shape[0] == n else int64(0)
        code, f = compare_one(op, uint64(a[ja]), uint64(b[jb]), p)
        out[i] = code
        flags[i] = f


@cuda.jit
def block_encode_kernel(src, run_len, starts, lengths, src_p, elem_p, rule, plan, mode, sr_bits, seed, stream,
                        offset, rand, codes, scales, status):
    """``block_cpu.block_encode_array`` on the GPU: one thread per block."""
    n_blocks = scales.shape[0]
    key, use_rand, runs, block_len, mag_mask = block_encode_setup(seed, stream, rand, starts, n_blocks, run_len, src_p)
    for b in range(cuda.grid(1), n_blocks, cuda.gridsize(1)):
        encode_block(b, src, run_len, starts, lengths, src_p, elem_p, rule, plan, mode, sr_bits, key, offset, rand,
                     use_rand, runs, block_len, mag_mask, codes, scales, status)


@cuda.jit
def dot_rows_kernel(A, BT, C, use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width,
                    overflow, p_prod, po, mode_out, out, flags, status):
    """Row-wise dots (``bitsim.dot``): output t = rows A[t] and BT[t], one thread each."""
    K = A.shape[1]
    stack = cuda.local.array(STACK_DEPTH, dtype=uint64)
    for t in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        c = uint64(C[t]) if use_c else uint64(0)
        state = dot_init(c, use_c, pc, model, p_acc, mode_acc, frac, width, overflow)
        state = dot_steps(state, A, BT, t, t, 0, K, 0, K, pa, pb, model, p_acc, mode_acc, p_inner, mode_inner,
                          chunk, frac, width, overflow, stack, p_prod)
        out[t], flags[t], status[t] = dot_finish(state, model, use_c, K, stack, p_prod, p_acc, mode_acc, frac, po,
                                                 mode_out)


@cuda.jit
def gemm_kernel(A, B, C, use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width,
                overflow, p_prod, po, mode_out, out, flags, status):
    """D = C + A @ B (A (M, K), B (K, N)), out flat (M * N): a TILE x TILE thread block owns a TILE x TILE
    block of outputs; K is walked in TILE-wide slices staged in shared memory (B's slice transposed), and
    each thread feeds its output's products to ``dot_steps`` in increasing k -- the unit's order, which
    tiling does not change."""
    a_tile = cuda.shared.array((TILE, TILE), dtype=uint64)     # a_tile[r, k] = A[row0 + r, k0 + k]
    b_tile = cuda.shared.array((TILE, TILE), dtype=uint64)     # b_tile[c, k] = B[k0 + k, col0 + c]
    stack = cuda.local.array(STACK_DEPTH, dtype=uint64)         # the pairwise tree's levels
    M = A.shape[0]
    N = B.shape[1]
    K = A.shape[1]
    ty = cuda.threadIdx.y
    tx = cuda.threadIdx.x
    i = int64(cuda.blockIdx.y) * TILE + ty
    j = int64(cuda.blockIdx.x) * TILE + tx
    live = i < M and j < N
    t = i * N + j
    c = uint64(C[t]) if (use_c and live) else uint64(0)
    state = dot_init(c, use_c, pc, model, p_acc, mode_acc, frac, width, overflow)
    for k0 in range(0, K, TILE):
        ka = k0 + tx                                 # coalesced: consecutive threads read consecutive k / columns
        kb = k0 + ty
        a_tile[ty, tx] = uint64(A[i, ka]) if (i < M and ka < K) else uint64(0)
        b_tile[tx, ty] = uint64(B[kb, j]) if (j < N and kb < K) else uint64(0)
        cuda.syncthreads()
        if live:
            state = dot_steps(state, a_tile, b_tile, ty, tx, 0, min(TILE, K - k0), k0, K, pa, pb, model, p_acc,
                              mode_acc, p_inner, mode_inner, chunk, frac, width, overflow, stack, p_prod)
        cuda.syncthreads()
    if live:
        out[t], flags[t], status[t] = dot_finish(state, model, use_c, K, stack, p_prod, p_acc, mode_acc, frac, po,
                                                 mode_out)


@cuda.jit
def block_dot_kernel(A, SA, BT, SBT, rowwise, L, C, use_c, pa, pb, psa, psb, pc, frac, width, overflow, p_acc,
                     mode_acc, mode_conv, fused, po, mode_out, out, flags, status):
    """``block_dot_cpu.block_dot_array`` on the GPU: one thread per output, blocks in increasing k."""
    n_cols = BT.shape[0]
    K = A.shape[1]
    for t in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        i, j = output_index(t, rowwise, n_cols)
        c = uint64(C[t]) if use_c else uint64(0)
        out[t], flags[t], status[t] = block_dot_output(A, SA, BT, SBT, i, j, K, L, c, use_c, pa, pb, psa, psb, pc,
                                                       frac, width, overflow, p_acc, mode_acc, mode_conv, fused, po,
                                                       mode_out)


@cuda.jit
def narrow_kernel(src, out):
    """out[i] = src[i] in out's (narrower unsigned) dtype: codes that already fit."""
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[i] = src[i]


@cuda.jit
def max_kernel(x, result):
    """result[0] = max(result[0], every x[i]) (unsigned codes): the range check of device code arrays."""
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        cuda.atomic.max(result, 0, uint64(x[i]))


@cuda.jit
def or_kernel(x, result):
    """result[0] |= every x[i] (uint8 flags)."""
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        v = uint8(x[i])
        if v != 0:
            cuda.atomic.or_(result, 0, uint64(v))
