"""Multi-term fused dot-product units (block FMA) of GPU tensor cores, bit for bit.

The model is the one of tensorcore_models.md section 1.2 (NVIDIA form). One *group* of ``g`` products
plus the accumulator input ``c``:

1. specials first: a NaN operand, ``Inf * 0`` or ``+Inf`` and ``-Inf`` together give the canonical NaN;
   otherwise an infinite term gives an infinity of its sign; finite products never overflow on their own;
2. every product is exact; zero products (and, by default, a zero ``c``) take no part;
3. a product is aligned at the *sum of its input exponents* (its significand product stays
   unnormalised in [0, 4)), or at its true exponent with ``product_exponent="normalised"``;
   ``c`` at ``max(floor(log2|c|), emin_c)``;
4. ``E`` = the largest alignment exponent, clamped below at ``exponent_floor``;
5. every term is cut to ``W = window_bits`` fraction bits below ``E`` (``trunc0``: magnitude toward
   zero; ``floor``: toward minus infinity); ``W = None`` keeps every bit (exact, Kulisch-like);
6. the cut terms are added exactly (unlimited carry bits);
7.-8. the sum is normalised once and rounded once to ``result_frac_bits`` fraction bits
   (exponent clamped at the output format's emin) with ``result_rounding``; an exactly zero result is
   ``+0``; a result beyond the output's range is an infinity (``overflow="inf"``) or the largest finite
   value.

A longer dot product is a chain of groups in increasing k, each group's rounded result being the next
group's ``c`` (section 1.3). ``c_mode`` selects where ``c`` enters (section 1.4/1.6):

* ``"joint"``: ``c`` is one more term of every group (all NVIDIA wmma / HMMA / wgmma paths);
* ``"late_ieee_add"``: the products of an instruction are one group without ``c``, rounded as above,
  then ``c`` is added by a correctly rounded (RNE) addition in the output format (B200 ``mma.sync`` FP8
  -> f32);
* ``"halves_f16"``: the products of an instruction form two half groups, k mod 4 in {0, 1} and then
  {2, 3}, chained like two f16 instructions (the first from +0, the second with the first's rounded
  result as its joint ``c``); then ``c`` is added by an RNE addition in the output format (H100/H200/B200
  ``mma.sync`` FP8 -> f16: ptxas' rewrite into two f16 HMMAs plus an add).

Everything is integer arithmetic: significands are int64 (cut terms) or Python ints (exact sums and
the final rounding); no floating-point value is formed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bitsim.formats import format as lookup_format
from bitsim.formats.spec import FloatFormat

WINDOW_CUTS = ("trunc0", "floor")
PRODUCT_EXPONENTS = ("sum_of_input_exponents", "normalised")
C_MODES = ("joint", "late_ieee_add", "halves_f16")
RESULT_ROUNDINGS = ("rtz", "rne")
OVERFLOWS = ("inf", "maxfinite")
ZERO_SIGNS = ("+0",)

_MAX_SHIFT = 63  # a right shift of a non-negative int64 by 63 or more gives 0


# --------------------------------------------------------------------------------------------- spec


def _require_int(name, value, low, high=None, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"FusedAcc.{name} must be an int{' or None' if allow_none else ''}; got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"FusedAcc.{name} must be {bound}; got {value!r}")


def _require_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"FusedAcc.{name} must be one of {choices}; got {value!r}")


def _as_float_format(name, fmt) -> FloatFormat:
    """A FloatFormat from a name or spec; only signed formats with subnormals and a zero are modelled."""
    if isinstance(fmt, str):
        fmt = lookup_format(fmt)
    if not isinstance(fmt, FloatFormat):
        raise TypeError(f"{name} must be a FloatFormat or a float format name; got {fmt!r}")
    if not (fmt.signed and fmt.has_zero and fmt.subnormals):
        raise ValueError(f"{name}: {fmt} is not supported (needs a sign bit, a zero and subnormals)")
    return fmt


@dataclass(frozen=True)
class FusedAcc:
    """Parameters of one multi-term fused dot-product unit (tensorcore_models.md section 1.5).

    Fields:
        group: products per normalisation, ``g`` (for ``c_mode="halves_f16"`` the instruction's K,
            split into two halves of ``g/2``).
        window_bits: fraction bits ``W`` kept below the group's maximum exponent; None = exact.
        window_cut: "trunc0" (magnitude toward zero, NVIDIA) or "floor" (toward minus infinity).
        product_exponent: "sum_of_input_exponents" (unnormalised product, NVIDIA) or "normalised".
        c_mode: "joint", "late_ieee_add" or "halves_f16" (module doc).
        exponent_floor: lower clamp of the group's alignment exponent ``E``; None = no clamp.
        zero_c_exponent: None = a zero ``c`` is dropped (Khattak-Mikaitis); an int = a zero ``c`` takes
            part in the maximum with this exponent (MMA-Sim uses -126).
        result_frac_bits: fraction bits of the rounded group result (23, 13 or 10); at most the output
            format's mantissa width.
        result_rounding: "rtz" or "rne".
        out: the output (and accumulator) format, fp32 or fp16 (a name or FloatFormat with IEEE specials).
        overflow: "inf" (a final value beyond the range is an infinity, even under RZ) or "maxfinite".
        zero_sign: "+0": an exactly zero (or cut-to-zero) result is +0.
    """

    group: int
    window_bits: int | None
    result_frac_bits: int
    result_rounding: str
    out: FloatFormat | str = "fp32"
    window_cut: str = "trunc0"
    product_exponent: str = "sum_of_input_exponents"
    c_mode: str = "joint"
    exponent_floor: int | None = None
    zero_c_exponent: int | None = None
    overflow: str = "inf"
    zero_sign: str = "+0"
    source: str = field(default="", compare=False)

    def __post_init__(self):
        _require_int("group", self.group, 1, 1024)
        _require_int("window_bits", self.window_bits, 0, 60, allow_none=True)
        _require_choice("window_cut", self.window_cut, WINDOW_CUTS)
        _require_choice("product_exponent", self.product_exponent, PRODUCT_EXPONENTS)
        _require_choice("c_mode", self.c_mode, C_MODES)
        _require_int("exponent_floor", self.exponent_floor, -100000, 100000, allow_none=True)
        _require_int("zero_c_exponent", self.zero_c_exponent, -100000, 100000, allow_none=True)
        _require_choice("result_rounding", self.result_rounding, RESULT_ROUNDINGS)
        _require_choice("overflow", self.overflow, OVERFLOWS)
        _require_choice("zero_sign", self.zero_sign, ZERO_SIGNS)
        if not isinstance(self.source, str):
            raise TypeError(f"FusedAcc.source must be a str; got {self.source!r}")
        out = _as_float_format("FusedAcc.out", self.out)
        if out.specials != "ieee":
            raise ValueError(f"FusedAcc.out must have IEEE infinities and NaNs; got {out}")
        object.__setattr__(self, "out", out)
        _require_int("result_frac_bits", self.result_frac_bits, 0, out.man_bits)
        if self.c_mode == "halves_f16" and self.group % 2:
            raise ValueError(f"FusedAcc.group must be even with c_mode='halves_f16'; got {self.group!r}")


# ------------------------------------------------------------------------------------ decoded codes


@dataclass
class _Operands:
    """Decoded code words, elementwise: value = (-1)**neg * sig * 2**lsb; ``exp`` = max(floor(log2|x|),
    emin) for nonzero finite x (sig stays unnormalised for subnormals: exp = emin, sig < 2**man_bits)."""

    neg: np.ndarray
    exp: np.ndarray
    sig: np.ndarray
    lsb: np.ndarray
    nan: np.ndarray
    inf: np.ndarray

    @property
    def zero(self):
        return (self.sig == 0) & ~self.nan & ~self.inf


def _code_array(codes, fmt: FloatFormat, name: str) -> np.ndarray:
    """Integer codes of ``fmt`` as int64, rejecting non-integers and out-of-range words."""
    arr = np.asarray(codes)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array of {fmt} codes; got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= (1 << fmt.bits)):
        bad = arr[(arr < 0) | (arr >= (1 << fmt.bits))].flat[0]
        raise ValueError(f"{name}: code {int(bad)} is not a {fmt.bits}-bit code of {fmt}")
    return arr


def _decode(codes: np.ndarray, fmt: FloatFormat) -> _Operands:
    codes = np.asarray(codes).astype(np.int64)
    neg = (codes & fmt.sign_mask) != 0
    mag = codes & fmt.magnitude_mask
    e_field = mag >> fmt.man_bits
    frac = mag & ((1 << fmt.man_bits) - 1)
    if fmt.specials == "ieee":
        nan = mag > fmt.max_code_magnitude + 1
        inf = mag == fmt.max_code_magnitude + 1
    elif fmt.specials == "fn":
        nan, inf = mag == fmt.magnitude_mask, np.zeros(codes.shape, bool)
    elif fmt.specials == "fnuz":
        nan, inf = codes == fmt.sign_mask, np.zeros(codes.shape, bool)
    else:
        nan = inf = np.zeros(codes.shape, bool)
    normal = e_field > 0
    sig = np.where(normal, frac | (1 << fmt.man_bits), frac)
    sig = np.where(nan | inf, 0, sig)
    exp = np.maximum(e_field, 1) + (fmt.emin - 1)
    return _Operands(neg, exp, sig, exp - fmt.man_bits, nan, inf)


# ------------------------------------------------------------------------------------------ helpers


def _bit_length(x: np.ndarray) -> np.ndarray:
    """Bit length of non-negative int64 values (0 for 0), with integer operations only."""
    x = x.copy()
    n = np.zeros(x.shape, np.int64)
    for step in (32, 16, 8, 4, 2, 1):
        big = x >= (1 << step)
        n += np.where(big, step, 0)
        x = np.where(big, x >> step, x)
    return n + (x > 0)


_py_bit_length = np.frompyfunc(int.bit_length, 1, 1)


def _shift_right(mag: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """mag >> amount for non-negative int64 mag; a negative amount shifts left."""
    right = np.clip(amount, 0, _MAX_SHIFT)
    left = np.clip(-amount, 0, _MAX_SHIFT)
    return (mag << left) >> right


def _cut(mag: np.ndarray, neg: np.ndarray, amount: np.ndarray, how: str) -> np.ndarray:
    """Signed integer of a term after dropping ``amount`` low bits of its magnitude (``how`` = window_cut)."""
    kept = _shift_right(mag, amount)
    if how == "floor":
        lost = mag != (_shift_right(kept, -amount))
        kept = kept + (neg & lost)
    return np.where(neg, -kept, kept)


@dataclass
class _Terms:
    """The terms of a batch of groups, shape (n, t): value = (-1)**neg * sig * 2**lsb, aligned at ``align``;
    ``present`` marks the terms that take part in the maximum. ``nan``/``pos_inf``/``neg_inf`` (n,) carry
    the special-value state of each row's terms."""

    neg: np.ndarray
    align: np.ndarray
    sig: np.ndarray
    lsb: np.ndarray
    present: np.ndarray
    nan: np.ndarray
    pos_inf: np.ndarray
    neg_inf: np.ndarray

    @staticmethod
    def join(*parts: "_Terms") -> "_Terms":
        col = lambda name: np.concatenate([getattr(p, name) for p in parts], axis=1)  # noqa: E731
        row = lambda name: np.logical_or.reduce([getattr(p, name) for p in parts])  # noqa: E731
        return _Terms(col("neg"), col("align"), col("sig"), col("lsb"), col("present"),
                      row("nan"), row("pos_inf"), row("neg_inf"))


