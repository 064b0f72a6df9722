"""Figures (matplotlib, an optional extra: ``pip install 'bitsim[plot]'``).

``value_grid(fmt)``: every non-negative finite value of a float format of at most 16 bits, and the gap
from each to the next (its ulp), on log2 axes. ``quantization_error(fmt, modes)``: the relative error
|q(x) - x| / |x| of encoding x, for log-spaced x from below the smallest subnormal to beyond the largest
value. Each returns the arrays it plots, so the tests can check them; ``plot_format(fmt, path)`` draws
both into one PNG (``bitsim show FORMAT --plot PATH``).

``dot_error(units, lengths)``: the error of dot products through each unit against the exact dot of the
same code words, per length (``bitsim dot-error UNIT... --plot PATH``); ``plot_dot_error`` draws it.
"""

from __future__ import annotations

import math

import numpy as np

from bitsim.formats import FloatFormat, format as as_format

MAX_BITS = 16


def _float_format(fmt) -> FloatFormat:
    f = as_format(fmt)
    if not isinstance(f, FloatFormat) or f.bits > MAX_BITS:
        raise ValueError(f"plots: a float format of at most {MAX_BITS} bits is needed; got {f}")
    return f


def value_grid(fmt) -> tuple[np.ndarray, np.ndarray]:
    """(values, gaps): the format's distinct finite values >= 0 in increasing order, and the gap from
    each to the next (the last value's gap is NaN)."""
    from bitsim.quantize import decode
    f = _float_format(fmt)
    values = decode(np.arange(1 << f.bits, dtype=f.code_dtype), f)
    values = np.unique(values[np.isfinite(values) & (values >= 0)])
    gaps = np.append(np.diff(values), np.nan)
    return values, gaps


def quantization_error(fmt, modes=("rne", "rtz"), points: int = 4001) -> tuple[np.ndarray, dict]:
    """(x, {mode: |q(x) - x| / |x|}) for ``points`` log-spaced x from a quarter of the smallest positive
    value to four times the largest (overflow gives inf; a NaN result, NaN)."""
    from bitsim.quantize import decode, encode
    f = _float_format(fmt)
    lo, hi = np.log2(float(f.smallest)) - 2, np.log2(float(f.max)) + 2
    x = np.exp2(np.linspace(lo, hi, points))
    with np.errstate(invalid="ignore", over="ignore"):
        errors = {m: np.abs(decode(encode(x, f, m), f) - x) / x for m in modes}
    return x, errors


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only); ImportError says how to install it."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'bitsim[plot]'") from None
    return plt


def plot_format(fmt, path, modes=("rne", "rtz")):
    """The value grid and the quantisation error of ``fmt`` in one PNG at ``path``."""
    plt = pyplot()
    f = _float_format(fmt)
    values, gaps = value_grid(f)
    x, errors = quantization_error(f, modes)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    positive = values > 0
    ax1.loglog(values[positive], gaps[positive], ".", markersize=3, base=2)
    ax1.set(xlabel="value", ylabel="gap to the next value", title=f"{f}: {positive.sum()} positive values")
    for mode, err in errors.items():
        ax2.loglog(x, err, label=mode, linewidth=1, base=2)
    ax2.axvline(float(f.min_normal), color="grey", linewidth=0.5)
    ax2.set(xlabel="x", ylabel="|q(x) - x| / x", title="quantisation error")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


DOT_LENGTHS = tuple(2 ** k for k in range(4, 17))


