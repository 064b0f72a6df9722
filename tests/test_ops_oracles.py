"""bitsim.ops against outside oracles: Berkeley SoftFloat (fp16, values and flags) and MPFR (fp32, bf16).

NaN results are compared as NaN-ness only: bitsim returns the format's canonical NaN (positive,
quiet), SoftFloat's x86 specialisation propagates operand payloads or returns a negative default NaN.
"""

import numpy as np
import pytest

import bitsim
from bitsim import ops
from bitsim.formats import format as as_format

softfloat = pytest.importorskip("softfloatpy")
gmpy2 = pytest.importorskip("gmpy2")

SF_MODES = {"rne": "NEAR_EVEN", "rtz": "MIN_MAG", "rdn": "MIN", "rup": "MAX", "rna": "NEAR_MAX_MAG"}
SF_OPS = {"add": "f16_add", "sub": "f16_sub", "mul": "f16_mul", "div": "f16_div", "sqrt": "f16_sqrt",
          "fma": "f16_mul_add"}
FP16 = as_format("fp16")


def interesting_codes(fmt, rng, n_random):
    """TestFloat-style operands: every exponent field x interesting significand patterns, both signs,
    plus uniformly random codes."""
    m = fmt.man_bits
    patterns = {0, 1, 2, 3, (1 << m) - 1, (1 << m) - 2, 1 << (m - 1), (1 << (m - 1)) + 1, (1 << (m - 1)) - 1,
                (1 << m) // 3, 2 * (1 << m) // 3, 1 << (m // 2)}
    structured = [(e << m) | p for e in range(1 << fmt.exp_bits) for p in patterns]
    structured += [c | (1 << (fmt.bits - 1)) for c in structured]
    return np.concatenate([np.array(structured, dtype=np.uint64),
                           rng.integers(0, 1 << fmt.bits, n_random, dtype=np.uint64)])


def interesting_operands(fmt, arity, n, seed):
    rng = np.random.default_rng(seed)
    pool = interesting_codes(fmt, rng, 4000)
    half = n // 2
    cols = []
    for _ in range(arity):
        structured = rng.choice(pool, half)
        random = rng.integers(0, 1 << fmt.bits, n - half, dtype=np.uint64)
        cols.append(np.concatenate([structured, random]))
    return cols


def is_nan_code(codes, fmt):
    return np.isnan(bitsim.decode(np.asarray(codes, dtype=np.uint64), fmt))


@pytest.mark.parametrize("op", list(SF_OPS))
@pytest.mark.parametrize("mode", list(SF_MODES))
def test_fp16_matches_softfloat(op, mode):
    sf = softfloat
    arity = {"sqrt": 1, "fma": 3}.get(op, 2)
    cols = interesting_operands(FP16, arity, 100_000, hash((op, mode)) % 10_000)
    got, flags = getattr(ops, op)(*(c.astype(np.uint16) for c in cols), FP16, mode)
    sf.set_rounding_mode(getattr(sf.RoundingMode, SF_MODES[mode]))
    sf.set_tininess_mode(sf.TininessMode.AFTER_ROUNDING)
    fn = getattr(sf, SF_OPS[op])
    f16 = [[sf.Float16.from_bytes(int(x).to_bytes(2, "big")) for x in c] for c in cols]
    want, want_flags = [], []
    for args in zip(*f16):
        sf.set_exception_flags(0)
        want.append(int.from_bytes(fn(*args).to_bytes(), "big"))
        want_flags.append(sf.get_exception_flags())
    want = np.array(want, dtype=np.uint64)
    got = got.astype(np.uint64)
    nan_want = is_nan_code(want, FP16)
    assert np.array_equal(is_nan_code(got, FP16), nan_want), f"{op} {mode}: NaN-ness differs"
    bad = np.flatnonzero((got != want) & ~nan_want)
    assert bad.size == 0, [(op, mode, [hex(int(c[i])) for c in cols], hex(int(got[i])), hex(int(want[i])))
                           for i in bad[:5]]
    bad = np.flatnonzero(flags != np.array(want_flags))
    assert bad.size == 0, [(op, mode, [hex(int(c[i])) for c in cols], int(flags[i]), want_flags[i])
                           for i in bad[:5]]


GMP_MODES = {"rne": "RoundToNearest", "rtz": "RoundToZero", "rup": "RoundUp", "rdn": "RoundDown"}
MPFR_OPS = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
            "div": lambda x, y: x / y, "sqrt": lambda x: gmpy2.sqrt(x), "fma": lambda x, y, z: gmpy2.fma(x, y, z)}


def mpfr_context(fmt, mode):
    """An MPFR context that rounds like the IEEE-style binary format ``fmt`` (subnormals included)."""
    p = fmt.man_bits + 1
    return gmpy2.context(precision=p, emin=fmt.emin - p + 2, emax=fmt.emax + 1, subnormalize=True,
                         round=getattr(gmpy2, GMP_MODES[mode]))


@pytest.mark.parametrize("name", ["fp32", "bf16"])
@pytest.mark.parametrize("op", list(MPFR_OPS))
@pytest.mark.parametrize("mode", list(GMP_MODES))
def test_matches_mpfr(name, op, mode):
    fmt = as_format(name)
    arity = {"sqrt": 1, "fma": 3}.get(op, 2)
    cols = interesting_operands(fmt, arity, 20_000, hash((name, op, mode)) % 10_000)
    got, flags = getattr(ops, op)(*(c.astype(fmt.code_dtype) for c in cols), fmt, mode)
    values = [bitsim.decode(c.astype(fmt.code_dtype), fmt).tolist() for c in cols]
    finite = np.all([np.isfinite(v) for v in values], axis=0)
    want, inexact, overflow = [], [], []
    ctx = mpfr_context(fmt, mode)
    for args in zip(*values):
        exact = [gmpy2.mpfr(v, 64) for v in args]
        with ctx as c:
            c.clear_flags()
            r = MPFR_OPS[op](*exact)
            want.append(float(r))
            inexact.append(c.inexact)
            overflow.append(c.overflow)
    want = np.array(want)
    got_values = bitsim.decode(got, fmt)
    assert np.array_equal(np.isnan(got_values), np.isnan(want)), f"{name} {op} {mode}: NaN-ness differs"
    ok = ~np.isnan(want)
    bad = np.flatnonzero(ok & ((got_values != want) | (np.signbit(got_values) != np.signbit(want))))
    assert bad.size == 0, [(name, op, mode, [args[i] for args in values], got_values[i], want[i]) for i in bad[:5]]
    # flags where MPFR's and IEEE's definitions coincide: finite operands, inexact and overflow
    sel = finite & ok
    assert np.array_equal((flags[sel] & 1) != 0, np.array(inexact)[sel]), f"{name} {op} {mode}: inexact differs"
    assert np.array_equal((flags[sel] & 4) != 0, np.array(overflow)[sel]), f"{name} {op} {mode}: overflow differs"
