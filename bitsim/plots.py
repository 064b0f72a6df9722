"""Figures of a format (matplotlib, an optional extra: ``pip install 'bitsim[plot]'``).

``value_grid(fmt)``: every non-negative finite value of a float format of at most 16 bits, and the gap
from each to the next (its ulp), on log2 axes. ``quantization_error(fmt, modes)``: the relative error
|q(x) - x| / |x| of encoding x, for log-spaced x from below the smallest subnormal to beyond the largest
value. Each returns the arrays it plots, so the tests can check them; ``plot_format(fmt, path)`` draws
both into one PNG (``bitsim show FORMAT --plot PATH``).
"""

from __future__ import annotations

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


def plot_format(fmt, path, modes=("rne", "rtz")):
    """The value grid and the quantisation error of ``fmt`` in one PNG at ``path``."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'bitsim[plot]'") from None
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
