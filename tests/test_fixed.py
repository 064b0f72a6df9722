"""bitsim.fixed against the exact reference bitsim.ref.fixed: codes and flags, element for element."""

import operator

import numpy as np
import pytest
from hypothesis import given, strategies as st

import bitsim
from bitsim import FixedFormat, FloatFormat, fixed
from bitsim.ref import fixed as ref, round_value, sr_random
from boundary import assert_codes_equal

MODES = ("rne", "rna", "rtz", "rup", "rdn", "rto")
BINARY = ("add", "sub", "mul")
EXACT = {"add": operator.add, "sub": operator.sub, "mul": operator.mul}
INEXACT, OVERFLOW = 1, 4


def S(bits, frac, **kw):
    return FixedFormat(bits, frac, signed=True, **kw)


def U(bits, frac, **kw):
    return FixedFormat(bits, frac, signed=False, **kw)


def rand_for(mode, size, sr_bits, seed):
    """Explicit SR bits for ``size`` elements (None unless mode is "sr")."""
    if mode != "sr":
        return None
    return np.random.default_rng(seed).integers(0, 1 << sr_bits, size, dtype=np.uint64)


def check(op, a, fa, out, mode, *, b=None, fb=None, n=None, rand=None, sr_bits=None):
    """Run ``fixed.<op>`` on code arrays and compare codes and flags with ``ref.<op>`` per element."""
    sr = dict(sr_bits=sr_bits, rand=rand) if mode == "sr" else {}
    if op in ("shift", "requantize"):
        got = fixed.shift(a.astype(fa.code_dtype), fa, n or 0, out, mode, **sr)
        want = [ref.shift(int(x), fa, n or 0, out, mode, rand=int(rand[i]) if sr else 0, sr_bits=sr_bits)
                for i, x in enumerate(a)]
        labels = [f"{int(x):#x} << {n}" for x in a]
    else:
        got = getattr(fixed, op)(a.astype(fa.code_dtype), b.astype(fb.code_dtype), fa, fb, out, mode, **sr)
        want = [getattr(ref, op)(int(x), int(y), fa, fb, out, mode, rand=int(rand[i]) if sr else 0, sr_bits=sr_bits)
                for i, (x, y) in enumerate(zip(a, b))]
        labels = [f"{int(x):#x} {op} {int(y):#x}" for x, y in zip(a, b)]
    assert got[0].dtype == out.code_dtype and got[1].dtype == np.uint8
    context = f"{op} {fa} {fb} -> {out} {mode}"
    assert_codes_equal(got[0], np.array([w[0] for w in want], dtype=np.uint64), labels, context + " codes")
    assert_codes_equal(got[1], np.array([w[1] for w in want], dtype=np.uint64), labels, context + " flags")
    return got


def all_pairs(fa, fb):
    a = np.repeat(np.arange(1 << fa.bits, dtype=np.uint64), 1 << fb.bits)
    b = np.tile(np.arange(1 << fb.bits, dtype=np.uint64), 1 << fa.bits)
    return a, b


# ------------------------------------------------------------------ exhaustive over small formats

OPERANDS = [(S(5, 2), U(5, 1)), (S(5, 3, symmetric=True), S(5, 0, overflow="wrap")), (U(5, 0), U(5, 4))]
OUTS = [S(4, 1), S(4, 1, overflow="wrap"), U(3, 2, overflow="wrap"), U(4, 0), S(6, 3, symmetric=True),
        S(5, -1, overflow="wrap")]


@pytest.mark.parametrize("operands", OPERANDS, ids=str)
@pytest.mark.parametrize("out", OUTS, ids=str)
@pytest.mark.parametrize("mode", MODES + ("sr",))
def test_every_pair_of_5_bit_codes(operands, out, mode):
    fa, fb = operands
    a, b = all_pairs(fa, fb)
    rand = rand_for(mode, a.size, 3, hash((str(out), mode)) % 1000)
    for op in BINARY:
        check(op, a, fa, out, mode, b=b, fb=fb, rand=rand, sr_bits=3)


@pytest.mark.parametrize("op", BINARY)
def test_sr_every_pair_and_every_random_value(op):
    """Stochastic rounding with each of the 2**3 possible random values for every pair."""
    fa, fb, out = S(5, 2), S(5, 3), S(4, 0, overflow="wrap")
    a, b = all_pairs(fa, fb)
    for r in range(8):
        check(op, a, fa, out, "sr", b=b, fb=fb, rand=np.full(a.size, r, dtype=np.uint64), sr_bits=3)


