"""Fixed-point arithmetic on arrays of code words of ``FixedFormat``s: add, sub, mul, shift, requantize.

Every function returns ``(codes, flags)``: codes of the result format ``out`` (its code dtype) and
per-element uint8 flags (1 inexact, 4 overflow). The result is the exact mathematical result (binary
points aligned, full-width products) rounded once into ``out`` in the requested mode, then saturated
or wrapped (modulo 2**out.bits) by ``out.overflow``; an overflow raises overflow and inexact in both
cases. Operands broadcast like NumPy. Stochastic rounding takes ``sr_bits`` and ``seed``/``stream``/
``offset`` or explicit ``rand`` exactly as ``bitsim.encode`` (element i of the broadcast result uses
counter ``offset + i``). ``backend=`` ("cpu" | "cuda" | None) chooses where the kernel runs, as for
``bitsim.encode`` (``bitsim.backend``); both run the same core (``bitsim.core.fixed_arith``), so the codes
and flags are the same, and device operands stay on the device.

Default result formats hold every exact result (``exact_format``): for add/sub/mul the narrowest
non-symmetric saturating format at the finer (add/sub) or summed (mul) fraction bits, signed only when
a result can be negative; for shift the operand's width and signedness at ``frac_bits - n`` (the same
codes). A symmetric output never produces its most negative code, so an output that is both
symmetric and wrapping (wrapping modulo 2**bits would land on that code) is refused. See
docs/fixed.md.
"""

from __future__ import annotations

import contextlib

import numba
import numpy as np

from bitsim.arrays import flat_operand, operand_codes
from bitsim.backend import choose, empty_like_input, is_device_array
from bitsim.formats import FixedFormat, format as as_format
from bitsim.kernels import fixed_cpu
from bitsim.rounding import mode_code, stochastic_args

SHIFT_LIMIT = 4096   # |n| beyond this changes no result: every operand is then far outside every range
PARALLEL_MIN_SIZE = 1 << 12   # smaller arrays run on one thread (waking the thread pool costs more)


def _fixed_format(fmt, name: str) -> FixedFormat:
    f = as_format(fmt)
    if not isinstance(f, FixedFormat):
        raise TypeError(f"{name} must be a FixedFormat (or the name of one); got {fmt!r}")
    return f


def _result_format(fmt, name: str) -> FixedFormat:
    f = _fixed_format(fmt, name)
    if f.symmetric and f.overflow == "wrap":
        raise ValueError(f"{name}.symmetric=True with {name}.overflow='wrap' is refused: wrapping modulo "
                         f"2**{f.bits} can land on the most negative code, which a symmetric format never "
                         "produces; use overflow='saturate' or symmetric=False")
    return f


def _operand(x, fmt: FixedFormat, name: str) -> np.ndarray:
    return operand_codes(x, fmt, name)


def _code_range(fmt: FixedFormat) -> tuple[int, int]:
    """Smallest and largest integer of any code word (the most negative code included)."""
    return (-(1 << (fmt.bits - 1)) if fmt.signed else 0), fmt.max_int


def _narrowest(lo: int, hi: int, frac_bits: int, what: str) -> FixedFormat:
    """The narrowest saturating FixedFormat at ``frac_bits`` whose integers cover lo..hi."""
    if lo < 0:
        bits = 1 + max(hi.bit_length(), (-lo - 1).bit_length(), 1)
    else:
        bits = max(hi.bit_length(), 1)
    if bits > (64 if lo < 0 else 63):
        raise ValueError(f"the exact result of {what} needs {bits} {'signed' if lo < 0 else 'unsigned'} bits, "
                         "more than a FixedFormat holds; pass out= explicitly")
    if not -1024 <= frac_bits <= 1024:
        raise ValueError(f"the exact result of {what} needs frac_bits={frac_bits}, outside -1024..1024; "
                         "pass out= explicitly")
    return FixedFormat(bits, frac_bits, signed=lo < 0)


