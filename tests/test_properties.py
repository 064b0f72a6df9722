"""Hypothesis over random format parameters and inputs: kernels == reference, plus rounding properties."""

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

import bitsim
from bitsim import ref

MODES = ["rne", "rna", "rtz", "rup", "rdn", "rto"]


@st.composite
def float_formats(draw):
    e = draw(st.integers(1, 9))
    m = draw(st.integers(0, 12))
    specials = draw(st.sampled_from(["ieee", "fn", "fnuz", "none"]))
    overflow = draw(st.sampled_from({"ieee": ["inf", "saturate", "nan"], "fn": ["saturate", "nan"],
                                     "fnuz": ["saturate", "nan"], "none": ["saturate"]}[specials]))
    bias = draw(st.integers(-3, 2 ** e + 2))
    subnormals = draw(st.booleans())
    try:
        return bitsim.FloatFormat(e, m, bias=bias, subnormals=subnormals, specials=specials, overflow=overflow)
    except ValueError:
        assume(False)


@st.composite
def fixed_formats(draw):
    signed = draw(st.booleans())
    bits = draw(st.integers(2 if signed else 1, 40))
    return bitsim.FixedFormat(bits, draw(st.integers(-8, 48)), signed=signed,
                              overflow=draw(st.sampled_from(["saturate", "wrap"])),
                              symmetric=signed and draw(st.booleans()))


def _near_codes(fmt, draw):
    """A float64 near a random representable value of fmt (scaled by a factor close to 1)."""
    code = draw(st.integers(0, (1 << fmt.bits) - 1))
    kind, _, v = ref.classify(code, fmt)
    assume(kind == "finite")
    factor = draw(st.sampled_from([1.0, 1 + 2.0 ** -20, 1 - 2.0 ** -20, 1.5, 0.75, 1 + 2.0 ** -(getattr(fmt, "man_bits", 4) + 1)]))
    return float(v) * factor


@given(st.data(), float_formats())
def test_random_float_formats_match_reference(data, fmt):
    assume(abs(fmt.emax) < 900 and fmt.emin - fmt.man_bits > -1000)
    xs = np.array([_near_codes(fmt, data.draw) for _ in range(8)] +
                  [data.draw(st.floats(allow_nan=True, allow_infinity=True, width=64)) for _ in range(4)])
    mode = data.draw(st.sampled_from(MODES))
    got, flags = bitsim.encode(xs, fmt, mode, return_flags=True)
    for x, c, f in zip(xs.tolist(), got.tolist(), flags.tolist()):
        assert (c, f) == ref.encode(x, fmt, mode), (fmt, mode, x)


@given(st.data(), fixed_formats())
def test_random_fixed_formats_match_reference(data, fmt):
    xs = np.array([_near_codes(fmt, data.draw) for _ in range(8)] +
                  [data.draw(st.floats(-1e12, 1e12, allow_nan=False)) for _ in range(4)])
    mode = data.draw(st.sampled_from(MODES))
    got, flags = bitsim.encode(xs, fmt, mode, return_flags=True)
    for x, c, f in zip(xs.tolist(), got.tolist(), flags.tolist()):
        assert (c, f) == ref.encode(x, fmt, mode), (fmt, mode, x)


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=50), st.sampled_from(MODES))
def test_monotone_and_idempotent(values, mode):
    fmt = bitsim.format("bm_e4m3")
    x = np.sort(np.array(values))
    y = bitsim.quantize(x, fmt, mode)
    assert (np.diff(y) >= 0).all()                                  # rounding is monotone
    assert np.array_equal(bitsim.quantize(y, fmt, mode), y)         # and idempotent


@given(st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=1, max_size=50))
def test_sign_symmetry_of_symmetric_modes(values):
    x = np.array(values)
    for mode in ("rne", "rna", "rtz", "rto"):
        assert np.array_equal(bitsim.quantize(-x, "e5m2", mode), -bitsim.quantize(x, "e5m2", mode))
    assert np.array_equal(bitsim.quantize(-x, "e5m2", "rup"), -bitsim.quantize(x, "e5m2", "rdn"))


def test_bit_length_primitive_matches_the_plain_definition():
    """``bitsim.core.build("cpu").bit_length`` is LLVM's ctlz (``bitsim.kernels.primitives``); it must give
    the plain definition's (and Python's) answer at every bit length, and the GPU build is checked by
    tests/test_cuda.py and tests/long/verify_cuda.py through every kernel."""
    from numba import uint64
    from bitsim.core import bits, build
    fast = build("cpu").bit_length
    values = [0] + [v for n in range(1, 65) for v in (1 << (n - 1), (1 << n) - 1, (1 << (n - 1)) | 1)]
    for v in values:
        assert fast(uint64(v)) == bits.bit_length(uint64(v)) == v.bit_length(), v