def _product_terms(a: _Operands, b: _Operands, product_exponent: str) -> _Terms:
    """Exact products a_k * b_k of (n, k) operands, with their alignment exponents and special state."""
    neg = a.neg ^ b.neg
    sig = a.sig * b.sig
    lsb = a.lsb + b.lsb
    align = a.exp + b.exp
    if product_exponent == "normalised":
        align = np.where(sig > 0, lsb + _bit_length(sig) - 1, align)
    inf = (a.inf & ~b.zero) | (b.inf & ~a.zero)
    nan = (a.nan | b.nan | (a.inf & b.zero) | (b.inf & a.zero)).any(axis=1)
    return _Terms(neg, align, sig, lsb, sig > 0, nan, (inf & ~neg).any(axis=1), (inf & neg).any(axis=1))


def _single_terms(x: _Operands, zero_exponent: int | None) -> _Terms:
    """One term per row from a decoded (n,) operand (the accumulator input or a partial result)."""
    present = x.sig > 0
    align = x.exp
    if zero_exponent is not None:
        present = present | x.zero
        align = np.where(x.zero, zero_exponent, align)
    col = lambda v: v[:, None]  # noqa: E731
    return _Terms(col(x.neg), col(align), col(x.sig), col(x.lsb), col(present),
                  x.nan, x.inf & ~x.neg, x.inf & x.neg)


