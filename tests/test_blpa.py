"""BLPA codec: bitsim.blpa against the exact per-element reference bitsim.ref.blpa, plus hand-derived
corner cases, exhaustive float16 inputs and exhaustive nibble packing. Every comparison is exact."""

import math
import random
from fractions import Fraction

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from bitsim import blpa
from bitsim.formats.catalog import lookup
from bitsim.ref import blpa as ref
from bitsim.ref.values import decode as ref_decode, round_value

F32 = np.float32
ONE_MICRO_F32 = F32(1e-6)          # 9.99999997e-07, just below the kernel's double 1e-6


# ---------------------------------------------------------------- helpers

def params(pairs):
    gamma, beta = zip(*pairs)
    return np.array(gamma, F32), np.array(beta, F32)


def bn_output(xhat, gamma, beta):
    """y = float32(float32(xhat * max(1e-8, gamma)) + beta), as graph.py forms it."""
    return xhat.astype(F32) * np.maximum(F32(1e-8), gamma) + beta


def exact(values) -> np.ndarray:
    """Reference values (Fractions that are binary32 numbers, or inf/nan) as an exactly equal float64 array."""
    return np.array([float(v) for v in np.asarray(values, dtype=object).reshape(-1)], np.float64)


def per_element(fn, last, *per_channel):
    """fn(element, *its channel's parameters) over a channel-last array; a flat list."""
    rows = np.asarray(last).reshape(-1, np.shape(last)[-1]).tolist()
    return [fn(v, *(p[c] for p in per_channel)) for row in rows for c, v in enumerate(row)]


def stored_codes(codes, K, shape):
    """Unpack with the reference's byte rule (element 2j high nibble), independently of blpa.unpack4."""
    if K == 8:
        return codes.reshape(shape)
    pairs = [q for byte in codes.reshape(-1).tolist() for q in ref.unpack_byte(byte)]
    return np.array(pairs, np.uint8).reshape(shape)


def check_against_ref(y, gamma, beta, K, axis=-1):
    """Every output of the fast codec equals the reference, element for element."""
    codes, shift = blpa.encode(y, gamma, beta, K, axis=axis)
    last = np.moveaxis(y, axis, -1)
    g, b = gamma.tolist(), beta.tolist()
    want_shift = [ref.shift(gc, bc, K) for gc, bc in zip(g, b)]
    assert_array_equal(shift.astype(np.float64), exact(want_shift))
    want_q = np.array(per_element(lambda v, gc, bc: ref.code(v, gc, bc, K), last, g, b), np.uint8)
    assert_array_equal(stored_codes(codes, K, last.shape).reshape(-1), want_q)
    q_last = want_q.reshape(last.shape)
    want_zhat = per_element(lambda q, s: ref.reconstruction(q, s, K), q_last, want_shift)
    zhat = blpa.decode(codes, shift, K, axis=axis)
    assert_array_equal(np.moveaxis(zhat, axis, -1).reshape(-1).astype(np.float64), exact(want_zhat))
    mask = np.moveaxis(blpa.relu_mask(codes, shift, K, axis=axis), axis, -1).reshape(-1)
    assert_array_equal(mask, np.array(per_element(ref.mask, q_last, want_shift), F32))
    zhat_last = np.array(want_zhat, dtype=object).reshape(last.shape)
    act = blpa.restored_activation(zhat, gamma, axis=axis)
    assert_array_equal(np.moveaxis(act, axis, -1).reshape(-1).astype(np.float64),
                       exact(per_element(ref.restored_activation, zhat_last, g)))
    xhat = blpa.restored_xhat(zhat, gamma, beta, axis=axis)
    assert_array_equal(np.moveaxis(xhat, axis, -1).reshape(-1).astype(np.float64),
                       exact(per_element(ref.restored_xhat, zhat_last, g, b)))
    return codes, shift


def float32_neighbours(x, ulps):
    """x and the ``ulps`` binary32 values on each side of it."""
    out, up, down = [x], x, x
    for _ in range(ulps):
        up, down = np.nextafter(up, F32(np.inf)), np.nextafter(down, F32(-np.inf))
        out += [up, down]
    return out