@pytest.mark.parametrize("fa", [S(5, 2), U(5, 1), S(5, 0, symmetric=True)], ids=str)
@pytest.mark.parametrize("out", [S(4, 1), U(5, 3, overflow="wrap"), S(7, -2, overflow="wrap"), S(5, 4, symmetric=True)],
                         ids=str)
def test_shift_every_code(fa, out):
    a = np.arange(1 << fa.bits, dtype=np.uint64)
    for mode in MODES + ("sr",):
        rand = rand_for(mode, a.size, 4, 7)
        for n in (-5000, -70, -9, -3, -1, 0, 1, 2, 5, 70, 5000):
            check("shift", a, fa, out, mode, n=n, rand=rand, sr_bits=4)


@pytest.mark.parametrize("fa, out", [(S(5, 3), S(4, 1)), (U(5, 1), S(3, -1, overflow="wrap")),
                                     (S(5, 0), S(6, 2, symmetric=True))], ids=str)
def test_requantize_every_code(fa, out):
    a = np.arange(32, dtype=np.uint64)
    for mode in MODES:
        got = fixed.requantize(a.astype(np.uint8), fa, out, mode)
        want = [ref.requantize(int(x), fa, out, mode) for x in a]
        assert_codes_equal(got[0], np.array([w[0] for w in want], dtype=np.uint64), list(a), "requantize codes")
        assert_codes_equal(got[1], np.array([w[1] for w in want], dtype=np.uint64), list(a), "requantize flags")


def test_symmetric_output_never_produces_the_most_negative_code():
    fa, out = S(5, 0), S(5, 0, symmetric=True)
    a, b = all_pairs(fa, fa)
    for op in BINARY:
        exact = [EXACT[op](ref.value(int(x), fa), ref.value(int(y), fa)) for x, y in zip(a, b)]
        assert min(exact) <= -16                       # the unclamped result reaches -16 (code 0x10)
        for mode in MODES:
            codes, _ = check(op, a, fa, out, mode, b=b, fb=fa)
            assert not np.any(codes == 0x10)


# ------------------------------------------------------------------ default result formats

@pytest.mark.parametrize("fa, fb", [(S(5, 2), U(5, 1)), (U(4, 0), U(5, 3)), (S(5, 3, symmetric=True), S(4, -2)),
                                    (U(5, -1), U(3, 2))], ids=str)
@pytest.mark.parametrize("op", BINARY)
def test_default_format_holds_every_exact_result_and_is_narrowest(fa, fb, op):
    a, b = all_pairs(fa, fb)
    out = fixed.exact_format(op, fa, fb)
    codes, flags = getattr(fixed, op)(a.astype(fa.code_dtype), b.astype(fb.code_dtype), fa, fb)
    assert codes.dtype == out.code_dtype and not np.any(flags)
    values = [EXACT[op](ref.value(int(x), fa), ref.value(int(y), fb)) for x, y in zip(a, b)]
    assert [ref.value(int(c), out) for c in codes] == values
    assert out.signed == (min(values) < 0)
    coarser = out.replace(frac_bits=out.frac_bits - 1)             # some result is off its grid
    assert any(round_value(v, coarser)[1] & INEXACT for v in values)
    if out.bits > 1 + out.signed:                                  # some result is beyond its range
        narrower = out.replace(bits=out.bits - 1)
        assert any(round_value(v, narrower)[1] & OVERFLOW for v in values)


def test_default_shift_format_keeps_the_codes():
    fa = S(5, 3, symmetric=True)
    a = np.arange(32, dtype=np.uint8)
    for n in (-9, 0, 4):
        codes, flags = fixed.shift(a, fa, n)
        assert np.array_equal(codes, a) and not np.any(flags)


# ------------------------------------------------------------------ wide formats, boundary-heavy

def boundary_codes(fmt):
    """Codes of the integers 0, +-1, +-2, the ends of the range, their neighbours, and +-powers of two."""
    lo = -(1 << (fmt.bits - 1)) if fmt.signed else 0
    ints = {0, 1, 2, 3, fmt.max_int, fmt.max_int - 1, lo, lo + 1, lo + 2}
    ints |= {1 << k for k in range(0, fmt.bits - fmt.signed, 7)}
    if fmt.signed:
        ints |= {-1, -2, -3} | {-(1 << k) for k in range(0, fmt.bits - 1, 9)}
    return np.array(sorted(k % (1 << fmt.bits) for k in ints), dtype=np.uint64)


