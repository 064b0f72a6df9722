"""The slow exact reference for ``bitsim.wage``: WAGE's formulas restated literally, one element at a
time, in Python ints and ``fractions.Fraction`` (no NumPy, no shared code with ``bitsim.wage``).

Tensors are flat sequences of Python/NumPy floats (or Fractions); results are lists of ints (code words
of ``wage_k`` or half-step counts of 2**-k_G) and Fractions. Arguments are not validated: this is the
oracle the tests compare against, not a user API.
"""

from __future__ import annotations

import math
from fractions import Fraction

from bitsim.ref.rng import sr_random


def _pow2(e: int) -> Fraction:
    return Fraction(2) ** e


def sigma(k: int) -> Fraction:
    """sigma(k) = 2**(1 - k)."""
    return _pow2(1 - k)


def shift_exponent(x) -> int:
    """n with Shift(x) = 2**round(log2 x) = 2**n: x = M * 2**e, 1 <= M < 2; n = e + 1 iff M*M > 2."""
    x = Fraction(x)
    assert x > 0, x
    e = x.numerator.bit_length() - x.denominator.bit_length()
    while _pow2(e) > x:
        e -= 1
    while _pow2(e + 1) <= x:
        e += 1
    m = x / _pow2(e)
    assert m * m != 2
    return e + 1 if m * m > 2 else e


def shift(x) -> Fraction:
    return _pow2(shift_exponent(x))


def _bound(k: int) -> Fraction:
    """C(x, k) clips to +-(1 - sigma(k)); to +-1 for k = 1 or k > 15 (the code's delta = 0)."""
    return 1 - sigma(k) if 2 <= k <= 15 else Fraction(1)


def clip(x, k: int) -> Fraction:
    """C(x, k); x may be a float infinity."""
    b = _bound(k)
    if isinstance(x, float) and math.isinf(x):
        return b if x > 0 else -b
    return min(max(Fraction(x), -b), b)


def _round_half_even(q: Fraction) -> int:
    n = math.floor(q)
    rest = q - n
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and n % 2 == 1):
        return n + 1
    return n


def quantize(x, k: int) -> int:
    """Code word of Q(C(x, k), k) in wage_k: the k-bit two's complement of round_half_even(C(x, k) / sigma(k))."""
    n = _round_half_even(clip(x, k) / sigma(k))
    return n % (1 << k)


def _tensor_shift_exponent(values) -> int:
    peak = max((abs(Fraction(v)) for v in values), default=Fraction(0))
    return shift_exponent(peak) if peak else 0


def quantize_error(values, k_E: int):
    """(codes of wage_k_E, n): Q(C(e / 2**n, k_E), k_E) with 2**n = Shift(max|e|) (n = 0 if all zero)."""
    n = _tensor_shift_exponent(values)
    return [quantize(Fraction(v) / _pow2(n), k_E) for v in values], n


def _random_integers(count: int, bits: int, seed, rand, stream: int, offset: int) -> list:
    if rand is not None:
        return [int(r) for r in rand]
    return [sr_random(seed, stream, offset + i, bits) for i in range(count)]


def _paper_increment(frac: Fraction, r: int) -> int:
    """Bernoulli(frac) from a 16-bit R, in half steps: 2 iff floor(frac * 2**16) + R >= 2**16."""
    return 2 if math.floor(frac * 2 ** 16) + r >= 2 ** 16 else 0


def _code_increment(frac: Fraction, r: int) -> int:
    """0.5 * (sign(frac - u) + 1) with u = R * 2**-23, in half steps."""
    u = Fraction(r, 2 ** 23)
    return 2 if frac > u else (1 if frac == u else 0)


def quantize_gradient(values, k_G: int, eta, profile="paper", *, seed=None, rand=None, stream=0, offset=0):
    """(half steps of dW, n): dW / (sigma(k_G) / 2) = sgn(g_s) * (2 * floor|g_s| + increment),
    g_s = eta * g / 2**n, 2**n = Shift(max|g|). ``rand``: flat random integers, else the generator's."""
    values = list(values)
    n = _tensor_shift_exponent(values)
    bits = 16 if profile == "paper" else 23
    increment = _paper_increment if profile == "paper" else _code_increment
    out = []
    for v, r in zip(values, _random_integers(len(values), bits, seed, rand, stream, offset)):
        g_s = Fraction(eta) * Fraction(v) / _pow2(n)
        if g_s == 0:
            out.append(0)
            continue
        whole = math.floor(abs(g_s))
        steps = 2 * whole + increment(abs(g_s) - whole, r)
        out.append(steps if g_s > 0 else -steps)
    return out, n


def weight_update(w, dW, k_G: int, clip="paper", k_W=2) -> list:
    """Half-step counts of W_{t+1}: paper Clip(W - dW, +-(1 - sigma(k_G))); code C(W, k_W) - dW."""
    unit = _pow2(-k_G)
    if clip == "paper":
        b = int(_bound(k_G) / unit)
        return [min(max(a - d, -b), b) for a, d in zip(w, dW)]
    b = _bound(k_W) / unit
    assert b.denominator == 1
    b = int(b)
    return [min(max(a, -b), b) - d for a, d in zip(w, dW)]


def half_step_values(counts, k_G: int) -> list:
    return [Fraction(int(c)) * _pow2(-k_G) for c in counts]


def to_half_steps(values, k_G: int) -> list:
    out = []
    for v in values:
        c = Fraction(v) / _pow2(-k_G)
        assert c.denominator == 1, v
        out.append(int(c))
    return out


def layer_scale_alpha(fan_in: int, k_W=2, rule="code") -> int:
    """max(Shift(L_min / L), 1), L_min = 1.5 * sigma(k_W), L**2 = 3/fan_in (code) or 6/fan_in (paper).

    With r = L_min / L known through r**2: e = floor(log2 r) from 4**e <= r**2 < 4**(e + 1), and Shift
    rounds up iff (r / 2**e)**2 > 2, i.e. r**2 > 2 * 4**e.
    """
    limit_squared = Fraction(3 if rule == "code" else 6, fan_in)
    r2 = (Fraction(3, 2) * sigma(k_W)) ** 2 / limit_squared
    e = 0
    while Fraction(4) ** e > r2:
        e -= 1
    while Fraction(4) ** (e + 1) <= r2:
        e += 1
    assert r2 != 2 * Fraction(4) ** e
    if r2 > 2 * Fraction(4) ** e:
        e += 1
    return int(max(_pow2(e), Fraction(1)))
