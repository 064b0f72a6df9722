"""Encode float tensors into block formats and decode them back (exactly)."""

from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np

from bitsim.blocks.spec import BlockFormat, BlockTensor
from bitsim.core import block_encode as R
from bitsim.core.fast_encode import FE_LEN
from bitsim.arrays import as_device
from bitsim.backend import choose, empty_like_input, is_device_array, kernels
from bitsim.kernels.plans import fast_encode_plan
from bitsim.formats import format as as_format
from bitsim.quantize import _float_input
from bitsim.rounding import mode_code, stochastic_args

FP64 = as_format("fp64")


def _fraction_parts(q: Fraction) -> tuple[int, int]:
    """(sig, exp) with q = sig * 2**exp for a positive dyadic rational."""
    num, den = q.numerator, q.denominator
    assert den & (den - 1) == 0, q
    shift = (num & -num).bit_length() - 1
    return num >> shift, shift - (den.bit_length() - 1)


def _rule(fmt: BlockFormat, use_fast: bool) -> tuple:
    ref_sig, ref_exp = _fraction_parts(fmt.scale_reference)
    x_min, x_max = fmt.scale_exponent_range
    r = [0] * R.R_LEN
    r[R.R_REF_SIG], r[R.R_REF_EXP] = ref_sig, ref_exp
    r[R.R_SCALE_MODE] = mode_code(fmt.scale_rounding)
    r[R.R_X_MIN], r[R.R_X_MAX] = x_min, x_max
    r[R.R_SCALE_BIAS] = fmt.scale.bias
    r[R.R_SCALE_NAN] = -1 if fmt.scale.nan_code is None else fmt.scale.nan_code
    r[R.R_SATURATE] = int(fmt.scale.overflow == "saturate")
    r[R.R_PROFILE] = R.PROFILE_QPYTORCH_BFP if fmt.profile == "qpytorch_bfp" else R.PROFILE_EXACT
    r[R.R_USE_FAST] = int(use_fast)
    return tuple(r)


def _check_profile_args(fmt: BlockFormat, rounding: str, sr_bits, src):
    if fmt.profile != "qpytorch_bfp":
        return
    if src.bits != 32:
        raise TypeError(f"{fmt}: profile 'qpytorch_bfp' replays float32 arithmetic; x must be float32")
    if rounding not in ("rna", "sr"):
        raise ValueError(f"{fmt}: profile 'qpytorch_bfp' rounds 'rna' (its nearest: half added, ties toward "
                         f"+inf) or 'sr'; got rounding={rounding!r}")
    wl = fmt.element.bits
    if rounding == "sr" and sr_bits != 23 - wl:
        raise ValueError(f"{fmt}: QPyTorch's stochastic BFP adds 23 - wl = {23 - wl} random bits; got sr_bits={sr_bits}")


def encode(x, fmt: BlockFormat, rounding: str | None = None, *, sr_bits=None, seed=None, stream=0, offset=0,
           rand=None, backend=None) -> BlockTensor:
    """Encode a float16/32/64 tensor into ``fmt``; returns a BlockTensor.

    ``rounding`` defaults to ``fmt.element_rounding``. Stochastic rounding: slot j of block b (blocks in
    the tiling's grid order, slots in tile order) uses counter ``offset + b * block_len + j``; an explicit
    ``rand`` has x's shape (or broadcasts to it). ``backend`` as for ``bitsim.encode``: a device-array x
    gives a BlockTensor whose codes and scales are device arrays.
    """
    if not isinstance(fmt, BlockFormat):
        raise TypeError(f"fmt must be a BlockFormat, got {type(fmt).__name__}")
    rounding = fmt.element_rounding if rounding is None else rounding
    mode = mode_code(rounding)
    backend = choose(backend, x)
    src_codes, src = _float_input(x)
    sr_bits, seed, stream, offset, rand_flat = stochastic_args(rounding, sr_bits, seed, stream, offset, rand,
                                                               src_codes.shape)
    _check_profile_args(fmt, rounding, sr_bits, src)
    layout = fmt.tiling.layout(src_codes.shape)
    run_len, starts, lengths = _runs(fmt.tiling, layout.shape)
    plan = fast_encode_plan(src, fmt.element, mode) if fmt.profile == "exact" else None
    empty = empty_like_input(src_codes)
    codes = empty(src_codes.size, dtype=fmt.element.code_dtype)
    scales = empty(layout.n_blocks, dtype=fmt.scale.code_dtype)
    status = np.zeros(layout.n_blocks, dtype=np.int8)
    kernels(backend).block_encode_array(src_codes.reshape(-1), run_len, starts, lengths, src.params,
                                        fmt.element.params, _rule(fmt, plan is not None),
                                        plan if plan is not None else (0,) * FE_LEN, mode, sr_bits, seed, stream,
                                        offset, rand_flat, codes, scales, status)
    _raise_on_status(status, fmt, layout)
    return BlockTensor(codes.reshape(layout.shape), scales.reshape(layout.scale_shape), layout.shape, fmt)


