"""Launch the CUDA kernels with the CPU kernels' signatures, on host or device arrays.

Each function here takes the arguments of its namesake in ``bitsim.kernels.cpu`` /
``block_cpu`` / ``dot_cpu``. An argument that is a NumPy array is copied to the GPU (outputs are
copied back into it afterwards); a device array (anything with ``__cuda_array_interface__``: Numba,
CuPy, PyTorch) is used in place, without a host copy.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import cuda

from bitsim.kernels import cuda as G

THREADS = 8 if G.SIMULATOR else 256          # the simulator runs one Python thread per GPU thread
MAX_BLOCKS = 2 if G.SIMULATOR else 8192      # grid-stride loops cover the rest


def grid_1d(n: int) -> tuple[int, int]:
    """(blocks, threads) for a grid-stride loop over n items."""
    return max(1, min(-(-n // THREADS), MAX_BLOCKS)), THREADS


def on_device(a):
    """A NumPy array staged on the GPU (an empty one as a cached empty device array: no copy, which
    would wait for the GPU); anything else (device arrays, scalars, tuples) as it is."""
    if isinstance(a, np.ndarray):
        if a.size == 0 and a.ndim == 1:
            if a.dtype not in _EMPTY:
                _EMPTY[a.dtype] = cuda.device_array(0, dtype=a.dtype)
            return _EMPTY[a.dtype]
        return cuda.to_device(np.ascontiguousarray(a))
    return a


_EMPTY: dict = {}


def _launch(kernel, config, args, n_outputs: int):
    """kernel[config](*args) with host arrays staged on the GPU; the last ``n_outputs`` args are outputs."""
    dev = [on_device(a) for a in args]
    kernel[config](*dev)
    _copy_back(args[-n_outputs:], dev[-n_outputs:])


def _copy_back(hosts, devs) -> None:
    """Copy each staged output back into its host (NumPy) array; device arrays were written in place."""
    for host, d in zip(hosts, devs):
        if isinstance(host, np.ndarray) and host.size:
            d.copy_to_host(host)


def convert_array(src, src_p, dst_p, mode, sr_bits, seed, stream, offset, rand, tiny_before, out, flags):
    _launch(G.convert_kernel, grid_1d(src.shape[0]),
            (src, src_p, dst_p, mode, sr_bits, seed, stream, offset, rand, tiny_before, out, flags), 2)


def encode_fast_array(src, plan, mode, sr_bits, seed, stream, offset, rand, out):
    _launch(G.encode_fast_kernel, grid_1d(src.shape[0]), (src, plan, mode, sr_bits, seed, stream, offset, rand, out),
            1)


SHARED_TABLE_BYTES = 48 * 1024      # dynamic shared memory a kernel gets without opting in


def table_encode_array(src, table, shift, out):
    """``table_encode.table_encode_array`` on the GPU. The table is copied to the GPU once per table (it is
    cached with its plan); a table that fits in shared memory is read from there, on
    a grid of a few blocks per multiprocessor so that each block's copy of the table is amortised."""
    dev_table = _device_table(table)
    if table.nbytes <= SHARED_TABLE_BYTES:
        blocks = min(grid_1d(src.shape[0])[0], 1 if G.SIMULATOR else 16 * _multiprocessors())
        config = (blocks, THREADS, 0, table.nbytes)
        _launch(G.table_encode_kernel, config, (src, dev_table, shift, out), 1)
    else:
        _launch(G.table_encode_wide_kernel, grid_1d(src.shape[0]), (src, dev_table, shift, out), 1)


_DEVICE_TABLES: dict[int, tuple] = {}


_NO_TODO = np.zeros(0, np.uint8)      # gemm_kernel: every output


def _device_table(table, as_type: str = "same"):
    """A (read-only, cached) host table on the GPU, copied once; booleans as uint8. ``as_type``: "same" or
    "float64" (integer values below 2**53, exactly)."""
    key = (id(table), as_type)
    if key not in _DEVICE_TABLES or _DEVICE_TABLES[key][0] is not table:
        if len(_DEVICE_TABLES) >= 64:
            _DEVICE_TABLES.clear()
        host = np.ascontiguousarray(table)
        if table.dtype == np.bool_:
            host = table.astype(np.uint8)
        elif as_type == "float64":
            host = table.astype(np.float64)
            if not np.array_equal(host.astype(table.dtype), table) or np.abs(host).max(initial=0) >= F64_EXACT:
                raise ValueError(f"table values do not fit float64 exactly (largest {np.abs(table).max()})")
        _DEVICE_TABLES[key] = (table, cuda.to_device(host))
    return _DEVICE_TABLES[key][1]


