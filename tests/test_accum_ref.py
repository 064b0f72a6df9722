"""The exact references of the accumulator models, held to hand-derived results and to their defining
properties (Kulisch = exact sum rounded once; a wide FloatAcc on short dots = Kulisch)."""

from fractions import Fraction

import numpy as np
import pytest

import bitsim
from bitsim.accum.models import ChunkedAcc, FloatAcc, IntAcc, KulischAcc, kulisch_layout
from bitsim.ref import accum as R
from bitsim.ref.values import round_value

FP16, FP32, FP64, E4M3 = (bitsim.format(n) for n in ("fp16", "fp32", "fp64", "e4m3"))
INT8 = bitsim.FixedFormat(8, 0)


def codes(values, fmt):
    return [int(c) for c in bitsim.encode(np.array(values, dtype=np.float64), fmt)]


def fp16_dot(values, acc, c=None):
    """sum of values (as products values * 1) through ``acc``; result as a float."""
    ones = codes([1.0] * len(values), FP16)
    code = R.dot(codes(values, FP16), ones, FP16, FP16, acc, FP16, c=None if c is None else codes([c], FP16)[0],
                 fc=FP16)
    return float(bitsim.decode(np.array([code], dtype=np.uint16), FP16)[0]), code


def test_swamping_sequential_chunked_and_kulisch():
    # fp16 has ULP 2 in [2048, 4096): 2048 + 1 is a tie that RNE sends back to 2048 (even field)
    values = [2048.0] + [1.0] * 10
    seq = FloatAcc(FP16)
    assert fp16_dot(values, seq)[0] == 2048.0
    # chunks of 4: 2048 (swamped), 4, 3; then 2048 + 4 = 2052, + 3 = 2055 -> tie, RNE to 2056 (field 4)
    assert fp16_dot(values, ChunkedAcc(4, seq, seq))[0] == 2056.0
    assert fp16_dot(values, KulischAcc())[0] == 2058.0           # exact 2058, representable


def test_pairwise_differs_from_sequential():
    # sequential: 1 + 2**-11 is a tie back to 1, three times; pairwise: (1 + 2**-11) -> 1 and
    # (2**-11 + 2**-11) = 2**-10, then 1 + 2**-10 is exact
    values = [1.0, 2.0 ** -11, 2.0 ** -11, 2.0 ** -11]
    assert fp16_dot(values, FloatAcc(FP16))[0] == 1.0
    assert fp16_dot(values, FloatAcc(FP16, order="pairwise"))[0] == 1.0 + 2.0 ** -10


def test_zero_sign_and_specials():
    assert fp16_dot([1.0, -1.0], FloatAcc(FP16, "rdn"))[1] == 0x8000      # x - x = -0 only under rdn
    assert fp16_dot([1.0, -1.0], FloatAcc(FP16))[1] == 0x0000
    assert fp16_dot([-0.0, -0.0], FloatAcc(FP16), c=-0.0)[1] == 0x8000    # zeros of one sign keep it
    inf, nan = float("inf"), float("nan")
    assert fp16_dot([inf, -inf], FloatAcc(FP16))[1] == FP16.nan_code
    assert fp16_dot([inf, 1.0], KulischAcc())[1] == FP16.inf_code
    assert fp16_dot([nan, 1.0], FloatAcc(FP16))[1] == FP16.nan_code
    zero_times_inf = R.dot(codes([0.0], FP16), codes([inf], FP16), FP16, FP16, FloatAcc(FP16), FP16)
    assert zero_times_inf == FP16.nan_code


def test_c_enters_first_and_rounds_to_the_accumulator():
    # FloatAcc(fp32, rtz): c = 1, products 2**-24 and 2**-24: 1 + 2**-24 truncates to 1 twice
    out = R.dot(codes([2.0 ** -24] * 2, FP32), codes([1.0] * 2, FP32), FP32, FP32, FloatAcc(FP32, "rtz"), FP32,
                c=codes([1.0], FP32)[0], fc=FP32)
    assert out == codes([1.0], FP32)[0]
    kul = R.dot(codes([2.0 ** -24] * 2, FP32), codes([1.0] * 2, FP32), FP32, FP32, KulischAcc(), FP32, "rtz",
                c=codes([1.0], FP32)[0], fc=FP32)
    assert kul == codes([1.0 + 2.0 ** -23], FP32)[0]                  # exact 1 + 2**-23, representable


