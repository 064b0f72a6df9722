"""Block formats (BM, BFP, OCP MX): kernel vs the exact reference, tilings, round trips, gfloat MX."""

import numpy as np
import pytest

import bitsim
from bitsim.blocks import BlockFormat, Tiling, decode, encode, lookup_block, power_of_two_scale
from bitsim.ref import blocks as ref_blocks
from bitsim.ref.rng import sr_random

MX = ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8"]
MODES = ["rne", "rna", "rtz", "rup", "rdn", "rto"]


def adversarial_blocks(fmt, n=32, seed=0):
    """Rows of n float32 values, one block each: zero, outliers, boundaries, subnormal-only, ties."""
    rng = np.random.default_rng(seed)
    e = fmt.element
    emax = fmt.emax
    top = float(2.0 ** emax)
    rows = [np.zeros(n), -np.zeros(n)]
    outlier = rng.standard_normal(n) * 1e-3
    outlier[5] = 3.0e4
    rows.append(outlier)
    for k in (-20, 0, 7):                               # amax exactly a power of two, and one ULP below
        for amax in (2.0 ** k, np.nextafter(np.float32(2.0 ** k), np.float32(0))):
            r = rng.uniform(-1, 1, n) * float(amax)
            r[3] = -float(amax)
            rows.append(r)
    emaxv = float(e.max)
    r = rng.uniform(-1, 1, n) * emaxv                   # amax equal to the element max (times 2**X)
    r[0] = emaxv * 2.0 ** 3
    rows.append(r)
    r = rng.uniform(-1, 1, n) * top
    r[1] = np.nextafter(np.float32(2 * top), np.float32(0))   # just below the next binade: saturates
    rows.append(r)
    sub = rng.integers(-2000, 2000, n) * 2.0 ** -149    # float32 subnormals only
    rows.append(sub)
    ties = rng.integers(-64, 64, n) * 2.0 ** -7 + 2.0 ** -8   # many exact ties after scaling
    ties[0] = 1.0
    rows.append(ties)
    rows.append(rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30))
    return np.array(rows, dtype=np.float32)


def assert_block_equal(x, fmt, rounding, **kw):
    bt = encode(x, fmt, rounding, **kw)
    rand = kw.get("rand")
    want_codes, want_scales = ref_blocks.encode(x, fmt, rounding, rand=rand, sr_bits=kw.get("sr_bits"))
    scales = {k: int(bt.scales[k]) for k in want_scales}
    assert scales == want_scales, (fmt, rounding)
    bad = np.flatnonzero(bt.codes.reshape(-1).astype(np.uint64) != want_codes.reshape(-1))
    assert bad.size == 0, (fmt, rounding, x.reshape(-1)[bad[:5]], bt.codes.reshape(-1)[bad[:5]],
                           want_codes.reshape(-1)[bad[:5]])
    return bt


@pytest.mark.parametrize("name", MX)
@pytest.mark.parametrize("mode", MODES)
def test_mx_matches_ref(name, mode):
    fmt = lookup_block(name)
    assert_block_equal(adversarial_blocks(fmt), fmt, mode)


@pytest.mark.parametrize("name", MX + ["bfp8"])
def test_sr_explicit_rand_matches_ref(name):
    fmt = lookup_block(name)
    x = adversarial_blocks(fmt, seed=1)
    rand = np.random.default_rng(2).integers(0, 2 ** 10, x.shape)
    assert_block_equal(x, fmt, "sr", sr_bits=10, rand=rand)


def test_sr_seed_uses_block_slot_counters():
    fmt = lookup_block("bm6").activation
    x = np.random.default_rng(3).standard_normal((2, 50, 3, 3)).astype(np.float32)
    got = encode(x, fmt, "sr", sr_bits=12, seed=7, offset=5)
    layout = fmt.tiling.layout(x.shape)
    counters = np.arange(layout.n_blocks * layout.block_len).reshape(layout.n_blocks, layout.block_len)
    rand = layout.scatter(np.vectorize(lambda c: sr_random(7, 0, 5 + int(c), 12))(counters))
    want = encode(x, fmt, "sr", sr_bits=12, rand=rand)
    assert np.array_equal(got.codes, want.codes) and np.array_equal(got.scales, want.scales)


