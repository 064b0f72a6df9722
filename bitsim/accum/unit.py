"""Dot-product units on code arrays: ``DotUnit`` (exact products -> accumulator model -> output format),
``dot`` (row-wise) and ``matmul``; tensor-core presets (``TensorCoreUnit``) run the fused model.

Order: every output feeds its K products in increasing k to its accumulator model -- a sequential
running sum, the pairwise tree (``FloatAcc(order="pairwise")``), chunks (``ChunkedAcc``) or split-K
slices (``SplitKAcc``), or an exact register; ``c`` enters first (converted to the accumulator, added
to the register, or -- pairwise -- added to the finished tree), and the accumulator is converted once to
``out`` with ``out_rounding``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitsim.accum.fused import FusedAcc, fused_dot
from bitsim.accum.gemm_level import gemm_dot, gemm_matmul, take_host
from bitsim.accum.block_dot import BLOCK_PRESETS, BlockDotUnit, block_matmul, block_unit
from bitsim.accum.models import (
    AccumulatorOverflow, ChunkedAcc, FloatAcc, IntAcc, KulischAcc, SplitKAcc, kulisch_layout,
)
from bitsim.accum.presets import PRESETS, TensorCoreUnit
from bitsim.arrays import operand_codes
from bitsim.core.accum import REG_OVF_RAISE, REG_OVF_SATURATE, REG_OVF_WRAP, ST_OFF_GRID, ST_OVERFLOW
from bitsim.formats import FixedFormat, FloatFormat, format as as_format
from bitsim.quantize import encode
from bitsim.ops import exact_product_format
from bitsim.backend import choose, empty_like_input, is_device_array
from bitsim.core.dot import MODEL_CHUNKED, MODEL_FLOAT, MODEL_PAIRWISE, MODEL_REGISTER
from bitsim.kernels import dot_cpu, fused_cpu
from bitsim.kernels.float_acc_fast import (
    column_tiles, float_acc_dot_array, float_acc_gemm, float_acc_plan, lanes_exact,
)
from bitsim.kernels.float_acc_native import (
    gemm_layout, native_dot_rows, native_gemm, native_plan, operand_values,
)
from bitsim.kernels.register_fast import exact_totals, register_dot_array, register_plan
from bitsim.rounding import DETERMINISTIC_MODES, mode_code

MAX_REGISTER_BITS = 127
_REGISTER_OVERFLOW = {"raise": REG_OVF_RAISE, "wrap": REG_OVF_WRAP, "saturate": REG_OVF_SATURATE}
MODELS = (FloatAcc, ChunkedAcc, SplitKAcc, KulischAcc, IntAcc, FusedAcc)


def _element_format(fmt, name):
    f = as_format(fmt)
    if not isinstance(f, (FloatFormat, FixedFormat)):
        raise TypeError(f"DotUnit.{name} must be an element format (float or fixed), got {f}")
    return f


@dataclass(frozen=True)
class DotUnit:
    """a, b: operand formats; acc: FloatAcc | ChunkedAcc | SplitKAcc | KulischAcc | IntAcc | FusedAcc;
    out: output format; c: format of the addend (default ``out``).

    A ``FusedAcc`` (a tensor-core block FMA) takes a == b float formats, ``out`` = ``acc.out`` = ``c``
    (the accumulator input), chains groups of ``acc.group`` products in increasing k, and rounds as
    ``acc.result_rounding`` says (``out_rounding`` plays no part); for an instruction of several groups
    or the library level, use a ``TensorCoreUnit`` (``bitsim.unit(name)`` presets)."""

    a: object
    b: object
    acc: object
    out: object
    out_rounding: str = "rne"
    c: object = None

    def __post_init__(self):
        for name in ("a", "b", "out"):
            object.__setattr__(self, name, _element_format(getattr(self, name), name))
        object.__setattr__(self, "c", self.out if self.c is None else _element_format(self.c, "c"))
        if not isinstance(self.acc, MODELS):
            raise TypeError(f"DotUnit.acc must be one of {', '.join(m.__name__ for m in MODELS)} (tensor-core "
                            f"presets: bitsim.unit(name)); got {type(self.acc).__name__}")
        if self.out_rounding not in DETERMINISTIC_MODES:
            raise ValueError(f"DotUnit.out_rounding must be one of {', '.join(DETERMINISTIC_MODES)}; "
                             f"got {self.out_rounding!r}")
        for acc in _float_accumulators(self.acc):
            if not acc.fmt.has_zero:
                raise ValueError(f"DotUnit.acc format {acc.fmt} has no zero to start from")
        if isinstance(self.acc, IntAcc) and not (isinstance(self.a, FixedFormat) and isinstance(self.b, FixedFormat)):
            raise ValueError(f"IntAcc takes fixed-point or integer operands; got a={self.a}, b={self.b}")
        if isinstance(self.acc, FusedAcc):
            _check_fused_parts(self)
        if isinstance(self.acc, IntAcc) and self.acc.bits > MAX_REGISTER_BITS:
            raise ValueError(f"IntAcc.bits must be <= {MAX_REGISTER_BITS}; got {self.acc.bits}")

    def register(self, length: int, with_c: bool = True) -> tuple[int, int]:
        """(frac_bits, width) of the register of a Kulisch or integer accumulator for dots of ``length``
        (with an addend of format ``c`` when ``with_c``)."""
        if isinstance(self.acc, IntAcc):
            return self.a.frac_bits + self.b.frac_bits, self.acc.bits
        frac, width = kulisch_layout(self.a, self.b, max(length, 1), self.c if with_c else None)
        frac = frac if self.acc.frac_bits is None else self.acc.frac_bits
        width = width if self.acc.width is None else self.acc.width
        if width > MAX_REGISTER_BITS:
            raise ValueError(f"KulischAcc: a {width}-bit register is needed for {self.a} x {self.b} dots of length "
                             f"{length}; the kernels hold at most {MAX_REGISTER_BITS} bits (give width= and "
                             "overflow=, or narrower operand formats)")
        return frac, width


def _check_fused_parts(unit):
    """A DotUnit with a FusedAcc: one float input format, the accumulator's format out and as c."""
    if not isinstance(unit.a, FloatFormat) or unit.a != unit.b:
        raise ValueError(f"DotUnit with a FusedAcc takes one float format for a and b; got a={unit.a}, b={unit.b}")
    if unit.out != unit.acc.out or unit.c != unit.acc.out:
        raise ValueError(f"DotUnit with a FusedAcc: out and c must be the FusedAcc's out ({unit.acc.out}); "
                         f"got out={unit.out}, c={unit.c}")