# ---------------------------------------------------------------------------------- sum and rounding


def _window_sum(terms: _Terms, window_bits: int, cut: str, exponent_floor: int | None):
    """Each row's exact sum of its window-cut terms, as (signed int64 sum, exponent of its unit)."""
    lowest = np.iinfo(np.int64).min
    top = np.where(terms.present, terms.align, lowest).max(axis=1)
    if exponent_floor is not None:
        top = np.maximum(top, exponent_floor)
    top = np.where(terms.present.any(axis=1), top, 0)
    unit = top - window_bits
    amount = unit[:, None] - terms.lsb
    cut_terms = _cut(terms.sig, terms.neg, amount, cut)
    return cut_terms.sum(axis=1), unit


def _exact_sum(terms: _Terms):
    """Each row's exact sum of its terms, as (signed Python-int array, exponent of its unit)."""
    big = np.iinfo(np.int64).max
    unit = np.where(terms.sig > 0, terms.lsb, big).min(axis=1)
    unit = np.where(unit == big, 0, unit)
    shifts = (terms.lsb - unit[:, None]).astype(object)
    signed = np.where(terms.neg, -terms.sig.astype(object), terms.sig.astype(object))
    return (signed << np.where(terms.sig > 0, shifts, 0)).sum(axis=1), unit


