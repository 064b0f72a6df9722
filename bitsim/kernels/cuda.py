"""CUDA kernels (``numba.cuda``) over the scalar core compiled for the GPU: the same Python source as
the CPU kernels (``bitsim.core.build("cuda")``), so results are bit-identical by construction.

Elementwise kernels run a grid-stride loop over flat arrays; argument lists match the CPU kernels in
``bitsim.kernels.cpu`` (``bitsim.kernels.cuda_run`` launches them on host or device arrays). The
golden path is integer arithmetic, except the float64 lanes' products and sums (exact: integers below
2**53, in ``.rn`` instructions that are never contracted), so FMA contraction and fast-math cannot
change a result (``tests/test_cuda.py`` checks the PTX for float instructions).
Nothing here compiles until first use; importing the module needs no GPU.
"""

import math

import numpy as np
from numba import config, cuda, float64, int32, int64, uint32, uint64, uint8

from bitsim.core import build
from bitsim.core.dot import STACK_DEPTH
from bitsim.core.params import FLAG_INEXACT, P_BITS

SIMULATOR = bool(config.ENABLE_CUDASIM)
TILE = 4 if SIMULATOR else 16        # GEMM: a TILE x TILE block of outputs per thread block, K in TILE steps
RB = 2                               # float64-lane GEMM: each thread owns RB x RB outputs (register blocking; on
                                     # an H100, RB = 2 (64 registers) beat 3 and 4 at 1024^3 to 4096^3)
SPAN = TILE * RB                     # ... and a thread block SPAN x SPAN
LANES = RB * RB
ST_REDO = 255                        # a fast kernel's mark: the generic kernel computes this output instead
ST_LOST = 254                        # the float64 lanes' mark for the finish: a rounding of this output's sum was inexact

_G = build("cuda")
output_index = _G.output_index
stream_key = _G.stream_key
random_bits = _G.random_bits
element_rand = _G.element_rand
convert_one = _G.convert_one
encode_fast = _G.encode_fast
arith_one = _G.arith_one
compare_one = _G.compare_one
fixed_one = _G.fixed_one
encode_block = _G.encode_block
decode_block = _G.decode_block
block_encode_setup = _G.block_encode_setup
dot_init = _G.dot_init
register_add_integer = _G.register_add_integer
register_result = _G.register_result
dot_steps = _G.dot_steps
dot_finish = _G.dot_finish
block_dot_output = _G.block_dot_output
zero_sign_rule = _G.zero_sign_rule
grid_finish = _G.grid_finish
f64_round_hi = _G.f64_round_hi


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


@cuda.jit(device=True)
def table_lookups(src, table, shift, out):
    """out[i] = table[2 * (src[i] >> shift) + (any bit below shift set)], grid-stride (``table_encode``)."""
    s = uint64(shift)
    mask = (uint64(1) << s) - uint64(1)
    for i in range(cuda.grid(1), src.shape[0], cuda.gridsize(1)):
        x = uint64(src[i])
        out[i] = table[((x >> s) << uint64(1)) | uint64((x & mask) != uint64(0))]


@cuda.jit
def table_encode_kernel(src, table, shift, out):
    """``table_encode.table_encode_array`` on the GPU: the thread block first copies the table into shared
    memory (dynamic, sized at launch), then each element is one shared load."""
    shared = cuda.shared.array(0, dtype=out.dtype)
    for e in range(cuda.threadIdx.x, table.shape[0], cuda.blockDim.x):
        shared[e] = table[e]
    cuda.syncthreads()
    table_lookups(src, shared, shift, out)


@cuda.jit
def table_encode_wide_kernel(src, table, shift, out):
    """``table_encode_kernel`` for tables too large for shared memory: global (cached) loads."""
    table_lookups(src, table, shift, out)


@cuda.jit
def counter_bits_kernel(seed, stream, offset, bits, out):
    """``cpu.counter_bits_array`` on the GPU."""
    key = stream_key(uint64(seed), uint64(stream))
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[i] = random_bits(key, int64(offset) + i, bits)