def _float_accumulators(acc):
    if isinstance(acc, FloatAcc):
        return (acc,)
    if isinstance(acc, (ChunkedAcc, SplitKAcc)):
        return acc.inner, acc.outer
    return ()


def _kernel_model(unit: DotUnit, length: int, with_c: bool):
    """(model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac, width, overflow, p_prod) for the kernel."""
    acc = unit.acc.chunked(length) if isinstance(unit.acc, SplitKAcc) else unit.acc
    dummy = unit.out.params
    if isinstance(acc, FloatAcc):
        if acc.order == "pairwise":
            return (MODEL_PAIRWISE, acc.fmt.params, mode_code(acc.rounding), dummy, 0, 1, 0, 0, 0,
                    _product_format(unit).params)
        return MODEL_FLOAT, acc.fmt.params, mode_code(acc.rounding), dummy, 0, 1, 0, 0, 0, dummy
    if isinstance(acc, ChunkedAcc):
        return (MODEL_CHUNKED, acc.outer.fmt.params, mode_code(acc.outer.rounding), acc.inner.fmt.params,
                mode_code(acc.inner.rounding), acc.chunk, 0, 0, 0, dummy)
    frac, width = unit.register(length, with_c)
    return MODEL_REGISTER, dummy, 0, dummy, 0, 1, frac, width, _REGISTER_OVERFLOW[acc.overflow], dummy


