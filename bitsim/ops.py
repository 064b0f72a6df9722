"""Correctly rounded arithmetic on arrays of code words, with IEEE-style flags per element.

Every arithmetic function returns ``(codes, flags)``: the codes of the output format ``fmt`` (the
smallest uint dtype holding it) and per-element uint8 flags, SoftFloat/TestFloat bit order
(1 inexact, 2 underflow, 4 overflow, 8 infinite, 16 invalid). Operands broadcast like NumPy. Each
result is the exact result rounded once (fma included) by the shared core (``bitsim.core.arith``,
where the special-value rules are listed).

Operand formats: by default every operand is a code of ``fmt``. ``in_formats=(fa, fb[, fc])`` states
them otherwise, e.g. ``mul(a, b, "fp16", in_formats=("e4m3", "e5m2"))``. An unsigned operand array
whose width differs from its format's code width is refused (a uint8 array passed as fp16 codes is
almost always a missing ``in_formats``).

Stochastic rounding: ``sr_bits`` (at most ``59 - fmt.man_bits``), and ``seed``/``stream``/``offset``
or explicit ``rand``, exactly as for ``bitsim.encode``; element i of the broadcast result uses
counter ``offset + i``.

Unary and binary ops on narrow operands (up to 16 operand bits in all, e.g. 8-bit x 8-bit; any
deterministic mode) read a table of every operand (pair) that the same core computes once per (op,
formats, mode). fma on such operands is two lookups: a*b into a format that holds every product
exactly (``exact_product_format``; checked when the table is built), then that product + c, so the
one rounding is the sum's. SR and wider operands run the core per element.
"""

from __future__ import annotations

import functools

import numpy as np

from bitsim.arrays import flat_operand, operand_codes
from bitsim.core.arith import OP_ADD, OP_DIV, OP_FMA, OP_MUL, OP_SQRT, OP_SUB
from bitsim.core.compare import (
    CMP_EQ, CMP_LE, CMP_LT, SEL_MAXIMUM, SEL_MAXIMUM_NUMBER, SEL_MINIMUM, SEL_MINIMUM_NUMBER, SIGN_ABS, SIGN_NEGATE,
)
from bitsim.formats import FloatFormat, format as as_format
from bitsim.backend import choose, empty_like_input, is_device_array
from bitsim.kernels import cpu
from bitsim.quantize import convert as _convert
from bitsim.rounding import check_tininess, mode_code, stochastic_args

SR_HEADROOM = 59   # sr_bits <= SR_HEADROOM - man_bits: the exact bits the core keeps below the LSB
TABLE_BITS = 16    # binary ops whose two operands have at most this many bits together use a lookup table
FMA_TABLE_BITS = 22  # fma via an exact product table when (product format bits + addend bits) <= this


def _float_format(fmt, name: str) -> FloatFormat:
    f = as_format(fmt)
    if not isinstance(f, FloatFormat):
        raise TypeError(f"{name} must be a float format for bitsim.ops; got the fixed-point format {f} "
                        "(fixed-point and integer arithmetic live in the accumulator models)")
    return f


def _operand(x, fmt: FloatFormat, name: str) -> np.ndarray:
    return operand_codes(x, fmt, name, "; state mixed operand formats with in_formats=")


def _operand_formats(in_formats, fmt: FloatFormat, count: int) -> tuple:
    if in_formats is None:
        return (fmt,) * count
    if isinstance(in_formats, (str, FloatFormat)) or len(in_formats) != count:
        raise ValueError(f"in_formats must be a sequence of {count} formats (one per operand); got {in_formats!r}")
    return tuple(_float_format(f, f"in_formats[{i}]") for i, f in enumerate(in_formats))