@cuda.jit(device=True)
def broadcast_index(x, i, n):
    """Element i of an operand of an n-element result: i, or 0 for a length-1 operand (broadcast)."""
    return int64(i) if x.shape[0] == n else int64(0)


@cuda.jit
def arith_kernel(op, a, pa, b, pb, c, pc, po, mode, sr_bits, seed, stream, offset, rand, tiny_before, out,
                 flags):
    """``cpu.arith_array`` on the GPU; an operand of length 1 is broadcast (``a`` too)."""
    n = out.shape[0]
    key = stream_key(uint64(seed), uint64(stream))
    use_rand = rand.shape[0] > 0
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        r = element_rand(i, mode, use_rand, rand, key, offset, sr_bits)
        ja = broadcast_index(a, i, n)
        jb = broadcast_index(b, i, n)
        jc = broadcast_index(c, i, n)
        code, f = arith_one(op, uint64(a[ja]), pa, uint64(b[jb]), pb, uint64(c[jc]), pc, po, mode, r, sr_bits,
                            tiny_before)
        out[i] = code
        flags[i] = f


@cuda.jit
def compare_kernel(op, a, b, p, out, flags):
    """``cpu.compare_array`` on the GPU; an operand of length 1 is broadcast."""
    n = out.shape[0]
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        ja = broadcast_index(a, i, n)
        jb = broadcast_index(b, i, n)
        code, f = compare_one(op, uint64(a[ja]), uint64(b[jb]), p)
        out[i] = code
        flags[i] = f


@cuda.jit
def fixed_kernel(op, a, pa, b, pb, po, n, mode, sr_bits, seed, stream, offset, rand, out, flags):
    """``fixed_cpu.fixed_array`` on the GPU; an operand of length 1 is broadcast (``a`` too)."""
    count = out.shape[0]
    key = stream_key(uint64(seed), uint64(stream))
    use_rand = rand.shape[0] > 0
    for i in range(cuda.grid(1), count, cuda.gridsize(1)):
        r = element_rand(i, mode, use_rand, rand, key, offset, sr_bits)
        ja = broadcast_index(a, i, count)
        jb = broadcast_index(b, i, count)
        code, f = fixed_one(op, uint64(a[ja]), pa, uint64(b[jb]), pb, po, n, mode, r, sr_bits)
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
def block_decode_kernel(codes, starts, lengths, scales, scale_bias, scale_nan, elem_p, f64_p, out, status):
    """``block_cpu.block_decode_array`` on the GPU: one thread per block."""
    runs = starts.shape[0] // max(scales.shape[0], 1)
    for b in range(cuda.grid(1), scales.shape[0], cuda.gridsize(1)):
        decode_block(b, codes, starts, lengths, runs, scales, scale_bias, scale_nan, elem_p, f64_p, out, status)


@cuda.jit
def dot_rows_kernel(A, BT, C, use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width,
                    overflow, p_prod, po, mode_out, todo, out, flags, status):
    """Row-wise dots (``bitsim.dot``): output t = rows A[t] and BT[t], one thread each; ``todo`` empty:
    every output, else only those with todo[t] == ST_REDO (marked by a fast kernel)."""
    K = A.shape[1]
    stack = cuda.local.array(STACK_DEPTH, dtype=uint64)
    every = todo.shape[0] == 0
    for t in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        if not every and todo[t] != ST_REDO:
            continue
        c = uint64(C[t]) if use_c else uint64(0)
        state = dot_init(c, use_c, pc, model, p_acc, mode_acc, frac, width, overflow)
        state = dot_steps(state, A, BT, t, t, 0, K, 0, K, pa, pb, model, p_acc, mode_acc, p_inner, mode_inner,
                          chunk, frac, width, overflow, stack, p_prod)
        out[t], flags[t], status[t] = dot_finish(state, model, use_c, K, stack, p_prod, p_acc, mode_acc, frac, po,
                                                 mode_out)