def _product_format(unit: DotUnit):
    """A float format that holds every a x b product exactly: where the pairwise tree parks an odd product."""
    if not (isinstance(unit.a, FloatFormat) and isinstance(unit.b, FloatFormat)):
        raise ValueError(f"FloatAcc(order='pairwise') in the kernels takes float operands; got a={unit.a}, b={unit.b}")
    pf = exact_product_format(unit.a, unit.b)
    if pf.bits > 64:
        raise ValueError(f"FloatAcc(order='pairwise'): {unit.a} x {unit.b} products need {pf.bits}-bit codes to be "
                         "held exactly; the kernels hold 64")
    return pf


def _two_level(acc) -> bool:
    """A chunked or split-K model with a pairwise part: run as two stages of units (``_run_two_level``)."""
    return isinstance(acc, (ChunkedAcc, SplitKAcc)) and "pairwise" in (acc.inner.order, acc.outer.order)


def _run_two_level(A, B, rowwise, c, unit: DotUnit, n_out, backend):
    """(codes, flags) of a chunked / split-K unit with a pairwise inner or outer, as two stages of units:
    each chunk's sum through ``inner`` (a DotUnit whose output is the inner format, so it is exact), then
    the chunk sums, times an exact 1, through ``outer`` from c. round(s + v * 1) = round(s + v), so the
    steps are those of ``bitsim.ref.accum.chunked_acc``; the flags are ORed over both stages."""
    if any(is_device_array(x) for x in (A, B, c)):
        raise TypeError(f"{type(unit.acc).__name__} with a pairwise part runs on host arrays (its two stages "
                        "are gathered on the host); pass NumPy arrays")
    K = A.shape[1]
    acc = unit.acc.chunked(K) if isinstance(unit.acc, SplitKAcc) else unit.acc
    fmt = acc.inner.fmt
    inner = DotUnit(unit.a, unit.b, acc.inner, fmt)
    sums, flags = [], np.zeros(n_out, np.uint8)
    for start in range(0, K, acc.chunk):
        part = slice(start, min(start + acc.chunk, K))
        code, f = _run(A[:, part], B[:, part] if rowwise else B[part], rowwise, None, inner, n_out, backend)
        sums.append(code.reshape(-1))
        flags |= f.reshape(-1)
    V = np.stack(sums, axis=1) if sums else np.zeros((n_out, 0), fmt.code_dtype)
    ones = np.full(V.shape, int(encode(np.array([1.0]), fmt)[0]), fmt.code_dtype)
    outer = DotUnit(fmt, fmt, acc.outer, unit.out, unit.out_rounding, c=unit.c)
    code, f = _run(V, ones, True, None if c is None else c.reshape(-1), outer, n_out, backend)
    return code, flags | f.reshape(-1)


def _run(A, B, rowwise, c, unit: DotUnit, n_out, backend):
    """(codes, flags) of ``unit`` on ``backend``: B holds rows (n, K) when ``rowwise``, else B is (K, N)."""
    if _two_level(unit.acc):
        return _run_two_level(A, B, rowwise, c, unit, n_out, backend)
    use_c = c is not None
    model = _kernel_model(unit, A.shape[1], use_c)
    frac, width = model[6], model[7]
    args = (unit.a.params, unit.b.params, unit.c.params, *model, unit.out.params, mode_code(unit.out_rounding))
    if backend == "cuda":
        code, flags, status = _run_cuda(A, B, rowwise, c, unit, args, n_out)
    else:
        code, flags, status = _run_cpu(A, B if rowwise else np.ascontiguousarray(B.T), rowwise, c, unit, args,
                                       n_out)
    if status is not None and status.any():
        t = int(np.flatnonzero(status)[0])
        if status[t] == ST_OVERFLOW:
            raise AccumulatorOverflow(f"output {t}: the {width}-bit accumulator of {unit.acc} overflowed")
        if status[t] == ST_OFF_GRID:
            raise ValueError(f"output {t}: a term is not a multiple of the register's quantum 2**-{frac} "
                             f"({unit.acc}); give KulischAcc a larger frac_bits")
    return (code if is_device_array(code) else code.astype(unit.out.code_dtype)), flags