def edge_inputs(gamma_c, b, K):
    """y whose z = y/gamma lands on and next to every grid line k*6/n and every code edge k*6/n + 1e-6
    inside the channel's window [b - 3, b + 3] (and two lines beyond each end)."""
    n = 1 << K
    first = math.floor((b - 3) * n / 6)
    zs = [k * 6.0 / n + eps for k in range(first - 2, first + n + 3) for eps in (0.0, 1e-6)]
    return [v for z in zs for v in float32_neighbours(F32(z * float(gamma_c)), 1)]


def column_stack_ragged(columns):
    """Columns of unequal length as a (rows, channels) float32 array, short ones repeating their values."""
    rows = max(len(c) for c in columns)
    return np.array([np.resize(np.array(c, F32), rows) for c in columns], F32).T.copy()


# ---------------------------------------------------------------- the reference's own rounding

def test_ref_rounding_matches_project_reference():
    """ref.blpa rounds with its own integer code; hold it to bitsim.ref.values on random and edge values."""
    rng = random.Random(7)
    values = [Fraction(rng.randint(-10 ** 20, 10 ** 20), rng.randint(1, 10 ** 20))
              * Fraction(2) ** rng.randint(-1160, 1040) for _ in range(1500)]
    for fmt_name, own in (("fp32", ref.f32), ("fp64", ref.f64)):
        fmt = lookup(fmt_name)
        largest = ref_decode(fmt.max_code_magnitude, fmt)
        ulp_top = largest - ref_decode(fmt.max_code_magnitude - 1, fmt)
        tiny = ref_decode(1, fmt)
        edges = [largest + ulp_top / 2, largest + ulp_top / 2 - Fraction(1, 10 ** 9), tiny / 2, tiny * 3 / 2,
                 Fraction(1) + tiny, Fraction(3, 7)]
        for v in values + edges + [-e for e in edges]:
            assert own(v) == ref_decode(round_value(v, fmt)[0], fmt), (fmt_name, v)


# ---------------------------------------------------------------- fast against reference

RANDOM_SHAPE = (2, 3, 5, 8)


@pytest.mark.parametrize("K", [4, 8])
@pytest.mark.parametrize("seed", [0, 1])
def test_random_channels_match_ref(K, seed):
    rng = np.random.default_rng(seed)
    C = RANDOM_SHAPE[-1]
    gamma = rng.uniform(0.05, 3.0, C).astype(F32) * rng.choice(F32([1, 1, 1, -1]), C)
    beta = (rng.normal(size=C) * 2).astype(F32)
    y = bn_output(rng.normal(size=RANDOM_SHAPE) * 1.5, gamma, beta)
    check_against_ref(y, gamma, beta, K)


@pytest.mark.parametrize("K", [4, 8])
def test_channel_axis_layout(K):
    """Channels at axis 1 (NCHW) encode as the channel-last array does and decode back to NCHW."""
    rng = np.random.default_rng(3)
    gamma, beta = rng.uniform(0.2, 2, 4).astype(F32), rng.normal(size=4).astype(F32)
    y_last = bn_output(rng.normal(size=(2, 3, 5, 4)), gamma, beta)
    y_nchw = np.moveaxis(y_last, -1, 1)
    codes, shift = check_against_ref(y_nchw, gamma, beta, K, axis=1)
    codes_last, shift_last = blpa.encode(y_last, gamma, beta, K)
    assert_array_equal(codes, codes_last)
    assert_array_equal(shift, shift_last)
    assert blpa.decode(codes, shift, K, axis=1).shape == y_nchw.shape


EDGE_CHANNELS = [(1.0, 0.0), (1.0, 0.375), (0.5, -0.75), (4.0, 0.0703125), (1.0, -3.0),
                 (1.0, float(np.nextafter(F32(-3), F32(0)))), (0.37, 0.11), (2.0, -2.953125)]


@pytest.mark.parametrize("K", [4, 8])
def test_bin_edges_match_ref(K):
    """z on, and one ulp either side of, every grid line and every code edge (line + 1e-6)."""
    gamma, beta = params(EDGE_CHANNELS)
    gamma_c = np.maximum(F32(1e-8), gamma)
    y = column_stack_ragged([edge_inputs(g, b, K) for g, b in zip(gamma_c, (beta / gamma_c).tolist())])
    check_against_ref(y, gamma, beta, K)