def _dot_formats(label, unit):
    """(fmt_a, fmt_b, out) of a DotUnit or TensorCoreUnit with float operands."""
    from bitsim.accum.presets import TensorCoreUnit
    from bitsim.accum.unit import DotUnit
    if isinstance(unit, TensorCoreUnit):
        formats = (unit.fmt_in, unit.fmt_in, unit.acc.out)
    elif isinstance(unit, DotUnit):
        formats = (unit.a, unit.b, unit.out)
    else:
        raise TypeError(f"dot_error: a unit must be a DotUnit, a TensorCoreUnit or a preset name; got "
                        f"{type(unit).__name__}")
    for f in formats:
        if not isinstance(f, FloatFormat):
            raise ValueError(f"dot_error: float operand and output formats are needed; unit {label} has {f}")
    for f in formats[:2]:
        if f.man_bits + 1 > 26:
            raise ValueError(f"dot_error: operands of at most 26 significant bits are needed (products exact in "
                             f"fp64); unit {label} has {f}")
    return formats


def dot_error(units, lengths=DOT_LENGTHS, rows: int = 8, seed: int = 0, signed: bool = False) -> dict:
    """{label: errors per length} for dot products of ``rows`` random rows through each unit.

    ``units``: a dict label -> unit, or a list of units / preset names (``bitsim.unit``), labelled by name.
    Operands: N(0, 1) values (their absolute values unless ``signed``: all products positive, the case where
    swamping shows), the same values for every unit, each rounded (RNE) to the unit's operand formats.
    Error of a row: |d - exact| / sum_k |a_k b_k|, with d the unit's result and exact the dot of the same
    code words, both sums rounded once to fp64 (``math.fsum`` of the products, exact in fp64 for operands of
    at most 26 significant bits, which is checked): the error is the accumulator's alone, and for positive
    operands it is the relative error. Value: the mean over rows (inf when a result overflows)."""
    from bitsim.accum.unit import dot, unit as named_unit
    from bitsim.quantize import decode, encode
    if isinstance(units, dict):
        named = dict(units)
    else:
        named = {(u if isinstance(u, str) else str(u)): u for u in units}
    named = {label: named_unit(u) if isinstance(u, str) else u for label, u in named.items()}
    formats = {label: _dot_formats(label, u) for label, u in named.items()}
    if rows < 1 or any(int(n) < 1 for n in lengths):
        raise ValueError(f"dot_error: rows and every length must be >= 1; got rows={rows}, lengths={list(lengths)}")
    rng = np.random.default_rng(seed)
    table = {label: [] for label in named}
    for n in lengths:
        x, y = rng.standard_normal((2, rows, int(n)))
        if not signed:
            x, y = np.abs(x), np.abs(y)
        for label, u in named.items():
            fa, fb, out = formats[label]
            a, b = encode(x, fa), encode(y, fb)
            products = decode(a, fa) * decode(b, fb)
            exact = np.array([math.fsum(row) for row in products])
            scale = np.array([math.fsum(row) for row in np.abs(products)])
            with np.errstate(invalid="ignore", divide="ignore"):
                error = np.abs(decode(dot(a, b, u), out) - exact) / scale
            table[label].append(float(np.mean(np.where(scale > 0, error, 0.0))))
    return {label: np.array(errors) for label, errors in table.items()}


def plot_dot_error(table: dict, path, lengths=DOT_LENGTHS, title: str = "dot-product error against length"):
    """``dot_error``'s table as a log-log line chart in a PNG (or SVG, by ``path``'s suffix) at ``path``.
    Zero errors (exact results) sit on the bottom edge, marked by open circles."""
    plt = pyplot()
    positive = [v for errors in table.values() for v in errors if 0 < v < np.inf]
    floor = min(positive) / 4 if positive else 1e-10
    fig, ax = plt.subplots(figsize=(9, 4))
    for label, errors in table.items():
        shown = np.where(np.asarray(errors) > 0, errors, floor)
        line, = ax.loglog(lengths, shown, marker=".", label=label, base=2)
        zero = np.asarray(errors) == 0
        ax.plot(np.asarray(lengths)[zero], shown[zero], "o", mfc="none", color=line.get_color())
    ax.set_yscale("log", base=10)
    ax.set(xlabel="dot length K", ylabel="mean |d - exact| / sum |a b|", title=title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(True, which="major", linewidth=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Date": None} if str(path).endswith(".svg") else None)
    plt.close(fig)
    return path
