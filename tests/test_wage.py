"""bitsim.wage held to the exact reference bitsim.ref.wage code word for code word, plus the WAGE
paper's worked examples and the VGG7 alpha table (seed_papers.md sections 5 and 8).

Expected values are either computed by the reference or derived by hand from the definitions (the
derivation is in the comment next to them), never copied from bitsim.wage's output.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import bitsim
from bitsim import wage
from bitsim.ref import sr_random
from bitsim.ref import wage as ref

ALL_FP16 = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
FINITE_FP16 = ALL_FP16[np.isfinite(ALL_FP16)]
POSITIVE_FP16 = FINITE_FP16[FINITE_FP16 > 0]
RNG = np.random.default_rng(20180130)


def floats(arr) -> list:
    return [float(v) for v in np.asarray(arr).reshape(-1)]


def codes(arr) -> list:
    return [int(c) for c in np.asarray(arr).reshape(-1)]


def around(values):
    """Each value with its float neighbours below and above (same dtype)."""
    v = np.asarray(values)
    return np.concatenate([np.nextafter(v, v.dtype.type(0)), v, np.nextafter(v, v.dtype.type(np.inf))])


def near_sqrt2_binades(dtype, exponents):
    """sqrt(2) * 2**n rounded to ``dtype``, with both neighbours: where Shift switches binade."""
    return around(np.ldexp(dtype(math.sqrt(2)), np.asarray(exponents)).astype(dtype))


def random_tensor(dtype, shape, scale_exp):
    return (RNG.standard_normal(shape) * 2.0 ** scale_exp).astype(dtype)


# ------------------------------------------------------------------ the paper's examples and the alpha table

def test_paper_worked_examples():
    # seed_papers.md section 8: Q(., 2) maps {-1, 0.2, 0.6} to {-0.5, 0, 0.5}; Shift(0.3) = 0.25, Shift(0.4) = 0.5
    q = wage.quantize(np.array([-1.0, 0.2, 0.6]), 2)
    assert bitsim.decode(q, wage.wage_format(2)).tolist() == [-0.5, 0.0, 0.5]
    assert [ref.quantize(x, 2) for x in (-1.0, 0.2, 0.6)] == codes(q)
    assert wage.shift(np.array([0.3, 0.4])).tolist() == [0.25, 0.5]
    assert [ref.shift(0.3), ref.shift(0.4)] == [Fraction(1, 4), Fraction(1, 2)]


def test_sigma_and_clip_bound_follow_the_definitions():
    for k in range(1, 40):
        assert wage.sigma(k) == Fraction(1, 2 ** (k - 1)) == ref.sigma(k)
        bound = 1 - Fraction(1, 2 ** (k - 1)) if 2 <= k <= 15 else 1     # the code's C: delta = 0 for k = 1, k > 15
        assert wage.clip_bound(k) == bound
    assert wage.wage_format(8) == bitsim.format("wage_8")


# seed_papers.md 5.3: VGG7 fan-ins, alpha printed by the reference code (sqrt(3/n)), and the sqrt(6/n) column
VGG7_ALPHA = [(27, 2, 2), (1152, 16, 8), (1152, 16, 8), (2304, 16, 16), (2304, 16, 16), (4608, 32, 16),
              (8192, 32, 32), (1024, 16, 8)]


@pytest.mark.parametrize("fan_in,code_alpha,paper_alpha", VGG7_ALPHA)
def test_vgg7_alpha_table(fan_in, code_alpha, paper_alpha):
    assert wage.layer_scale_alpha(fan_in) == ref.layer_scale_alpha(fan_in) == code_alpha
    assert wage.layer_scale_alpha(fan_in, 2, "paper") == ref.layer_scale_alpha(fan_in, 2, "paper") == paper_alpha


def test_alpha_matches_ref_over_fan_ins():
    fan_ins = [*range(1, 600), 2 ** 20 - 1, 2 ** 20, 2 ** 20 + 1, 3 * 2 ** 30, 10 ** 12]
    for k_w in (1, 2, 5, 8, 31):
        for rule in ("code", "paper"):
            got = [wage.layer_scale_alpha(n, k_w, rule) for n in fan_ins]
            assert got == [ref.layer_scale_alpha(n, k_w, rule) for n in fan_ins], (k_w, rule)


# ------------------------------------------------------------------ Shift

def test_shift_every_float16():
    got = wage.shift_exponent(POSITIVE_FP16)
    assert codes(got) == [ref.shift_exponent(x) for x in floats(POSITIVE_FP16)]


@pytest.mark.parametrize("dtype,exponents", [(np.float64, range(-1074, 1024)), (np.float32, range(-149, 128)),
                                             (np.float16, range(-24, 16))])
def test_shift_on_both_sides_of_sqrt2_times_powers_of_two(dtype, exponents):
    x = near_sqrt2_binades(dtype, exponents)
    x = x[np.isfinite(x) & (x > 0)]
    assert codes(wage.shift_exponent(x)) == [ref.shift_exponent(v) for v in floats(x)]


def test_shift_of_powers_of_two_and_extremes():
    n = np.arange(-1074, 1024)
    assert np.array_equal(wage.shift_exponent(np.ldexp(1.0, n)), n)       # log2(2**n) = n exactly
    extremes = np.array([5e-324, 2.2250738585072014e-308, np.finfo(np.float64).max])
    assert codes(wage.shift_exponent(extremes)) == [ref.shift_exponent(v) for v in floats(extremes)]
    with pytest.raises(ValueError, match="beyond float64"):
        wage.shift(extremes)                                               # Shift(max double) = 2**1024


@settings(max_examples=60)
@given(st.lists(st.floats(min_value=5e-324, max_value=1e300), min_size=1, max_size=20))
def test_shift_values_match_ref(xs):
    got = wage.shift(np.array(xs))
    assert [Fraction(v) for v in floats(got)] == [ref.shift(x) for x in xs]


# ------------------------------------------------------------------ C and Q

def test_quantize_every_float16_to_8_bits():
    x = ALL_FP16[~np.isnan(ALL_FP16)]                                      # infinities included: they saturate
    assert codes(wage.quantize(x, 8)) == [ref.quantize(v, 8) for v in floats(x)]
    assert codes(wage.quantize(x[::5], 2)) == [ref.quantize(v, 2) for v in floats(x[::5])]


@pytest.mark.parametrize("k", range(2, 16))
def test_quantize_ties_and_clip_bounds(k):
    s = 2.0 ** (1 - k)
    top = 2 ** (k - 1)
    n = np.unique(np.concatenate([np.arange(-top - 2, -top + 40), np.arange(-40, 40), np.arange(top - 40, top + 2)]))
    halves = (n + 0.5) * s                                                  # ties near zero and near both bounds
    bounds = np.array([1 - s, 1 - s / 2, 1 - s / 4, 1, 1 + s / 2, 2, 1e300, np.inf, 0.0, 5e-324, s / 2, s / 4])
    x = np.concatenate([halves, bounds, -bounds, around(halves[(halves > 0) & (halves < 1)])])
    assert codes(wage.quantize(x, k)) == [ref.quantize(v, k) for v in floats(x)]


@settings(max_examples=25)
@given(st.lists(st.floats(allow_nan=False, width=32), min_size=1, max_size=30), st.integers(2, 15))
def test_quantize_float32_matches_ref(xs, k):
    x = np.array(xs, dtype=np.float32)
    assert codes(wage.quantize(x, k)) == [ref.quantize(v, k) for v in floats(x)]


@pytest.mark.parametrize("k", [1, 2, 3, 8, 15, 16, 40])
def test_clip_matches_ref(k):
    x = np.concatenate([FINITE_FP16[::97].astype(np.float64), [np.inf, -np.inf, 1.0, -1.0, 0.5, -0.5, 0.75]])
    got = wage.clip(x, k)
    assert [Fraction(v) for v in floats(got)] == [ref.clip(v, k) for v in floats(x)]


# ------------------------------------------------------------------ E

def check_error(e, k_e):
    got, n = wage.quantize_error(e, k_e)
    want, want_n = ref.quantize_error(floats(e), k_e)
    assert (codes(got), n) == (want, want_n)
    assert got.shape == np.shape(e) and got.dtype == wage.wage_format(k_e).code_dtype


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("k_e", [2, 8, 12, 15])
def test_error_random_tensors(dtype, k_e):
    for scale_exp in (-12, -3, 0, 4):
        check_error(random_tensor(dtype, (7, 13), scale_exp), k_e)


@pytest.mark.parametrize("dtype,exponents", [(np.float64, [-1070, -300, -1, 0, 1, 300, 1022]),
                                             (np.float32, [-140, -20, 0, 20, 126]), (np.float16, [-20, 0, 14])])
def test_error_with_max_near_sqrt2_boundary(dtype, exponents):
    for peak in near_sqrt2_binades(dtype, exponents):
        e = np.concatenate([[-peak], (RNG.uniform(-1, 1, 40) * float(peak)).astype(dtype)]).astype(dtype)
        check_error(e, 8)


def test_error_ties_after_scaling_and_power_of_two_max():
    # max|e| = 2**5 is its own Shift, so e / 32 = (n + 1/2) * 2**-7 are exact ties of the 8-bit grid
    ties = (np.arange(-130, 130) + 0.5) * 2.0 ** -7 * 32
    e = np.concatenate([[32.0, -32.0], ties[np.abs(ties) <= 32]])
    check_error(e, 8)
    assert wage.quantize_error(e, 8)[1] == 5                               # Shift(2**5) = 2**5


def test_error_of_zero_tensors_extremes_and_the_float16_range():
    for zeros in (np.zeros(5), -np.zeros((2, 3), dtype=np.float32), np.zeros(0)):
        got, n = wage.quantize_error(zeros, 8)
        assert not got.any() and n == 0 and got.shape == zeros.shape         # documented convention
    check_error(FINITE_FP16[::7], 8)                                        # max 65504: Shift = 2**16
    check_error(np.array([5e-324, -1.5e-323, 2.0 ** -1060, 0.0]), 15)    # grid below FixedFormat's frac_bits range
    check_error(np.array([1.7e308, -1e300, 1.0, 2.0 ** 1000]), 8)


@settings(max_examples=30)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=25), st.integers(2, 15))
def test_error_matches_ref(xs, k_e):
    check_error(np.array(xs), k_e)


# ------------------------------------------------------------------ G

def check_gradient(g, k_g, eta, profile, **rand_kw):
    got, n = wage.quantize_gradient(g, k_g, eta, profile, **rand_kw)
    ref_kw = dict(rand_kw)
    if "rand" in ref_kw:
        ref_kw["rand"] = codes(np.broadcast_to(ref_kw["rand"], np.shape(g)))
    want, want_n = ref.quantize_gradient(floats(g), k_g, Fraction(eta), profile, **ref_kw)
    assert (codes(got), n) == (want, want_n)
    assert got.dtype == np.int64 and got.shape == np.shape(g)
    return got


def rand_for(profile, shape):
    return RNG.integers(0, 2 ** (16 if profile == "paper" else 23), shape)


@pytest.mark.parametrize("profile", ["paper", "code"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("eta", [2.0 ** -3, 1, 8, 32])
def test_gradient_random_tensors_with_explicit_bits(profile, dtype, eta):
    for scale_exp in (-20, 0, 6):
        g = random_tensor(dtype, (5, 11), scale_exp)
        check_gradient(g, 8, eta, profile, rand=rand_for(profile, g.shape))


@pytest.mark.parametrize("profile", ["paper", "code"])
def test_gradient_with_seeded_generator(profile):
    g = random_tensor(np.float32, (300,), -5)
    check_gradient(g, 8, 8, profile, seed=7, stream=3, offset=1000)
    # the generator's bits are the explicit bits the ref derives from the same key
    bits = 16 if profile == "paper" else 23
    rand = np.array([sr_random(7, 3, 1000 + i, bits) for i in range(g.size)])
    assert np.array_equal(wage.quantize_gradient(g, 8, 8, profile, seed=7, stream=3, offset=1000)[0],
                          wage.quantize_gradient(g, 8, 8, profile, rand=rand)[0])


def test_code_profile_half_step_when_frac_equals_u():
    # max|g| = 1 is its own Shift and eta = 1, so g_s = g. frac == u gives +0.5 (sign(0) = 0): 2*whole + 1
    g = np.array([1.0, 0.5, 0.25 + 5 * 2.0 ** -23, -0.75])
    rand = np.array([0, 2 ** 22, 2 ** 21 + 5, 2 ** 22 + 2 ** 21])
    assert codes(check_gradient(g, 8, 1, "code", rand=rand)) == [3, 1, 1, -1]
    # one float step either side of u: strictly above gives the full step (2), strictly below nothing (0)
    frac = np.array([0.25 + 5 * 2.0 ** -23])
    for x, want in ((np.nextafter(frac, 1), 2), (np.nextafter(frac, 0), 0)):
        assert codes(check_gradient(np.concatenate([[1.0], x]), 8, 1, "code", rand=rand[[0, 2]]))[1] == want


def test_code_profile_ties_at_integer_gradients_and_zeros():
    g = np.array([-1.0, 0.0, 0.5, -0.0, 0.25], dtype=np.float32)
    for r in (0, 1, 2 ** 22, 2 ** 23 - 1):
        check_gradient(g, 8, 4, "code", rand=np.full(g.shape, r))
    zero_in = codes(wage.quantize_gradient(g, 8, 4, "code", rand=np.zeros(g.shape, dtype=np.int64))[0])
    assert zero_in[1] == zero_in[3] == 0                                     # sign(0) = 0 whatever u is


def test_paper_profile_boundary_of_the_16_bit_draw():
    # g_s = 0.25: floor(frac * 2**16) = 2**14, so b = 1 iff R >= 2**16 - 2**14
    g = np.array([1.0, 0.25])
    for r, want in ((2 ** 16 - 2 ** 14, 2), (2 ** 16 - 2 ** 14 - 1, 0), (0, 0), (2 ** 16 - 1, 2)):
        assert codes(check_gradient(g, 8, 1, "paper", rand=np.array([0, r]))) == [2, want]
    # frac below 2**-16 never rounds up
    tiny = np.array([1.0, 2.0 ** -17])
    assert codes(check_gradient(tiny, 8, 1, "paper", rand=np.array([0, 2 ** 16 - 1])))[1] == 0


@pytest.mark.parametrize("profile", ["paper", "code"])
def test_gradient_zero_tensors_extremes_and_the_float16_range(profile):
    for zeros in (np.zeros(4), np.zeros((2, 2), dtype=np.float16)):
        got, n = wage.quantize_gradient(zeros, 8, 8, profile, rand=np.zeros(zeros.shape, dtype=np.int64))
        assert not got.any() and n == 0
    g16 = FINITE_FP16[::7]
    check_gradient(g16, 8, 1, profile, rand=rand_for(profile, g16.shape))
    for g, eta in ((np.array([5e-324, -1e-320, 2.0 ** -1070]), 2 ** 32),      # grid beyond frac_bits 1024
                   (np.array([1.7e308, -3.0, 1e300]), 1),
                   (near_sqrt2_binades(np.float64, [-500, 0, 700]), 2 ** -3)):
        check_gradient(g, 8, eta, profile, rand=rand_for(profile, g.shape))


@settings(max_examples=40)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=25),
       st.sampled_from(["paper", "code"]), st.integers(-4, 6), st.integers(0, 2 ** 64 - 1))
def test_gradient_matches_ref(xs, profile, eta_exp, seed):
    check_gradient(np.array(xs, dtype=np.float32), 8, 2.0 ** eta_exp, profile, seed=seed)


# ------------------------------------------------------------------ weight accumulator

def test_weight_update_matches_ref():
    w = RNG.integers(-300, 301, 500)
    d = RNG.integers(-40, 41, 500)
    for clip, k_w in (("paper", 2), ("code", 2), ("code", 1), ("code", 5), ("code", 9), ("code", 20)):
        got = wage.weight_update(w, d, 8, clip=clip, k_W=k_w)
        assert codes(got) == ref.weight_update(codes(w), codes(d), 8, clip, k_w), (clip, k_w)


def test_weight_update_clip_bounds():
    # paper: +-(1 - 2**-7) = +-254 half steps of 2**-8; code (k_W = 2): clip to +-0.5 = +-128 *before* the update
    assert wage.weight_update(np.array([254, -254, 250]), np.array([-2, 2, -10]), 8).tolist() == [254, -254, 254]
    assert wage.weight_update(np.array([200, -129, 100]), np.array([4, -6, -2]), 8, clip="code").tolist() == \
        [124, -122, 102]


def test_half_step_conversions_match_ref():
    counts = RNG.integers(-2 ** 20, 2 ** 20, 200)
    values = wage.half_step_values(counts, 8)
    assert [Fraction(v) for v in floats(values)] == ref.half_step_values(codes(counts), 8)
    assert codes(wage.to_half_steps(values, 8)) == ref.to_half_steps(floats(values), 8) == codes(counts)
    ternary = bitsim.decode(wage.quantize(np.array([-0.7, 0.1, 0.3]), 2), wage.wage_format(2))
    assert codes(wage.to_half_steps(ternary, 8)) == ref.to_half_steps(floats(ternary), 8)


# ------------------------------------------------------------------ bad input

X = np.ones(3)


@pytest.mark.parametrize("call,exc,words", [
    (lambda: wage.shift_exponent(np.array([1.0, 0.0])), ValueError, r"x\[1\] = 0.0"),
    (lambda: wage.shift_exponent(np.array([-2.0])), ValueError, "x"),
    (lambda: wage.shift(np.array([np.nan])), ValueError, "x"),
    (lambda: wage.shift(np.inf), ValueError, "x = inf"),
    (lambda: wage.shift_exponent(np.arange(3)), TypeError, "x must be a float"),
    (lambda: wage.sigma(0), ValueError, "k"),
    (lambda: wage.sigma(2.0), TypeError, "k"),
    (lambda: wage.quantize(X, 1), ValueError, "k must be 2..15"),
    (lambda: wage.quantize(X, 16), ValueError, "k must be 2..15"),
    (lambda: wage.quantize(X, "8"), TypeError, "k must be an int"),
    (lambda: wage.quantize(np.array([0.5, np.nan]), 8), ValueError, r"x\[1\] = nan"),
    (lambda: wage.clip(np.arange(3), 8), TypeError, "x must be"),
    (lambda: wage.clip(X, 0), ValueError, "k must be >= 1"),
    (lambda: wage.quantize_error(X, 16), ValueError, "k_E"),
    (lambda: wage.quantize_error(np.array([1.0, np.inf]), 8), ValueError, r"e\[1\] = inf"),
    (lambda: wage.quantize_error([1, 2], 8), TypeError, "e must be"),
    (lambda: wage.quantize_gradient(X, 1, 8, seed=1), ValueError, "k_G"),
    (lambda: wage.quantize_gradient(X, 8, 3, seed=1), ValueError, "eta must be a power of two"),
    (lambda: wage.quantize_gradient(X, 8, 0.1, seed=1), ValueError, "eta"),
    (lambda: wage.quantize_gradient(X, 8, -8, seed=1), ValueError, "eta"),
    (lambda: wage.quantize_gradient(X, 8, float("nan"), seed=1), ValueError, "eta"),
    (lambda: wage.quantize_gradient(X, 8, 2 ** 40, seed=1), ValueError, "eta must be in"),
    (lambda: wage.quantize_gradient(X, 8, "8", seed=1), TypeError, "eta"),
    (lambda: wage.quantize_gradient(X, 8, True, seed=1), TypeError, "eta"),
    (lambda: wage.quantize_gradient(X, 8, 8, "tf", seed=1), ValueError, "profile"),
    (lambda: wage.quantize_gradient(X, 8, 8), ValueError, "seed=.*rand="),
    (lambda: wage.quantize_gradient(X, 8, 8, seed=1, rand=np.zeros(3, dtype=int)), ValueError, "exactly one"),
    (lambda: wage.quantize_gradient(X, 8, 8, rand=np.full(3, 2 ** 16)), ValueError, "rand"),
    (lambda: wage.quantize_gradient(X, 8, 8, "code", rand=np.full(3, 2 ** 23)), ValueError, "rand"),
    (lambda: wage.quantize_gradient(X, 8, 8, "code", rand=np.zeros(4, dtype=int)), ValueError, "rand"),
    (lambda: wage.quantize_gradient(X, 8, 8, "code", rand=np.zeros(3)), TypeError, "rand"),
    (lambda: wage.quantize_gradient(np.array([np.nan]), 8, 8, seed=1), ValueError, r"g\[0\] = nan"),
    (lambda: wage.quantize_gradient(np.array([2.0 ** 1000]), 8, 2 ** -64, seed=1), ValueError, r"max\|g\|"),
    (lambda: wage.weight_update(X, np.zeros(3, dtype=int), 8), TypeError, "w must be"),
    (lambda: wage.weight_update(np.zeros(3, dtype=int), X, 8), TypeError, "dW must be"),
    (lambda: wage.weight_update(np.array([2 ** 62]), np.zeros(1, dtype=int), 8), ValueError, r"w\[0\]"),
    (lambda: wage.weight_update(np.zeros(1, dtype=int), np.zeros(1, dtype=int), 8, clip="tf"), ValueError, "clip"),
    (lambda: wage.weight_update(np.zeros(1, dtype=int), np.zeros(1, dtype=int), 4, clip="code", k_W=6),
     ValueError, "k_W"),
    (lambda: wage.half_step_values(np.array([2 ** 54]), 8), ValueError, "half_steps"),
    (lambda: wage.to_half_steps(np.array([0.5, 2.0 ** -9]), 8), ValueError, r"values\[1\]"),
    (lambda: wage.layer_scale_alpha(0), ValueError, "fan_in"),
    (lambda: wage.layer_scale_alpha(27.0), TypeError, "fan_in"),
    (lambda: wage.layer_scale_alpha(27, 32), ValueError, "k_W"),
    (lambda: wage.layer_scale_alpha(27, rule="msra"), ValueError, "rule"),
])
def test_bad_input_names_the_argument(call, exc, words):
    with pytest.raises(exc, match=words):
        call()
