"""Slow exact reference for the BLPA codec, one element at a time.

Written from the C++ semantics of the reference kernels (github ayanc/blpa, blpa/ops/quant.cu.cc) and the
graph that feeds them (blpa/graph.py), not from bitsim.blpa, with which it shares no code. Values are exact
rationals (``Fraction``) or the Python floats inf/-inf/nan; every rounding the GPU performs is an explicit
round-to-nearest-even to binary32 or binary64 (``f32``, ``f64``, integer arithmetic on the exact value):

* C double literals (1.0e-6, n/6.0, n/2, 0.5, 6.0/n) promote the float operands, so those operations are
  binary64 and the implicit conversion back to ``float`` is a second rounding;
* ``fmaxf``/``fminf`` return the other operand when one is NaN;
* ``(uint8)s`` is the conversion nvcc emits: truncate to uint32 saturating, keep the low 8 bits.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

KERNEL_EPSILON = Fraction(1e-6)              # the double literal 1.0e-6
TF_GAMMA_FLOOR = 1e-8                        # the Python float tf.maximum converts to float32


def exact_value(x):
    """A finite number as a Fraction; inf/-inf/nan stay Python floats (the only floats this module holds)."""
    if isinstance(x, Fraction):
        return x
    return Fraction(x) if math.isfinite(x) else float(x)


def _special(v) -> bool:
    return isinstance(v, float)


def round_binary(v, precision: int, emin: int, emax: int):
    """Nearest value to v (a Fraction; specials pass through) with a ``precision``-bit significand and
    normal exponents emin..emax (subnormals below), ties to even, overflow to +-inf."""
    v = exact_value(v)
    if _special(v) or v == 0:
        return v
    num, den = abs(v.numerator), v.denominator
    e = num.bit_length() - den.bit_length()
    if num << max(-e, 0) < den << max(e, 0):
        e -= 1                                            # now 2**e <= |v| < 2**(e + 1)
    qexp = max(e, emin) - (precision - 1)                 # exponent of the grid step around |v|
    top, bottom = (num, den << qexp) if qexp >= 0 else (num << -qexp, den)
    n, rem = divmod(top, bottom)
    if 2 * rem > bottom or (2 * rem == bottom and n % 2):
        n += 1
    max_finite = ((1 << precision) - 1) << (emax - precision + 1)
    if qexp >= 0 and n << qexp > max_finite:
        return math.inf if v > 0 else -math.inf
    mag = Fraction(n) * Fraction(2) ** qexp
    return mag if v > 0 else -mag


def f32(v):
    return round_binary(v, 24, -126, 127)


def f64(v):
    return round_binary(v, 53, -1022, 1023)


def add(a, b):
    """Exact a + b with IEEE rules for infinities and NaN."""
    return float(a) + float(b) if _special(a) or _special(b) else a + b


def mul(a, b):
    return float(a) * float(b) if _special(a) or _special(b) else a * b


def div(a, b):
    """a / b for a positive finite b."""
    assert not _special(b) and b > 0
    return float(a) / float(b) if _special(a) else a / b


def floor(v):
    return v if _special(v) else Fraction(math.floor(v))


def _is_nan(v) -> bool:
    return _special(v) and math.isnan(v)


def fmax(a, b):
    if _is_nan(a) or _is_nan(b):
        return b if _is_nan(a) else a
    return a if a >= b else b


def fmin(a, b):
    if _is_nan(a) or _is_nan(b):
        return b if _is_nan(a) else a
    return a if a <= b else b


# ---------------------------------------------------------------- the graph's per-channel values

def clamped_gamma(gamma: float) -> Fraction:
    """tf.maximum(1e-8, scale) in float32 (gamma finite)."""
    return max(f32(Fraction(TF_GAMMA_FLOOR)), exact_value(gamma))


def bias(gamma: float, beta: float):
    """The kernel's ``bias`` input: bias/cscale, a float32 division."""
    return f32(div(exact_value(beta), clamped_gamma(gamma)))


def kernel_input(y: float, gamma: float):
    """The kernel's ``act`` input: out/cscale, a float32 division (y may be inf or nan)."""
    return f32(div(exact_value(y), clamped_gamma(gamma)))


# ---------------------------------------------------------------- the kernels

def _bins_per_unit(K: int):
    return f64(Fraction(1 << K, 6))          # the double constant n/6.0


@functools.lru_cache(maxsize=1 << 12)        # one value per channel, asked for by every element
def shift(gamma: float, beta: float, K: int):
    """floorf(bias*(n/6.0)), then fmaxf(1.0, n/2 - that): the product and difference in double."""
    scaled = floor(f32(f64(mul(bias(gamma, beta), _bins_per_unit(K)))))
    return fmax(Fraction(1), f32(f64(add(Fraction(1 << (K - 1)), -scaled))))


def code(y: float, gamma: float, beta: float, K: int) -> int:
    """The K-bit code of one element."""
    z = kernel_input(y, gamma)
    below = f64(add(z, -KERNEL_EPSILON))
    q = f32(add(floor(f32(f64(mul(below, _bins_per_unit(K))))), shift(gamma, beta, K)))
    q = fmin(Fraction((1 << K) - 1), fmax(Fraction(0), q))
    return int(q)


@functools.lru_cache(maxsize=1 << 16)        # n values per channel, asked for by every element
def reconstruction(q: int, s, K: int):
    """(((float)q) - s + 0.5) * (6.0/n): q - s in float, + 0.5 and the product in double."""
    centred = f32(add(Fraction(q), -s))
    return f32(f64(mul(f64(add(centred, Fraction(1, 2))), f64(Fraction(6, 1 << K)))))


def shift_as_byte(s) -> int:
    """(uint8)s as nvcc compiles it (s >= 1): cvt.rzi.u32.f32 saturates, then the low 8 bits."""
    u32 = (1 << 32) - 1 if _special(s) else min(math.floor(s), (1 << 32) - 1)
    return u32 % 256


def mask(q: int, s) -> float:
    return 1.0 if q >= shift_as_byte(s) else 0.0


# ---------------------------------------------------------------- what graph.py derives from them

@functools.lru_cache(maxsize=1 << 16)
def restored_activation(zhat, gamma: float):
    """relu(outs * cscale), a float32 product."""
    return fmax(Fraction(0), f32(mul(zhat, clamped_gamma(gamma))))


@functools.lru_cache(maxsize=1 << 16)
def restored_xhat(zhat, gamma: float, beta: float):
    """outs - bias/cscale, a float32 difference."""
    return f32(add(zhat, -bias(gamma, beta)))


def unpack_byte(byte: int) -> tuple[int, int]:
    """(element 2j, element 2j+1) of a packed 4-bit byte: the kernel writes the first << 4, ORs the second."""
    return byte >> 4, byte & 15