def _multiprocessors() -> int:
    return int(cuda.get_current_device().MULTIPROCESSOR_COUNT)


def counter_bits_array(seed, stream, offset, bits, out):
    _launch(G.counter_bits_kernel, grid_1d(out.shape[0]), (seed, stream, offset, bits, out), 1)


def arith_array(op, a, pa, b, pb, c, pc, po, mode, sr_bits, seed, stream, offset, rand, tiny_before, out, flags):
    _launch(G.arith_kernel, grid_1d(out.shape[0]),
            (op, a, pa, b, pb, c, pc, po, mode, sr_bits, seed, stream, offset, rand, tiny_before, out, flags), 2)


def compare_array(op, a, b, p, out, flags):
    _launch(G.compare_kernel, grid_1d(out.shape[0]), (op, a, b, p, out, flags), 2)


def fixed_array(op, a, pa, b, pb, po, n, mode, sr_bits, seed, stream, offset, rand, out, flags):
    _launch(G.fixed_kernel, grid_1d(out.shape[0]),
            (op, a, pa, b, pb, po, n, mode, sr_bits, seed, stream, offset, rand, out, flags), 2)


def block_encode_array(src, run_len, starts, lengths, src_p, elem_p, rule, plan, mode, sr_bits, seed, stream, offset,
                       rand, codes, scales, status):
    _launch(G.block_encode_kernel, grid_1d(scales.shape[0]),
            (src, run_len, starts, lengths, src_p, elem_p, rule, plan, mode, sr_bits, seed, stream, offset, rand,
             codes, scales, status), 3)


def block_decode_array(codes, starts, lengths, scales, scale_bias, scale_nan, elem_p, f64_p, out, status):
    _launch(G.block_decode_kernel, grid_1d(scales.shape[0]),
            (codes, starts, lengths, scales, scale_bias, scale_nan, elem_p, f64_p, out, status), 2)