@functools.lru_cache(maxsize=256)
def _runs(tiling, shape):
    """The block runs of (tiling, shape), cached: training loops encode the same shapes again and again (a
    LeNet-5 step alone encodes a few dozen (tiling, shape) pairs)."""
    return tiling.layout(shape).runs()


def _raise_on_status(status: np.ndarray, fmt: BlockFormat, layout):
    bad = np.flatnonzero(status)
    if not bad.size:
        return
    b = int(bad[0])
    where = np.unravel_index(b, layout.scale_shape) if layout.scale_shape else ()
    if status[b] == R.STATUS_NONFINITE:
        raise ValueError(f"{fmt}: block {tuple(int(i) for i in where)} holds inf or NaN, and the scale format "
                         f"{fmt.scale} has no NaN to mark it")
    raise ValueError(f"{fmt}: block {tuple(int(i) for i in where)} needs a scale exponent above "
                     f"{fmt.scale_exponent_range[1]}, the largest the scale format {fmt.scale} holds")


def decode(bt: BlockTensor, *, backend=None) -> np.ndarray:
    """Exact float64 values of a BlockTensor (NaN-scale blocks give NaN); ValueError if one is not
    representable in float64.

    Each element is its code times its block's power-of-two scale, converted to binary64 in one exact step
    of the scalar core (``bitsim.core.block_decode``) on ``backend``: a BlockTensor held on the GPU is
    decoded there, into a device float64 array.
    """
    if not isinstance(bt, BlockTensor):
        raise TypeError(f"decode expects a BlockTensor, got {type(bt).__name__}")
    backend = choose(backend, bt.codes, bt.scales)
    fmt = bt.format
    layout = fmt.tiling.layout(bt.shape)
    if tuple(bt.codes.shape) != tuple(bt.shape) or tuple(bt.scales.shape) != layout.scale_shape:
        raise ValueError(f"BlockTensor shapes do not match its format: codes {tuple(bt.codes.shape)} (want "
                         f"{tuple(bt.shape)}), scales {tuple(bt.scales.shape)} (want {layout.scale_shape})")
    on_device = is_device_array(bt.codes)
    if on_device:
        codes, scales = (as_device(a).reshape(-1) for a in (bt.codes, bt.scales))
    else:                                                    # uint64: one compiled signature for every format
        codes, scales = (np.ascontiguousarray(a, dtype=np.uint64).reshape(-1) for a in (bt.codes, bt.scales))
    _, starts, lengths = _runs(fmt.tiling, layout.shape)
    empty = empty_like_input(codes)
    out, status = empty(codes.shape[0], dtype=np.uint64), empty(layout.n_blocks, dtype=np.uint8)
    scale_nan = -1 if fmt.scale.nan_code is None else fmt.scale.nan_code
    kernels(backend).block_decode_array(codes, starts, lengths, scales, fmt.scale.bias, scale_nan, fmt.element.params,
                                        FP64.params, out, status)
    if on_device:
        from bitsim.kernels.cuda_run import device_max
        status = status.copy_to_host() if device_max(status) else None
    if status is not None and status.any():
        b = int(np.flatnonzero(status)[0])
        where = tuple(int(i) for i in np.unravel_index(b, layout.scale_shape)) if layout.scale_shape else ()
        raise ValueError(f"decode: block {where} of {fmt} holds an element that is not exactly representable in "
                         "float64")
    return out.view(np.float64).reshape(bt.shape)