@cuda.jit(device=True)
def stage_codes(A, B, i, j, k0, a_codes, b_codes):
    """Thread (ty, tx)'s share of one K slice: a_codes[ty, tx] = A[i, k0 + tx] and b_codes[tx, ty] =
    B[k0 + ty, j] (0 outside the matrices), so that a_codes and b_codes are rows of A and of B's
    transpose for ``dot_steps``. Coalesced: consecutive threads read consecutive k / columns."""
    ty = cuda.threadIdx.y
    tx = cuda.threadIdx.x
    ka = k0 + tx
    kb = k0 + ty
    a_codes[ty, tx] = uint64(A[i, ka]) if (i < A.shape[0] and ka < A.shape[1]) else uint64(0)
    b_codes[tx, ty] = uint64(B[kb, j]) if (j < B.shape[1] and kb < B.shape[0]) else uint64(0)


@cuda.jit(device=True)
def tile_value(X, r, c, table, special, bad, slot, zero):
    """table[X[r, c]] (``zero`` outside X); marks bad[slot] when the code is special."""
    v = zero
    if r < X.shape[0] and c < X.shape[1]:
        code = X[r, c]
        v = table[code]
        if special[code]:
            bad[slot] = 1
    return v


@cuda.jit
def gemm_kernel(A, B, C, use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width,
                overflow, p_prod, po, mode_out, todo, out, flags, status):
    """D = C + A @ B (A (M, K), B (K, N)), out flat (M * N): a TILE x TILE thread block owns a TILE x TILE
    block of outputs; K is walked in TILE-wide slices staged in shared memory (``stage_codes``), and
    each thread feeds its output's products to ``dot_steps`` in increasing k -- the unit's order, which
    tiling does not change. ``todo`` empty: every output, one tile per thread block (a 2-D grid);
    else only outputs t with todo[t] == ST_REDO, each thread block of a 1-D grid walking the tiles
    (a tile with none is skipped at once, so a grid of a few blocks per multiprocessor checks a GEMM
    with no such output in a few microseconds)."""
    a_codes = cuda.shared.array((TILE, TILE), dtype=uint64)
    b_codes = cuda.shared.array((TILE, TILE), dtype=uint64)
    any_todo = cuda.shared.array(1, dtype=uint8)
    stack = cuda.local.array(STACK_DEPTH, dtype=uint64)         # the pairwise tree's levels
    args = (A, B, C, use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width, overflow,
            p_prod, po, mode_out, todo, out, flags, status, a_codes, b_codes, any_todo, stack)
    tiles_x = (B.shape[1] + TILE - 1) // TILE
    n_tiles = tiles_x * ((A.shape[0] + TILE - 1) // TILE)
    first, step = int64(cuda.blockIdx.x), int64(cuda.gridDim.x)
    if todo.shape[0] == 0:                                      # one tile per thread block
        first, step = int64(cuda.blockIdx.y) * tiles_x + cuda.blockIdx.x, n_tiles
    for tile in range(first, n_tiles, step):
        gemm_tile(tile // tiles_x, tile % tiles_x, *args)


@cuda.jit(device=True)
def gemm_tile(bi, bj, A, B, C, use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width,
              overflow, p_prod, po, mode_out, todo, out, flags, status, a_codes, b_codes, any_todo, stack):
    """``gemm_kernel``'s work on output tile (bi, bj), by the whole thread block."""
    N = B.shape[1]
    K = A.shape[1]
    ty = cuda.threadIdx.y
    tx = cuda.threadIdx.x
    i = bi * TILE + ty
    j = bj * TILE + tx
    t = i * N + j
    live = i < A.shape[0] and j < N
    if todo.shape[0] > 0:
        if tx == 0 and ty == 0:
            any_todo[0] = 0
        cuda.syncthreads()
        live = live and todo[t] == ST_REDO
        if live:
            any_todo[0] = 1
        cuda.syncthreads()
        skip = any_todo[0] == 0                   # uniform across the block
        cuda.syncthreads()                        # every thread has read it before the next tile resets it
        if skip:
            return
    c = uint64(C[t]) if (use_c and live) else uint64(0)
    state = dot_init(c, use_c, pc, model, p_acc, mode_acc, frac, width, overflow)
    for k0 in range(0, K, TILE):
        stage_codes(A, B, i, j, k0, a_codes, b_codes)
        cuda.syncthreads()
        if live:
            state = dot_steps(state, a_codes, b_codes, ty, tx, 0, min(TILE, K - k0), k0, K, pa, pb, model, p_acc,
                              mode_acc, p_inner, mode_inner, chunk, frac, width, overflow, stack, p_prod)
        cuda.syncthreads()
    if live:
        out[t], flags[t], status[t] = dot_finish(state, model, use_c, K, stack, p_prod, p_acc, mode_acc, frac, po,
                                                 mode_out)


if SIMULATOR:
    def exact_add(x, y):
        return float64(x) + float64(y)

    def exact_mul(x, y):
        return float64(x) * float64(y)

    def f64_words(x):
        bits = int(np.float64(x).view(np.uint64))
        return uint32(bits >> 32), uint32(bits & 0xFFFFFFFF)

    def f64_from_hi(hi):
        return float64(np.uint64(int(hi) << 32).view(np.float64))
else:
    from numba.cuda import libdevice

    @cuda.jit(device=True)
    def exact_add(x, y):
        """x + y, rounded to nearest as written (add.rn.f64: never contracted into an fma)."""
        return libdevice.dadd_rn(x, y)

    @cuda.jit(device=True)
    def exact_mul(x, y):
        """x * y (mul.rn.f64: never contracted into an fma)."""
        return libdevice.dmul_rn(x, y)

    @cuda.jit(device=True)
    def f64_words(x):
        """(hi, lo): the float64's 32-bit words."""
        return uint32(libdevice.double2hiint(x)), uint32(libdevice.double2loint(x))

    @cuda.jit(device=True)
    def f64_from_hi(hi):
        """The float64 with words (hi, 0)."""
        return libdevice.hiloint2double(int32(hi), int32(0))


@cuda.jit(device=True)
def clear_marks(row_bad, col_bad, ty, tx):
    """This thread's slots of a lane kernel's row and column marks, zeroed (the caller synchronises)."""
    for r in range(RB):
        if ty == 0:
            col_bad[tx + TILE * r] = 0
        if tx == 0:
            row_bad[ty + TILE * r] = 0


@cuda.jit(device=True)
def stage_values(A, B, ta, sa, tb, sb, row0, col0, k0, ty, tx, a_tile, b_tile, row_bad, col_bad, zero):
    """This thread's part of a lane kernel's K slice from k0: a_tile[r, k] = ta[A[row0 + r, k0 + k]] and
    b_tile[k, c] = tb[B[k0 + k, col0 + c]] (``zero`` outside the matrices), marking the rows and columns
    that hold a special code (sa, sb)."""
    for r in range(RB):
        a_tile[ty + TILE * r, tx] = tile_value(A, row0 + ty + TILE * r, k0 + tx, ta, sa, row_bad, ty + TILE * r, zero)
        b_tile[ty, tx + TILE * r] = tile_value(B, k0 + ty, col0 + tx + TILE * r, tb, sb, col_bad, tx + TILE * r, zero)


@cuda.jit(device=True)
def load_operands(a_tile, b_tile, ty, tx, kk, a, b):
    """This thread's RB row values and RB column values of step kk of a lane kernel's K slice."""
    for r in range(RB):
        a[r] = a_tile[ty + TILE * r, kk]
    for c in range(RB):
        b[c] = b_tile[kk, tx + TILE * c]


@cuda.jit(device=True)
def f64_lanes(a_tile, b_tile, ty, tx, acc, lost, mode, sh):
    """One K slice of ``float_acc_lanes_kernel`` for this thread's RB x RB outputs: each step adds a
    product exactly in float64 and rounds the sum on its words (``f64_round_hi``). Returns the largest
    |sum| hi word seen (sign cleared)."""
    a = cuda.local.array(RB, dtype=np.float64)
    b = cuda.local.array(RB, dtype=np.float64)
    peak = uint32(0)
    for kk in range(TILE):
        load_operands(a_tile, b_tile, ty, tx, kk, a, b)
        for r in range(RB):
            for c in range(RB):
                hi, lo = f64_words(exact_add(acc[r * RB + c], exact_mul(a[r], b[c])))
                rounded, rem = f64_round_hi(hi, lo, mode, sh)
                lost[r * RB + c] |= rem
                peak = max(peak, uint32(rounded & uint32(0x7FFFFFFF)))
                acc[r * RB + c] = f64_from_hi(rounded)
    return peak


@cuda.jit
def grid_start_kernel(C, use_c, pc, model, p_acc, mode_acc, frac, width, overflow, acc_values, acc_special, sums):
    """sums[t] = output t's starting sum for ``float_acc_lanes_kernel``: its addend in the accumulator
    format as a float64 count of quanta (0 for a special addend, which the finish sends to the generic
    kernel)."""
    for t in range(cuda.grid(1), sums.shape[0], cuda.gridsize(1)):
        s_code = dot_init(uint64(C[t]) if use_c else uint64(0), use_c, pc, model, p_acc, mode_acc, frac, width,
                          overflow)[0]
        sums[t] = float64(0) if acc_special[s_code] else acc_values[s_code]


@cuda.jit
def float_acc_lanes_kernel(A, B, ta, sa, tb, sb, use_c, mode, sh, peak_hi, sums, status):
    """The sequential sums of a FloatAcc GEMM D = C + A @ B held as float64 counts of quanta ("lanes"),
    from sums (``grid_start_kernel``; from 0 without an addend) back into sums; ``grid_finish_kernel``
    turns them into codes.

    Exact: the tables (ta, tb, float64 integers) and every sum are counts below 2**53 (the plan checks),
    and every product and sum is a multiple of the accumulator's quantum, so float64 multiplies and
    adds them exactly (explicit ``.rn`` operations, never contracted into an fma); ``f64_round_hi``
    rounds each sum, on its 32-bit words, to the accumulator's ``20 - sh`` fraction bits in ``mode``.
    Below the accumulator's normal range that rounding drops only zero bits, as such sums are
    multiples of its quantum.

    Each thread owns RB x RB outputs, TILE apart (``f64_lanes``); a thread block owns SPAN x SPAN outputs
    and stages SPAN x TILE slices of both operands' values in shared memory. status[t] = ST_REDO (the
    generic kernel computes the output instead) for a row or column with an inf or NaN, and for every
    output of a thread whose sums passed the largest finite value (``peak_hi``, the hi word of its
    count); else ST_LOST where any rounding of the output was inexact; else 0."""
    a_tile = cuda.shared.array((SPAN, TILE), dtype=np.float64)    # a_tile[r, k] = value of A[row0 + r, k0 + k]
    b_tile = cuda.shared.array((TILE, SPAN), dtype=np.float64)    # b_tile[k, c] = value of B[k0 + k, col0 + c]
    row_bad = cuda.shared.array(SPAN, dtype=uint8)
    col_bad = cuda.shared.array(SPAN, dtype=uint8)
    acc = cuda.local.array(LANES, dtype=np.float64)
    lost_bits = cuda.local.array(LANES, dtype=np.uint32)
    M = A.shape[0]
    N = B.shape[1]
    K = A.shape[1]
    ty = cuda.threadIdx.y
    tx = cuda.threadIdx.x
    row0 = int64(cuda.blockIdx.y) * SPAN
    col0 = int64(cuda.blockIdx.x) * SPAN
    clear_marks(row_bad, col_bad, ty, tx)
    for r in range(RB):
        for c in range(RB):
            i = row0 + ty + TILE * r
            j = col0 + tx + TILE * c
            acc[r * RB + c] = sums[i * N + j] if (use_c and i < M and j < N) else float64(0)
            lost_bits[r * RB + c] = uint32(0)
    peak = uint32(0)
    cuda.syncthreads()
    for k0 in range(0, K, TILE):
        stage_values(A, B, ta, sa, tb, sb, row0, col0, k0, ty, tx, a_tile, b_tile, row_bad, col_bad, float64(0))
        cuda.syncthreads()
        peak = max(peak, f64_lanes(a_tile, b_tile, ty, tx, acc, lost_bits, mode, sh))
        cuda.syncthreads()
    for r in range(RB):
        for c in range(RB):
            i = row0 + ty + TILE * r
            j = col0 + tx + TILE * c
            if i < M and j < N:
                t = i * N + j
                sums[t] = acc[r * RB + c]
                redo = row_bad[ty + TILE * r] != 0 or col_bad[tx + TILE * c] != 0 or peak > uint32(peak_hi)
                status[t] = ST_REDO if redo else (ST_LOST if lost_bits[r * RB + c] != uint32(0) else 0)


@cuda.jit
def grid_finish_kernel(sums, C, use_c, pc, model, p_acc, mode_acc, frac, width, overflow, acc_values,
                       acc_special, po, mode_out, q, out, flags, status):
    """Codes and flags (status 0) of the outputs ``float_acc_lanes_kernel`` did not mark ST_REDO: the sum
    (a float64 count of 2**q) converted to the output format (``grid_finish``), flags those of the
    addend's conversion plus inexact where marked ST_LOST. Marks ST_REDO an output with a special
    addend, or whose exact-zero end has a sign the products decide (``zero_sign_rule``)."""
    for t in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        if status[t] == ST_REDO:
            continue
        state = dot_init(uint64(C[t]) if use_c else uint64(0), use_c, pc, model, p_acc, mode_acc, frac, width,
                         overflow)
        s_code = state[0]
        s0 = int64(0) if acc_special[s_code] else int64(acc_values[s_code])
        s = int64(sums[t])
        s0_neg = int64((s_code >> uint64(p_acc[P_BITS] - 1)) & uint64(1))
        usual, undecided = zero_sign_rule(s0, s0_neg, mode_acc)
        if acc_special[s_code] or (s == 0 and undecided):
            status[t] = ST_REDO
            continue
        f = state[2] | (FLAG_INEXACT if status[t] == ST_LOST else 0)
        status[t] = 0
        out[t], flags[t] = grid_finish(s, usual if s == 0 else int64(0), f, int64(-1), p_acc, q, po, mode_out)


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
def take_kernel(X, idx, axis, out):
    """out = X[:, idx] (axis 1) or X[idx, :] (axis 0): a gather of a 2-D device array's columns or rows."""
    for t in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        i, j = output_index(t, False, out.shape[1])
        out[i, j] = X[i, idx[j]] if axis == 1 else X[idx[i], j]


@cuda.jit
def gather_samples_kernel(src, sample_in, index_map, fill, out):
    """A per-sample gather (``bitsim.dataflow.gather``): output element j of sample n is
    src[n * sample_in + index_map[j] - 1], or ``fill`` where index_map[j] is 0; out is flat, sample after
    sample, each ``index_map.shape[0]`` elements."""
    sample_out = index_map.shape[0]
    for t in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        n = t // sample_out
        m = index_map[t - n * sample_out]
        out[t] = fill if m == 0 else src[n * sample_in + m - 1]


REDUCE_THREADS = 8 if SIMULATOR else 256      # the block size the reduction kernels are launched with


@cuda.jit(device=True)
def _block_reduce(value, is_max, result):
    """Combine each thread's value across the thread block in shared memory, then one atomic per block into
    result[0] (max, or bitwise or)."""
    partial = cuda.shared.array(REDUCE_THREADS, dtype=uint64)
    t = cuda.threadIdx.x
    partial[t] = value
    cuda.syncthreads()
    width = REDUCE_THREADS // 2
    while width > 0:
        if t < width:
            other = partial[t + width]
            partial[t] = max(partial[t], other) if is_max else partial[t] | other
        cuda.syncthreads()
        width //= 2
    if t == 0:
        if is_max:
            cuda.atomic.max(result, 0, partial[0])
        else:
            cuda.atomic.or_(result, 0, partial[0])


@cuda.jit
def max_kernel(x, result):
    """result[0] = max(result[0], every x[i]) (unsigned codes): the range check of device code arrays.
    Launch with REDUCE_THREADS threads per block."""
    m = uint64(0)
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        m = max(m, uint64(x[i]))
    _block_reduce(m, True, result)


@cuda.jit
def or_kernel(x, result):
    """result[0] |= every x[i] (uint8 flags). Launch with REDUCE_THREADS threads per block."""
    m = uint64(0)
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        m |= uint64(x[i])
    _block_reduce(m, False, result)


native_step = _G.native_step
native_start = _G.native_start
native_finish = _G.native_finish


@cuda.jit(device=True)
def native_lane(s, part, p, k, K, chunk, inner, outer):
    """One product p = A[i, k] * B[k, j] into a chain: (s, part, inexact, redo) after it (``native_step``;
    with chunk > 0 the product goes into the chunk sum ``part``, which joins s at the chunk's end)."""
    mode_i, sh_i, normal_i, max_i, inv_i = inner
    mode_o, sh_o, normal_o, max_o, inv_o = outer
    if chunk == 0:
        s, lost, redo = native_step(s, p, mode_o, sh_o, normal_o, max_o, inv_o)
        return s, part, lost, redo
    part, lost, redo = native_step(part, p, mode_i, sh_i, normal_i, max_i, inv_i)
    if (k + 1) % chunk == 0 or k + 1 == K:
        s, lost_o, redo_o = native_step(s, part, mode_o, sh_o, normal_o, max_o, inv_o)
        return s, float64(0), lost or lost_o, redo or redo_o
    return s, part, lost, redo


@cuda.jit
def native_gemm_kernel(Af, Bf, rowwise, chunk, inner, outer, C, use_c, pc, p_acc, mode_acc, po, mode_out, out, flags,
                       status):
    """D = C + A @ B for a sequential or chunked FloatAcc by the native binary64 path
    (``bitsim.kernels.float_acc_native``; the step is the same core function): Af (M, K), Bf (K, N) the
    operands' values as float64 (exact) -- or with ``rowwise`` row-wise dots, Bf (M, K) and output t
    pairing Af[t] with Bf[t] -- one output per thread, k in increasing order. status[t] = ST_REDO
    (the generic kernel computes it instead) where a value is inf or NaN, the addend is, or a step says so
    (a tiny inexact sum, an overflow); else 0 with the code and flags written."""
    M, K = Af.shape[0], Af.shape[1]
    N = 1 if rowwise else Bf.shape[1]
    for t in range(cuda.grid(1), M * N, cuda.gridsize(1)):
        i = t // N
        j = t - i * N
        s, start_flags, bad = native_start(uint64(C[t]) if use_c else uint64(0), use_c, pc, p_acc, mode_acc)
        part = float64(0)
        inexact = False
        for k in range(K):
            a = Af[i, k]
            b = Bf[i, k] if rowwise else Bf[k, j]
            bad = bad or not (math.isfinite(a) and math.isfinite(b))
            if bad:                                        # the generic kernel takes this output
                break
            s, part, lost, redo = native_lane(s, part, exact_mul(a, b), k, K, chunk, inner, outer)
            inexact = inexact or lost
            bad = redo
        if bad:
            status[t] = ST_REDO
            continue
        code, f = native_finish(s, p_acc, po, mode_out)
        out[t] = code
        flags[t] = uint8(f | start_flags | (FLAG_INEXACT if inexact else 0))
        status[t] = 0


@cuda.jit(device=True)
def int_lanes(a_tile, b_tile, ty, tx, acc):
    """One K slice of ``register_gemm_kernel`` for this thread's RB x RB outputs: exact int64 sums of the
    products of the operands' integer values."""
    a = cuda.local.array(RB, dtype=np.int64)
    b = cuda.local.array(RB, dtype=np.int64)
    for kk in range(TILE):
        load_operands(a_tile, b_tile, ty, tx, kk, a, b)
        for r in range(RB):
            for c in range(RB):
                acc[r * RB + c] += a[r] * b[c]


@cuda.jit
def register_gemm_kernel(A, B, ta, sa, tb, sb, C, use_c, pc, model, p_acc, mode_acc, frac, width, overflow, po,
                         mode_out, shift, out, flags, status):
    """D = C + A @ B for a register model (KulischAcc, IntAcc) whose whole dot fits an int64
    (``register_fast.register_plan``): each output's exact integer sum of the operands' integer values
    (tables ta, tb), then the register's own steps (the addend, the overflow rule, the one rounding:
    ``core.accum``), as ``register_fast.register_dot_array`` does. Tiled as ``float_acc_lanes_kernel``;
    status[t] = ST_REDO (the generic kernel computes it) for a row or column with an inf or NaN, else the
    register's status."""
    a_tile = cuda.shared.array((SPAN, TILE), dtype=np.int64)
    b_tile = cuda.shared.array((TILE, SPAN), dtype=np.int64)
    row_bad = cuda.shared.array(SPAN, dtype=uint8)
    col_bad = cuda.shared.array(SPAN, dtype=uint8)
    acc = cuda.local.array(LANES, dtype=np.int64)
    M, K, N = A.shape[0], A.shape[1], B.shape[1]
    ty = cuda.threadIdx.y
    tx = cuda.threadIdx.x
    row0 = int64(cuda.blockIdx.y) * SPAN
    col0 = int64(cuda.blockIdx.x) * SPAN
    clear_marks(row_bad, col_bad, ty, tx)
    for q in range(LANES):
        acc[q] = int64(0)
    cuda.syncthreads()
    for k0 in range(0, K, TILE):
        stage_values(A, B, ta, sa, tb, sb, row0, col0, k0, ty, tx, a_tile, b_tile, row_bad, col_bad, int64(0))
        cuda.syncthreads()
        int_lanes(a_tile, b_tile, ty, tx, acc)
        cuda.syncthreads()
    for r in range(RB):
        for c in range(RB):
            i = row0 + ty + TILE * r
            j = col0 + tx + TILE * c
            if i < M and j < N:
                bad = row_bad[ty + TILE * r] != 0 or col_bad[tx + TILE * c] != 0
                register_output(i * N + j, bad, acc[r * RB + c], C, use_c, pc, model, p_acc, mode_acc, frac, width,
                                overflow, po, mode_out, shift, out, flags, status)


@cuda.jit(device=True)
def register_output(t, bad, total, C, use_c, pc, model, p_acc, mode_acc, frac, width, overflow, po, mode_out, shift,
                    out, flags, status):
    """Output t of a register model from its exact int64 sum of integer values ``total``: the register's
    steps (the addend, the overflow rule, the one rounding), or status ST_REDO when ``bad`` (an inf or
    NaN operand: the generic kernel computes it)."""
    if bad:
        status[t] = ST_REDO
        return
    state = dot_init(uint64(C[t]) if use_c else uint64(0), use_c, pc, model, p_acc, mode_acc, frac, width, overflow)
    hi, lo, st = register_add_integer(state[3], state[4], total, shift, width, overflow, state[6])
    out[t], flags[t] = register_result(hi, lo, state[5], frac, po, mode_out)
    status[t] = st


@cuda.jit
def register_rows_kernel(A, BT, ta, sa, tb, sb, C, use_c, pc, model, p_acc, mode_acc, frac, width, overflow, po,
                         mode_out, shift, out, flags, status):
    """Row-wise dots (output t pairs A[t] with BT[t]) for a register model whose whole dot fits an int64, as
    ``register_gemm_kernel`` does for a GEMM: one thread per output sums the products of the operands'
    integer values (tables ta, tb) in int64, exactly, then ``register_output``."""
    K = A.shape[1]
    for t in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        total = int64(0)
        bad = False
        for k in range(K):
            a = A[t, k]
            b = BT[t, k]
            bad = bad or sa[a] != 0 or sb[b] != 0
            total += ta[a] * tb[b]
        register_output(t, bad, total, C, use_c, pc, model, p_acc, mode_acc, frac, width, overflow, po, mode_out,
                        shift, out, flags, status)