WIDE = [  # (fa, fb, out): products needing 128 bits, sums with binary points far apart, results at 2**63
    (S(64, 0), S(64, 0), S(64, 0, overflow="wrap")),
    (S(64, 0), S(64, 0), S(64, 63)),
    (S(64, 40), S(64, 50), S(64, 90, overflow="wrap")),
    (S(64, 62), U(63, 62), S(64, 62, symmetric=True)),
    (U(63, 0), U(63, 1), U(63, 0, overflow="wrap")),
    (S(64, 0), S(64, 100), S(64, 30, overflow="wrap")),
    (S(64, 0), S(64, 100), S(64, 100)),
    (S(64, -20), S(64, 300), S(64, -300, overflow="wrap")),
    (S(64, 1024), S(64, -1024), S(64, 0, overflow="wrap")),
    (U(63, -1), U(3, 1), S(64, 0, overflow="wrap")),
    (S(64, 1), S(64, 70), S(64, 1, overflow="wrap")),
    (S(33, 10), U(31, -40), S(40, 5, overflow="wrap")),
]


@pytest.mark.parametrize("fa, fb, out", WIDE, ids=str)
def test_wide_boundary_pairs(fa, fb, out):
    a = np.repeat(boundary_codes(fa), boundary_codes(fb).size)
    b = np.tile(boundary_codes(fb), boundary_codes(fa).size)
    for mode in MODES + ("sr",):
        for sr_bits in ((62, 5) if mode == "sr" else (None,)):
            rand = rand_for(mode, a.size, sr_bits or 1, 11)
            for op in BINARY:
                check(op, a, fa, out, mode, b=b, fb=fb, rand=rand, sr_bits=sr_bits)


