"""The native-float path of block dots (``bitsim.kernels.block_dot_fast.float_block_matmul``) against the
generic kernel, code for code.

``block_matmul(..., return_flags=True)`` always runs the generic kernel (held to ``bitsim.ref.block_dot``
by tests/test_block_dot.py), ``block_matmul`` takes the float path where ``float_outer_plan`` allows it.
Cases: random codes over every binade with scales near 2**0 and at both ends of their range (block
values that overflow FP32 or underflow to subnormals), block sums that round at ties when converted
to FP32, cancellation to zero with a -0 addend, K not a multiple of L, both lane orientations, several
lane chunks, serial and parallel kernels; NaN scales and special elements fall back; which units get a
plan.
"""

import numpy as np
import pytest

import bitsim
from bitsim.accum import BlockDotUnit, FloatAcc, KulischAcc, block_matmul
from bitsim.blocks import BlockTensor
from bitsim.kernels import block_dot_fast as F
from bitsim.nn import RECIPES

UNITS = {"bm8_kulisch": bitsim.unit("bm8_kulisch"), "mxfp8_fp32": bitsim.unit("mxfp8_fp32"),
         "mxfp8.backward": RECIPES["mxfp8"].layers.units.backward_data,
         "bm8.backward": RECIPES["bm8"].layers.units.backward_data,
         "bm6.backward": RECIPES["bm6"].layers.units.backward_data}


