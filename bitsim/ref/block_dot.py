"""Exact reference of block-format dot products (``bitsim.accum.block_dot``): one output per call, each
step of the model literally, values as exact rationals (``bitsim.ref.accum``), every rounding by
``round_value``.

For K-blocks kb = 0, 1, ... in order: (1) the block's exact products are summed in a Kulisch register
(``register_acc``: two's complement, ``width`` bits in units of 2**-frac, overflow rule after every
addition; a NaN/inf product gives NaN/inf); (2) the register value is multiplied by 2**(Xa + Xb), NaN if
either scale is NaN; (3) ``convert_add``: t = round(value) to the outer format (convert_rounding),
s = round(s + t) (outer rounding); ``fused``: s = round(s + value). s starts from c rounded to the
outer format (or +0); (4) s is rounded to the output format.
"""

from __future__ import annotations

from fractions import Fraction

from bitsim.accum.models import kulisch_layout
from bitsim.ref.accum import ZERO, Val, code_of, product, register_acc, round_to, rounded_sum
from bitsim.ref.values import INF, NAN, SNAN, classify


def scale_value(code: int, fmt) -> Fraction | None:
    """2**X of a scale code as a Fraction, None for NaN."""
    kind, negative, value = classify(int(code), fmt)
    if kind in (NAN, SNAN):
        return None
    assert kind != INF and not negative and value > 0, (code, fmt)
    return value


def scaled(v: Val, factor: Fraction | None) -> Val:
    """v * factor exactly (factor None: a NaN scale)."""
    if factor is None or v.kind == "nan":
        return Val("nan")
    if v.kind == "inf":
        return v
    return Val("finite", v.negative, v.value * factor)


def block_dot(a_codes, a_scales, b_codes, b_scales, unit, c=None) -> int:
    """Output code of c + sum over blocks of (exact block sum) * 2**(Xa + Xb) through ``unit``.

    ``a_codes``, ``b_codes``: the K element codes of row i of A and column j of B; ``a_scales``,
    ``b_scales``: their scale codes, one per K-block of ``unit.block_length`` (the last block may be
    shorter); ``c``: an addend code of ``unit.c`` or None.
    """
    fa, fb = unit.a.element, unit.b.element
    L = unit.block_length
    frac, width = kulisch_layout(fa, fb, L)
    frac = frac if unit.inner.frac_bits is None else unit.inner.frac_bits
    width = width if unit.inner.width is None else unit.inner.width
    outer = unit.outer
    s = ZERO if c is None else round_to(Val.of_code(c, unit.c), outer.fmt, outer.rounding)
    K = len(a_codes)
    assert len(b_codes) == K and len(a_scales) == len(b_scales) == -(-K // L)
    for kb in range(len(a_scales)):
        ks = range(kb * L, min(K, (kb + 1) * L))
        products = [product(Val.of_code(a_codes[k], fa), Val.of_code(b_codes[k], fb)) for k in ks]
        inner = register_acc(products, None, frac, width, unit.inner.overflow)
        xa, xb = scale_value(a_scales[kb], unit.a.scale), scale_value(b_scales[kb], unit.b.scale)
        value = scaled(inner, None if xa is None or xb is None else xa * xb)
        if unit.block_add == "convert_add":
            value = round_to(value, outer.fmt, unit.convert_rounding)
        s = rounded_sum(s, value, outer)                 # round(s + value), the exact sum rounded once
    return code_of(s, unit.out, unit.out_rounding)


def block_matmul(A, B, unit, C=None):
    """Every output of ``block_dot`` for BlockTensors A (M, K) and B (K, N): a list of lists of codes."""
    M, N = A.shape[0], B.shape[1]
    return [[block_dot(A.codes[i], A.scales[i], B.codes[:, j], B.scales[:, j], unit,
                       None if C is None else int(C[i][j])) for j in range(N)] for i in range(M)]
