"""Exact reference of block-format encoding: Python ints and Fractions, element by element.

Block membership is restated per tiling from its definition (``block_members``); scales and elements
follow ``bitsim.blocks.spec``'s rules, computed with rationals; QPyTorch's block floating point is
replayed literally with NumPy float32 arithmetic (the float32 sum, the bit-pattern add and mask).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from bitsim.ref.values import round_value

_FLOAT_OF_BITS = {16: np.float16, 32: np.float32, 64: np.float64}


def _floor_log2(q: Fraction) -> int:
    e = q.numerator.bit_length() - q.denominator.bit_length()
    while Fraction(2) ** e > q:
        e -= 1
    while Fraction(2) ** (e + 1) <= q:
        e += 1
    return e


def power_of_two_round(q: Fraction, mode: str, code_bias: int) -> int:
    """log2 of q rounded to a power of two in ``mode`` (ties of rne to the even code k + code_bias)."""
    k = _floor_log2(q)
    lo, hi = Fraction(2) ** k, Fraction(2) ** (k + 1)
    if q == lo or mode in ("rtz", "rdn"):
        return k
    if mode == "rup":
        return k + 1
    if mode == "rto":
        return k if (k + code_bias) % 2 else k + 1
    if q - lo != hi - q:
        return k if q - lo < hi - q else k + 1
    return k + 1 if mode == "rna" or (k + code_bias) % 2 else k


def block_scale(values, fmt):
    """X of one block of exact values (Fractions/float), or "nan" for a non-finite block; may exceed
    the scale format (the caller decides: clamp or error)."""
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        return "nan"
    amax = max((abs(Fraction(v)) for v in values), default=Fraction(0))
    x_min, x_max = -fmt.scale.bias, fmt.scale.emax
    if amax == 0:
        return x_min
    if fmt.profile == "qpytorch_bfp":
        x = max(_floor_log2(amax), -127)
    else:
        x = power_of_two_round(amax / fmt.scale_reference, fmt.scale_rounding, fmt.scale.bias)
    x = max(x, x_min)
    if x > x_max and fmt.scale.overflow == "saturate":
        x = x_max
    return x


def qpytorch_bfp_value(v: float, shared_exp: int, wl: int, rounding: str, rand: int) -> int:
    """QPyTorch's BFP element literally in float32: returns the integer k (value k * 2**(E + 2 - wl))."""
    f32 = np.float32
    offset = f32(6 * 2.0 ** shared_exp)                 # exact: 6 * 2**E is a float32 for -127 <= E <= 125
    s = np.array([f32(v) + offset], dtype=np.float32).view(np.uint32)[0]
    drop = 23 - wl
    add = rand if rounding == "sr" else 1 << (drop - 1)
    s = np.uint32((int(s) + add) & ~((1 << drop) - 1))
    back = np.array([s], dtype=np.uint32).view(np.float32)[0] - offset
    k = Fraction(float(back)) / Fraction(2) ** (shared_exp + 2 - wl)
    assert k.denominator == 1
    limit = 2 ** (wl - 1) - 1
    return max(min(int(k), limit), -limit)


def encode_block(values, fmt, rounding="rne", rands=None, sr_bits=None):
    """(scale code, element codes) of one block; ``values`` are Python floats (exact)."""
    x = block_scale(values, fmt)
    if x == "nan":
        if fmt.scale.nan_code is None:
            raise ValueError("non-finite block without a NaN scale")
        return fmt.scale.nan_code, [0] * len(values)
    if x > fmt.scale.emax:
        raise ValueError("scale exponent overflow")
    rands = rands if rands is not None else [0] * len(values)
    codes = []
    for v, r in zip(values, rands):
        if fmt.profile == "qpytorch_bfp":
            k = qpytorch_bfp_value(v, x, fmt.element.bits, rounding, r)
            codes.append(k % (1 << fmt.element.bits))
            continue
        scaled = Fraction(v) / Fraction(2) ** x
        neg = math.copysign(1.0, v) < 0
        code, _ = round_value(scaled, fmt.element, rounding, rand=r, sr_bits=sr_bits, negative=neg)
        codes.append(code)
    return x + fmt.scale.bias, codes


def block_members(shape, tiling):
    """{block grid index: [flat element indices in slot order]}, restated from each tiling's definition."""
    shape = tuple(shape)
    nd = len(shape)
    blocks = {}
    for idx in np.ndindex(*shape):
        key, slot = _place(idx, shape, tiling, nd)
        blocks.setdefault(key, []).append((slot, int(np.ravel_multi_index(idx, shape))))
    return {k: [i for _, i in sorted(v)] for k, v in sorted(blocks.items())}


def _place(idx, shape, tiling, nd):
    """(block grid index, slot) of one element."""
    kind, t = tiling.kind, tiling.size
    if kind == "axis":
        ax = tiling.axis % nd
        return idx[:ax] + (idx[ax] // t,) + idx[ax + 1:], idx[ax] % t
    if kind == "slice":
        ax = tiling.axis % nd
        rest = idx[:ax] + idx[ax + 1:]
        return tuple(idx[ax] if i == ax else 0 for i in range(nd)), int(np.ravel_multi_index(rest, shape[:ax] + shape[ax + 1:])) if rest else 0
    if kind == "tensor":
        return (0,) * nd, int(np.ravel_multi_index(idx, shape))
    if kind == "tile":
        r, c = idx[-2], idx[-1]
        tc = min(t, shape[-1])
        return idx[:-2] + (r // t, c // t), (r % t) * tc + c % t
    return _place_bm(idx, shape, tiling, nd)


def _place_bm(idx, shape, tiling, nd):
    t = tiling.size
    flat = int(np.ravel_multi_index(idx, shape))
    if nd == 1 or t == 0:
        return (0,) * nd, flat
    if t == -1 or shape[1] < t:
        return (idx[0],) + (0,) * (nd - 1), int(np.ravel_multi_index(idx[1:], shape[1:]))
    if nd == 2:
        tc = min(t, shape[1])
        return (idx[0] // t, idx[1] // t), (idx[0] % t) * tc + idx[1] % t
    n, c, pos = idx[0], idx[1], idx[2] * shape[3] + idx[3]
    rest = shape[2] * shape[3]
    if tiling.kind == "bm_x":
        return (n, c // t, pos // t), (c % t) * min(t, rest) + pos % t
    tc = min(t, shape[1])
    return (n // t, c // t, 0), ((n % t) * tc + c % t) * rest + pos


def encode(x: np.ndarray, fmt, rounding=None, rand=None, sr_bits=None):
    """(codes, scales) of a whole tensor: codes in x's shape, scales as {block grid index: code}."""
    rounding = fmt.element_rounding if rounding is None else rounding
    flat = np.asarray(x).reshape(-1)
    rflat = None if rand is None else np.broadcast_to(np.asarray(rand), np.shape(x)).reshape(-1)
    codes = np.zeros(flat.shape, dtype=np.uint64)
    scales = {}
    for key, members in block_members(np.shape(x), fmt.tiling).items():
        values = [float(flat[i]) for i in members]
        rands = None if rflat is None else [int(rflat[i]) for i in members]
        scales[key], block_codes = encode_block(values, fmt, rounding, rands, sr_bits)
        codes[members] = block_codes
    return codes.reshape(np.shape(x)), scales
