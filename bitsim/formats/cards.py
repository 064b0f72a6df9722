"""Markdown cards for the catalog formats, and the generated ``docs/formats.md``.

``card(entry)`` describes one format (layout, range, specials, overflow, and for formats of at most 8
bits every code word with its exact value); ``document()`` is the whole reference page.
Usage: ``python -m bitsim.formats.cards [PATH]`` (stdout without PATH).
"""

from __future__ import annotations

import sys
from fractions import Fraction

from bitsim.formats.catalog import ENTRIES, CatalogEntry
from bitsim.formats.spec import FixedFormat, FloatFormat

TABLE_MAX_BITS = 8
TABLE_COLUMNS = 4

SPECIALS_TEXT = {
    "ieee": "IEEE 754: the top binade (E all ones) holds +-inf (F = 0) and NaN (F != 0)",
    "fn": "no infinities; NaN is the all-ones magnitude (both signs); the rest of the top binade is finite",
    "fnuz": "no infinities, no negative zero; the single NaN is the code 100..0 (the would-be -0)",
    "none": "no infinities or NaN; every code word is a finite number",
}

OVERFLOW_TEXT = {
    "inf": "beyond max rounds to +-inf, except that rtz, rdn (positive) and rup (negative) give +-max "
           "(IEEE 754 section 7.4)",
    "nan": "beyond max becomes NaN, except that rtz, rdn (positive) and rup (negative) give +-max "
           "(as IEEE 754 section 7.4)",
    "saturate": "beyond max clamps to +-max in every rounding mode",
    "wrap": "keeps the low-order bits of the integer (two's complement wrap-around)",
}

GENERIC_NAMES = (
    ("eXmY", "IEEE-like: bias `2**(X-1)-1`, subnormals, inf/NaN in the top binade, overflow to inf"),
    ("eXmYfn", "OCP-style: no inf, NaN = all-ones magnitude, overflow to NaN"),
    ("eXmYfnuz", "bias `2**(X-1)`, no inf, no -0, single NaN `0x80..`, overflow to NaN"),
    ("eXmYb<B>", "any of the float forms with bias B, e.g. `e4m3b11fnuz`"),
    ("bm_eXmY", "Block Minifloat element: bias `2**(X-1)`, subnormals, no specials, saturating"),
    ("qpt_eXmY", "QPyTorch >= 0.3 FloatingPoint: IEEE bias and subnormals, top binade finite, saturating"),
    ("qpt02_eXmY", "QPyTorch 0.2 FloatingPoint: no subnormals, min normal `2**-(2**(X-1)-1)`, saturating"),
    ("fixed<B>.<F>", "signed two's complement fixed point: B bits, F fraction bits, saturating"),
    ("ufixed<B>.<F>", "unsigned fixed point: B bits, F fraction bits, saturating"),
    ("wage_<k>", "WAGE's symmetric k-bit grid in units of `2**(1-k)`, saturating"),
    ("<name>_sat", "suffix on any floating-point name: overflow saturates to +-max"),
)


# ---------------------------------------------------------------- numbers