def _run_cpu(A, BT, rowwise, c, unit, args, n_out):
    """(codes, flags, status) from the CPU kernels: the int64 fast paths of float and register models where
    they apply (``bitsim.kernels.float_acc_fast``, ``register_fast``), else the generic kernel."""
    use_c = c is not None
    C = c.reshape(-1).astype(np.uint64) if use_c else np.zeros(1, np.uint64)
    code = np.empty(n_out, dtype=np.uint64)           # one compiled signature for every output format
    flags = np.empty(n_out, dtype=np.uint8)
    status = np.zeros(n_out, dtype=np.uint8)
    model, frac, width = args[3], args[9], args[10]
    A64, BT64 = A.astype(np.uint64), BT.astype(np.uint64)
    if model == MODEL_FLOAT:
        grid = float_acc_plan(unit, unit.acc)
        if grid is not None:
            ta, sa, na, tb, sb, nb, acc_values, acc_special, *consts = grid
            Ai, BTi, Aneg, BTneg = ta[A], tb[BT], na[A], nb[BT]
            specials = (sa[A].any(axis=1), sb[BT].any(axis=1), acc_values, acc_special, C, use_c)
            if rowwise or not lanes_exact(unit, unit.acc):
                float_acc_dot_array(A64, BT64, Ai, BTi, Aneg, BTneg, rowwise, *specials, *args, *consts, code, flags,
                                    status)
            else:
                float_acc_gemm(A64, BT64, (ta, na, tb, nb), Ai, BTi, Aneg, BTneg, column_tiles(BTi), *specials, *args,
                               *consts, code, flags, status)
            return code, flags, status
    if model in (MODEL_FLOAT, MODEL_CHUNKED):
        native = native_plan(unit, A.shape[1])
        if native is not None:
            (Af, a_special), (BTf, b_special) = operand_values(A, unit.a), operand_values(BT, unit.b)
            if rowwise:
                native_dot_rows(A64, BT64, Af, BTf, a_special, b_special, *native, C, use_c, *args, code, flags,
                                status)
            else:
                rows, lane_tiles, swap = gemm_layout(Af, BTf)
                native_gemm(A64, BT64, rows, lane_tiles, a_special, b_special, swap, *native, C, use_c, *args, code,
                            flags, status)
            return code, flags, status
    plan = register_plan(unit, A.shape[1], frac, width, use_c) if model == MODEL_REGISTER else None
    if plan is None:
        dot_cpu.dot_array(A64, BT64, rowwise, C, use_c, *args, code, flags, status)
        return code, flags, status
    shift, ta, sa, tb, sb, float_exact = plan
    Ai, BTi = ta[A], tb[BT]
    totals = exact_totals(Ai, BTi, rowwise) if float_exact else np.zeros(0, np.int64)
    register_dot_array(A64, BT64, Ai, BTi, totals, rowwise, sa[A].any(axis=1),
                       sb[BT].any(axis=1), C, use_c, *args, shift, code, flags, status)
    return code, flags, status