def _arith(op, operands, fmt, rounding, in_formats, sr_bits, seed, stream, offset, rand, tininess, backend):
    out_fmt = _float_format(fmt, "fmt")
    backend = choose(backend, *operands)
    formats = _operand_formats(in_formats, out_fmt, len(operands))
    names = "abc"
    arrays = [_operand(x, f, names[i]) for i, (x, f) in enumerate(zip(operands, formats))]
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        raise ValueError("operand shapes do not broadcast: "
                         + ", ".join(f"{names[i]}{a.shape}" for i, a in enumerate(arrays))) from None
    mode = mode_code(rounding)
    tiny_before = check_tininess(tininess)
    sr_bits, seed, stream, offset, rand_flat = stochastic_args(
        rounding, sr_bits, seed, stream, offset, rand, shape)
    if rounding == "sr" and sr_bits > SR_HEADROOM - out_fmt.man_bits:
        raise ValueError(f"sr_bits={sr_bits} is too many for {out_fmt} in bitsim.ops: at most "
                         f"{SR_HEADROOM - out_fmt.man_bits} (= {SR_HEADROOM} - man_bits) exact bits are kept")
    if backend == "cuda":
        return _arith_cuda(op, arrays, formats, out_fmt, shape, mode, sr_bits, seed, stream, offset, rand_flat,
                           tiny_before)
    flat = [np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1) for a in arrays]
    if len(formats) <= 2 and sum(f.bits for f in formats) <= TABLE_BITS and rounding != "sr":
        table, table_flags = _table(op, formats, out_fmt, mode, tiny_before)
        out = np.empty(flat[0].shape, dtype=out_fmt.code_dtype)
        flags = np.empty(flat[0].shape, dtype=np.uint8)
        if len(formats) == 1:
            cpu.code_table_array(flat[0], table, table_flags, out, flags)
        else:
            cpu.pair_table_array(flat[0], flat[1], formats[1].bits, table, table_flags, out, flags)
        return out.reshape(shape), flags.reshape(shape)
    if op == OP_FMA and rounding != "sr":
        plan = _fma_tables(formats, out_fmt, mode, tiny_before)
        if plan is not None:
            return _fma_by_tables(flat, plan, out_fmt, shape)
    while len(flat) < 3:
        flat.append(np.zeros(1, dtype=np.uint8))
    params = [f.params for f in formats] + [formats[0].params] * (3 - len(formats))
    n = int(np.prod(shape, dtype=np.int64))
    out = np.empty(n, dtype=out_fmt.code_dtype)
    flags = np.empty(n, dtype=np.uint8)
    cpu.arith_array(op, flat[0], params[0], flat[1], params[1], flat[2], params[2], out_fmt.params, mode,
                    sr_bits, seed, stream, offset, rand_flat, tiny_before, out, flags)
    return out.reshape(shape), flags.reshape(shape)


def _arith_cuda(op, arrays, formats, out_fmt, shape, mode, sr_bits, seed, stream, offset, rand_flat, tiny_before):
    """The elementwise op on the GPU: the core per element (the CPU's lookup tables hold the same codes)."""
    flat = [flat_operand(a, shape, "abc"[i]) for i, a in enumerate(arrays)]
    while len(flat) < 3:
        flat.append(np.zeros(1, dtype=np.uint8))
    params = [f.params for f in formats] + [formats[0].params] * (3 - len(formats))
    n = int(np.prod(shape, dtype=np.int64))
    empty = empty_like_input(next((a for a in arrays if is_device_array(a)), arrays[0]))
    out = empty(n, dtype=out_fmt.code_dtype)
    flags = empty(n, dtype=np.uint8)
    from bitsim.kernels import cuda_run
    cuda_run.arith_array(op, flat[0], params[0], flat[1], params[1], flat[2], params[2], out_fmt.params, mode,
                         sr_bits, seed, stream, offset, rand_flat, tiny_before, out, flags)
    return out.reshape(shape), flags.reshape(shape)


@functools.lru_cache(maxsize=64)
def _table(op, formats, fo, mode, tiny_before):
    """(codes, flags) of ``op`` on every operand (pair), index ``a`` or ``(a << fb.bits) | b``, computed
    by the core."""
    fa = formats[0]
    fb = formats[1] if len(formats) == 2 else None
    b_bits = fb.bits if fb is not None else 0
    a = np.repeat(np.arange(1 << fa.bits, dtype=fa.code_dtype), 1 << b_bits)
    b = np.tile(np.arange(1 << b_bits, dtype=(fb or fa).code_dtype), 1 << fa.bits)
    out = np.empty(a.size, dtype=fo.code_dtype)
    flags = np.empty(a.size, dtype=np.uint8)
    cpu.arith_array(op, a, fa.params, b, (fb or fa).params, np.zeros(1, dtype=np.uint8), fa.params, fo.params,
                    mode, 1, 0, 0, 0, np.zeros(0, dtype=np.uint64), tiny_before, out, flags)
    out.setflags(write=False)
    flags.setflags(write=False)
    return out, flags


def exact_product_format(fa: FloatFormat, fb: FloatFormat) -> FloatFormat:
    """An IEEE-style format holding every product of an fa and an fb value exactly (and inf, NaN)."""
    man = fa.man_bits + fb.man_bits + 1
    low = (fa.emin - fa.man_bits) + (fb.emin - fb.man_bits)       # exponent of the smallest product
    high = fa.emax + fb.emax + 1                                   # the largest product is below 2**high
    exp_bits = 2
    while (1 << exp_bits) - 2 < high - low + 1:
        exp_bits += 1
    return FloatFormat(exp_bits, man, bias=1 - low)