@pytest.mark.parametrize("n", [-5000, -1100, -130, -64, -63, -1, 0, 1, 63, 64, 130, 1100, 5000])
def test_wide_shift(n):
    fa = S(64, 10)
    a = boundary_codes(fa)
    clamp = lambda frac: max(-1024, min(1024, frac))       # noqa: E731
    for out in (S(64, 10, overflow="wrap"), S(64, clamp(10 - n // 2)), U(63, 0, overflow="wrap"), S(64, clamp(-n))):
        for mode in MODES + ("sr",):
            check("shift", a, fa, out, mode, n=n, rand=rand_for(mode, a.size, 62, 5), sr_bits=62)


def test_hand_derived_edges():
    """Results worked out by hand, independent of both implementations."""
    s64, w64 = S(64, 0), S(64, 0, overflow="wrap")
    m = np.uint64
    small = np.array([3])
    # -2**62 * 2 = -2**63 is the most negative 64-bit integer: exact, no flags
    codes, flags = fixed.mul(np.array([1 << 62], m), np.array([2], m), S(63, 0), s64, s64)
    assert (int(codes[0]), int(flags[0])) == (1 << 63, 0)
    # (2**64 - 2) + 1.5 = 2**64 - 0.5 rounds (rne) to 2**64: wraps to 0, overflow
    codes, flags = fixed.add(np.array([(1 << 63) - 1], m), small, U(63, -1), U(3, 1), w64)
    assert (int(codes[0]), int(flags[0])) == (0, OVERFLOW | INEXACT)
    # (2**63 - 1)**2 = 2**126 - 2**64 + 1: wrapped to 64 bits it is 1
    codes, flags = fixed.mul(np.array([(1 << 63) - 1], m), np.array([(1 << 63) - 1], m), s64, s64, w64)
    assert (int(codes[0]), int(flags[0])) == (1, OVERFLOW | INEXACT)
    # 2**1000 - 2**-1000 into frac 0: the integer part is 2**1000 - 1, whose low 64 bits are all ones
    codes, flags = fixed.sub(np.array([1]), np.array([1]), S(8, -1000), S(8, 1000), w64, "rtz")
    assert (int(codes[0]), int(flags[0])) == ((1 << 64) - 1, OVERFLOW | INEXACT)
    # the same with rup (toward +inf): 2**1000 exactly, low 64 bits zero
    codes, _ = fixed.sub(np.array([1]), np.array([1]), S(8, -1000), S(8, 1000), w64, "rup")
    assert int(codes[0]) == 0


# ------------------------------------------------------------------ random formats (hypothesis)

@st.composite
def fixed_formats(draw, result=False):
    signed = draw(st.booleans())
    widest = 64 if signed else 63
    bits = draw(st.integers(2 if signed else 1, widest) | st.sampled_from([widest - 1, widest]))
    frac = draw(st.integers(-8, 72) | st.integers(-200, 200) | st.sampled_from([-1024, 1024]))
    symmetric = signed and draw(st.booleans())
    overflow = "saturate" if (symmetric and result) else draw(st.sampled_from(["saturate", "wrap"]))
    return FixedFormat(bits, frac, signed=signed, overflow=overflow, symmetric=symmetric)


@st.composite
def codes_of(draw, fmt, size=12):
    lo = -(1 << (fmt.bits - 1)) if fmt.signed else 0
    ints = st.sampled_from([0, 1, -1 if fmt.signed else 2, fmt.max_int, lo, lo + 1]) | st.integers(lo, fmt.max_int)
    return np.array([draw(ints) % (1 << fmt.bits) for _ in range(size)], dtype=np.uint64)


@given(data=st.data())
def test_random_formats_against_reference(data):
    fa, fb, out = data.draw(fixed_formats()), data.draw(fixed_formats()), data.draw(fixed_formats(result=True))
    if data.draw(st.booleans()):     # put the output grid near the operands' grids
        near = data.draw(st.sampled_from([fa.frac_bits, fb.frac_bits, fa.frac_bits + fb.frac_bits]))
        out = out.replace(frac_bits=max(-1024, min(1024, near + data.draw(st.integers(-70, 70)))))
    a, b = data.draw(codes_of(fa)), data.draw(codes_of(fb))
    mode = data.draw(st.sampled_from(MODES + ("sr",)))
    sr_bits = data.draw(st.integers(1, 62))
    rand = np.array([data.draw(st.integers(0, (1 << sr_bits) - 1)) for _ in a], dtype=np.uint64)
    for op in BINARY:
        check(op, a, fa, out, mode, b=b, fb=fb, rand=rand, sr_bits=sr_bits)
    check("shift", a, fa, out, mode, n=data.draw(st.integers(-1200, 1200)), rand=rand, sr_bits=sr_bits)


# ------------------------------------------------------------------ stochastic rounding plumbing

def test_sr_seed_gives_the_generator_bits_of_counter_offset_plus_i():
    """seed/stream/offset give element i the generator's bits for counter offset + i, as bitsim.encode."""
    fa, out = S(16, 12), S(8, 2, overflow="wrap")
    rng = np.random.default_rng(3)
    a = rng.integers(0, 1 << 16, (4, 50), dtype=np.uint64).astype(np.uint16)
    b = rng.integers(0, 1 << 16, 50, dtype=np.uint64).astype(np.uint16)    # broadcast over rows
    seed, stream, offset, k = 7, 2, 1000, 10
    rand = np.array([sr_random(seed, stream, offset + i, k) for i in range(a.size)], dtype=np.uint64)
    for op in BINARY:
        by_seed = getattr(fixed, op)(a, b, fa, fa, out, "sr", sr_bits=k, seed=seed, stream=stream, offset=offset)
        by_rand = getattr(fixed, op)(a, b, fa, fa, out, "sr", sr_bits=k, rand=rand.reshape(a.shape))
        assert by_seed[0].shape == a.shape
        assert np.array_equal(by_seed[0], by_rand[0]) and np.array_equal(by_seed[1], by_rand[1])
        check(op, a.reshape(-1), fa, out, "sr", b=np.broadcast_to(b, a.shape).reshape(-1), fb=fa, rand=rand,
              sr_bits=k)


# ------------------------------------------------------------------ bad input

F5 = S(5, 2)
GOOD = np.zeros(3, np.uint8)


@pytest.mark.parametrize("call, error, message", [
    (lambda: fixed.add(GOOD, GOOD, FloatFormat(4, 3)), TypeError, r"fa must be a FixedFormat.*FloatFormat"),
    (lambda: fixed.add(GOOD, GOOD, F5, "e4m3"), TypeError, r"fb must be a FixedFormat.*'e4m3'"),
    (lambda: fixed.mul(GOOD, GOOD, F5, F5, 3), TypeError, r"format must be a name or a Float.*got int"),
    (lambda: fixed.shift(GOOD, F5, 1, "fp16"), TypeError, r"out must be a FixedFormat.*'fp16'"),
    (lambda: fixed.sub(GOOD, GOOD, F5, F5, S(5, 2, overflow="wrap", symmetric=True)), ValueError,
     r"out.symmetric=True with out.overflow='wrap'"),
    (lambda: fixed.add(np.array([0, 32]), GOOD[:2], F5), ValueError, r"a: value 0x20 does not fit the 5-bit"),
    (lambda: fixed.add(GOOD, np.array([-1, 0, 0]), F5), ValueError, r"b: value -0x1"),
    (lambda: fixed.add(np.zeros(3), GOOD, F5), TypeError, r"a must be an integer array.*float64"),
    (lambda: fixed.mul(GOOD, np.zeros(3, np.uint16), F5), TypeError, r"b has dtype uint16 .* 5-bit codes"),
    (lambda: fixed.add(GOOD, np.zeros(4, np.uint8), F5), ValueError, r"do not broadcast: a\(3,\), b\(4,\)"),
    (lambda: fixed.add(GOOD, GOOD, F5, rounding="nearest"), ValueError, r"rounding must be one of.*'nearest'"),
    (lambda: fixed.add(GOOD, GOOD, F5, rounding="sr"), ValueError, r"sr_bits is required"),
    (lambda: fixed.add(GOOD, GOOD, F5, rounding="sr", sr_bits=3, rand=[8, 0, 0]), ValueError, r"rand values.*got 8"),
    (lambda: fixed.add(GOOD, GOOD, F5, sr_bits=3), ValueError, r"sr_bits is only used with rounding='sr'"),
    (lambda: fixed.shift(GOOD, F5, 1.5), TypeError, r"n must be an int; got 1.5"),
    (lambda: fixed.shift(GOOD, F5, True), TypeError, r"n must be an int; got True"),
    (lambda: fixed.shift(GOOD, F5, -1023), ValueError, r"frac_bits=1025"),
    (lambda: fixed.add(GOOD, GOOD, S(64, 0)), ValueError, r"needs 65 signed bits"),
    (lambda: fixed.mul(GOOD, GOOD, S(5, 600)), ValueError, r"needs frac_bits=1200"),
    (lambda: fixed.exact_format("div", F5), ValueError, r"op must be 'add', 'sub' or 'mul'; got 'div'"),
    (lambda: fixed.requantize(GOOD, F5, None), ValueError, r"requantize needs out="),
])
def test_bad_input_names_the_field(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("fmt", [bitsim.FixedFormat(8, 0), bitsim.FixedFormat(8, 5),
                                 bitsim.FixedFormat(8, 2, signed=False), bitsim.FixedFormat(8, 0, symmetric=True),
                                 bitsim.FixedFormat(32, 12), bitsim.FixedFormat(16, -3, overflow="wrap")],
                         ids=str)
def test_fast_fixed_encode_equals_the_generic_kernel(fmt):
    """IEEE inputs into fixed point without flags (bitsim.kernels.fixed_encode): random values, exact ties
    and near-ties at the format's scale, both range ends, tiny values; a batch with a NaN, an inf or an
    out-of-range value falls back whole. Every deterministic mode, float64/32/16 sources."""
    rng = np.random.default_rng(fmt.bits + fmt.frac_bits)
    q = 2.0 ** -fmt.frac_bits
    k = rng.integers(fmt.min_int, fmt.max_int, 400).astype(np.float64)
    inside = np.concatenate([k * q, (k + 0.5) * q, (k + 0.5 - 2.0 ** -30) * q, (k + 0.25) * q,
                             [fmt.max_int * q, fmt.min_int * q, 0.0, -0.0, 1e-300, -1e-300, 5e-324]])
    inside = inside[(inside >= fmt.min_int * q) & (inside <= fmt.max_int * q)]
    for x in (inside, np.append(inside, np.nan), np.append(inside, fmt.max_int * q * 4), inside.astype(np.float32),
              inside.astype(np.float16)):
        for mode in ("rne", "rna", "rtz", "rup", "rdn", "rto"):
            fast = bitsim.encode(x, fmt, mode)
            generic, _ = bitsim.encode(x, fmt, mode, return_flags=True)
            assert np.array_equal(fast, generic), (str(fmt), mode, x.dtype)