def _round_magnitude(mag, drop, rounding: str):
    """Round non-negative Python ints ``mag`` right by ``drop`` (> 0 entries) bits, elementwise."""
    drop = np.maximum(drop, 0).astype(object)
    kept = mag >> drop
    if rounding == "rne":
        rest = mag - (kept << drop)
        half = np.where(drop > 0, np.left_shift(1, np.maximum(drop - 1, 0)), 0)
        up = (drop > 0) & ((rest > half) | ((rest == half) & (kept % 2 == 1)))
        kept = kept + up.astype(int)
    return kept


def _round_to_output(total, unit, out: FloatFormat, frac_bits: int, rounding: str, overflow: str):
    """Codes of ``out`` for the values total * 2**unit (total: signed ints), normalised once and rounded
    once to ``frac_bits`` fraction bits with the exponent clamped at out.emin; +0 for a zero."""
    total = np.asarray(total, dtype=object)
    unit = np.asarray(unit, dtype=np.int64)
    neg = total < 0
    mag = np.where(neg, -total, total)
    lead = unit + _py_bit_length(mag).astype(np.int64) - 1
    quantum = np.maximum(lead, out.emin) - frac_bits
    kept = _round_magnitude(mag, quantum - unit, rounding)
    kept = np.where(quantum < unit, mag, kept)
    quantum = np.where(quantum < unit, unit, quantum)
    return _pack(neg, kept, quantum, out, overflow)


def _pack(neg, kept, quantum, out: FloatFormat, overflow: str):
    """Codes of the exactly representable values (-1)**neg * kept * 2**quantum (kept: Python ints)."""
    length = _py_bit_length(kept).astype(np.int64)
    lead = quantum + length - 1
    normal = lead >= out.emin
    shift = np.where(normal, out.man_bits - (length - 1), quantum - (out.emin - out.man_bits))
    significand = np.where(shift >= 0, kept << np.maximum(shift, 0).astype(object),
                           kept >> np.maximum(-shift, 0).astype(object))
    fraction = np.where(normal, significand - (1 << out.man_bits), significand).astype(np.int64)
    e_field = np.where(normal, lead - out.emin + 1, 0)
    mag = (e_field << out.man_bits) | fraction
    too_big = lead > out.emax
    mag = np.where(too_big, out.max_code_magnitude + (overflow == "inf"), mag)
    mag = np.where(length == 0, 0, mag)
    return np.where(neg & (length > 0), mag | out.sign_mask, mag).astype(np.int64)


