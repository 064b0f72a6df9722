"""Exact references of the accumulator models (``bitsim.accum.models``): each step literally, one dot
product per call, values as exact rationals, every rounding by ``round_value``.

Special values follow IEEE 754 addition: a NaN operand or product (0 x inf included) gives NaN,
+inf + -inf gives NaN, otherwise an infinity wins. An exactly-zero sum is +0 (-0 under rdn) unless
both addends are zeros of the same sign. Kulisch and integer registers hold finite values only: a
non-finite product or addend makes the result NaN/inf directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from bitsim.accum.models import AccumulatorOverflow, ChunkedAcc, FloatAcc, IntAcc, KulischAcc, SplitKAcc, kulisch_layout
from bitsim.formats.spec import FixedFormat
from bitsim.ref.values import INF, NAN, SNAN, classify, round_value


@dataclass(frozen=True)
class Val:
    """An exact accumulator value: kind "finite" (value, sign of zero in ``negative``), "nan" or "inf"."""

    kind: str
    negative: bool = False
    value: Fraction = Fraction(0)

    @staticmethod
    def of_code(code: int, fmt) -> "Val":
        kind, negative, value = classify(int(code), fmt)
        if kind in (NAN, SNAN):
            return Val("nan")
        if kind == INF:
            return Val("inf", negative)
        return Val("finite", negative, value)


ZERO = Val("finite")


def product(a: Val, b: Val) -> Val:
    if a.kind == "nan" or b.kind == "nan":
        return Val("nan")
    negative = a.negative != b.negative
    if "inf" in (a.kind, b.kind):
        zero = (a.kind == "finite" and a.value == 0) or (b.kind == "finite" and b.value == 0)
        return Val("nan") if zero else Val("inf", negative)
    return Val("finite", negative, a.value * b.value)


def exact_sum(x: Val, y: Val, rdn: bool = False) -> Val:
    """x + y exactly (IEEE special and signed-zero rules)."""
    if x.kind == "nan" or y.kind == "nan":
        return Val("nan")
    if x.kind == "inf" or y.kind == "inf":
        if x.kind == y.kind == "inf" and x.negative != y.negative:
            return Val("nan")
        return x if x.kind == "inf" else y
    total = x.value + y.value
    if total != 0:
        return Val("finite", total < 0, total)
    if x.value == 0 and y.value == 0 and x.negative == y.negative:
        return Val("finite", x.negative)
    return Val("finite", rdn)


def code_of(x: Val, fmt, rounding: str) -> int:
    """The code word of x rounded to ``fmt``."""
    if x.kind == "nan":
        return round_value(NAN, fmt)[0]
    if x.kind == "inf":
        return round_value((INF, x.negative), fmt, rounding)[0]
    return round_value(x.value, fmt, rounding, negative=x.negative)[0]


def round_to(x: Val, fmt, rounding: str) -> Val:
    """x rounded to ``fmt`` (through its code word), as a Val again."""
    return Val.of_code(code_of(x, fmt, rounding), fmt)


def rounded_sum(x: Val, y: Val, acc: FloatAcc) -> Val:
    return round_to(exact_sum(x, y, acc.rounding == "rdn"), acc.fmt, acc.rounding)


def float_acc(products, c: Val | None, acc: FloatAcc) -> Val:
    """FloatAcc: sequential s = round(s + p_k) from c (or +0); pairwise tree, then round(c + tree)."""
    start = ZERO if c is None else round_to(c, acc.fmt, acc.rounding)
    if acc.order == "sequential":
        s = start
        for p in products:
            s = rounded_sum(s, p, acc)
        return s
    level = list(products)
    if not level:
        return start
    while len(level) > 1:
        paired = [rounded_sum(level[i], level[i + 1], acc) for i in range(0, len(level) - 1, 2)]
        level = paired + ([level[-1]] if len(level) % 2 else [])
    tree = level[0] if len(products) > 1 else round_to(level[0], acc.fmt, acc.rounding)
    return tree if c is None else rounded_sum(start, tree, acc)


def chunked_acc(products, c: Val | None, acc: ChunkedAcc) -> Val:
    """Chunks of ``acc.chunk`` products summed by ``inner`` from +0; chunk sums by ``outer`` from c."""
    chunks = [float_acc(products[i:i + acc.chunk], None, acc.inner) for i in range(0, len(products), acc.chunk)]
    return float_acc(chunks, c, acc.outer)


def split_k_acc(products, c: Val | None, acc: SplitKAcc) -> Val:
    """``acc.splits`` slices of ceil(K / splits) consecutive products (no empty slice), each by ``inner``
    from +0; the slice sums by ``outer`` from c, in slice order."""
    size = max(1, -(-len(products) // acc.splits))
    sums = [float_acc(products[i:i + size], None, acc.inner) for i in range(0, len(products), size)]
    return float_acc(sums, c, acc.outer)


def _non_finite(terms) -> Val | None:
    """The result when some term is not finite (NaN / inf rules), else None."""
    total = ZERO
    for t in terms:
        if t.kind != "finite":
            total = exact_sum(total, t)
    return total if total.kind != "finite" else None


def _register_step(k: int, bits: int, overflow: str) -> int:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if lo <= k <= hi:
        return k
    if overflow == "raise":
        raise AccumulatorOverflow(f"the {bits}-bit accumulator overflowed (exact running sum {k} units)")
    if overflow == "saturate":
        return min(max(k, lo), hi)
    return (k - lo) % (1 << bits) + lo


def _to_units(v: Val, frac_bits: int, what: str) -> int:
    units = v.value * (Fraction(2) ** frac_bits)
    if units.denominator != 1:
        raise ValueError(f"{what} {v.value} is not a multiple of the register's quantum 2**-{frac_bits}")
    return int(units)


def register_acc(products, c: Val | None, frac_bits: int, bits: int, overflow: str) -> Val:
    """A two's complement register of ``bits`` bits in units of 2**-frac_bits, checked after c and after
    every product is added."""
    terms = ([] if c is None else [c]) + list(products)
    special = _non_finite(terms)
    if special is not None:
        return special
    k = 0
    for t in terms:
        k = _register_step(k + _to_units(t, frac_bits, "a term"), bits, overflow)
    return Val("finite", k < 0, Fraction(k) / Fraction(2) ** frac_bits)     # no -0 in a register


def kulisch_acc(products, c: Val | None, acc: KulischAcc, fa, fb, fc=None) -> Val:
    frac, width = kulisch_layout(fa, fb, max(len(products), 1), fc)
    frac = frac if acc.frac_bits is None else acc.frac_bits
    width = width if acc.width is None else acc.width
    return register_acc(products, c, frac, width, acc.overflow)


def int_acc(products, c: Val | None, acc: IntAcc, fa: FixedFormat, fb: FixedFormat) -> Val:
    return register_acc(products, c, fa.frac_bits + fb.frac_bits, acc.bits, acc.overflow)


def dot(a_codes, b_codes, fa, fb, acc, out_fmt, out_rounding="rne", c=None, fc=None) -> int:
    """Output code of c + sum_k a_k * b_k through the accumulator model ``acc``."""
    products = [product(Val.of_code(a, fa), Val.of_code(b, fb)) for a, b in zip(a_codes, b_codes)]
    cv = None if c is None else Val.of_code(c, fc)
    if isinstance(acc, FloatAcc):
        total = float_acc(products, cv, acc)
    elif isinstance(acc, ChunkedAcc):
        total = chunked_acc(products, cv, acc)
    elif isinstance(acc, SplitKAcc):
        total = split_k_acc(products, cv, acc)
    elif isinstance(acc, KulischAcc):
        total = kulisch_acc(products, cv, acc, fa, fb, None if c is None else fc)
    elif isinstance(acc, IntAcc):
        total = int_acc(products, cv, acc, fa, fb)
    else:
        raise TypeError(f"unknown accumulator model {type(acc).__name__}")
    return code_of(total, out_fmt, out_rounding)