def operands(unit, M, K, N, rng, x_lo, x_hi):
    """Random finite element codes (every binade) and scale codes with exponents in [x_lo, x_hi]
    (clipped to the scale format's range, NaN code excluded)."""
    def codes(fmt, shape):
        c = rng.integers(0, 1 << fmt.bits, size=shape)
        c[~np.isfinite(bitsim.decode(c.astype(fmt.code_dtype), fmt))] = 0
        return c.astype(fmt.code_dtype)

    def scales(fmt, shape):
        s = fmt.scale
        x = np.clip(rng.integers(x_lo, x_hi + 1, size=shape), -s.bias, s.emax)
        if s.nan_code is not None:
            x = np.minimum(x, s.nan_code - 1 - s.bias)
        return (x + s.bias).astype(s.code_dtype)

    nb = -(-K // unit.block_length)
    A = BlockTensor(codes(unit.a.element, (M, K)), scales(unit.a, (M, nb)), (M, K), unit.a)
    B = BlockTensor(codes(unit.b.element, (K, N)), scales(unit.b, (nb, N)), (K, N), unit.b)
    return A, B


def assert_float_path(unit, A, B, C=None, expect_fast=True):
    """block_matmul equals the generic kernel; the float path served it (or declined, if not expected)."""
    got = block_matmul(A, B, unit, C)
    want = block_matmul(A, B, unit, C, return_flags=True)[0]
    np.testing.assert_array_equal(got, want)
    c = None if C is None else np.asarray(C, np.uint32).view(np.float32)
    served = F.float_block_matmul(A.codes, A.scales, B.codes, B.scales, c, F.float_outer_plan(unit),
                                  unit.block_length)
    assert (served is not None) == expect_fast
    return got


@pytest.fixture(params=["serial", "parallel"])
def kernels(request, monkeypatch):
    monkeypatch.setattr(F, "PARALLEL_MIN_MACS", 0 if request.param == "parallel" else 1 << 62)


@pytest.mark.parametrize("name", list(UNITS))
@pytest.mark.parametrize("shape", [(300, 101, 5), (4, 150, 290), (7, 48, 7)])
def test_random_codes_and_scales(name, shape, kernels):
    """Lanes along M (two chunks) and along N; scales near 2**0, near the top (outputs overflow: the
    generic kernel then) and near the bottom (outputs underflow to subnormals and zero)."""
    unit = UNITS[name]
    rng = np.random.default_rng([len(name), *shape])
    A, B = operands(unit, *shape, rng, -12, 12)
    C = bitsim.encode(rng.standard_normal(shape[::2]) * 8, "fp32")
    assert_float_path(unit, A, B, C)
    assert_float_path(unit, A, B)
    for x_lo, x_hi, outcome in ((60, 130, np.isinf), (-140, -60, lambda v: np.abs(v) < 2.0 ** -126)):
        A, B = operands(unit, *shape, rng, x_lo, x_hi)
        got = block_matmul(A, B, unit)
        np.testing.assert_array_equal(got, block_matmul(A, B, unit, return_flags=True)[0])
        assert outcome(bitsim.decode(got, unit.out)).any()


@pytest.mark.parametrize("name", list(UNITS))
def test_block_sums_that_round_at_ties(name):
    """Many blocks per output; where block sums exceed 24 bits (MX E4M3, BM8 errors x weights) the
    conversions to FP32 round, hundreds of them at exact ties (25 significant bits)."""
    unit = UNITS[name]
    rng = np.random.default_rng(7)
    A, B = operands(unit, 200, 5 * unit.block_length, 6, rng, -2, 2)
    assert_float_path(unit, A, B, bitsim.encode(rng.standard_normal((200, 6)), "fp32"))
    if name in ("mxfp8_fp32", "bm8.backward"):
        plan, L = F.float_outer_plan(unit), unit.block_length
        a, b = plan.va[A.codes], plan.vb[B.codes]
        sums = np.stack([a[:, k:k + L] @ b[k:k + L] for k in range(0, A.shape[1], L)])
        m = np.abs(np.frexp(sums[sums != 0])[0]) * 2.0 ** 25         # an odd integer: 25 significant bits
        assert ((m == np.floor(m)) & (m % 2 == 1)).sum() > 100


def test_wide_block_sums_beyond_2_53_round_to_odd_first():
    """MX e5m2 x e4m3 (the mxfp8 recipe's backward GEMMs): blocks of the largest elements sum beyond
    2**53, summed in int64 and rounded to odd before the FP32 conversion; specials fall back."""
    unit = UNITS["mxfp8.backward"]
    L = unit.block_length
    rng = np.random.default_rng(11)
    A, B = operands(unit, 9, 3 * L, 300, rng, -4, 4)
    top_a = bitsim.encode(np.array([57344.0, -57344.0, 49152.0]), unit.a.element)
    top_b = bitsim.encode(np.array([448.0, 416.0, -448.0]), unit.b.element)
    A.codes[:4] = rng.choice(top_a, size=(4, 3 * L))
    B.codes[:, :100] = rng.choice(top_b, size=(3 * L, 100))
    A.codes[4, :L] = top_a[0]
    B.codes[:L, 100] = top_b[0]                                          # one block sum of 32 * 2**49.6
    plan = F.float_outer_plan(unit)
    a, b = plan.ia[A.codes].astype(object), plan.ib[B.codes].astype(object)
    assert max(abs(sum(a[i, k] * b[k, j] for k in range(L))) for i in range(5) for j in range(0, 101, 25)) \
        >= 2 ** 53
    assert_float_path(unit, A, B, bitsim.encode(rng.standard_normal((9, 300)), "fp32"))
    assert_float_path(unit, A, B)
    A.codes[5, 3] = bitsim.encode(np.array([np.inf]), unit.a.element)[0]        # e5m2 keeps its inf code
    assert np.isinf(bitsim.decode(A.codes[5, 3:4], unit.a.element)).all()
    assert_float_path(unit, A, B, expect_fast=False)


def test_cancellation_to_zero_and_signed_zero_addend():
    """Block 1 cancels block 0 exactly, block 2 is zero: the sum is +0 from -0 + (+0) ... in RNE."""
    unit = UNITS["bm8_kulisch"]
    L = unit.block_length
    rng = np.random.default_rng(3)
    A, B = operands(unit, 6, 3 * L, 5, rng, 0, 0)
    A.codes[:, L:2 * L] = A.codes[:, :L] ^ np.uint8(0x80)
    B.codes[L:2 * L] = B.codes[:L]
    A.codes[:, 2 * L:] = 0
    minus_zero = np.full((6, 5), 0x80000000, np.uint32)
    got = assert_float_path(unit, A, B, minus_zero)
    assert (got == 0).all()
    A.codes[:] = 0
    np.testing.assert_array_equal(assert_float_path(unit, A, B, minus_zero), minus_zero ^ 0x80000000)


def test_specials_fall_back_to_the_generic_kernel():
    """A NaN scale, a NaN element and inf in the addend leave non-finite outputs: the float path declines."""
    unit = UNITS["mxfp8_fp32"]
    rng = np.random.default_rng(4)
    A, B = operands(unit, 5, 70, 4, rng, -3, 3)
    A.scales[0, 1] = unit.a.scale.nan_code
    A.codes[2, 5] = unit.a.element.nan_code
    C = bitsim.encode(np.full((5, 4), np.inf), "fp32")
    assert_float_path(unit, A, B, C, expect_fast=False)
    assert_float_path(unit, A, B, expect_fast=False)


def test_which_units_get_a_float_plan():
    """RNE convert-add into IEEE binary32 with exact block sums: the presets and the block recipes'
    units; fused adds, other roundings or outer formats, and sums beyond 2**53 do not."""
    for name in ("bm8", "bm6", "bm5", "bm6_nodenorm"):
        units = RECIPES[name].layers.units
        assert all(F.float_outer_plan(u) is not None for u in (units.forward, units.backward_data))
    mx = UNITS["mxfp8_fp32"]
    assert F.float_outer_plan(mx) is not None and not F.float_outer_plan(mx).wide
    assert F.float_outer_plan(RECIPES["mxfp8"].layers.units.backward_data).wide       # e5m2 sums span > 2**53
    for change in (dict(block_add="fused"), dict(out_rounding="rtz"), dict(convert_rounding="rup"),
                   dict(outer=FloatAcc(bitsim.format("fp16"))), dict(out="bf16"), dict(c="fp16")):
        fields = dict(a=mx.a, b=mx.b, inner=mx.inner, outer=mx.outer, out=mx.out)
        assert F.float_outer_plan(BlockDotUnit(**{**fields, **change})) is None, change
    assert F.float_outer_plan(BlockDotUnit(mx.a, mx.b, KulischAcc(width=20, overflow="wrap"))) is None
