"""The CPU kernels against the exact reference, code for code and flag for flag."""

import numpy as np
import pytest

import bitsim
from bitsim import ref
from bitsim.formats import ENTRIES
from boundary import MODES, assert_codes_equal, boundary_inputs, ref_encode_all, sample_codes

SMALL = [e.name for e in ENTRIES if e.spec.bits <= 16]
ALL = [e.name for e in ENTRIES]
GENERIC = ["e3m4", "e5m2_sat", "e4m3b11fnuz", "e2m5fn", "qpt_e5m2", "qpt02_e4m3", "e6m9fn", "fixed8.7",
           "ufixed6.2", "fixed12.-3", "fixed5.9", "wage_4", "e1m2fn", "e1m1b0", "bm_e3m0"]


@pytest.mark.parametrize("name", SMALL)
def test_decode_every_code(name):
    fmt = bitsim.format(name)
    codes = fmt.codes()
    got = bitsim.decode(codes, fmt)
    for c, v in zip(codes, got):
        kind, negative, want = ref.classify(int(c), fmt)
        if kind == "finite":
            assert v == want and np.signbit(v) == (negative or want < 0), (hex(c), v, want)
        elif kind == ref.INF:
            assert v == (-np.inf if negative else np.inf), hex(c)
        else:
            assert np.isnan(v), hex(c)


@pytest.mark.parametrize("name", ALL + GENERIC)
@pytest.mark.parametrize("mode", MODES)
def test_encode_boundaries(name, mode):
    fmt = bitsim.format(name)
    xs = boundary_inputs(fmt)
    got, flags = bitsim.encode(xs, fmt, mode, return_flags=True)
    want, want_flags = ref_encode_all(xs, fmt, mode)
    assert_codes_equal(got, want, xs, f"{name} {mode} codes")
    assert_codes_equal(flags, want_flags, xs, f"{name} {mode} flags")


@pytest.mark.parametrize("name", ["e4m3", "e5m2", "bm_e2m3", "e8m0", "fixed8.4", "fp16", "e2m1fn"])
@pytest.mark.parametrize("sr_bits", [1, 3, 8, 20])
def test_encode_stochastic_explicit_bits(name, sr_bits):
    fmt = bitsim.format(name)
    xs = boundary_inputs(fmt)
    rand = np.random.default_rng(sr_bits).integers(0, 2 ** sr_bits, xs.size, dtype=np.uint64)
    got, flags = bitsim.encode(xs, fmt, "sr", sr_bits=sr_bits, rand=rand, return_flags=True)
    want, want_flags = ref_encode_all(xs, fmt, "sr", rand=rand, sr_bits=sr_bits)
    assert_codes_equal(got, want, xs, f"{name} sr{sr_bits} codes")
    assert_codes_equal(flags, want_flags, xs, f"{name} sr{sr_bits} flags")


@pytest.mark.parametrize("mode", ["rne", "rtz", "rup"])
@pytest.mark.parametrize("tininess", ["before", "after"])
def test_tininess_modes(mode, tininess):
    fmt = bitsim.format("e5m2")
    xs = boundary_inputs(fmt)
    got, flags = bitsim.encode(xs, fmt, mode, tininess=tininess, return_flags=True)
    want = [ref.encode(float(x), fmt, mode, tininess=tininess) for x in xs]
    assert_codes_equal(got, [w[0] for w in want], xs, "codes")
    assert_codes_equal(flags, [w[1] for w in want], xs, "flags")


def test_tininess_differs_only_just_below_min_normal():
    # 2**-14 * (1 - 2**-4) rounds to 2**-14 in e5m2 (RNE): tiny before rounding, not after.
    x = np.array([2.0 ** -14 * (1 - 2.0 ** -4)])
    _, after = bitsim.encode(x, "e5m2", tininess="after", return_flags=True)
    _, before = bitsim.encode(x, "e5m2", tininess="before", return_flags=True)
    assert (int(after[0]), int(before[0])) == (1, 3)


CONVERSIONS = [("fp16", "e4m3"), ("fp16", "e5m2"), ("bf16", "e4m3fnuz"), ("fp16", "bm_e2m5"), ("e5m2", "e4m3"),
               ("e4m3", "e2m1"), ("fp16", "fixed8.4"), ("fixed8.4", "e2m3"), ("e5m2fnuz", "e5m2"),
               ("bf16", "e8m0"), ("wage_8", "wage_2"), ("e4m3", "fp16"), ("fp32", "bf16")]