@functools.lru_cache(maxsize=16)
def _fma_tables(formats, fo, mode, tiny_before):
    """(product table, its flags, product bits, sum table, its flags, addend bits) for an fma computed as
    round(exact a*b + c) by two lookups, or None when the tables would be too large or the product
    format cannot hold every product exactly."""
    fa, fb, fc = formats
    if fa.bits + fb.bits > TABLE_BITS:
        return None
    pf = exact_product_format(fa, fb)
    if pf.bits + fc.bits > FMA_TABLE_BITS or pf.exp_bits > 11:
        return None
    prod, prod_flags = _table(OP_MUL, (fa, fb), pf, 0, 0)
    if np.any(prod_flags & ~np.uint8(16)):          # only invalid (0 x inf, signaling NaN) may be raised
        return None
    total, total_flags = _table(OP_ADD, (pf, fc), fo, mode, tiny_before)
    return prod, prod_flags, fb.bits, total, total_flags, fc.bits


def _fma_by_tables(flat, plan, fo, shape):
    prod, prod_flags, b_bits, total, total_flags, c_bits = plan
    out = np.empty(flat[0].shape, dtype=fo.code_dtype)
    flags = np.empty(flat[0].shape, dtype=np.uint8)
    cpu.fma_table_array(flat[0], flat[1], flat[2], b_bits, prod, prod_flags, c_bits, total, total_flags, out,
                        flags)
    return out.reshape(shape), flags.reshape(shape)


def add(a, b, fmt, rounding="rne", *, in_formats=None, sr_bits=None, seed=None, stream=0, offset=0,
        rand=None, tininess="after", backend=None):
    """a + b rounded to ``fmt``; returns (codes, flags)."""
    return _arith(OP_ADD, (a, b), fmt, rounding, in_formats, sr_bits, seed, stream, offset, rand, tininess, backend)


def sub(a, b, fmt, rounding="rne", *, in_formats=None, sr_bits=None, seed=None, stream=0, offset=0,
        rand=None, tininess="after", backend=None):
    """a - b rounded to ``fmt``; returns (codes, flags)."""
    return _arith(OP_SUB, (a, b), fmt, rounding, in_formats, sr_bits, seed, stream, offset, rand, tininess, backend)


def mul(a, b, fmt, rounding="rne", *, in_formats=None, sr_bits=None, seed=None, stream=0, offset=0,
        rand=None, tininess="after", backend=None):
    """a * b rounded to ``fmt``; returns (codes, flags)."""
    return _arith(OP_MUL, (a, b), fmt, rounding, in_formats, sr_bits, seed, stream, offset, rand, tininess, backend)


def div(a, b, fmt, rounding="rne", *, in_formats=None, sr_bits=None, seed=None, stream=0, offset=0,
        rand=None, tininess="after", backend=None):
    """a / b rounded to ``fmt``; returns (codes, flags). x / 0 raises the infinite flag."""
    return _arith(OP_DIV, (a, b), fmt, rounding, in_formats, sr_bits, seed, stream, offset, rand, tininess, backend)


def sqrt(a, fmt, rounding="rne", *, in_formats=None, sr_bits=None, seed=None, stream=0, offset=0,
         rand=None, tininess="after", backend=None):
    """Square root of a rounded to ``fmt``; returns (codes, flags). in_formats is a 1-tuple."""
    return _arith(OP_SQRT, (a,), fmt, rounding, in_formats, sr_bits, seed, stream, offset, rand, tininess, backend)


def fma(a, b, c, fmt, rounding="rne", *, in_formats=None, sr_bits=None, seed=None, stream=0, offset=0,
        rand=None, tininess="after", backend=None):
    """a * b + c with a single rounding to ``fmt``; returns (codes, flags)."""
    return _arith(OP_FMA, (a, b, c), fmt, rounding, in_formats, sr_bits, seed, stream, offset, rand,
                  tininess, backend)


def convert(codes, src, dst, rounding="rne", **kwargs):
    """``bitsim.convert`` with flags: returns (codes, flags)."""
    kwargs.pop("return_flags", None)
    return _convert(codes, src, dst, rounding, return_flags=True, **kwargs)


def _sign_bit(fmt: FloatFormat, name: str) -> int:
    if not fmt.signed:
        raise ValueError(f"{name} needs a signed format; {fmt} has no sign bit")
    return 1 << (fmt.bits - 1)