def _run_cuda(A, B, rowwise, c, unit, args, n_out):
    """(codes, flags, status on the host or None if all clear) from the GPU kernels: the float64-lane GEMM
    of a sequential FloatAcc where it applies (``lanes_exact``), else the native binary64 GEMM or rows of a
    sequential or chunked FloatAcc where it applies (``native_plan``), the int64 GEMM or rows of a register
    model where it applies (``register_plan``), else the generic kernels; device inputs stay there."""
    from bitsim.kernels import cuda_run
    on_device = any(is_device_array(x) for x in (A, B, c))
    host = not on_device
    if host:                                           # one compiled signature for host inputs
        A, B = A.astype(np.uint64), B.astype(np.uint64)
    use_c = c is not None
    C = (c.reshape(-1) if is_device_array(c) else np.ascontiguousarray(c).reshape(-1).astype(np.uint64)) if use_c \
        else np.zeros(1, np.uint64)
    empty = empty_like_input(A if on_device else np.empty(0))

    def results():
        """(codes, flags): on the device in the output's dtype, on the host in uint64 (one compiled
        signature for host inputs)."""
        return empty(n_out, dtype=unit.out.code_dtype if on_device else np.uint64), empty(n_out, dtype=np.uint8)

    # every kernel writes every output's status
    status = cuda_run.scratch("status", n_out, np.uint8) if on_device else np.empty(n_out, np.uint8)
    grid = float_acc_plan(unit, unit.acc) if args[3] == MODEL_FLOAT and not rowwise else None
    native = native_plan(unit, A.shape[1]) if args[3] in (MODEL_FLOAT, MODEL_CHUNKED) else None
    register = register_plan(unit, A.shape[1], args[9], args[10], use_c) if args[3] == MODEL_REGISTER else None
    clear = False
    if grid is not None and lanes_exact(unit, unit.acc):
        clear, code, flags = cuda_run.float_acc_gemm(A, B, grid, C, use_c, args, results, status)
    elif native is not None:
        clear, code, flags = cuda_run.native_gemm(A, B, native, unit.a, unit.b, C, use_c, args, results, status,
                                                  rowwise)
    elif register is not None:
        clear, code, flags = cuda_run.register_gemm(A, B, register, C, use_c, args, results, status, rowwise)
    else:
        code, flags = results()
        cuda_run.dot_array(A, B, rowwise, C, use_c, *args, code, flags, status)
    if on_device:
        status = None if clear or not cuda_run.device_max(status) else status.copy_to_host()
    return code, flags, status


def _rows(x, fmt, name, ndim=2):
    arr = operand_codes(x, fmt, name)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array of codes; got shape {arr.shape}")
    return arr


def dot(A, B, unit, c=None, *, return_flags=False, backend=None):
    """Row-wise dot products d[i] = c[i] + sum_k A[i, k] * B[i, k] through ``unit`` (A, B: (n, K) codes).

    ``return_flags``: also return each output's flags (uint8, the OR over every rounding of the output:
    1 inexact, 2 underflow, 4 overflow, 8 infinite, 16 invalid; DotUnits only).
    ``backend``: "cpu" | "cuda" | None (``bitsim.backend``; device arrays run on the GPU in place)."""
    unit = _resolve(unit)
    backend = choose(backend, A, B, c)
    if isinstance(unit, TensorCoreUnit):
        _no_flags(unit, return_flags)
        A, B = _rows(A, unit.fmt_in, "A"), _rows(B, unit.fmt_in, "B")
        if tuple(A.shape) != tuple(B.shape):
            raise ValueError(f"dot: A and B must have the same shape (n, K); got {tuple(A.shape)} and "
                             f"{tuple(B.shape)}")
        return _fused(A, B, unit, c, backend, rowwise=True)
    if not isinstance(unit, DotUnit):
        raise TypeError(f"unit must be a DotUnit, a TensorCoreUnit or a preset name; got {type(unit).__name__}")
    A, B = _rows(A, unit.a, "A"), _rows(B, unit.b, "B")
    if tuple(A.shape) != tuple(B.shape):
        raise ValueError(f"dot: A and B must have the same shape (n, K); got {tuple(A.shape)} and {tuple(B.shape)}")
    c = None if c is None else _rows(c, unit.c, "c", ndim=1)
    if c is not None and tuple(c.shape) != (A.shape[0],):
        raise ValueError(f"dot: c must have shape ({A.shape[0]},); got {tuple(c.shape)}")
    code, flags = _run(A, B, True, c, unit, A.shape[0], backend)
    return (code, flags) if return_flags else code