def _specials(terms: _Terms, out: FloatFormat):
    """(mask, codes) of the rows whose result is a NaN or an infinity (step 1 of section 1.2)."""
    nan = terms.nan | (terms.pos_inf & terms.neg_inf)
    inf_mag = out.max_code_magnitude + 1
    codes = np.where(terms.neg_inf, inf_mag | out.sign_mask, inf_mag)
    codes = np.where(nan, out.magnitude_mask, codes)
    return nan | terms.pos_inf | terms.neg_inf, codes


def _evaluate(terms: _Terms, acc: FusedAcc) -> np.ndarray:
    """One fused group per row: cut, exact sum, one normalisation and rounding; specials first."""
    if acc.window_bits is None:
        total, unit = _exact_sum(terms)
    else:
        total, unit = _window_sum(terms, acc.window_bits, acc.window_cut, acc.exponent_floor)
    codes = _round_to_output(total, unit, acc.out, acc.result_frac_bits, acc.result_rounding, acc.overflow)
    special, special_codes = _specials(terms, acc.out)
    return np.where(special, special_codes, codes)


def _ieee_add(x_codes: np.ndarray, y_codes: np.ndarray, out: FloatFormat, overflow: str) -> np.ndarray:
    """Correctly rounded (RNE) sums of two code arrays of ``out``; an exact zero sum is +0."""
    terms = _Terms.join(_single_terms(_decode(x_codes, out), None), _single_terms(_decode(y_codes, out), None))
    total, unit = _exact_sum(terms)
    codes = _round_to_output(total, unit, out, out.man_bits, "rne", overflow)
    special, special_codes = _specials(terms, out)
    return np.where(special, special_codes, codes)


# -------------------------------------------------------------------------------------- public API


def _instruction(products: _Terms, c_codes: np.ndarray, fmt_c: FloatFormat, acc: FusedAcc) -> np.ndarray:
    """Output codes of one step of ``acc.group`` k-columns (already padded) and the accumulator c."""
    if acc.c_mode == "joint":
        return _joint(products, c_codes, fmt_c, acc)
    if acc.c_mode == "late_ieee_add":
        return _ieee_add(_evaluate(products, acc), c_codes, acc.out, acc.overflow)
    first = (np.arange(products.sig.shape[1]) % 4) < 2
    partial = np.zeros(c_codes.shape, np.int64)
    for cols in (first, ~first):
        partial = _joint(_select_columns(products, cols), partial, acc.out, acc)
    return _ieee_add(partial, c_codes, acc.out, acc.overflow)


def _joint(products: _Terms, c_codes: np.ndarray, fmt_c: FloatFormat, acc: FusedAcc) -> np.ndarray:
    """One group with ``c`` as one more term."""
    return _evaluate(_Terms.join(products, _single_terms(_decode(c_codes, fmt_c), acc.zero_c_exponent)), acc)


def _select_columns(terms: _Terms, cols) -> _Terms:
    """The terms of the chosen columns; the special state stays the whole row's (any NaN or Inf of the
    row decides its result anyway)."""
    return _Terms(terms.neg[:, cols], terms.align[:, cols], terms.sig[:, cols], terms.lsb[:, cols],
                  terms.present[:, cols], terms.nan, terms.pos_inf, terms.neg_inf)


def _check_acc(acc):
    if not isinstance(acc, FusedAcc):
        raise TypeError(f"acc must be a FusedAcc; got {type(acc).__name__}")