def _random_e4m3(rng, n, k):
    c = rng.integers(0, 256, (n, k))
    return np.where((c & 0x7F) == 0x7F, 0, c)                     # no NaN codes


def test_kulisch_is_the_exact_sum_rounded_once():
    rng = np.random.default_rng(0)
    a, b = _random_e4m3(rng, 150, 16), _random_e4m3(rng, 150, 16)
    for mode in ("rne", "rtz", "rup"):
        for ra, rb in zip(a, b):
            exact = sum(Fraction(E4M3.value_of(int(x))) * Fraction(E4M3.value_of(int(y))) for x, y in zip(ra, rb))
            want = round_value(exact, FP16, mode)[0] if exact != 0 else R.dot(ra, rb, E4M3, E4M3, KulischAcc(), FP16)
            assert R.dot(ra, rb, E4M3, E4M3, KulischAcc(), FP16, mode) == want


def test_wide_float_accumulator_on_short_dots_equals_kulisch():
    # 8 e4m3 products span 2**-18 .. 2**18: every partial sum is exact in fp64
    rng = np.random.default_rng(1)
    a, b = _random_e4m3(rng, 100, 8), _random_e4m3(rng, 100, 8)
    for ra, rb in zip(a, b):
        assert (R.dot(ra, rb, E4M3, E4M3, FloatAcc(FP64), FP64)
                == R.dot(ra, rb, E4M3, E4M3, KulischAcc(), FP64))


def test_derived_kulisch_layout_holds_the_worst_case():
    frac, width = kulisch_layout(E4M3, E4M3, 64, FP16)
    big = codes([448.0] * 64, E4M3)
    c = codes([-65504.0], FP16)[0]
    assert R.kulisch_acc([R.product(R.Val.of_code(x, E4M3), R.Val.of_code(x, E4M3)) for x in big],
                         R.Val.of_code(c, FP16), KulischAcc(), E4M3, E4M3, FP16).value == 64 * 448 * 448 - 65504
    assert frac == 24                                              # fp16's smallest subnormal 2**-24
    assert kulisch_layout(E4M3, E4M3, 64)[0] == 18                 # two smallest e4m3 subnormals 2**-9 each


def test_integer_register_wraps_and_saturates_after_every_addition():
    a = codes([127.0] * 4, INT8)
    neg = codes([127.0] * 3 + [-127.0], INT8)
    out16 = bitsim.FixedFormat(16, 0, overflow="wrap")
    # 3 * 16129 = 48387 wraps to 48387 - 65536 = -17149
    assert R.dot(a[:3], a[:3], INT8, INT8, IntAcc(16, "wrap"), out16) == (-17149) % 65536
    # saturating: 16129, 32258, 32767 (clamped), then 32767 - 16129 = 16638
    assert R.dot(a, neg, INT8, INT8, IntAcc(16, "saturate"), out16) == 16638
    with pytest.raises(R.AccumulatorOverflow):
        R.dot(a[:3], a[:3], INT8, INT8, KulischAcc(frac_bits=0, width=16, overflow="raise"), out16)


def test_bad_models_and_registers():
    with pytest.raises(ValueError, match="chunk"):
        ChunkedAcc(0, FloatAcc(FP16), FloatAcc(FP16))
    with pytest.raises(TypeError, match="FloatAcc.fmt"):
        FloatAcc(INT8)
    with pytest.raises(ValueError, match="order"):
        FloatAcc(FP16, order="tree")
    with pytest.raises(ValueError, match="overflow"):
        KulischAcc(overflow="ignore")
    with pytest.raises(ValueError, match="bits"):
        IntAcc(1)
    with pytest.raises(ValueError, match="quantum"):                 # a register too coarse for a product
        R.dot(codes([2.0 ** -9], E4M3), codes([1.0], E4M3), E4M3, E4M3, KulischAcc(frac_bits=4), FP16)
