"""Accumulator models of a dot-product unit: what happens to exact products on their way to one result.

A dot-product unit forms every product a_k * b_k exactly, then accumulates them with one of these
models, then converts the accumulator to the output format (``bitsim.ref.accum`` states each model's
steps literally, with rationals):

* ``FloatAcc(fmt, rounding, order)``: a running sum in ``fmt``, rounded after every addition. ``order``
  "sequential": s = round(s + p_k) for k = 1..K, starting from c (or +0); "pairwise": the products are
  summed by a balanced tree (level by level, neighbours paired, an odd last term carried up), every node
  rounded, then round(c + tree).
* ``ChunkedAcc(chunk, inner, outer)``: Wang et al. 2018's chunk-based accumulation: each run of ``chunk``
  consecutive products is summed by ``inner`` from +0, and the chunk sums are summed by ``outer``,
  starting from c.
* ``SplitKAcc(splits, inner, outer)``: split-K as GEMM libraries run it: the K products are cut into
  ``splits`` consecutive slices of ceil(K / splits) products (the last one shorter; empty slices do not
  exist), each slice is summed by ``inner`` from +0, and the slice sums are combined by ``outer`` in
  slice order, starting from c. It is ``ChunkedAcc`` with the chunk length derived from K.
* ``KulischAcc(frac_bits, width, overflow)``: an exact two's complement fixed-point register of ``width``
  bits with ``frac_bits`` fraction bits; overflow "raise", "wrap" or "saturate" is checked after every
  addition. ``None`` derives the field from the input formats and the dot length (``kulisch_layout``).
* ``IntAcc(bits, overflow)``: an integer register for fixed-point products (INT8 x INT8 -> INT32),
  wrapping or saturating after every addition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitsim.formats.spec import FixedFormat, FloatFormat
from bitsim.formats import format as lookup_format
from bitsim.rounding import DETERMINISTIC_MODES

ORDERS = ("sequential", "pairwise")
KULISCH_OVERFLOW = ("raise", "wrap", "saturate")
INT_OVERFLOW = ("wrap", "saturate")


class AccumulatorOverflow(ValueError):
    """A register accumulator configured with overflow="raise" overflowed."""


def _check_positive_int(owner, name, value, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}.{name} must be a positive int{' or None' if allow_none else ''}; got {value!r}")


def _check_choice(owner, name, value, choices):
    if value not in choices:
        raise ValueError(f"{owner}.{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def _check_float_parts(model):
    """``inner`` and ``outer`` of a two-level float accumulator must be FloatAccs."""
    for name in ("inner", "outer"):
        part = getattr(model, name)
        if not isinstance(part, FloatAcc):
            raise TypeError(f"{type(model).__name__}.{name} must be a FloatAcc, got {type(part).__name__}")


@dataclass(frozen=True)
class FloatAcc:
    """Running sum in a float format, rounded after every addition (see the module doc)."""

    fmt: FloatFormat          # a FloatFormat or a float format name ("fp16", ...)
    rounding: str = "rne"
    order: str = "sequential"

    def __post_init__(self):
        if isinstance(self.fmt, str):
            object.__setattr__(self, "fmt", lookup_format(self.fmt))
        if not isinstance(self.fmt, FloatFormat):
            raise TypeError(f"FloatAcc.fmt must be a FloatFormat or a float format name, got {self.fmt!r}")
        _check_choice("FloatAcc", "rounding", self.rounding, DETERMINISTIC_MODES)
        _check_choice("FloatAcc", "order", self.order, ORDERS)


@dataclass(frozen=True)
class ChunkedAcc:
    """Wang et al.'s chunk-based accumulation: chunks of ``chunk`` products by ``inner``, chunk sums by
    ``outer``."""

    chunk: int
    inner: FloatAcc
    outer: FloatAcc

    def __post_init__(self):
        _check_positive_int("ChunkedAcc", "chunk", self.chunk)
        _check_float_parts(self)


@dataclass(frozen=True)
class SplitKAcc:
    """Split-K: ``splits`` slices of ceil(K / splits) products by ``inner``, slice sums by ``outer``."""

    splits: int
    inner: FloatAcc
    outer: FloatAcc

    def __post_init__(self):
        _check_positive_int("SplitKAcc", "splits", self.splits)
        _check_float_parts(self)

    def chunked(self, length: int) -> ChunkedAcc:
        """The ChunkedAcc this split performs on dots of ``length`` products."""
        return ChunkedAcc(max(1, -(-length // self.splits)), self.inner, self.outer)


@dataclass(frozen=True)
class KulischAcc:
    """Exact fixed-point accumulation (see the module doc); None fields are derived per dot product."""

    frac_bits: int | None = None
    width: int | None = None
    overflow: str = "raise"

    def __post_init__(self):
        if self.frac_bits is not None and (isinstance(self.frac_bits, bool)
                                           or not isinstance(self.frac_bits, (int, np.integer))):
            raise ValueError(f"KulischAcc.frac_bits must be an int or None; got {self.frac_bits!r}")
        _check_positive_int("KulischAcc", "width", self.width, allow_none=True)
        _check_choice("KulischAcc", "overflow", self.overflow, KULISCH_OVERFLOW)


@dataclass(frozen=True)
class IntAcc:
    """Integer register of ``bits`` bits for fixed-point products, wrap or saturate after every addition."""

    bits: int = 32
    overflow: str = "wrap"

    def __post_init__(self):
        _check_positive_int("IntAcc", "bits", self.bits)
        if self.bits < 2:
            raise ValueError(f"IntAcc.bits must be >= 2 (a signed register); got {self.bits}")
        _check_choice("IntAcc", "overflow", self.overflow, INT_OVERFLOW)


def _float_quantum_exp(fmt: FloatFormat) -> int:
    """Exponent of the smallest step of a float format (its smallest subnormal, or min normal's ULP)."""
    return fmt.emin - fmt.man_bits


def _largest_exp(fmt) -> int:
    """An exponent e with every finite |value| < 2**e."""
    if isinstance(fmt, FloatFormat):
        return fmt.emax + 1
    return fmt.bits - fmt.frac_bits - (1 if fmt.signed else 0)


def _quantum_exp(fmt) -> int:
    return _float_quantum_exp(fmt) if isinstance(fmt, FloatFormat) else -fmt.frac_bits


def kulisch_layout(fa, fb, length: int, fc=None) -> tuple[int, int]:
    """(frac_bits, width) of a Kulisch register that holds any sum of ``length`` products of an fa and
    an fb value (plus one fc addend) exactly: the quantum of the smallest product, the magnitude of the
    largest product times (length + 1), and a sign bit."""
    _check_positive_int("kulisch_layout", "length", length)
    frac = -(_quantum_exp(fa) + _quantum_exp(fb))
    top = _largest_exp(fa) + _largest_exp(fb)
    if fc is not None:
        frac = max(frac, -_quantum_exp(fc))
        top = max(top, _largest_exp(fc))
    width = top + frac + (length + 1).bit_length() + 1
    return frac, width


def check_operand_format(fmt, owner: str):
    if not isinstance(fmt, (FloatFormat, FixedFormat)):
        raise TypeError(f"{owner} must be a FloatFormat or FixedFormat, got {type(fmt).__name__}")