def matmul(A, B, unit, C=None, *, return_flags=False, backend=None):
    """D = C + A @ B through ``unit``: A (M, K), B (K, N) codes, C (M, N); every D[i, j] accumulates
    k = 0 .. K-1 in order. ``backend`` as for ``dot`` (the GPU kernel tiles A and B in shared memory;
    the order of every output's products is the same). ``return_flags`` as for ``dot`` ((M, N) flags).
    A ``BlockDotUnit`` takes BlockTensors (``bitsim.accum.block_dot.block_matmul``)."""
    unit = _resolve(unit)
    if isinstance(unit, TensorCoreUnit):
        _no_flags(unit, return_flags)
    if isinstance(unit, BlockDotUnit):
        return block_matmul(A, B, unit, C, return_flags=return_flags, backend=backend)
    backend = choose(backend, A, B, C)
    fa = unit.fmt_in if isinstance(unit, TensorCoreUnit) else unit.a
    fb = unit.fmt_in if isinstance(unit, TensorCoreUnit) else unit.b
    A, B = _rows(A, fa, "A"), _rows(B, fb, "B")
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"matmul: A is {tuple(A.shape)} and B is {tuple(B.shape)}; A's columns must equal B's rows")
    M, N = A.shape[0], B.shape[1]
    if C is not None and tuple(np.shape(C) if not is_device_array(C) else C.shape) != (M, N):
        raise ValueError(f"matmul: C must have shape ({M}, {N}); got {tuple(C.shape)}")
    if isinstance(unit, TensorCoreUnit):
        return _fused(A, B, unit, C, backend, rowwise=False)
    if not isinstance(unit, DotUnit):
        raise TypeError(f"unit must be a DotUnit, a TensorCoreUnit or a preset name; got {type(unit).__name__}")
    C = None if C is None else _rows(C, unit.c, "C")
    code, flags = _run(A, B, False, C, unit, M * N, backend)
    return (code.reshape(M, N), flags.reshape(M, N)) if return_flags else code.reshape(M, N)


def _no_flags(unit, return_flags):
    if return_flags:
        raise ValueError(f"return_flags: flags are modelled for DotUnits and BlockDotUnits; {type(unit).__name__} "
                         f"{getattr(unit, 'name', '')} gives codes")


def _fused(A, B, unit: TensorCoreUnit, c, backend, rowwise):
    """Codes (the output's code dtype) of a tensor-core unit on checked operands: rows (``rowwise``: A, B
    (n, K), c (n,)) or a GEMM (A (M, K), B (K, N), c (M, N)); c None = +0 (the API's C with a GemmLevel).

    A unit with a finite window runs on the compiled kernels (CPU: ``bitsim.kernels.fused_cpu``, CUDA:
    ``fused_cuda``; a GEMM without expanding A and B); with a library level, a GEMM's chunks are GEMMs of
    its chunk columns, and rows' chunks are rows of their chunk columns (``gemm_dot``; device operands are
    gathered on the GPU), while the fp32 adds of the chunk results run on the host. The exact window (``window_bits=None``) runs on the NumPy model ``fused_dot`` over
    rows -- a GEMM as M*N rows -- on the CPU backend only."""
    if unit.gemm is None and fused_cpu.kernel_supports(unit.acc):
        if backend == "cuda":
            from bitsim.kernels import fused_cuda
            run = fused_cuda.fused_rows if rowwise else fused_cuda.fused_gemm
            return run(A, B, c, unit.fmt_in, unit.acc, unit.instruction_k)
        run = fused_cpu.fused_rows if rowwise else fused_cpu.fused_gemm
        return run(A, B, c, unit.fmt_in, unit.acc, unit.instruction_k).astype(unit.out.code_dtype)
    if unit.gemm is not None and fused_cpu.kernel_supports(unit.acc):
        run = gemm_dot if rowwise else gemm_matmul
        if backend != "cuda":
            return run(A, B, c, unit.fmt_in, unit.acc, unit.gemm, unit.instruction_k).astype(unit.out.code_dtype)
        from bitsim.kernels import cuda_run, fused_cuda
        chain = fused_cuda.fused_rows if rowwise else fused_cuda.fused_gemm
        on_device = any(is_device_array(x) for x in (A, B, c))
        take = cuda_run.take if on_device else take_host        # device operands: chunk columns gathered there
        d = run(A, B, c, unit.fmt_in, unit.acc, unit.gemm, unit.instruction_k, chain, take)
        d = d.astype(unit.out.code_dtype)
        return cuda_run.on_device(d) if on_device else d
    if backend != "cpu":
        raise ValueError(f"{unit.name}: tensor-core units with the exact window (window_bits=None) run on the CPU "
                         "backend only (units with a finite window run on both); pass host arrays and "
                         "backend='cpu'")
    if not rowwise:                                    # one row per output
        M, N = A.shape[0], B.shape[1]
        c = None if c is None else np.asarray(c).reshape(-1)
        return _fused(np.repeat(A, N, axis=0), np.tile(B.T, (M, 1)), unit, c, backend, True).reshape(M, N)
    if unit.gemm is not None:                          # library level: c is the API's C (epilogue)
        return gemm_dot(A, B, c, unit.fmt_in, unit.acc, unit.gemm, unit.instruction_k).astype(unit.out.code_dtype)
    c = np.zeros(A.shape[0], dtype=unit.out.code_dtype) if c is None else np.asarray(c)
    d = fused_dot(A, B, c, unit.fmt_in, unit.acc, instruction_k=unit.instruction_k)
    return d.astype(unit.out.code_dtype)