def exact_format(op: str, fa, fb=None) -> FixedFormat:
    """The default result format of ``op`` ("add", "sub" or "mul") on operands of fa and fb (default fa):
    the narrowest one holding every exact result. ValueError when that needs more than 64 bits."""
    fa = _fixed_format(fa, "fa")
    fb = fa if fb is None else _fixed_format(fb, "fb")
    (a_lo, a_hi), (b_lo, b_hi) = _code_range(fa), _code_range(fb)
    if op == "mul":
        ends = [x * y for x in (a_lo, a_hi) for y in (b_lo, b_hi)]
        return _narrowest(min(ends), max(ends), fa.frac_bits + fb.frac_bits, f"mul({fa}, {fb})")
    if op not in ("add", "sub"):
        raise ValueError(f"op must be 'add', 'sub' or 'mul'; got {op!r}")
    frac = max(fa.frac_bits, fb.frac_bits)
    a_lo, a_hi = a_lo << (frac - fa.frac_bits), a_hi << (frac - fa.frac_bits)
    b_lo, b_hi = b_lo << (frac - fb.frac_bits), b_hi << (frac - fb.frac_bits)
    if op == "add":
        return _narrowest(a_lo + b_lo, a_hi + b_hi, frac, f"add({fa}, {fb})")
    return _narrowest(a_lo - b_hi, a_hi - b_lo, frac, f"sub({fa}, {fb})")


def _kernel_input(arr) -> np.ndarray:
    """A flat, contiguous, read-only uint64 copy or view: one type for every input, so that the kernel
    is compiled once (Numba specialises on dtype and on writability)."""
    flat = np.ascontiguousarray(arr, dtype=np.uint64).reshape(-1).view()
    flat.flags.writeable = False
    return flat


@contextlib.contextmanager
def _threads_for(size: int):
    """One thread for small arrays (waking the thread pool costs more than it saves), else all."""
    threads = numba.get_num_threads()
    if size < PARALLEL_MIN_SIZE:
        numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(threads)


def _broadcast_shape(arrays, names) -> tuple:
    try:
        return np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        raise ValueError("operand shapes do not broadcast: "
                         + ", ".join(f"{name}{a.shape}" for name, a in zip(names, arrays))) from None


def _run(op, operands, formats, out, n, rounding, sr, backend):
    """Validate the operands and SR arguments ``sr`` = (sr_bits, seed, stream, offset, rand), run the
    kernel of ``backend``; returns (codes of out, flags) in the broadcast shape."""
    names = "ab"[:len(operands)]
    backend = choose(backend, *operands)
    arrays = [_operand(x, f, name) for x, f, name in zip(operands, formats, names)]
    shape = _broadcast_shape(arrays, names)
    mode = mode_code(rounding)
    sr_bits, seed, stream, offset, rand_flat = stochastic_args(rounding, *sr, shape)
    if backend == "cuda":
        return _run_cuda(op, arrays, formats, out, n, shape, mode, sr_bits, seed, stream, offset, rand_flat)
    a = _kernel_input(np.broadcast_to(arrays[0], shape))
    b = _kernel_input(np.broadcast_to(arrays[-1], shape) if len(arrays) == 2 else np.zeros(1))
    codes = np.empty(a.size, dtype=np.uint64)
    flags = np.empty(a.size, dtype=np.uint8)
    with _threads_for(a.size):
        fixed_cpu.fixed_array(op, a, formats[0].params, b, formats[-1].params, out.params, n, mode, sr_bits, seed,
                              stream, offset, _kernel_input(rand_flat), codes, flags)
    return codes.astype(out.code_dtype).reshape(shape), flags.reshape(shape)


def _run_cuda(op, arrays, formats, out, n, shape, mode, sr_bits, seed, stream, offset, rand_flat):
    """``_run``'s kernel on the GPU (``cuda.fixed_kernel``, the same core): device operands in place, results
    as device arrays; host operands copied over and back."""
    from bitsim.kernels import cuda_run
    a = flat_operand(arrays[0], shape, "a")
    b = flat_operand(arrays[1], shape, "b") if len(arrays) == 2 else np.zeros(1, dtype=np.uint8)
    size = int(np.prod(shape, dtype=np.int64))
    empty = empty_like_input(next((x for x in arrays if is_device_array(x)), arrays[0]))
    codes, flags = empty(size, dtype=out.code_dtype), empty(size, dtype=np.uint8)
    cuda_run.fixed_array(op, a, formats[0].params, b, formats[-1].params, out.params, n, mode, sr_bits, seed,
                         stream, offset, rand_flat, codes, flags)
    return codes.reshape(shape), flags.reshape(shape)