MICRO = [F32(0), F32(-0.0), F32(1.4e-45), F32(1e-30), F32(1e-7), F32(5e-7)] + float32_neighbours(ONE_MICRO_F32, 3)


@pytest.mark.parametrize("K", [4, 8])
def test_special_inputs_match_ref(K):
    """0, -0, subnormals, the 1e-6 neighbourhood, huge values, infinities and NaN, in awkward channels."""
    gamma, beta = params([(1.0, 0.0), (1e-9, 0.0), (1e-8, 1e-3), (3e5, -2e5), (1.0, -1e31), (1e-9, -1e31),
                          (1e-9, 3e30), (0.25, -1e-40)])
    column = MICRO + [F32(v) for v in (1e30, -1e30, 3.4e38, -3.4e38, np.inf, -np.inf, np.nan, 2.9, 3.0, 3.1)]
    y = np.repeat(np.array(column, F32)[:, None], gamma.size, axis=1)
    check_against_ref(y, gamma, beta, K)


def shift_cases(K):
    n = 1 << K
    on_lines = [float(v) for k in range(-n - 4, n + 5) for v in float32_neighbours(F32(k * 6.0 / n), 2)]
    rng = np.random.default_rng(K)
    wild = (rng.standard_cauchy(300) * 10.0 ** rng.integers(-3, 30, 300)).astype(F32).tolist()
    cases = [(1.0, b) for b in on_lines] + [(1.0, b) for b in wild]
    cases += [(g, b) for g in (3.7, 0.1, 1e-9, -5.0, 1e-30) for b in (1e-40, -1e-40, 0.0, -0.0, 1e30, -1e30, -3.0)]
    return params(cases)


@pytest.mark.parametrize("K", [4, 8])
def test_channel_shift_matches_ref(K):
    """Shifts around every b = k*6/n (where the double product and its float rounding matter) and wild b."""
    gamma, beta = shift_cases(K)
    got = blpa.channel_shift(gamma, beta, K)
    want = [ref.shift(g, b, K) for g, b in zip(gamma.tolist(), beta.tolist())]
    assert_array_equal(got.astype(np.float64), exact(want))
    assert_array_equal(blpa.channel_bias(gamma, beta).astype(np.float64),
                       exact([ref.bias(g, b) for g, b in zip(gamma.tolist(), beta.tolist())]))


# ---------------------------------------------------------------- exhaustive over float16 inputs

EXHAUSTIVE_CHANNELS = [(1.0, 0.0), (0.5, 0.3), (2.5, -1.7), (1e-3, 2e-3), (1.0, -3.5), (-2.0, 1.0)]


def monotone_codes(ys, code_of):
    """code_of over ascending ys, evaluated at few points: the code is non-decreasing in y (a positive
    division, a constant shift and scale, roundings, floor and clamps are all monotone), so a run whose
    two ends share a code has that code throughout."""
    out = [None] * len(ys)
    stack = [(0, len(ys) - 1, code_of(ys[0]), code_of(ys[-1]))]
    while stack:
        lo, hi, c_lo, c_hi = stack.pop()
        if c_lo == c_hi or hi - lo <= 1:
            out[lo:hi + 1] = [c_lo] * (hi - lo) + [c_hi]
            continue
        mid = (lo + hi) // 2
        c_mid = code_of(ys[mid])
        stack += [(lo, mid, c_lo, c_mid), (mid, hi, c_mid, c_hi)]
    return out


@pytest.mark.parametrize("K", [4, 8])
def test_every_float16_input(K):
    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(F32)
    ordered = np.sort(every[~np.isnan(every)])
    gamma, beta = params(EXHAUSTIVE_CHANNELS)
    y = np.concatenate([ordered, every[np.isnan(every)]])
    y = np.repeat(y[:, None], gamma.size, axis=1)
    codes, shift = blpa.encode(y, gamma, beta, K)
    q = stored_codes(codes, K, y.shape)
    zhat, mask = blpa.decode(codes, shift, K), blpa.relu_mask(codes, shift, K)
    values = ordered.tolist()
    for c, (g, b) in enumerate(zip(gamma.tolist(), beta.tolist())):
        want = monotone_codes(values, lambda v: ref.code(v, g, b, K))
        want += [ref.code(math.nan, g, b, K)] * (y.shape[0] - len(values))
        assert_array_equal(q[:, c], np.array(want, np.uint8))
        s = ref.shift(g, b, K)
        by_code = {k: (float(ref.reconstruction(k, s, K)), ref.mask(k, s)) for k in set(want)}
        assert_array_equal(zhat[:, c].astype(np.float64), [by_code[k][0] for k in want])
        assert_array_equal(mask[:, c], np.array([by_code[k][1] for k in want], F32))