def exact_decimal(q) -> str:
    """The exact decimal expansion of a rational whose denominator divides a power of ten."""
    q = Fraction(q)
    den, twos, fives = q.denominator, 0, 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    if den != 1:
        raise ValueError(f"{q} has no finite decimal expansion")
    k = max(twos, fives)
    digits = str(abs(q.numerator) * 10 ** k // q.denominator).rjust(k + 1, "0")
    text = digits[:len(digits) - k] + ("." + digits[len(digits) - k:] if k else "")
    return ("-" if q < 0 else "") + text


def pow2_form(q) -> str:
    """A dyadic rational as ``s * 2**e`` with 1 <= |s| < 2 (just ``2**e`` when |s| = 1)."""
    q = Fraction(q)
    if q == 0:
        return "0"
    a = abs(q)
    e = (a.numerator.bit_length() - 1) - (a.denominator.bit_length() - 1)
    s = a / Fraction(2) ** e
    sign = "-" if q < 0 else ""
    return f"{sign}2**{e}" if s == 1 else f"{sign}{exact_decimal(s)} * 2**{e}"


def number(v) -> str:
    """A property value as short text: the float repr when exact, else its power-of-two form."""
    return repr(v) if isinstance(v, float) else pow2_form(v)


def _exact(v, form: str | None = None) -> str:
    """A property value and its exact form (default ``s * 2**e``) as a code span: ``448.0 = 1.75 * 2**8``."""
    form = form or pow2_form(v)
    return f"`{form}`" if isinstance(v, Fraction) else f"`{v!r} = {form}`"


# ---------------------------------------------------------------- code words

def hex_code(spec, code: int) -> str:
    """A code word in hex, zero-padded to the format's width."""
    return f"0x{int(code):0{(spec.bits + 3) // 4}x}"


def code_bits(spec, code: int) -> str:
    """A code word in binary, float fields separated by dots (e.g. ``0.1110.011``)."""
    text = f"{int(code):0{spec.bits}b}"
    if isinstance(spec, FixedFormat):
        return text
    widths = [w for w in (int(spec.signed), spec.exp_bits, spec.man_bits) if w]
    fields, start = [], 0
    for w in widths:
        fields.append(text[start:start + w])
        start += w
    return ".".join(fields)


def value_text(spec, code: int) -> str:
    """Exact value of a code word: an exact decimal, ``-0``, ``NaN``, ``+inf`` or ``-inf``."""
    v = spec.value_of(code)
    if isinstance(v, float):
        return "NaN" if v != v else ("+inf" if v > 0 else "-inf")
    if v == 0 and isinstance(spec, FloatFormat) and code & spec.sign_mask:
        return "-0"
    return exact_decimal(v)


def layout_text(spec, compact: bool = False) -> str:
    """Bit layout: ``S EEEE MMM`` (compact: ``S E4 M3``) for floats, ``int8 * 2**-7`` for fixed point."""
    if isinstance(spec, FixedFormat):
        return f"{'int' if spec.signed else 'uint'}{spec.bits} * 2**{-spec.frac_bits}"
    fields = (("S", int(spec.signed)), ("E", spec.exp_bits), ("M", spec.man_bits))
    return " ".join((f"{c}{n}" if compact and c != "S" else c * n) for c, n in fields if n)


def short_source(source: str) -> str:
    """The source up to its first ', ' or ': ' (e.g. ``Fox et al.``)."""
    cut = [i for i in (source.find(", "), source.find(": ")) if i >= 0]
    return source[:min(cut)] if cut else source


# ---------------------------------------------------------------- markdown

def _table(header, rows) -> str:
    """A markdown table with columns padded to equal width (readable as plain text too)."""
    rows = [list(map(str, r)) for r in (header, *rows)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _nan_codes(spec: FloatFormat) -> str:
    if spec.nan_code is None:
        return "none"
    canonical = f"canonical {hex_code(spec, spec.nan_code)}"
    if spec.specials != "ieee":
        return canonical + ("; also " + hex_code(spec, spec.nan_code | spec.sign_mask)
                            if spec.specials == "fn" and spec.signed else "")
    ranges = [f"{hex_code(spec, s | (spec.inf_code + 1))}..{hex_code(spec, s | spec.magnitude_mask)}"
              for s in sorted({0, spec.sign_mask})]
    return f"{canonical}; all of {', '.join(ranges)}"


def _inf_codes(spec: FloatFormat) -> str:
    if spec.inf_code is None:
        return "none"
    return ", ".join(hex_code(spec, c) for c in sorted({spec.inf_code, spec.inf_code | spec.sign_mask}))


def _float_rows(spec: FloatFormat):
    sub = spec.min_subnormal
    no_sub = " (but m = 0: E = 0 is zero only)" if spec.subnormals and sub is None else ""
    return [
        ("layout", f"`{layout_text(spec)}`"),
        ("width", f"{spec.bits} bits"),
        ("exponent bits", spec.exp_bits),
        ("mantissa bits", spec.man_bits),
        ("bias", spec.bias),
        ("subnormals", _yes(spec.subnormals) + no_sub),
        ("specials", f"`{spec.specials}`: {SPECIALS_TEXT[spec.specials]}"),
        ("NaN codes", _nan_codes(spec)),
        ("inf codes", _inf_codes(spec)),
        ("max finite", f"{_exact(spec.max)} (code {hex_code(spec, spec.max_code)})"),
        ("min normal", _exact(spec.min_normal)),
        ("min subnormal", "none" if sub is None else _exact(sub)),
        ("eps", _exact(spec.eps)),
        ("overflow", f"`{spec.overflow}`: {OVERFLOW_TEXT[spec.overflow]}"),
        ("signed", _yes(spec.signed)),
        ("zero", "yes" if spec.has_zero else "none (E = 0 is a normal binade)"),
        ("negative zero", _yes(spec.has_negative_zero)),
    ]


def _fixed_rows(spec: FixedFormat):
    f = -spec.frac_bits
    kind = "two's complement" if spec.signed else "unsigned"
    return [
        ("layout", f"`{layout_text(spec)}`: value `k * 2**{f}`, k a {spec.bits}-bit {kind} integer"),
        ("width", f"{spec.bits} bits"),
        ("fraction bits", spec.frac_bits),
        ("signed", _yes(spec.signed)),
        ("symmetric", "yes (the most negative code is never produced)" if spec.symmetric else "no"),
        ("overflow", f"`{spec.overflow}`: {OVERFLOW_TEXT[spec.overflow]}"),
        ("min", _exact(spec.min, f"{spec.min_int} * 2**{f}")),
        ("max", _exact(spec.max, f"{spec.max_int} * 2**{f}")),
        ("resolution", _exact(spec.resolution, f"2**{f}")),
    ]


def code_table(spec) -> str:
    """Every code word with its fields and exact value, up to TABLE_COLUMNS codes per row."""
    n = 1 << spec.bits
    cols = min(TABLE_COLUMNS, n)
    per_col = n // cols
    rows = [[cell for c in range(cols) for cell in _code_cells(spec, c * per_col + r)] for r in range(per_col)]
    return _table(["code", "bits", "value"] * cols, rows)


def _code_cells(spec, code: int):
    return hex_code(spec, code), code_bits(spec, code), value_text(spec, code)


def card(entry: CatalogEntry) -> str:
    """The markdown card of one catalog entry."""
    spec = entry.spec
    parts = [f"### {entry.name}"]
    if entry.aliases:
        parts.append("Aliases: " + ", ".join(f"`{a}`" for a in entry.aliases))
    parts.append(f"Source: {entry.source}")
    rows = _float_rows(spec) if isinstance(spec, FloatFormat) else _fixed_rows(spec)
    parts.append(_table(["property", "value"], rows))
    if entry.notes:
        parts.append(entry.notes)
    if spec.bits <= TABLE_MAX_BITS:
        parts.append(f"<details>\n<summary>All {1 << spec.bits} code words</summary>\n\n"
                     f"{code_table(spec)}\n\n</details>")
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------- the document

_HEADER = """\
# Number formats

Generated by `python -m bitsim.formats.cards docs/formats.md` from the catalog; do not edit by hand.

## Conventions

A floating-point code word is sign S (absent in unsigned formats), exponent field E (e bits) and
mantissa field F (m bits); b is the bias.

* normal (E != 0): `(-1)**S * 2**(E - b) * (1 + F / 2**m)`
* subnormal (E = 0, with subnormals): `(-1)**S * 2**(1 - b) * (F / 2**m)`
* without subnormals E = 0 encodes only zero; E = 0, F != 0 decodes as a zero of its sign and is never
  produced. A format without zero (E8M0) treats E = 0 as an ordinary normal binade.

`specials` says how infinities and NaN are encoded:

{specials}

`overflow` says what a rounded result beyond the largest finite value (max) becomes. Rounding modes
that round toward zero for the result's sign give +-max whatever the rule (IEEE 754 section 7.4);
rne, rna, rto and sr always apply it:

{overflow}

A fixed-point code word is an integer k (two's complement when signed) with value `k * 2**-F`.
Symmetric formats never produce the most negative code.

Values are exact: floats are shown by their Python repr when that float is exactly the value, and as
`s * 2**e`; code-word tables give exact decimal expansions.

## Names

`bitsim.formats.lookup(name)` takes a catalog name or alias below, a catalog float name with the
suffix `_sat`, or a generic name (X, Y, B, F, k are integers):

{generic}

## Summary

{summary}

## Formats
"""


def _bullets(items) -> str:
    return "\n".join(f"* `{k}`: {v}" for k, v in items)


def _summary_row(entry: CatalogEntry):
    s = entry.spec
    src = short_source(entry.source)
    layout = f"`{layout_text(s, compact=True)}`"
    if isinstance(s, FixedFormat):
        return (entry.name, layout, "-", number(s.max), number(s.resolution), "-", "-",
                s.overflow, src)
    return (entry.name, layout, s.bias, number(s.max), number(s.smallest),
            number(s.min_normal), s.specials, s.overflow, src)


def summary_table() -> str:
    """One row per catalog entry."""
    header = ["name", "layout", "bias", "max", "smallest > 0", "min normal", "specials", "overflow", "source"]
    return _table(header, [_summary_row(e) for e in ENTRIES])


def document() -> str:
    """The whole ``docs/formats.md``."""
    header = _HEADER.format(specials=_bullets(SPECIALS_TEXT.items()), overflow=_bullets(OVERFLOW_TEXT.items()),
                            generic=_bullets(GENERIC_NAMES), summary=summary_table())
    from bitsim.blocks.cards import block_section
    return header + "".join("\n" + card(e) for e in ENTRIES) + "\n" + block_section()


def main(argv) -> None:
    """Write the document to ``argv[0]``, or print it when no path is given."""
    text = document()
    if argv:
        with open(argv[0], "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
