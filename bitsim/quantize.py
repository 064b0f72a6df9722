"""Public conversions on NumPy arrays: encode, decode, quantize, convert.

Values travel as integer code arrays (the smallest uint dtype that holds the format's width).
Float inputs are taken exactly (float16/32/64: every input bit counts; a float64 is rounded once to
the target, never through float32). Every conversion is one call to the shared round-and-pack core,
except that, without flags, IEEE sources into narrow float targets in deterministic modes take one
table load per element (``bitsim.kernels.table_encode``, CPU), and other IEEE sources into common float
targets the branch-free fast path (``bitsim.core.fast_encode``); the tests hold both to the same code
words.
"""

from __future__ import annotations

import functools

import numpy as np

from bitsim.arrays import as_device, code_array
from bitsim.backend import choose, empty_like_input, is_device_array, kernels
from bitsim.core.params import FLAG_INEXACT, FLAG_OVERFLOW, FLAG_UNDERFLOW
from bitsim.formats import FixedFormat, FloatFormat, format as as_format
from bitsim.formats.catalog import lookup
from bitsim.kernels.fixed_encode import fixed_encode_array, fixed_encode_plan
from bitsim.kernels.plans import fast_encode_plan
from bitsim.kernels.table_encode import table_encode_plan
from bitsim.rounding import check_tininess, mode_code, stochastic_args

FP16, FP32, FP64 = lookup("fp16"), lookup("fp32"), lookup("fp64")
_FLOAT_SOURCES = {np.dtype(np.float16): FP16, np.dtype(np.float32): FP32, np.dtype(np.float64): FP64}


def _float_input(x) -> tuple[np.ndarray, FloatFormat]:
    """A float array (host or device) as its IEEE code view, with the matching format."""
    if is_device_array(x):
        arr = as_device(x)
    else:
        arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.dtype not in _FLOAT_SOURCES:
        raise TypeError(f"x must be a float16, float32 or float64 array; got dtype {arr.dtype} "
                        "(convert integers explicitly, e.g. np.asarray(x, dtype=np.float64))")
    src = _FLOAT_SOURCES[arr.dtype]
    if is_device_array(arr):
        return arr.view(src.code_dtype), src
    return np.ascontiguousarray(arr).view(src.code_dtype), src


def _result_array(out, shape, dst, backend):
    """The flat array the kernels write: a new one (``out`` None), or the caller's ``out`` checked (the
    code dtype of ``dst``, ``shape``, C-contiguous, writable, on the device of ``backend``)."""
    on_device = is_device_array(out)
    if not on_device and not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a NumPy array or a CUDA device array; got {type(out).__name__}")
    if on_device != (backend == "cuda"):
        raise ValueError(f"out must live where the conversion runs ({backend}); got a "
                         f"{'device' if on_device else 'host'} array")
    arr = as_device(out) if on_device else out
    if arr.dtype != dst.code_dtype or tuple(arr.shape) != tuple(shape):
        raise ValueError(f"out must have dtype {np.dtype(dst.code_dtype)} (the code dtype of {dst}) and shape "
                         f"{tuple(shape)}; got {arr.dtype} {tuple(arr.shape)}")
    if not on_device and not (arr.flags.c_contiguous and arr.flags.writeable):
        raise ValueError("out must be C-contiguous and writeable")
    return arr.reshape(-1)


def _run(src_codes, src, dst, rounding, sr_bits, seed, stream, offset, rand, tininess, want_flags, backend,
         out=None):
    """Convert a validated code array of ``src`` to ``dst`` on ``backend``, into ``out`` if given (checked
    by ``_result_array``); returns (codes, flags or None)."""
    mode = mode_code(rounding)
    tiny_before = check_tininess(tininess)
    sr_bits, seed, stream, offset, rand_flat = stochastic_args(
        rounding, sr_bits, seed, stream, offset, rand, src_codes.shape)
    flat = src_codes.reshape(-1)
    target = empty_like_input(src_codes)(flat.shape[0], dtype=dst.code_dtype) if out is None \
        else _result_array(out, src_codes.shape, dst, backend)
    codes, flags = _convert_into(flat, src, dst, mode, sr_bits, seed, stream, offset, rand_flat, tiny_before,
                                 want_flags, backend, target)
    flags = None if flags is None else flags.reshape(src_codes.shape)
    return (codes.reshape(src_codes.shape) if out is None else out), flags