def _seed_units() -> dict:
    """The seed-paper presets that take element formats (block-format presets come with block dots)."""
    fp32, w8, w16 = as_format("fp32"), as_format("fp8_wang"), as_format("fp16_wang")
    return {
        "fp32_seq": DotUnit(fp32, fp32, FloatAcc(fp32), fp32),
        "wang_fp8": DotUnit(w8, w8, ChunkedAcc(64, FloatAcc(w16), FloatAcc(w16)), w16),
        "int8_int32": DotUnit(as_format("int8"), as_format("int8"), IntAcc(32, "wrap"),
                              FixedFormat(32, 0, overflow="wrap", name="int32_wrap")),
    }


SEED_UNIT_SOURCES = {
    "fp32_seq": "IEEE binary32 products rounded into an fp32 running sum in increasing k (round to nearest even)",
    "wang_fp8": "Wang et al., NeurIPS 2018: FP8 (1,5,2) operands, exact products, chunk-based accumulation in "
                "FP16 (1,6,9) with chunk 64, nearest rounding inside and between chunks",
    "int8_int32": "INT8 x INT8 products accumulated exactly in a wrapping 32-bit integer register",
}


def unit(name: str):
    """A named dot-product unit: seed presets (``fp32_seq``, ``wang_fp8``, ``int8_int32``), block-format
    presets (``bm8_kulisch``, ``bm6_kulisch``, ``mxfp8_fp32``: ``bitsim.accum.block_dot``) or tensor-core
    presets ``nvidia_<gpu>_<input>_<output>`` (``bitsim.accum.PRESETS``)."""
    if not isinstance(name, str):
        raise TypeError(f"unit(name): name must be a str; got {name!r}")
    seeds = _seed_units()
    if name in seeds:
        return seeds[name]
    if name in BLOCK_PRESETS:
        return block_unit(name)
    if name in PRESETS:
        return PRESETS[name]
    raise ValueError(f"unknown unit name {name!r}; seed presets: {', '.join(seeds)}; block-format presets: "
                     f"{', '.join(BLOCK_PRESETS)}; tensor-core presets: {', '.join(sorted(PRESETS))}")


def _resolve(spec):
    """A unit object from a unit or a preset name; a DotUnit with a FusedAcc as the TensorCoreUnit of one
    group per instruction."""
    spec = unit(spec) if isinstance(spec, str) else spec
    if isinstance(spec, DotUnit) and isinstance(spec.acc, FusedAcc):
        return TensorCoreUnit(f"DotUnit({spec.a.name}, FusedAcc)", spec.a, spec.acc, spec.acc.group,
                              "a DotUnit's FusedAcc")
    return spec