def _binary(op, name, a, b, fa, fb, out, rounding, sr, backend):
    fa = _fixed_format(fa, "fa")
    fb = fa if fb is None else _fixed_format(fb, "fb")
    out = exact_format(name, fa, fb) if out is None else _result_format(out, "out")
    return _run(op, (a, b), (fa, fb), out, 0, rounding, sr, backend)


def add(a, b, fa, fb=None, out=None, rounding="rne", *, sr_bits=None, seed=None, stream=0, offset=0, rand=None,
        backend=None):
    """a + b (codes of fa and fb; fb defaults to fa) rounded once into ``out`` (default
    ``exact_format("add", fa, fb)``); returns (codes, flags)."""
    return _binary(fixed_cpu.OP_ADD, "add", a, b, fa, fb, out, rounding, (sr_bits, seed, stream, offset, rand),
                   backend)


def sub(a, b, fa, fb=None, out=None, rounding="rne", *, sr_bits=None, seed=None, stream=0, offset=0, rand=None,
        backend=None):
    """a - b rounded once into ``out`` (default ``exact_format("sub", fa, fb)``); returns (codes, flags)."""
    return _binary(fixed_cpu.OP_SUB, "sub", a, b, fa, fb, out, rounding, (sr_bits, seed, stream, offset, rand),
                   backend)


def mul(a, b, fa, fb=None, out=None, rounding="rne", *, sr_bits=None, seed=None, stream=0, offset=0, rand=None,
        backend=None):
    """a * b (the full product, up to 128 bits) rounded once into ``out`` (default
    ``exact_format("mul", fa, fb)``); returns (codes, flags)."""
    return _binary(fixed_cpu.OP_MUL, "mul", a, b, fa, fb, out, rounding, (sr_bits, seed, stream, offset, rand),
                   backend)


def _shift_amount(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int; got {n!r} ({type(n).__name__})")
    return int(n)


def shift(a, fa, n, out=None, rounding="rne", *, sr_bits=None, seed=None, stream=0, offset=0, rand=None,
          backend=None):
    """a * 2**n rounded into ``out`` (an arithmetic shift; n < 0 shifts right with rounding). The default
    ``out`` is FixedFormat(fa.bits, fa.frac_bits - n, fa.signed): the same codes, exactly; returns (codes, flags)."""
    fa = _fixed_format(fa, "fa")
    n = _shift_amount(n)
    if out is None:
        if not -1024 <= fa.frac_bits - n <= 1024:
            raise ValueError(f"shift by n={n}: the default out (frac_bits={fa.frac_bits - n}) is outside "
                             "-1024..1024; pass out= explicitly")
        out = FixedFormat(fa.bits, fa.frac_bits - n, signed=fa.signed)
    else:
        out = _result_format(out, "out")
    n = max(-SHIFT_LIMIT, min(SHIFT_LIMIT, n))
    return _run(fixed_cpu.OP_SHIFT, (a,), (fa,), out, n, rounding, (sr_bits, seed, stream, offset, rand), backend)


def requantize(a, fa, out, rounding="rne", *, sr_bits=None, seed=None, stream=0, offset=0, rand=None,
               backend=None):
    """Codes of fa rounded into the format ``out`` (``shift`` by 0); returns (codes, flags)."""
    if out is None:
        raise ValueError("requantize needs out= (the result format)")
    return shift(a, fa, 0, out, rounding, sr_bits=sr_bits, seed=seed, stream=stream, offset=offset, rand=rand,
                 backend=backend)


__all__ = ["add", "sub", "mul", "shift", "requantize", "exact_format"]