def _convert_into(flat, src, dst, mode, sr_bits, seed, stream, offset, rand_flat, tiny_before, want_flags,
                  backend, out):
    """Every element of the flat code array ``flat`` converted into the flat ``out``; (out, flat flags or
    None)."""
    K = kernels(backend)
    empty = empty_like_input(flat)
    table = None if want_flags else table_encode_plan(src, dst, mode)
    if table is not None:
        K.table_encode_array(flat, *table, out)
        return out, None
    fixed = None if want_flags or backend == "cuda" or src.bits > 64 else fixed_encode_plan(dst, mode)
    if fixed is not None and _encode_fixed(flat, src, fixed, mode, out):
        return out, None
    plan = None if want_flags else fast_encode_plan(src, dst, mode)
    if plan is not None:
        K.encode_fast_array(flat, plan, mode, sr_bits, seed, stream, offset, rand_flat, out)
        return out, None
    flags = empty(flat.shape[0] if want_flags else 0, dtype=np.uint8)
    K.convert_array(flat, src.params, dst.params, mode, sr_bits, seed, stream, offset, rand_flat,
                      tiny_before, out, flags)
    return out, (flags if want_flags else None)


_FLOAT_OF_CODES = {16: np.float16, 32: np.float32, 64: np.float64}


def _encode_fixed(flat, src, plan, mode, out) -> bool:
    """``bitsim.kernels.fixed_encode`` on IEEE source codes; False (out unspecified) to use the generic
    kernel instead."""
    if src not in _FLOAT_SOURCES.values():
        return False
    x = flat.view(_FLOAT_OF_CODES[src.bits]).astype(np.float64)
    ok = np.ones(1, np.uint8)
    fixed_encode_array(x, *plan, mode, out, ok)
    return bool(ok[0])


def encode(x, fmt, rounding=None, *, sr_bits=None, seed=None, stream=0, offset=0, rand=None,
           tininess="after", return_flags=False, backend=None, out=None):
    """Round float values to code words of ``fmt``.

    Args:
        x: float16/32/64 array (any shape; lists and scalars go through ``np.asarray``).
        fmt: a FloatFormat, FixedFormat, BlockFormat or format name.
        rounding: "rne" | "rna" | "rtz" | "rup" | "rdn" | "rto" | "sr" (see ``bitsim.rounding``); default
            "rne", or a block format's ``element_rounding``.
        sr_bits: number of random bits for "sr" (required with it).
        seed: key of the counter-based generator for "sr", with ``stream``; element i of the result uses
            counter ``offset + i`` (flat C order).
        stream: the generator's stream (part of its key).
        offset: the counter of the first element.
        rand: explicit random integers for "sr" (broadcast to x's shape, each < 2**sr_bits), instead of seed.
        tininess: "after" (default) or "before" rounding, for the underflow flag.
        return_flags: also return per-element flags (uint8; 1 inexact, 2 underflow, 4 overflow,
            8 infinite, 16 invalid).
        backend: "cpu" | "cuda" | None (see ``bitsim.backend``: device-array inputs run on the GPU
            and give device arrays).
        out: an array to write the codes into instead of a new one (NumPy, or a device array on the
            GPU backend; the format's code dtype, x's shape, C-contiguous); it is returned. Element formats
            only. A GPU caller that reuses ``out`` saves the result's allocation on every call.

    Returns:
        codes (uint8/16/32/64 array of x's shape; ``out`` if given), or (codes, flags) with
        ``return_flags``; for a block format a ``BlockTensor`` (see ``bitsim.blocks.codec.encode`` for its SR
        counters).
    """
    dst = as_format(fmt)
    if _is_block(dst):
        if return_flags or tininess != "after" or out is not None:
            raise ValueError(f"encode into the block format {dst}: return_flags, tininess and out are not "
                             "supported")
        from bitsim.blocks.codec import encode as encode_block
        return encode_block(x, dst, rounding, sr_bits=sr_bits, seed=seed, stream=stream, offset=offset, rand=rand,
                            backend=backend)
    rounding = "rne" if rounding is None else rounding
    backend = choose(backend, x)
    src_codes, src = _float_input(x)
    codes, flags = _run(src_codes, src, dst, rounding, sr_bits, seed, stream, offset, rand, tininess, return_flags,
                        backend, out)
    return (codes, flags) if return_flags else codes


def convert(codes, src, dst, rounding="rne", *, sr_bits=None, seed=None, stream=0, offset=0, rand=None,
            tininess="after", return_flags=False, backend=None, out=None):
    """Convert code words of format ``src`` to format ``dst``, correctly rounded (one rounding).

    Arguments as for ``encode``; ``codes`` is an integer array with every value below 2**src.bits.
    """
    src, dst = as_format(src), as_format(dst)
    backend = choose(backend, codes)
    src_codes = code_array(codes, src)
    codes, flags = _run(src_codes, src, dst, rounding, sr_bits, seed, stream, offset, rand, tininess, return_flags,
                        backend, out)
    return (codes, flags) if return_flags else codes