# ---------------------------------------------------------------- hand-derived corner cases

@pytest.mark.parametrize("K", [4, 8])
def test_values_up_to_one_micro_get_mask_zero(K):
    """float32(1e-6) < 1e-6 (double), so every y in (0, float32(1e-6)] lands one bin below zero (code s - 1,
    mask 0, zhat = -3/n); the next float32 above 1e-6 is the first with code s and mask 1."""
    assert Fraction(float(ONE_MICRO_F32)) < Fraction(1e-6) < Fraction(float(np.nextafter(ONE_MICRO_F32, F32(1))))
    n = 1 << K
    low = np.array([1.4e-45, 1e-30, 1e-7, 5e-7, ONE_MICRO_F32], F32)
    first = np.nextafter(ONE_MICRO_F32, F32(1))
    y = np.stack([np.append(low, first)] * 2, axis=1)
    gamma, beta = params([(1.0, 0.0), (1.0, 0.0)])
    codes, shift = blpa.encode(y, gamma, beta, K)
    assert_array_equal(shift, F32([n // 2, n // 2]))
    q = stored_codes(codes, K, y.shape)[:, 0]
    assert_array_equal(q, [n // 2 - 1] * len(low) + [n // 2])
    assert_array_equal(blpa.relu_mask(codes, shift, K)[:, 0], F32([0] * len(low) + [1]))
    assert_array_equal(blpa.decode(codes, shift, K)[:, 0], F32([-3.0 / n] * len(low) + [3.0 / n]))


@pytest.mark.parametrize("K", [4, 8])
def test_saturation_above_the_top_bin(K):
    """gamma 1, beta 0: s = n/2, the top bin starts at 3 - 6/n (+1e-6); above it everything is code n-1 with
    mask 1 and zhat = 3 - 3/n; below the grid everything is code 0 with mask 0."""
    n = 1 << K
    high = F32([3.0, 3.5, 1e30, np.inf])
    lowest = F32([-3.0, -1e30, -np.inf, np.nan])
    y = np.stack([np.concatenate([high, lowest])] * 2, axis=1)
    gamma, beta = params([(1.0, 0.0), (1.0, 0.0)])
    codes, shift = blpa.encode(y, gamma, beta, K)
    q = stored_codes(codes, K, y.shape)[:, 0]
    assert_array_equal(q, [n - 1] * 4 + [0] * 4)
    assert_array_equal(blpa.relu_mask(codes, shift, K)[:, 0], F32([1] * 4 + [0] * 4))
    assert_array_equal(blpa.decode(codes, shift, K)[:4, 0], F32([3 - 3.0 / n] * 4))


@pytest.mark.parametrize("b", [-3.0, -2.99, -3.01])
def test_k4_bias_near_minus_three_saturates_positives_with_mask_zero(b):
    """b*16/6 in [-8.03, -7.97]: floor is -8 or -9, s = 16 or 17 > 15, so positives code 15 with mask 0."""
    gamma, beta = params([(1.0, b), (1.0, b)])
    y = np.repeat(F32([1e-3, 0.5, 3.0, 100.0])[:, None], 2, axis=1)
    codes, shift = blpa.encode(y, gamma, beta, 4)
    assert shift[0] == (16 if b >= -3.0 else 17)
    assert_array_equal(stored_codes(codes, 4, y.shape), np.full(y.shape, 15, np.uint8))
    assert_array_equal(blpa.relu_mask(codes, shift, 4), np.zeros(y.shape, F32))


def test_k8_shift_of_256_keeps_only_its_low_byte():
    """K=8, b = -3: s = 128 + 128 = 256 and the kernel compares codes with (uint8)256, which nvcc compiles
    to the low byte of a saturating uint32 conversion, 0: every element gets mask 1, even code 0.
    b = -3 - 6/256 gives s = 257, so the comparison is against 1."""
    gamma, beta = params([(1.0, -3.0), (1.0, -3.0 - 6.0 / 256)])
    y = np.repeat(F32([-100.0, -6.01, 0.5, 100.0])[:, None], 2, axis=1)
    codes, shift = blpa.encode(y, gamma, beta, 8)
    assert_array_equal(shift, F32([256, 257]))
    assert_array_equal(codes[:, 0], [0, 0, 255, 255])       # the grid spans z in [-6, 0): b - 3 to b + 3
    assert_array_equal(blpa.relu_mask(codes, shift, 8)[:, 0], F32([1, 1, 1, 1]))
    assert_array_equal(blpa.relu_mask(codes, shift, 8)[:, 1], (codes[:, 1] >= 1).astype(F32))


def test_infinite_shift():
    """beta = -3e38: b*n/6 overflows binary32, floor is -inf and s = +inf. Finite y then code n-1
    (floor + inf = inf), y = -inf gives -inf + inf = NaN, which fmaxf turns into code 0; zhat = -inf;
    (uint8)inf is 255, so only K=8 code 255 keeps mask 1. With beta = -1e31 and gamma clamped to 1e-8, b itself
    is -inf and zhat - b is NaN."""
    gamma, beta = params([(1.0, -3e38), (1e-9, -1e31)])
    y = np.repeat(F32([-np.inf, -1e30, 0.0, 5.0])[:, None], 2, axis=1)
    for K in (4, 8):
        codes, shift = blpa.encode(y, gamma, beta, K)
        assert_array_equal(shift, F32([np.inf, np.inf]))
        q = stored_codes(codes, K, y.shape)
        top = (1 << K) - 1
        assert_array_equal(q[:, 0], [0, top, top, top])
        want_mask = F32([0, 1, 1, 1]) if K == 8 else F32([0, 0, 0, 0])
        assert_array_equal(blpa.relu_mask(codes, shift, K)[:, 0], want_mask)
        zhat = blpa.decode(codes, shift, K)
        assert np.all(zhat == -np.inf)
        xhat = blpa.restored_xhat(zhat, gamma, beta)
        assert np.all(xhat[:, 0] == -np.inf) and np.all(np.isnan(xhat[:, 1]))
        assert np.all(blpa.restored_activation(zhat, gamma) == 0)


@pytest.mark.parametrize("K", [4, 8])
def test_gamma_is_clamped_to_float32_1e_minus_8(K):
    floor = F32(1e-8)
    low = [0.0, -0.0, -1.0, -1e30, 1e-9, 1.4e-45, float(floor)]
    assert_array_equal(blpa.clamp_gamma(np.array(low, F32)), np.full(len(low), floor))
    rng = np.random.default_rng(5)
    y = (rng.normal(size=(6, 2)) * 1e-8).astype(F32)
    beta = F32([2e-9, -1e-8])
    want_codes, want_shift = blpa.encode(y, np.full(2, floor), beta, K)
    for g in low:
        codes, shift = blpa.encode(y, np.full(2, g, F32), beta, K)
        assert_array_equal(codes, want_codes)
        assert_array_equal(shift, want_shift)


# ---------------------------------------------------------------- nibble packing

def test_unpack_every_byte():
    every = np.arange(256, dtype=np.uint8)
    pairs = blpa.unpack4(every)
    assert_array_equal(pairs, [q for byte in range(256) for q in ref.unpack_byte(byte)])
    assert_array_equal(blpa.pack4(pairs), every)


def test_pack_every_nibble_pair():
    hi, lo = np.divmod(np.arange(256), 16)
    nibbles = np.stack([hi, lo], axis=1).astype(np.uint8)         # rows (hi, lo) for all 256 pairs
    assert_array_equal(blpa.pack4(nibbles)[:, 0], 16 * hi + lo)


def test_pack_round_trip_keeps_shape():
    nibbles = np.random.default_rng(2).integers(0, 16, (3, 4, 6)).astype(np.uint8)
    packed = blpa.pack4(nibbles)
    assert packed.shape == (3, 4, 3)
    assert_array_equal(blpa.unpack4(packed), nibbles)


# ---------------------------------------------------------------- bad input

G2, B2 = F32([1, 1]), F32([0, 0])
Y2 = np.zeros((3, 2), F32)
GOOD_CODES, GOOD_SHIFT = blpa.encode(Y2, G2, B2, 8)

BAD_CALLS = [
    (lambda: blpa.encode(Y2, G2, B2, 5), ValueError, "K=5"),
    (lambda: blpa.encode(Y2, G2, B2, True), ValueError, "K=True"),
    (lambda: blpa.encode(Y2, G2, B2, 8.0), ValueError, "K=8.0"),
    (lambda: blpa.encode(Y2.astype(np.float64), G2, B2, 8), TypeError, "y must be a float32"),
    (lambda: blpa.encode(Y2.astype(np.int32), G2, B2, 8), TypeError, "dtype int32"),
    (lambda: blpa.encode(Y2, G2.astype(np.float16), B2, 8), TypeError, "gamma must be a float32"),
    (lambda: blpa.encode(Y2, G2, [0.0, 0.0], 8), TypeError, "beta must be a float32"),
    (lambda: blpa.encode(Y2, G2[:, None], B2, 8), ValueError, "gamma must be 1-D"),
    (lambda: blpa.encode(Y2, G2, F32([0, 0, 0]), 8), ValueError, "shapes (2,) and (3,)"),
    (lambda: blpa.encode(Y2, F32([1, np.nan]), B2, 8), ValueError, "gamma[1] = "),
    (lambda: blpa.encode(Y2, G2, F32([np.inf, 0]), 8), ValueError, "beta[0] = "),
    (lambda: blpa.encode(np.zeros((3, 4), F32), G2, B2, 8), ValueError, "y.shape[-1] = 4"),
    (lambda: blpa.encode(Y2, G2, B2, 8, axis=2), ValueError, "axis=2 is out of range"),
    (lambda: blpa.encode(Y2, G2, B2, 8, axis=1.0), TypeError, "axis must be an int"),
    (lambda: blpa.encode(np.zeros((2, 3), F32), F32([1, 1, 1]), F32([0, 0, 0]), 4), ValueError, "got 3"),
    (lambda: blpa.decode(GOOD_CODES.astype(np.int16), GOOD_SHIFT, 8), TypeError, "codes must be a uint8"),
    (lambda: blpa.decode(GOOD_CODES[:, :1], GOOD_SHIFT, 8), ValueError, "codes must be channel-last"),
    (lambda: blpa.decode(GOOD_CODES, GOOD_SHIFT, 4), ValueError, "1 bytes per position for K=4"),
    (lambda: blpa.decode(GOOD_CODES, F32([4, 0.5]), 8), ValueError, "shift[1] = "),
    (lambda: blpa.decode(GOOD_CODES, F32([0, 4]), 8), ValueError, "shift[0] = "),
    (lambda: blpa.decode(GOOD_CODES, F32([np.nan, 4]), 8), ValueError, "shift[0] = "),
    (lambda: blpa.relu_mask(GOOD_CODES, GOOD_SHIFT.astype(np.float64), 8), TypeError, "shift must be a float32"),
    (lambda: blpa.pack4(np.zeros(3, np.uint8)), ValueError, "even length"),
    (lambda: blpa.pack4(np.zeros((), np.uint8)), ValueError, "even length"),
    (lambda: blpa.pack4(np.uint8([3, 16])), ValueError, "codes[1] = "),
    (lambda: blpa.pack4(np.zeros(2, np.int64)), TypeError, "codes must be a uint8"),
    (lambda: blpa.unpack4(np.zeros(2, F32)), TypeError, "packed must be a uint8"),
    (lambda: blpa.unpack4(np.zeros((), np.uint8)), ValueError, "0-d"),
    (lambda: blpa.restored_activation(Y2.astype(np.float64), G2), TypeError, "zhat must be a float32"),
    (lambda: blpa.restored_xhat(np.zeros((2, 3), F32), G2, B2), ValueError, "zhat.shape[-1] = 3"),
    (lambda: blpa.channel_shift(G2, B2, 6), ValueError, "K=6"),
]


@pytest.mark.parametrize("call, error, fragment", BAD_CALLS, ids=[f[2] for f in BAD_CALLS])
def test_bad_input(call, error, fragment):
    with pytest.raises(error) as info:
        call()
    assert fragment in str(info.value)
