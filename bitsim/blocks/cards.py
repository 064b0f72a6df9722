"""Markdown cards of the block-format catalog (a section of the generated ``docs/formats.md``)."""

from __future__ import annotations

from fractions import Fraction

from bitsim.blocks.catalog import BLOCK_ENTRIES, BlockEntry
from bitsim.blocks.spec import BlockFormat, BlockMinifloat
from bitsim.formats.spec import FloatFormat

SCALE_RULE_TEXT = {
    "top_binade": "X = R(amax / 2**emax_e): the block maximum lands in the element's top binade",
    "fit_max": "X = R(amax / max_e): the block maximum is compared with the element's largest value",
}
ROUNDING_TEXT = {"rtz": "floor", "rdn": "floor", "rup": "ceil", "rne": "nearest, ties to the even scale code",
                 "rna": "nearest, ties up", "rto": "round to odd"}


def _pow2(q) -> str:
    q = Fraction(q)
    e = (q.numerator.bit_length() - 1) - (q.denominator.bit_length() - 1)
    s = q / Fraction(2) ** e
    return f"2**{e}" if s == 1 else f"{float(s)!r} * 2**{e}"


def _scale_text(scale: FloatFormat) -> str:
    nan = f", NaN code {scale.nan_code:#x}" if scale.nan_code is not None else ", no NaN"
    over = "clamps" if scale.overflow == "saturate" else "is an error"
    return (f"`{scale}`: {scale.bits}-bit exponent, value `2**(code - {scale.bias})`{nan}; an exponent above "
            f"the largest {over}")


def block_rows(fmt: BlockFormat):
    """(property, value) rows of one block format."""
    x_min, x_max = fmt.scale_exponent_range
    elem = fmt.element
    smallest = Fraction(elem.smallest) if isinstance(elem, FloatFormat) else Fraction(elem.resolution)
    rows = [("element", f"`{elem}` ({elem.bits} bits; see its card)"),
            ("blocks", str(fmt.tiling)),
            ("scale", _scale_text(fmt.scale)),
            ("scale exponent X", f"{x_min} .. {x_max}"),
            ("scale rule", f"`{fmt.scale_rule}`, R = `{fmt.scale_rounding}` ({ROUNDING_TEXT[fmt.scale_rounding]}): "
                           f"{SCALE_RULE_TEXT[fmt.scale_rule]}; emax_e = {fmt.emax}"),
            ("element rounding", f"`{fmt.element_rounding}` by default (any mode may be passed to `encode`)"),
            ("profile", f"`{fmt.profile}`"),
            ("largest value", f"`{_pow2(Fraction(elem.max) * Fraction(2) ** x_max)}`"),
            ("smallest positive value", f"`{_pow2(smallest * Fraction(2) ** x_min)}`")]
    if fmt.bits_per_element is not None:
        rows.append(("bits per element", f"{fmt.bits_per_element:g}"))
    return rows


def bm_rows(cfg: BlockMinifloat):
    kf, kb = cfg.kulisch_forward, cfg.kulisch_backward
    return [("forward element (weights, activations)", f"`{cfg.forward}` (max {cfg.forward.max!r})"),
            ("backward element (errors)", f"`{cfg.backward}` (max {cfg.backward.max!r})"),
            ("shared exponent", "8 bits: s = floor(log2 amax) clamped to -128 .. 127; scale `2**(s - emax_e)`"),
            ("tiles", f"T = {cfg.tile}: `.weight` {cfg.weight.tiling}; `.activation`/`.error` "
                      f"{cfg.activation.tiling}"),
            ("Kulisch accumulator (Eq. 4, 5)", f"forward kadd {kf[0]} / kshift {kf[1]}; "
                                               f"backward kadd {kb[0]} / kshift {kb[1]}; "
                                               f"`accumulator_bits` = {cfg.accumulator_bits}")]


def _table(rows) -> str:
    lines = ["| property | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)


def card(entry: BlockEntry) -> str:
    spec = entry.spec
    rows = bm_rows(spec) if isinstance(spec, BlockMinifloat) else block_rows(spec)
    parts = [f"### {entry.name}", f"Source: {entry.source}", _table(rows)]
    if entry.notes:
        parts.append(entry.notes)
    return "\n\n".join(parts) + "\n"


INTRO = """\
## Block formats

A block format stores element codes plus one power-of-two scale `2**X` per block (`bitsim.BlockFormat`,
`bitsim.blocks`); `bitsim.encode(x, name)` returns a `BlockTensor` (codes, scales, shape, format) and
`bitsim.decode(tensor)` gives the exact values. X comes from the block's largest magnitude by the scale
rule; the elements are then `x / 2**X` rounded once. A block holding inf or NaN gets the NaN scale (element
codes 0); a scale format without NaN rejects it. `bfp<wl>` (one exponent per tensor, `wl`-bit sign-magnitude
integers) and `bfp<wl>_qpytorch` (QPyTorch's arithmetic) are generic names. Block Minifloat names
(`bm8` ...) are training configurations: pick `.weight`, `.activation` or `.error`.
"""


def block_section() -> str:
    return INTRO + "".join("\n" + card(e) for e in BLOCK_ENTRIES)