def fused_group(a_codes, b_codes, c_code, fmt_a, fmt_b, fmt_c, acc: FusedAcc) -> np.ndarray:
    """One group (one instruction step) of a fused dot-product unit.

    Args:
        a_codes, b_codes: integer codes of ``fmt_a`` / ``fmt_b``, shape (..., k) with k <= acc.group
            (missing products are zero).
        c_code: codes of ``fmt_c`` (the accumulator input), shape (...).
        acc: the unit.

    Returns:
        int64 codes of ``acc.out``, shape (...).
    """
    _check_acc(acc)
    fmt_a, fmt_b = _as_float_format("fmt_a", fmt_a), _as_float_format("fmt_b", fmt_b)
    fmt_c = _as_float_format("fmt_c", fmt_c)
    a = _code_array(a_codes, fmt_a, "a_codes")
    b = _code_array(b_codes, fmt_b, "b_codes")
    c = _code_array(c_code, fmt_c, "c_code")
    if a.ndim < 1 or a.shape != b.shape or a.shape[:-1] != c.shape:
        raise ValueError(f"fused_group: a, b must have shape (..., k) and c shape (...); got {a.shape}, "
                         f"{b.shape}, {c.shape}")
    if a.shape[-1] > acc.group:
        raise ValueError(f"fused_group: {a.shape[-1]} products exceed the group of {acc.group}")
    lead_shape = c.shape
    a, b, c = a.reshape(-1, a.shape[-1]), b.reshape(-1, a.shape[-1]), c.reshape(-1)
    if fmt_c != acc.out and acc.c_mode != "joint":
        raise ValueError(f"fused_group: c_mode {acc.c_mode!r} needs c in the output format {acc.out}")
    products = _product_terms(_decode(a, fmt_a), _decode(b, fmt_b), acc.product_exponent)
    return _instruction(_pad_columns(products, acc.group), c, fmt_c, acc).reshape(lead_shape)


def _pad_columns(terms: _Terms, width: int) -> _Terms:
    """Zero products appended up to ``width`` columns (they never take part)."""
    missing = width - terms.sig.shape[1]
    if missing <= 0:
        return terms
    pad = lambda v, fill: np.concatenate([v, np.full((v.shape[0], missing), fill, v.dtype)], axis=1)  # noqa: E731
    return _Terms(pad(terms.neg, False), pad(terms.align, 0), pad(terms.sig, 0), pad(terms.lsb, 0),
                  pad(terms.present, False), terms.nan, terms.pos_inf, terms.neg_inf)


def fused_dot(A, B, c, fmt_in, acc: FusedAcc, out_fmt=None, instruction_k=None) -> np.ndarray:
    """Rows of dot products ``c + sum_k A[i,k] * B[i,k]`` through a chain of fused groups (section 1.3).

    Args:
        A, B: integer codes of ``fmt_in``, shape (n, K).
        c: codes of the accumulator (= output) format, shape (n,).
        fmt_in: input format (name or FloatFormat).
        acc: the unit (FusedAcc); out_fmt: the output format, None or equal to ``acc.out``.
        instruction_k: K of one instruction, a multiple of ``acc.group`` (default ``acc.group``); a ragged
            tail is zero-padded to it. Chaining is in increasing k, each step's result feeding the next
            step's ``c``.

    Returns:
        int64 codes of the output format, shape (n,).
    """
    _check_acc(acc)
    fmt_in = _as_float_format("fmt_in", fmt_in)
    if out_fmt is not None and _as_float_format("out_fmt", out_fmt) != acc.out:
        raise ValueError(f"fused_dot: out_fmt {out_fmt} differs from the unit's output format {acc.out}")
    step = acc.group if instruction_k is None else instruction_k
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1 or step % acc.group:
        raise ValueError(f"fused_dot: instruction_k must be a positive multiple of group={acc.group}; "
                         f"got {instruction_k!r}")
    a = _code_array(A, fmt_in, "A")
    b = _code_array(B, fmt_in, "B")
    acc_codes = _code_array(c, acc.out, "c")
    if a.ndim != 2 or a.shape != b.shape or acc_codes.shape != (a.shape[0],):
        raise ValueError(f"fused_dot: A, B must be (n, K) and c (n,); got {a.shape}, {b.shape}, "
                         f"{acc_codes.shape}")
    for start in range(0, max(a.shape[1], 1), step):
        cols = slice(start, start + step)
        products = _product_terms(_decode(a[:, cols], fmt_in), _decode(b[:, cols], fmt_in), acc.product_exponent)
        products = _pad_columns(products, step)
        for first in range(0, step, acc.group):
            group = _select_columns(products, slice(first, first + acc.group))
            acc_codes = _instruction(group, acc_codes, acc.out, acc)
    return acc_codes
