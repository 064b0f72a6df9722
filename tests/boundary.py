"""Boundary-heavy test inputs (TestFloat-style) and a reference-comparison helper for the tests."""

import numpy as np

from bitsim import ref
from bitsim.formats import FloatFormat

MODES = ("rne", "rna", "rtz", "rup", "rdn", "rto")


def sample_codes(fmt, limit_bits=12, count=1500):
    """Every code word of small formats; for wider ones about ``count`` evenly spaced codes plus the
    codes around zero, the subnormal/normal boundary, one, and the top of the range."""
    n = 1 << fmt.bits
    if fmt.bits <= limit_bits:
        return list(range(n))
    picks = set(range(0, n, n // count + 1))
    anchors = [0, 1 << fmt.bits - 1]
    if isinstance(fmt, FloatFormat):
        one = fmt.bias << fmt.man_bits
        anchors += [1 << fmt.man_bits, one, fmt.max_code_magnitude]
    for a in anchors:
        for c in range(a - 40, a + 41):
            if 0 <= c < n:
                picks.add(c)
                picks.add(c | (1 << fmt.bits - 1))
    return sorted(picks)


def finite_values(fmt, codes):
    """Sorted distinct finite values (as float64) of the given codes."""
    vals = set()
    for c in codes:
        kind, _, v = ref.classify(c, fmt)
        if kind == "finite":
            vals.add(float(v))
    return sorted(vals)


def boundary_inputs(fmt, codes=None):
    """float64 inputs: every listed value, midpoints of neighbours and midpoint +-1 float64 ulp, the
    overflow threshold region, half the smallest value, far out-of-range values, +-0, +-inf, NaN."""
    vals = finite_values(fmt, sample_codes(fmt) if codes is None else codes)
    xs = set(vals)
    for a, b in zip(vals, vals[1:]):
        mid = (a + b) / 2
        xs |= {mid, np.nextafter(mid, -np.inf), np.nextafter(mid, np.inf)}
    top = float(fmt.max)
    with np.errstate(over="ignore"):
        for v in (top, top * (1 + 2.0 ** -(getattr(fmt, "man_bits", 0) + 1)), top * 2, top * 1.5):
            xs |= {v, np.nextafter(v, -np.inf), np.nextafter(v, np.inf)}
    small = float(fmt.smallest) if isinstance(fmt, FloatFormat) else float(fmt.resolution)
    for v in (small / 2, small / 4, small * 0.75):
        xs |= {v, np.nextafter(v, -np.inf), np.nextafter(v, np.inf)}
    xs |= {1e300, 5e-324, 1.0, 3.0, 0.1}
    xs = np.array(sorted(x for x in xs if np.isfinite(x)), dtype=np.float64)
    return np.concatenate([xs, -xs, [0.0, -0.0, np.inf, -np.inf, np.nan]])


def ref_encode_all(xs, fmt, mode, rand=None, sr_bits=None):
    """Reference (codes, flags) arrays for float64 inputs."""
    codes, flags = [], []
    for i, x in enumerate(xs):
        r = 0 if rand is None else int(rand[i])
        c, f = ref.encode(float(x), fmt, mode, rand=r, sr_bits=sr_bits)
        codes.append(c)
        flags.append(f)
    return np.array(codes, dtype=np.uint64), np.array(flags, dtype=np.uint8)


def assert_codes_equal(got, want, inputs, context=""):
    """Exact equality of code (or flag) arrays, reporting the first mismatches in hex."""
    got = np.asarray(got).astype(np.uint64).reshape(-1)
    want = np.asarray(want).astype(np.uint64).reshape(-1)
    bad = np.flatnonzero(got != want)
    if bad.size:
        rows = [f"  input {inputs[i]!r}: got {int(got[i]):#x}, want {int(want[i]):#x}" for i in bad[:8]]
        raise AssertionError(f"{context}: {bad.size} of {got.size} differ\n" + "\n".join(rows))