def decode(codes, fmt=None, *, backend=None) -> np.ndarray:
    """Exact float64 values of code words (NaN codes give NaN, infinities give +-inf), or of a
    ``BlockTensor`` (``fmt`` then omitted).

    Raises ValueError if a code's value is not exactly representable in float64 (possible only for
    formats whose range or precision exceeds binary64's).
    """
    if _is_block(codes):
        from bitsim.blocks.codec import decode as decode_block
        return decode_block(codes, backend=backend)
    if fmt is None:
        raise TypeError("decode(codes, fmt): fmt is required for code arrays")
    fmt = as_format(fmt)
    backend = choose(backend, codes)
    src_codes = code_array(codes, fmt)
    if backend == "cpu":
        fast = _decode_fast(src_codes, fmt)
        if fast is not None:
            return fast
    return _decode_generic(src_codes, fmt, backend)


def _decode_generic(src_codes, fmt, backend):
    """``decode`` by the generic conversion kernel to binary64, with its exactness check."""
    out, flags = _run(src_codes, fmt, FP64, "rne", None, None, 0, 0, None, "after", True, backend)
    if is_device_array(flags):
        if _device_or(flags.reshape(-1)) & (FLAG_INEXACT | FLAG_OVERFLOW | FLAG_UNDERFLOW):
            raise ValueError(f"decode: a code of {fmt} is not exactly representable in float64")
        return out.view(np.float64)
    bad = (flags & (FLAG_INEXACT | FLAG_OVERFLOW | FLAG_UNDERFLOW)) != 0
    if bad.any():
        idx = np.flatnonzero(bad.reshape(-1))[0]
        code = int(src_codes.reshape(-1)[idx])
        raise ValueError(f"decode: code {code:#x} of {fmt} is not exactly representable in float64")
    return out.view(np.float64)


@functools.lru_cache(maxsize=64)
def _value_table(fmt):
    """float64 value of every code of a format of at most 16 bits (from the generic kernel), or None when
    some code is not exact in binary64."""
    codes = np.arange(1 << fmt.bits, dtype=np.uint64).astype(fmt.code_dtype)
    try:
        table = _decode_generic(codes, fmt, "cpu")
    except ValueError:
        return None
    table.setflags(write=False)
    return table


def _decode_fast(src_codes, fmt):
    """Host decode without the per-element conversion kernel, or None where it does not apply: a table
    lookup for formats of at most 16 bits; integer times 2**-frac_bits for fixed point up to 53 bits
    (|frac_bits| <= 900, not symmetric: always exact and normal in binary64). Both give the generic kernel's values (tests/test_encode_vs_ref.py)."""
    if fmt.bits <= 16:
        table = _value_table(fmt)
        return None if table is None else table[src_codes]
    if isinstance(fmt, FixedFormat) and fmt.bits <= 53 and not fmt.symmetric and abs(fmt.frac_bits) <= 900:
        ints = src_codes.astype(np.int64)
        if fmt.signed:
            ints = np.where(ints >= 1 << (fmt.bits - 1), ints - (1 << fmt.bits), ints)
        return np.ldexp(ints.astype(np.float64), -fmt.frac_bits)
    return None


def quantize(x, fmt, rounding=None, **kwargs) -> np.ndarray:
    """``decode(encode(x, fmt, rounding, ...), fmt)``: the rounded values as exact float64."""
    kwargs.pop("return_flags", None)
    fmt = as_format(fmt)
    backend = kwargs.get("backend")
    encoded = encode(x, fmt, rounding, **kwargs)
    return decode(encoded, backend=backend) if _is_block(fmt) else decode(encoded, fmt, backend=backend)


def _device_or(flags) -> int:
    from bitsim.kernels.cuda_run import device_or
    return device_or(flags)


def _is_block(obj) -> bool:
    """True for block formats and block tensors (imported late: bitsim.blocks builds on this module)."""
    from bitsim.blocks.spec import BlockFormat, BlockMinifloat, BlockTensor
    if isinstance(obj, BlockMinifloat):
        raise TypeError(f"{obj.name} is a Block Minifloat configuration; pick one of its block formats: "
                        f"{obj.name}.weight, .activation or .error")
    return isinstance(obj, (BlockFormat, BlockTensor))


__all__ = ["encode", "decode", "quantize", "convert"]
