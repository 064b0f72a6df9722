"""Operand generation in the manner of Berkeley TestFloat: interesting exponents crossed with interesting
significand patterns, both signs, plus seeded uniform random codes.

Float formats (exponent field E, mantissa width m, bias b): E in {0, 1, 2, b-1, b, b+1, Emax-1, Emax,
the field above Emax} (zero/subnormals, the subnormal boundary, around 1.0, the top of the range and the
specials binade), significands F in {0, all ones, all ones - 1, each single bit, the half 1<<(m-1) and
its neighbours +-1 (near-ties of a one-bit-shorter format), 0x55.. and 0xAA..}. Fixed-point formats: the
integers 0, +-1, each single bit and its neighbours, max, min.

Conversion sources (``conversion_sources``) are values around every interesting destination value: the
value itself, the midpoint to its neighbour above (a tie), and the source codes just below and above
each (near-ties), plus values beyond the largest finite one.

Levels: ``small`` takes a deterministic sample of the cross product of interesting codes plus uniform
random codes; ``large`` takes every operand tuple when there are at most 2**16 of them (all pairs of an
8-bit format) and otherwise a bigger sample. Every choice is drawn from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from bitsim import ref
from bitsim.formats.spec import FixedFormat, FloatFormat

LEVELS = {"small": (1000, 300), "large": (12000, 4000)}   # (structured cases, random cases) when sampling
EXHAUSTIVE_LIMIT = 1 << 16                               # "large": every operand tuple up to this many


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")
    return level


def _significand_patterns(m: int) -> set[int]:
    if m == 0:
        return {0}
    full = (1 << m) - 1
    half = 1 << (m - 1)
    pats = {0, full, full - 1, half, half - 1, half + 1, full // 3, 2 * (full // 3)}
    pats |= {1 << i for i in range(m)}
    return {p for p in pats if 0 <= p <= full}


def _float_codes(fmt: FloatFormat) -> np.ndarray:
    m = fmt.man_bits
    top = (1 << fmt.exp_bits) - 1
    emax_field = fmt.max_code_magnitude >> m
    fields = {0, 1, 2, fmt.bias - 1, fmt.bias, fmt.bias + 1, emax_field - 1, emax_field, emax_field + 1}
    mags = [(e << m) | p for e in sorted(f for f in fields if 0 <= f <= top) for p in sorted(_significand_patterns(m))]
    signs = [0, fmt.sign_mask] if fmt.signed else [0]
    return np.unique(np.array([s | mag for s in signs for mag in mags], dtype=np.uint64))


def _fixed_codes(fmt: FixedFormat) -> np.ndarray:
    ints = {0, 1, fmt.max_int, fmt.max_int - 1, fmt.min_int, fmt.min_int + 1}
    for i in range(fmt.bits - 1):
        ints |= {1 << i, (1 << i) - 1, (1 << i) + 1}
    if fmt.signed:
        ints |= {-k for k in list(ints)}
    ints = [k for k in ints if -(1 << (fmt.bits - 1)) <= k <= fmt.max_int] if fmt.signed else \
        [k for k in ints if 0 <= k <= fmt.max_int]
    return np.unique(np.array([k % (1 << fmt.bits) for k in ints], dtype=np.uint64))


def interesting_codes(fmt) -> np.ndarray:
    """The interesting code words of a format (uint64, sorted, unique)."""
    if isinstance(fmt, FloatFormat):
        return _float_codes(fmt)
    if isinstance(fmt, FixedFormat):
        return _fixed_codes(fmt)
    raise TypeError(f"interesting_codes: fmt must be a FloatFormat or FixedFormat; got {type(fmt).__name__}")


def _finite_values(fmt, codes) -> list[Fraction]:
    out = []
    for c in codes:
        kind, _, value = ref.classify(int(c), fmt)
        if kind == "finite":
            out.append(abs(value))
    return sorted(set(out))


def _next_value(fmt, v: Fraction) -> Fraction:
    """The next representable magnitude above v (continuing the top binade's spacing above max)."""
    if isinstance(fmt, FixedFormat):
        return v + Fraction(1, 1 << fmt.frac_bits) if fmt.frac_bits >= 0 else v + (1 << -fmt.frac_bits)
    if v < Fraction(fmt.min_normal):
        return v + Fraction(2) ** (fmt.emin - fmt.man_bits) if fmt.subnormals else Fraction(fmt.min_normal)
    e = v.numerator.bit_length() - v.denominator.bit_length()
    while Fraction(2) ** e > v:
        e -= 1
    while Fraction(2) ** (e + 1) <= v:
        e += 1
    return v + Fraction(2) ** (e - fmt.man_bits)


def conversion_sources(src: FloatFormat, dst) -> np.ndarray:
    """Codes of ``src`` at, between and next to the interesting values of ``dst`` (both signs), plus the
    interesting codes of ``src`` itself (uint64, sorted, unique)."""
    targets = set()
    for v in _finite_values(dst, interesting_codes(dst)):
        w = _next_value(dst, v)
        targets |= {v, (v + w) / 2, w}
    codes = set(int(c) for c in interesting_codes(src))
    for x in targets:
        for mode in ("rdn", "rup"):
            c, _ = ref.round_value(x, src, mode)
            kind, _, _ = ref.classify(c, src)
            if kind != "finite":
                continue
            for k in (c - 1, c, c + 1):             # neighbours: magnitude codes are ordered by value
                if 0 <= k <= src.max_code_magnitude:
                    codes |= {k, k | src.sign_mask}
    return np.array(sorted(codes), dtype=np.uint64)


def operand_tuples(pools, level: str, seed: int, widths) -> list[np.ndarray]:
    """Operand columns for an op: ``pools`` are the interesting codes of each operand, ``widths`` the
    operands' code widths. Returns one uint64 array per operand, all of one length."""
    check_level(level)
    rng = np.random.default_rng(seed)
    total_space = 1
    for w in widths:
        total_space <<= w
    if level == "large" and total_space <= EXHAUSTIVE_LIMIT:
        grids = np.meshgrid(*[np.arange(1 << w, dtype=np.uint64) for w in widths], indexing="ij")
        return [g.reshape(-1) for g in grids]
    n_struct, n_random = LEVELS[level]
    cross = 1
    for p in pools:
        cross *= len(p)
    if cross <= n_struct:
        grids = np.meshgrid(*pools, indexing="ij")
        cols = [g.reshape(-1) for g in grids]
    else:
        cols = [rng.choice(p, n_struct) for p in pools]
    randoms = [rng.integers(0, 1 << w, n_random, dtype=np.uint64, endpoint=False) for w in widths]
    return [np.concatenate([c.astype(np.uint64), r]) for c, r in zip(cols, randoms)]


def sr_random_integers(count: int, sr_bits: int, seed: int) -> np.ndarray:
    """The random integers of stochastic-rounding cases: 0 and 2**k - 1 first (the extremes), then seeded
    uniform draws."""
    rng = np.random.default_rng([seed, sr_bits])
    r = rng.integers(0, 1 << sr_bits, count, dtype=np.uint64)
    r[:2][:count] = [0, (1 << sr_bits) - 1][:count]
    return r