@pytest.mark.parametrize("rule,scale_mode", [("fit_max", "rup"), ("fit_max", "rne"), ("fit_max", "rna"),
                                             ("fit_max", "rtz"), ("top_binade", "rup"), ("top_binade", "rne"),
                                             ("fit_max", "rto")])
@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp4_e2m1", "mxint8"])
def test_scale_rules_match_ref(name, rule, scale_mode):
    fmt = lookup_block(name).replace(scale_rule=rule, scale_rounding=scale_mode)
    x = adversarial_blocks(fmt, seed=4)
    emax = float(fmt.element.max)
    x[-1, :] = [emax * 1.5 * 2.0 ** k for k in range(-8, 24)]        # ratio ties for "nearest" scales
    x[-2, :] = np.float32(emax) * np.float32(2.0 ** np.arange(-16, 16))
    assert_block_equal(x, fmt, "rne")


def test_fit_max_ceil_never_saturates():
    fmt = lookup_block("mxfp8_e4m3").replace(scale_rule="fit_max", scale_rounding="rup")
    x = np.random.default_rng(5).standard_normal((64, 32)).astype(np.float32) * 100
    y = decode(encode(x, fmt, "rtz"))
    assert np.all(np.abs(y) <= np.abs(x))
    amax_blocks = np.abs(x).max(axis=1)
    scales = 2.0 ** encode(x, fmt).scale_exponents()[:, 0]
    assert np.all(amax_blocks <= 448.0 * scales)


@pytest.mark.parametrize("name", ["bm8", "bm6", "bm5", "bm4"])
@pytest.mark.parametrize("tensor", ["weight", "activation", "error"])
def test_bm_matches_ref(name, tensor):
    fmt = getattr(lookup_block(name), tensor)
    rng = np.random.default_rng(6)
    shape = (6, 50, 2, 3) if tensor == "weight" else (2, 50, 7, 7)
    x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-6, 6, shape)).astype(np.float32)
    x[0, 0, 0, 0] = 0.0
    extra = ("rna", "rdn", "rto")[(len(name) + len(tensor)) % 3]      # every mode across the parameter grid
    for mode in ("rne", "rtz", "rup", extra):
        assert_block_equal(x, fmt, mode)
    assert_block_equal(x, fmt, "sr", sr_bits=8, rand=rng.integers(0, 256, shape))


def test_bm_tiny_and_huge_blocks_clamp_the_shared_exponent():
    fmt = lookup_block("bm8").activation
    x = np.zeros((2, 40), dtype=np.float64)      # C < T: one block per row
    x[0, :] = 2.0 ** -200 * np.arange(40)        # s = floor(log2) far below -128: clamped
    x[1, :] = 2.0 ** 300 * np.arange(40)         # far above 127: clamped, elements saturate
    bt = assert_block_equal(x, fmt, "rne")
    assert bt.scales.min() == 0 and bt.scales.max() == 255


def test_bm_without_denormals_matches_ref():
    cfg = lookup_block("bm6").without_denormals()
    x = (np.random.default_rng(8).standard_normal((48, 48)) * 10.0 ** np.arange(-24, 24)[:, None]).astype(np.float32)
    assert_block_equal(x, cfg.activation, "rne")


def test_kulisch_widths_as_the_paper_derives():
    # Fox et al. 2021, Table 3 "acc": 31, 20, 18 bits for BM8, BM6, BM5 (Eq. 4 with the backward pair)
    assert [lookup_block(n).accumulator_bits for n in ("bm8", "bm6", "bm5")] == [31, 20, 18]
    assert lookup_block("bm8").kulisch_forward == (21, 9)
    assert lookup_block("bm8").kulisch_backward == (31, 21)


TILINGS = [Tiling.along(4), Tiling.along(3, axis=0), Tiling.along(5, axis=1), Tiling.tiles(3), Tiling.per_slice(0),
           Tiling.per_slice(-1), Tiling.per_tensor(), Tiling.bm_reference(3, "x"), Tiling.bm_reference(3, "w"),
           Tiling.bm_reference(-1, "x"), Tiling.bm_reference(0, "w")]
SHAPES = [(7, 10), (4, 5, 2, 3), (2, 2, 5, 4), (5, 3), (2, 4, 1, 1), (9,)]