def neg(a, fmt, *, backend=None) -> np.ndarray:
    """-a: the sign bit flipped (NaNs included, no flags, as IEEE negate); fnuz keeps 0 and its NaN."""
    return _sign_op(SIGN_NEGATE, a, fmt, "neg", backend)


def abs(a, fmt, *, backend=None) -> np.ndarray:  # noqa: A001 - mirrors numpy.abs
    """|a|: the sign bit cleared (NaNs included, no flags, as IEEE abs); fnuz keeps its NaN."""
    return _sign_op(SIGN_ABS, a, fmt, "abs", backend)


def _sign_op(op, a, fmt, name, backend):
    fmt = _float_format(fmt, "fmt")
    _sign_bit(fmt, name)
    codes, _ = _select(op, a, a, fmt, backend)
    return codes


def _select(op, a, b, fmt, backend):
    fmt = _float_format(fmt, "fmt")
    backend = choose(backend, a, b)
    a, b = _operand(a, fmt, "a"), _operand(b, fmt, "b")
    if backend == "cuda":
        return _select_cuda(op, a, b, fmt)
    try:
        a, b = np.broadcast_arrays(a, b)
    except ValueError:
        raise ValueError(f"operand shapes do not broadcast: a{a.shape}, b{b.shape}") from None
    shape = a.shape
    out = np.empty(a.size, dtype=fmt.code_dtype)
    flags = np.empty(a.size, dtype=np.uint8)
    cpu.compare_array(op, np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1),
                      fmt.params, out, flags)
    return out.reshape(shape), flags.reshape(shape)


def _select_cuda(op, a, b, fmt):
    from bitsim.kernels import cuda_run
    try:
        shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    except ValueError:
        raise ValueError(f"operand shapes do not broadcast: a{tuple(a.shape)}, b{tuple(b.shape)}") from None
    fa, fb = flat_operand(a, shape, "a"), flat_operand(b, shape, "b")
    n = int(np.prod(shape, dtype=np.int64))
    empty = empty_like_input(a if is_device_array(a) else b)
    out = empty(n, dtype=fmt.code_dtype if op >= SEL_MINIMUM else np.uint8)
    flags = empty(n, dtype=np.uint8)
    cuda_run.compare_array(op, fa, fb, fmt.params, out, flags)
    if op < SEL_MINIMUM:
        out = out.view(np.bool_)
    return out.reshape(shape), flags.reshape(shape)


def _as_bool(out):
    """Comparison results as booleans (device results already are)."""
    return out if is_device_array(out) else out.astype(bool)


def eq(a, b, fmt, *, backend=None):
    """a == b (quiet: invalid only for a signaling NaN); returns (bool array, flags)."""
    out, flags = _select(CMP_EQ, a, b, fmt, backend)
    return _as_bool(out), flags


def lt(a, b, fmt, *, backend=None):
    """a < b (signaling: invalid for any NaN); returns (bool array, flags)."""
    out, flags = _select(CMP_LT, a, b, fmt, backend)
    return _as_bool(out), flags


def le(a, b, fmt, *, backend=None):
    """a <= b (signaling: invalid for any NaN); returns (bool array, flags)."""
    out, flags = _select(CMP_LE, a, b, fmt, backend)
    return _as_bool(out), flags


_NAN_POLICIES = {"propagate": (SEL_MINIMUM, SEL_MAXIMUM), "ignore": (SEL_MINIMUM_NUMBER, SEL_MAXIMUM_NUMBER)}


def _nan_policy(nan: str) -> tuple:
    if nan not in _NAN_POLICIES:
        raise ValueError(f"nan must be 'propagate' (IEEE 754-2019 minimum/maximum) or 'ignore' "
                         f"(minimumNumber/maximumNumber); got {nan!r}")
    return _NAN_POLICIES[nan]


def min(a, b, fmt, *, nan="propagate", backend=None):  # noqa: A001 - mirrors numpy.min
    """The smaller of a and b (-0 < +0); returns (codes, flags). nan: "propagate" or "ignore"."""
    return _select(_nan_policy(nan)[0], a, b, fmt, backend)


def max(a, b, fmt, *, nan="propagate", backend=None):  # noqa: A001 - mirrors numpy.max
    """The larger of a and b (-0 < +0); returns (codes, flags). nan: "propagate" or "ignore"."""
    return _select(_nan_policy(nan)[1], a, b, fmt, backend)


__all__ = ["add", "sub", "mul", "div", "sqrt", "fma", "convert", "neg", "abs", "eq", "lt", "le", "min", "max"]