def dot_array(A, B, rowwise, C, use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width,
              overflow, p_prod, po, mode_out, out, flags, status):
    """``dot_cpu.dot_array``, except that B is (K, N) -- not transposed -- for a matmul (rows (n, K) when
    ``rowwise``), so device operands need no transposed copy."""
    args = (A, B, C, use_c, pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width, overflow,
            p_prod, po, mode_out, out, flags, status)
    if rowwise:
        _launch(G.dot_rows_kernel, grid_1d(out.shape[0]), (*args[:-3], _NO_TODO, *args[-3:]), 3)
        return
    M, N = A.shape[0], B.shape[1]
    blocks = (-(-N // G.TILE), -(-M // G.TILE))
    _launch(G.gemm_kernel, (blocks, (G.TILE, G.TILE)), (*args[:-3], _NO_TODO, *args[-3:]), 3)


F64_EXACT = 2 ** 53      # float64 holds every integer below this exactly


def float_acc_gemm(A, B, grid, C, use_c, args, results, status):
    """``float_acc_fast.float_acc_gemm`` on the GPU for D = C + A @ B (B (K, N), not transposed), for a unit
    whose products are multiples of the accumulator's quantum (``lanes_exact``); ``grid`` is the unit's
    ``float_acc_plan`` (its tables are copied to the GPU once), ``args`` the generic kernel's unit
    arguments, ``results()`` makes the (codes, flags) arrays (after the first launch, so that the
    allocation overlaps the GPU's work). Where every count of quanta stays below 2**53, the float64
    lanes run (start, lanes, finish kernels; no start without an addend) and the generic kernel
    computes only the outputs they mark (``cuda.ST_REDO``); else the generic kernel computes every
    output. Returns (clear, codes, flags), clear = whether every status is known to be 0, which spares
    the caller a check (and the host a wait for the GPU)."""
    ta, sa, _, tb, sb, _, acc_values, acc_special, q, _, man, max_units = grid
    (pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width, overflow, p_prod, po,
     mode_out) = args
    M, N = A.shape[0], B.shape[1]
    dA, dB, dC, d_status = (on_device(x) for x in (A, B, C, status))
    generic = ((-(-N // G.TILE), -(-M // G.TILE)), (G.TILE, G.TILE))
    if max_units + int(np.abs(ta).max()) * int(np.abs(tb).max()) >= F64_EXACT or man > 19:
        out, flags = results()
        d_out, d_flags = on_device(out), on_device(flags)
        G.gemm_kernel[generic](dA, dB, dC, use_c, *args, _NO_TODO, d_out, d_flags, d_status)
        _copy_back((out, flags, status), (d_out, d_flags, d_status))
        return False, out, flags
    sums = scratch("float_acc_sums", M * N, np.float64)
    acc_tables = (_device_table(acc_values, "float64"), _device_table(acc_special))
    unit = (pc, model, p_acc, mode_acc, frac, width, overflow)
    if use_c:
        G.grid_start_kernel[grid_1d(M * N)](dC, use_c, *unit, *acc_tables, sums)
    peak_hi = int(np.float64(max_units).view(np.uint64)) >> 32
    G.float_acc_lanes_kernel[(-(-N // G.SPAN), -(-M // G.SPAN)), (G.TILE, G.TILE)](
        dA, dB, _device_table(ta, "float64"), _device_table(sa), _device_table(tb, "float64"), _device_table(sb),
        use_c, mode_acc, 20 - man, peak_hi, sums, d_status)
    out, flags = results()
    d_out, d_flags = on_device(out), on_device(flags)
    G.grid_finish_kernel[grid_1d(M * N)](sums, dC, use_c, *unit, *acc_tables, po, mode_out, q, d_out, d_flags,
                                         d_status)
    _redo_marked(dA, dB, dC, use_c, args, d_out, d_flags, d_status)
    _copy_back((out, flags, status), (d_out, d_flags, d_status))
    return True, out, flags


def _redo_marked(dA, dB, dC, use_c, args, d_out, d_flags, d_status, rowwise=False) -> None:
    """The outputs marked ``cuda.ST_REDO`` by the generic kernel, without asking the host: for a GEMM a few
    thread blocks per multiprocessor walk the tiles, skipping those with none; rows run ``dot_rows_kernel``
    on the marked rows. A float model's generic steps end with status 0, so every status is then 0."""
    if rowwise:
        G.dot_rows_kernel[grid_1d(dA.shape[0])](dA, dB, dC, use_c, *args, d_status, d_out, d_flags, d_status)
        return
    M, N = dA.shape[0], dB.shape[1]
    tiles = -(-N // G.TILE) * -(-M // G.TILE)
    walkers = min(tiles, 2 if G.SIMULATOR else 4 * _multiprocessors())
    G.gemm_kernel[walkers, (G.TILE, G.TILE)](dA, dB, dC, use_c, *args, d_status, d_out, d_flags, d_status)


def register_gemm(A, B, plan, C, use_c, args, results, status, rowwise=False):
    """``register_fast.register_dot_array`` on the GPU for D = C + A @ B (B (K, N)), or with ``rowwise``
    row-wise dots (B (n, K)): ``plan`` is the unit's ``register_plan`` (shift, integer-value and special
    tables), ``args`` the generic kernel's unit arguments, ``results()`` as for ``float_acc_gemm``. The
    generic kernel computes the outputs with a special operand. Returns (False, codes, flags): the caller
    checks the statuses (an addend off the register's grid)."""
    shift, ta, sa, tb, sb, _ = plan
    (pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width, overflow, p_prod, po,
     mode_out) = args
    dA, dB, dC, d_status = (on_device(x) for x in (A, B, C, status))
    out, flags = results()
    d_out, d_flags = on_device(out), on_device(flags)
    tables = (_device_table(ta), _device_table(sa), _device_table(tb), _device_table(sb))
    unit = (dC, use_c, pc, model, p_acc, mode_acc, frac, width, overflow, po, mode_out, shift, d_out, d_flags, d_status)
    if rowwise:
        G.register_rows_kernel[grid_1d(A.shape[0])](dA, dB, *tables, *unit)
    else:
        M, N = A.shape[0], B.shape[1]
        G.register_gemm_kernel[(-(-N // G.SPAN), -(-M // G.SPAN)), (G.TILE, G.TILE)](dA, dB, *tables, *unit)
    _redo_marked(dA, dB, dC, use_c, args, d_out, d_flags, d_status, rowwise)
    _copy_back((out, flags, status), (d_out, d_flags, d_status))
    return False, out, flags


def _float64_values(d_codes, fmt):
    """The values of a device array of ``fmt`` codes as a device float64 array (exact: the native plan
    checks the range and precision), through the GPU's conversion to binary64."""
    from bitsim.quantize import convert
    return convert(d_codes, fmt, "fp64", backend="cuda").view(np.float64)


def native_gemm(A, B, plan, fa, fb, C, use_c, args, results, status, rowwise=False):
    """``float_acc_native.native_gemm`` on the GPU for D = C + A @ B (B (K, N)), or with ``rowwise``
    ``native_dot_rows`` (B (n, K)): ``plan`` is the unit's ``native_plan`` (chunk, inner and outer step
    constants), fa / fb the operand formats, ``args`` the generic kernel's unit arguments, ``results()`` as
    for ``float_acc_gemm``. One thread per output runs the chain on the operands' float64 values; the
    generic kernel computes the outputs it marks. Returns (True, codes, flags): every status ends 0."""
    (pa, pb, pc, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width, overflow, p_prod, po,
     mode_out) = args
    n_out = A.shape[0] * (1 if rowwise else B.shape[1])
    dA, dB, dC, d_status = (on_device(x) for x in (A, B, C, status))
    Af, Bf = _float64_values(dA, fa), _float64_values(dB, fb)
    out, flags = results()
    d_out, d_flags = on_device(out), on_device(flags)
    G.native_gemm_kernel[grid_1d(n_out)](Af, Bf, rowwise, *plan, dC, use_c, pc, p_acc, mode_acc, po, mode_out, d_out,
                                        d_flags, d_status)
    _redo_marked(dA, dB, dC, use_c, args, d_out, d_flags, d_status, rowwise)
    _copy_back((out, flags, status), (d_out, d_flags, d_status))
    return True, out, flags


class _Scratch(threading.local):
    def __init__(self):
        self.arrays = {}


_SCRATCH = _Scratch()


def scratch(name: str, n: int, dtype):
    """A device work array of n items that only this module's kernels read and write, kept for the next
    call of the same size (one per name and host thread: launches from one thread are ordered on the
    default stream, so a later call cannot overwrite it before an earlier one's kernels have read it)."""
    held = _SCRATCH.arrays.get(name)
    if held is None or held.shape[0] != n or held.dtype != np.dtype(dtype):
        held = _SCRATCH.arrays[name] = cuda.device_array(n, dtype=dtype)
    return held


def block_dot_array(A, SA, BT, SBT, rowwise, L, C, use_c, pa, pb, psa, psb, pc, frac, width, overflow, p_acc, mode_acc,
                    mode_conv, fused, po, mode_out, out, flags, status):
    _launch(G.block_dot_kernel, grid_1d(out.shape[0]),
            (A, SA, BT, SBT, rowwise, L, C, use_c, pa, pb, psa, psb, pc, frac, width, overflow, p_acc, mode_acc,
             mode_conv, fused, po, mode_out, out, flags, status), 3)


def take(X, idx, axis: int):
    """``X[:, idx]`` (axis 1) or ``X[idx, :]`` (axis 0) of a 2-D array (host or device) as a new C-contiguous
    device array: NumPy's fancy indexing, on the GPU."""
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    shape = (X.shape[0], idx.size) if axis == 1 else (idx.size, X.shape[1])
    out = cuda.device_array(shape, dtype=X.dtype)
    if out.size:
        G.take_kernel[grid_1d(out.size)](on_device(X), on_device(idx), axis, out)
    return out


def gather_samples(src, sample_in: int, index_map, fill: int, n_samples: int):
    """``cuda.gather_samples_kernel`` into a new flat device array of n_samples * len(index_map) elements
    of src's dtype (src and index_map device arrays, flat)."""
    out = cuda.device_array(n_samples * index_map.shape[0], dtype=src.dtype)
    if out.size:
        G.gather_samples_kernel[grid_1d(out.size)](src, sample_in, index_map, fill, out)
    return out


def _reduce_grid(n: int) -> tuple[int, int]:
    """(blocks, threads) for the reduction kernels: REDUCE_THREADS threads, a few blocks per multiprocessor."""
    blocks = max(1, min(-(-n // G.REDUCE_THREADS), 2 if G.SIMULATOR else 8 * _multiprocessors()))
    return blocks, G.REDUCE_THREADS


def device_max(x) -> int:
    """The largest value of an unsigned integer device array (0 if empty)."""
    result = cuda.to_device(np.zeros(1, dtype=np.uint64))
    if x.shape[0]:
        G.max_kernel[_reduce_grid(x.shape[0])](x, result)
    return int(result.copy_to_host()[0])


def device_or(flags) -> int:
    """All uint8 flags of a device array ORed."""
    result = cuda.to_device(np.zeros(1, dtype=np.uint64))
    if flags.shape[0]:
        G.or_kernel[_reduce_grid(flags.shape[0])](flags, result)
    return int(result.copy_to_host()[0])