@pytest.mark.parametrize("tiling", TILINGS, ids=str)
def test_tiling_members_and_round_trip(tiling):
    for shape in SHAPES:
        try:
            layout = tiling.layout(shape)
        except ValueError:
            assert (tiling.kind == "tile" and len(shape) < 2) or tiling.kind.startswith("bm") and len(shape) == 3 \
                or (tiling.kind == "axis" and len(shape) <= tiling.axis % 4)
            continue
        x = np.arange(int(np.prod(shape))).reshape(shape) + 1
        blocks = layout.gather(x)
        members = ref_blocks.block_members(shape, tiling)
        assert len(members) == np.count_nonzero(blocks.any(axis=1)) or blocks.shape[0] == len(members)
        for key, flat in members.items():
            b = int(np.ravel_multi_index(key, layout.scale_shape))
            row = blocks[b]
            assert list(row[row != 0] - 1) == flat, (tiling, shape, key)
        assert np.array_equal(layout.scatter(blocks), x)
        run_len, starts, lengths = layout.runs()           # the kernel's view: runs of consecutive elements
        slots = layout.slot_sources().reshape(layout.n_blocks, layout.block_len)
        from_runs = np.full(slots.size, -1)
        for r, (s0, ln) in enumerate(zip(starts, lengths)):
            from_runs[r * run_len:r * run_len + ln] = np.arange(s0, s0 + ln)
        assert np.array_equal(from_runs, slots.reshape(-1)), (tiling, shape)


def test_bm_reference_tiling_shapes():
    x_tiling, w_tiling = Tiling.bm_reference(48, "x"), Tiling.bm_reference(48, "w")
    assert x_tiling.layout((128, 64, 8, 8)).block_len == 48 * 48          # 1 x T channels x T positions
    assert w_tiling.layout((64, 64, 3, 3)).block_len == 48 * 48 * 9       # T x T x kh*kw = 20736
    assert w_tiling.layout((64, 3, 3, 3)).scale_shape == (64, 1, 1, 1)    # I < T: per out-channel
    assert x_tiling.layout((128, 3, 32, 32)).scale_shape == (128, 1, 1, 1)
    assert x_tiling.layout((10, 20)).scale_shape == (10, 1)              # C < T: per row
    assert x_tiling.layout((100, 100)).scale_shape == (3, 3)
    assert x_tiling.layout((17,)).scale_shape == (1,)


@pytest.mark.parametrize("name", MX + ["bm8.activation", "bfp6"])
def test_decode_encode_is_idempotent(name):
    base, _, part = name.partition(".")
    fmt = getattr(lookup_block(base), part) if part else lookup_block(base)
    x = (np.random.default_rng(9).standard_normal((4, 96)) * 50).astype(np.float32)
    bt = encode(x, fmt)
    y = decode(bt)
    bt2 = encode(y, fmt)
    assert np.array_equal(bt.codes, bt2.codes) and np.array_equal(bt.scales, bt2.scales)
    assert np.array_equal(decode(bt2), y)


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp6_e3m2", "mxfp4_e2m1", "mxint8"])
def test_every_element_code_survives_a_block_round_trip(name):
    fmt = lookup_block(name)
    codes = fmt.element.codes()
    values = bitsim.decode(codes, fmt.element)
    finite = np.abs(values) < 2.0 ** (fmt.emax + 1)       # NaN out; and mxint8's -2, which raises amax
    for x_exp in (-120, 0, 100):
        anchor = 2.0 ** (fmt.emax + x_exp)                 # every block's max in the element's top binade
        xs = values[finite] * 2.0 ** x_exp
        bt = encode(np.stack([xs, np.full(xs.shape, anchor)], axis=1), fmt.replace(block=2))
        assert np.array_equal(bt.scales[:, 0], np.full(xs.shape, x_exp + 127))
        assert np.array_equal(bt.codes[:, 0], codes[finite])


WIDE_SCALE = power_of_two_scale(11, bias=1100, nan=True, name="e11m0_b1100")   # 2**-1100 .. 2**946
DECODE_FORMATS = [lookup_block("mxfp8_e4m3"), lookup_block("mxint8"), lookup_block("mxfp4_e2m1"),
                  lookup_block("bm8").weight, BlockFormat(bitsim.format("fp32"), 8, scale=WIDE_SCALE)]