@pytest.mark.parametrize("src,dst", CONVERSIONS)
@pytest.mark.parametrize("mode", MODES)
def test_convert_between_formats(src, dst, mode):
    src, dst = bitsim.format(src), bitsim.format(dst)
    codes = np.array(sample_codes(src, limit_bits=8), dtype=np.uint64)
    got, flags = bitsim.convert(codes, src, dst, mode, return_flags=True)
    want = [ref.convert(int(c), src, dst, mode) for c in codes]
    assert_codes_equal(got, [w[0] for w in want], codes, f"{src}->{dst} {mode} codes")
    assert_codes_equal(flags, [w[1] for w in want], codes, f"{src}->{dst} {mode} flags")


def test_ieee_signaling_nan_raises_invalid():
    # fp16 0x7d00 is a signaling NaN (quiet bit clear); converting it gives the canonical quiet NaN.
    got, flags = bitsim.convert(np.array([0x7D00, 0x7E00], dtype=np.uint16), "fp16", "e5m2", return_flags=True)
    assert [hex(v) for v in got] == ["0x7e", "0x7e"] and list(flags) == [16, 0]


def test_float32_input_is_taken_exactly():
    # 1 + 2**-4 + 2**-20 is just above the e4m3 midpoint 1.0625: exact input rounds up, a float16
    # detour (which drops 2**-20) would tie to even and round down.
    x = np.array([1 + 2.0 ** -4 + 2.0 ** -20], dtype=np.float32)
    assert int(bitsim.encode(x, "e4m3")[0]) == 0x39
    assert int(bitsim.encode(x.astype(np.float16), "e4m3")[0]) == 0x38


def test_float64_input_is_not_rounded_through_float32():
    # 1 + 2**-4 + 2**-40: float32 would drop the 2**-40 and the tie would go to even (1.0).
    x = np.array([1 + 2.0 ** -4 + 2.0 ** -40])
    assert int(bitsim.encode(x, "e4m3")[0]) == 0x39


def test_fixed_conversion_onto_the_most_negative_64_bit_integer():
    """A left shift that lands exactly on -2**63 is in range (no overflow flag); one step beyond is not."""
    src, dst = bitsim.FixedFormat(63, 0), bitsim.FixedFormat(64, 1)
    codes = np.array([1 << 62, (1 << 62) + 1, (1 << 62) - 1, (1 << 63) - 1, 1], dtype=np.uint64)
    got, flags = bitsim.convert(codes, src, dst, return_flags=True)
    want = [ref.convert(int(c), src, dst) for c in codes]
    assert [(int(g), int(f)) for g, f in zip(got, flags)] == want
    wide = bitsim.FixedFormat(64, 0)
    got, flags = bitsim.convert(np.array([1 << 63], dtype=np.uint64), wide, bitsim.FixedFormat(64, -1),
                                return_flags=True)
    assert (int(got[0]), int(flags[0])) == ref.convert(1 << 63, wide, bitsim.FixedFormat(64, -1))


@pytest.mark.parametrize("name", ["e4m3", "e5m2", "e4m3fnuz", "fp16", "bf16", "e8m0", "int8", "fixed8.5",
                                  "bm_e2m5", "fp8_wang", "fp16_wang", "e2m1"])
def test_decode_fast_paths_equal_the_generic_kernel(name):
    """The value table (<= 16 bits) gives the generic kernel's float64 bits for every code, NaN included."""
    from bitsim.quantize import _decode_generic
    fmt = bitsim.format(name)
    codes = np.arange(1 << fmt.bits, dtype=np.uint64).astype(fmt.code_dtype)
    assert np.array_equal(bitsim.decode(codes, fmt).view(np.uint64), _decode_generic(codes, fmt, "cpu").view(np.uint64))


@pytest.mark.parametrize("bits,frac,signed", [(32, 0, True), (32, 12, True), (24, -5, False), (48, 40, True),
                                              (53, 1, False)])
def test_decode_of_wide_fixed_point_equals_the_generic_kernel(bits, frac, signed):
    from bitsim.quantize import _decode_generic
    fmt = bitsim.FixedFormat(bits, frac, signed=signed)
    rng = np.random.default_rng(bits)
    codes = np.concatenate([rng.integers(0, 1 << bits, 2000, dtype=np.uint64),
                            np.array([0, 1, (1 << bits) - 1, 1 << (bits - 1), (1 << (bits - 1)) - 1], np.uint64)])
    codes = codes.astype(fmt.code_dtype)
    assert np.array_equal(bitsim.decode(codes, fmt), _decode_generic(codes, fmt, "cpu"))