def exact_block_values(bt):
    """Each element's exact value (a Fraction, or None for NaN) from the formats' definitions: the
    element's own decode times 2**(scale code - bias), None throughout a NaN-scale block."""
    from fractions import Fraction
    fmt = bt.format
    layout = fmt.tiling.layout(bt.shape)
    scales = layout.expand(bt.scales.astype(np.int64)).reshape(-1)
    values = bitsim.decode(bt.codes.reshape(-1), fmt.element)
    out = []
    for v, s in zip(values, scales):
        nan = np.isnan(v) or (fmt.scale.nan_code is not None and s == fmt.scale.nan_code)
        out.append(None if nan else (Fraction(float(v)) * Fraction(2) ** int(s - fmt.scale.bias), np.signbit(v)))
    return out


def random_block_tensor(fmt, shape, scale_codes, seed):
    """A BlockTensor of random element codes (every code, NaNs included) and scale codes drawn from
    ``scale_codes``."""
    rng = np.random.default_rng(seed)
    layout = fmt.tiling.layout(shape)
    codes = rng.integers(0, 1 << fmt.element.bits, shape).astype(fmt.element.code_dtype)
    scales = rng.choice(np.asarray(scale_codes), layout.scale_shape).astype(fmt.scale.code_dtype)
    return bitsim.BlockTensor(codes, scales, shape, fmt)


@pytest.mark.parametrize("fmt", DECODE_FORMATS, ids=str)
def test_decode_is_each_element_times_its_block_scale(fmt):
    """decode against the formats' definitions, element by element (exact values, signed zeros, NaN
    blocks), on shapes with padded edge blocks, with scales across the scale format's whole range; and
    the error where a product has no binary64 value."""
    top = (1 << fmt.scale.bits) - 1
    in_range = np.arange(200, 1991) if fmt.scale == WIDE_SCALE else np.arange(top + 1)   # every product fits
    bt = random_block_tensor(fmt, (5, 37) if fmt.tiling.kind == "axis" else (50, 61), in_range, seed=2)
    got = decode(bt).reshape(-1)
    for g, want in zip(got, exact_block_values(bt)):
        if want is None:
            assert np.isnan(g)
        else:
            assert float(want[0]) == g and np.signbit(g) == want[1]
    if fmt.scale == WIDE_SCALE:
        for scale_code, code in ((1100 + 900, 0x7F7FFFFF), (1100 - 1060, 0x3F800001)):
            bad = random_block_tensor(fmt, (2, 8), [scale_code], seed=3)   # 2**128 * 2**900 overflows; the
            bad.codes[0] = 0                                               # last bit of 1 + 2**-23 times
            bad.codes[1] = 0x3F800000                                      # 2**-1060 lies below 2**-1074
            bad.codes[1, 3] = code
            with pytest.raises(ValueError, match=r"block \(1, 0\) of .* not exactly representable"):
                decode(bad)


def test_nan_and_inf_blocks_get_a_nan_scale():
    fmt = lookup_block("mxfp8_e4m3")
    x = np.ones((3, 32), dtype=np.float32)
    x[0, 4] = np.nan
    x[1, 7] = -np.inf
    bt = assert_block_equal(x, fmt, "rne")
    assert list(bt.scales[:, 0]) == [255, 255, 127 - fmt.emax + 0]
    y = decode(bt)
    assert np.isnan(y[:2]).all() and np.array_equal(y[2], np.ones(32))


def test_gfloat_mx_agrees():
    import gfloat            # a test dependency (setup.cfg extra "test"): missing means failing, not skipped
    from gfloat.formats import (format_info_mxfp4_e2m1, format_info_mxfp6_e2m3, format_info_mxfp6_e3m2,
                                format_info_mxfp8_e4m3, format_info_mxfp8_e5m2, format_info_mxint8)
    pairs = [("mxfp8_e4m3", format_info_mxfp8_e4m3), ("mxfp8_e5m2", format_info_mxfp8_e5m2),
             ("mxfp6_e3m2", format_info_mxfp6_e3m2), ("mxfp6_e2m3", format_info_mxfp6_e2m3),
             ("mxfp4_e2m1", format_info_mxfp4_e2m1), ("mxint8", format_info_mxint8)]
    rng = np.random.default_rng(10)
    for name, fi in pairs:
        fmt = lookup_block(name)
        rows = [rng.standard_normal(32) * 10.0 ** rng.integers(-8, 8) for _ in range(40)]
        rows += [rng.integers(-40, 40, 32) * 0.25 + 0.125 for _ in range(10)]   # tie-heavy
        rows += list(adversarial_blocks(fmt, seed=11)[2:-1])
        x = np.array(rows, dtype=np.float64)
        mine = decode(encode(x, fmt))
        for i, row in enumerate(x):
            theirs = gfloat.quantize_block(fi, row, gfloat.compute_scale_amax)
            assert np.array_equal(mine[i], theirs), (name, i)


def test_qpytorch_bfp_profile_matches_float32_replay():
    rng = np.random.default_rng(12)
    for wl in (4, 8, 12):
        fmt = lookup_block(f"bfp{wl}_qpytorch").replace(block=Tiling.per_slice(0))
        x = (rng.standard_normal((6, 40)) * 10.0 ** rng.integers(-30, 30, (6, 1))).astype(np.float32)
        x[0, :] = rng.integers(-8, 8, 40) * 2.0 ** (-wl) + 2.0 ** (-wl - 1)      # exact ties: toward +inf
        x[0, 0] = 1.0
        x[1, :] = rng.integers(-2 ** 20, 2 ** 20, 40) * 2.0 ** -149              # subnormal block
        x[2, :] = 0.0
        assert_block_equal(x, fmt, "rna")
        assert_block_equal(x, fmt, "sr", sr_bits=23 - wl, rand=rng.integers(0, 2 ** (23 - wl), x.shape))


def test_qpytorch_bfp_ties_go_up_in_value():
    fmt = lookup_block("bfp4_qpytorch")            # grid 2**(E-2) with E = 0: steps of 0.25
    x = np.array([1.0, 0.125, -0.125, 0.375, -0.375], dtype=np.float32)
    assert list(decode(encode(x, fmt))) == [1.0, 0.25, 0.0, 0.5, -0.25]
    exact = lookup_block("bfp4")
    assert list(decode(encode(x, exact, "rna"))) == [1.0, 0.25, -0.25, 0.5, -0.5]


def test_bad_input():
    fmt = lookup_block("mxfp8_e4m3")
    with pytest.raises(ValueError, match="block length"):
        BlockFormat(fmt.element, 0)
    with pytest.raises(ValueError, match="block length"):
        Tiling.along(-3)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        encode(np.ones(5, np.float32), fmt.replace(block=Tiling.tiles(4)))
    with pytest.raises(ValueError, match="1-D, 2-D or 4-D"):
        encode(np.ones((2, 3, 4), np.float32), lookup_block("bm8").activation)
    with pytest.raises(ValueError, match="out of range"):
        encode(np.ones((2, 3), np.float32), fmt.replace(axis=2))
    with pytest.raises(ValueError, match="scale exponent above"):
        encode(np.array([1e300] * 4), fmt)
    with pytest.raises(ValueError, match="inf or NaN"):
        encode(np.array([[1.0, np.nan]], np.float32), lookup_block("bm8").activation)
    with pytest.raises(ValueError, match="power-of-two"):
        BlockFormat(fmt.element, 32, scale=bitsim.format("fp16"))
    with pytest.raises(TypeError, match="element"):
        BlockFormat("e4m3", 32)
    with pytest.raises(ValueError, match="scale_rule"):
        fmt.replace(scale_rule="mean")
    with pytest.raises(ValueError, match="qpytorch_bfp"):
        fmt.replace(profile="qpytorch_bfp")
    with pytest.raises(TypeError, match="float32"):
        encode(np.ones(4), lookup_block("bfp8_qpytorch"))
    with pytest.raises(TypeError, match="float16, float32 or float64"):
        encode(np.ones(4, np.int32), fmt)
    with pytest.raises(ValueError, match="sr_bits"):
        encode(np.ones(4, np.float32), lookup_block("bfp8_qpytorch"), "sr", sr_bits=3, seed=1)
    with pytest.raises(TypeError, match="pick one of its block formats"):
        bitsim.quantize(np.ones(4, np.float32), "bm8")
    with pytest.raises(ValueError, match="return_flags"):
        bitsim.encode(np.ones(4, np.float32), "mxfp4_e2m1", return_flags=True)
    bt = bitsim.encode(np.ones((2, 32), np.float32), "mxfp4_e2m1")
    with pytest.raises(ValueError, match="shapes do not match"):
        decode(bitsim.BlockTensor(bt.codes, bt.scales[:1], bt.shape, bt.format))


def test_power_of_two_scale_and_e8m0_agree():
    assert power_of_two_scale(8, bias=127, nan=True) == bitsim.format("e8m0")
