"""Block-format dot products (bitsim.accum.block_dot) against the exact reference bitsim.ref.block_dot.

Every comparison is exact (code words). Operands are built code by code so that each block holds the
case under test: random codes (subnormals included), cancellation inside a block and across blocks, one
huge block then tiny ones (swamping in the outer FP32 sum), zero blocks, scales at the ends of their
range, NaN scales and inf/NaN elements; register overflow and bad input are checked separately.
"""

from fractions import Fraction

import numpy as np
import pytest

import bitsim
from bitsim.accum import AccumulatorOverflow, BlockDotUnit, FloatAcc, KulischAcc, block_dot, block_matmul
from bitsim.blocks import BlockFormat, BlockTensor, Tiling
from bitsim.ref import block_dot as RB
from bitsim.ref.values import classify, round_value

F = {n: bitsim.format(n) for n in ("e4m3", "e5m2", "fp16", "bf16", "fp32", "fp64")}
E8M0 = bitsim.format("e8m0")
M = N = 4


def custom_units():
    """A few non-preset units: other element formats (inf-capable e5m2, fixed-point mxint8 with FP4),
    other outer/out formats and roundings, the fused block add, an addend format."""
    e5m2 = BlockFormat(F["e5m2"], 16, axis=1, scale=E8M0)
    int8 = bitsim.format("mxint8").replace(axis=1)
    fp4 = bitsim.format("mxfp4_e2m1").replace(axis=0)
    bm = bitsim.format("bm8")
    bm_scale = bm.activation.scale
    return {
        "e5m2_bf16_fused": BlockDotUnit(e5m2, e5m2.replace(axis=0), KulischAcc(), FloatAcc(F["bf16"], "rtz"),
                                        "fp16", out_rounding="rup", c="fp32", block_add="fused"),
        "int8_fp4_fp16": BlockDotUnit(int8, fp4, KulischAcc(), FloatAcc(F["fp16"]), "fp32", block_add="convert_add",
                                      convert_rounding="rdn"),
        "bm8_fused_rdn": BlockDotUnit(BlockFormat(bm.forward, 48, axis=1, scale=bm_scale),
                                      BlockFormat(bm.forward, 48, axis=0, scale=bm_scale),
                                      KulischAcc(width=31), FloatAcc(F["fp32"], "rdn"), "fp32", out_rounding="rdn",
                                      block_add="fused"),
        "e4m3_wide_register_fused": BlockDotUnit(bitsim.format("mxfp8_e4m3").replace(axis=1),
                                                 bitsim.format("mxfp8_e4m3").replace(axis=0),
                                                 KulischAcc(frac_bits=100, width=127), FloatAcc(F["fp64"]), "fp32",
                                                 block_add="fused"),
    }


PRESETS = ("bm8_kulisch", "bm6_kulisch", "mxfp8_fp32")
CUSTOM = custom_units()
ALL = {**{n: bitsim.unit(n) for n in PRESETS}, **CUSTOM}


# ---------------------------------------------------------------- operand construction

def values_of(codes, fmt):
    return bitsim.decode(np.asarray(codes).astype(fmt.code_dtype), fmt)


def finite_codes(fmt, shape, rng):
    """Uniform random code words of ``fmt`` (every binade, subnormals included), non-finite ones -> 0."""
    codes = rng.integers(0, 1 << fmt.bits, size=shape)
    codes[~np.isfinite(values_of(codes, fmt))] = 0
    return codes


def negated(codes, fmt):
    """Codes of the negated values (sign-magnitude floats; two's complement fixed point)."""
    if isinstance(fmt, bitsim.FloatFormat):
        return codes ^ (1 << (fmt.bits - 1))
    return (-codes) % (1 << fmt.bits)


def subnormal_codes(fmt, shape, rng):
    mag = rng.integers(0, 1 << fmt.man_bits, size=shape)
    return mag | (rng.integers(0, 2, size=shape) << (fmt.bits - 1))


def scale_codes(scale_fmt, x):
    """Scale codes of exponents X, clipped to the format's range."""
    lo, hi = -scale_fmt.bias, scale_fmt.emax
    return np.clip(np.asarray(x), lo, hi) + scale_fmt.bias


def tensors(unit, a_codes, a_x, b_codes, b_x):
    """BlockTensors A (M, K) and B (K, N) from element codes and per-block scale exponents
    a_x (M, n_blocks), b_x (n_blocks, N)."""
    fa, fb = unit.a, unit.b
    A = BlockTensor(np.asarray(a_codes).astype(fa.element.code_dtype),
                    scale_codes(fa.scale, a_x).astype(fa.scale.code_dtype), tuple(np.shape(a_codes)), fa)
    B = BlockTensor(np.asarray(b_codes).astype(fb.element.code_dtype),
                    scale_codes(fb.scale, b_x).astype(fb.scale.code_dtype), tuple(np.shape(b_codes)), fb)
    return A, B


def zeros(fmt, shape):
    """An all-zero BlockTensor of ``fmt`` with the codes and scales shapes of its layout."""
    scale_shape = fmt.tiling.layout(shape).scale_shape
    scales = np.full(scale_shape, fmt.scale.bias, fmt.scale.code_dtype)
    return BlockTensor(np.zeros(shape, fmt.element.code_dtype), scales, tuple(shape), fmt)


def n_blocks(unit, K):
    return -(-K // unit.block_length)


def random_case(unit, K, rng, x_range=8):
    nb = n_blocks(unit, K)
    return (finite_codes(unit.a.element, (M, K), rng), rng.integers(-x_range, x_range + 1, (M, nb)),
            finite_codes(unit.b.element, (K, N), rng), rng.integers(-x_range, x_range + 1, (nb, N)))


def assert_matches_ref(unit, A, B, C=None):
    got = block_matmul(A, B, unit, C)
    want = RB.block_matmul(A, B, unit, C)
    assert got.shape == (A.shape[0], B.shape[1]) and got.dtype == unit.out.code_dtype
    for i in range(got.shape[0]):
        for j in range(got.shape[1]):
            assert int(got[i, j]) == want[i][j], (unit, i, j, hex(int(got[i, j])), hex(want[i][j]))
    return got


def fp32_addend(rng, shape, scale=1.0):
    return bitsim.encode(rng.standard_normal(shape) * scale, "fp32")


# ---------------------------------------------------------------- kernel vs reference

@pytest.mark.parametrize("name", list(ALL))
def test_random_blocks(name):
    unit = ALL[name]
    rng = np.random.default_rng(len(name))
    L = unit.block_length
    for K in (3 * L, 2 * L + 5):                       # whole blocks, and a shorter last block
        A, B = tensors(unit, *random_case(unit, K, rng))
        assert_matches_ref(unit, A, B)
    C = bitsim.encode(rng.standard_normal((M, N)) * 4, unit.c)
    assert_matches_ref(unit, A, B, C)


@pytest.mark.parametrize("name", list(ALL))
def test_cancellation_inside_a_block(name):
    """Each block's second half is the negated first half (same B rows), plus one tiny product."""
    unit = ALL[name]
    rng = np.random.default_rng(1)
    L = unit.block_length
    K = 2 * L
    a, ax, b, bx = random_case(unit, K, rng)
    h = L // 2
    for kb in range(2):
        s = kb * L
        a[:, s + h:s + 2 * h] = negated(a[:, s:s + h], unit.a.element)
        b[s + h:s + 2 * h, :] = b[s:s + h, :]
        if L % 2:
            a[:, s + L - 1] = 0
        a[:, s + h - 1] = negated(a[:, s + h - 1], unit.a.element)    # break one pair: a small remainder
    A, B = tensors(unit, a, ax, b, bx)
    assert_matches_ref(unit, A, B)


def cross_block_case(unit, rng):
    """Block 1 = -(block 0) with the same scales; block 2 small (scale 2**-20 relative)."""
    L = unit.block_length
    a, ax, b, bx = random_case(unit, 3 * L, rng)
    a[:, L:2 * L] = a[:, :L]
    b[L:2 * L, :] = negated(b[:L, :], unit.b.element)
    ax[:, 1] = ax[:, 0]
    bx[1, :] = bx[0, :]
    ax[:, 2] = ax[:, 0] - 20
    return tensors(unit, a, ax, b, bx)


@pytest.mark.parametrize("name", list(ALL))
def test_cancellation_across_blocks(name):
    unit = ALL[name]
    A, B = cross_block_case(unit, np.random.default_rng(2))
    assert_matches_ref(unit, A, B)


def test_two_roundings_differ_from_fused():
    """Cancellation across blocks separates the models: with two roundings the rounded block 0 cancels
    block 1's rounded value exactly, fused leaves block 0's rounding error."""
    mx = bitsim.unit("mxfp8_fp32")
    fused = BlockDotUnit(mx.a, mx.b, mx.inner, mx.outer, mx.out, block_add="fused")
    A, B = cross_block_case(mx, np.random.default_rng(3))
    two, one = assert_matches_ref(mx, A, B), assert_matches_ref(fused, A, B)
    assert (two != one).any()
    # two roundings: block 0 - block 1 cancels exactly, so the result is block 2 alone, rounded to fp32
    L = mx.block_length
    A2 = BlockTensor(A.codes.copy(), A.scales, A.shape, A.format)
    A2.codes[:, :2 * L] = 0
    assert (block_matmul(A2, B, mx) == two).all()


@pytest.mark.parametrize("name", list(ALL))
def test_swamping_huge_block_then_tiny_ones(name):
    """Block 0 is scaled by 2**40 relative to the others: the outer sum rounds the tiny blocks away."""
    unit = ALL[name]
    rng = np.random.default_rng(4)
    a, ax, b, bx = random_case(unit, 3 * unit.block_length, rng, x_range=0)
    a[:, 0] = bitsim.encode(np.full(M, float(unit.a.element.max)), unit.a.element)
    b[0, :] = bitsim.encode(np.full(N, float(unit.b.element.max)), unit.b.element)
    ax[:, 0] = 20
    bx[0, :] = 20
    ax[:, 1:] = -20
    bx[1:, :] = -20
    A, B = tensors(unit, a, ax, b, bx)
    got = assert_matches_ref(unit, A, B)
    if unit.block_add == "convert_add" and unit.outer.rounding == "rne":
        A0 = BlockTensor(A.codes.copy(), A.scales, A.shape, A.format)
        A0.codes[:, unit.block_length:] = 0                    # the tiny blocks removed
        assert (block_matmul(A0, B, unit) == got).all()


@pytest.mark.parametrize("name", list(ALL))
def test_zero_blocks_and_signed_zero_addend(name):
    unit = ALL[name]
    rng = np.random.default_rng(5)
    L = unit.block_length
    a, ax, b, bx = random_case(unit, 3 * L, rng)
    a[:, L:2 * L] = 0                                  # block 1 of A is zero
    b[:L, 1] = 0                                       # block 0 of column 1 is zero
    a[3, :] = 0                                        # an all-zero row
    A, B = tensors(unit, a, ax, b, bx)
    assert_matches_ref(unit, A, B)
    C = bitsim.encode(np.full((M, N), -0.0), unit.c)
    got = assert_matches_ref(unit, A, B, C)
    # row 3: -0 + (+0 register) + ... = +0, or -0 when the outer sum rounds down (IEEE 754 6.3)
    want = round_value(Fraction(0), unit.out, unit.out_rounding, negative=unit.outer.rounding == "rdn")[0]
    assert [int(x) for x in got[3]] == [want] * N


@pytest.mark.parametrize("name", list(ALL))
def test_subnormal_elements(name):
    unit = ALL[name]
    rng = np.random.default_rng(6)
    K = 2 * unit.block_length
    a, ax, b, bx = random_case(unit, K, rng)
    if isinstance(unit.a.element, bitsim.FloatFormat):
        a = subnormal_codes(unit.a.element, (M, K), rng)
    b[:, :2] = subnormal_codes(unit.b.element, (K, 2), rng)
    A, B = tensors(unit, a, ax, b, bx)
    assert_matches_ref(unit, A, B)


@pytest.mark.parametrize("name", list(ALL))
def test_scales_at_the_ends_of_their_range(name):
    """Largest scales overflow the outer format (inf or its overflow rule), smallest underflow it."""
    unit = ALL[name]
    rng = np.random.default_rng(7)
    a, ax, b, bx = random_case(unit, 2 * unit.block_length, rng)
    big = max(unit.a.scale.emax, unit.b.scale.emax)
    ax[0], bx[:, 0] = big, big                         # output (0, 0): both scales at the top
    ax[1], bx[:, 1] = -300, -300                       # output (1, 1): both at the bottom (clipped)
    ax[2, 0], bx[0, 2] = big, -300                     # output (2, 2): mixed
    A, B = tensors(unit, a, ax, b, bx)
    assert_matches_ref(unit, A, B)


@pytest.mark.parametrize("name", ["mxfp8_fp32", "e5m2_bf16_fused", "e4m3_wide_register_fused"])
def test_nan_scales_and_special_elements(name):
    unit = ALL[name]
    fa = unit.a.element
    rng = np.random.default_rng(8)
    L = unit.block_length
    a, ax, b, bx = random_case(unit, 3 * L, rng)
    A, B = tensors(unit, a, ax, b, bx)
    if unit.a.scale.nan_code is not None:
        A.scales[0, 1] = unit.a.scale.nan_code         # row 0: a NaN block
    A.codes[1, L + 3] = fa.nan_code                    # row 1: a NaN element
    if fa.inf_code is not None:
        A.codes[2, 2] = fa.inf_code                    # row 2: +inf x b in block 0, -inf in block 2
        A.codes[2, 2 * L + 1] = fa.inf_code | (1 << (fa.bits - 1))
        A.codes[3, 5] = fa.inf_code                    # row 3: inf x 0 -> NaN
        B.codes[5, 0] = 0
    got = assert_matches_ref(unit, A, B)
    vals = bitsim.decode(got, unit.out)
    if unit.a.scale.nan_code is not None:
        assert np.isnan(vals[0]).all()
    assert np.isnan(vals[1]).all()
    if fa.inf_code is not None:
        assert np.isnan(vals[3, 0])


# ---------------------------------------------------------------- the register

def max_block(unit, K):
    """Every element at its largest magnitude, same sign: the largest block sums."""
    a = np.broadcast_to(bitsim.encode(np.array([float(unit.a.element.max)]), unit.a.element), (M, K))
    b = np.broadcast_to(bitsim.encode(np.array([float(unit.b.element.max)]), unit.b.element), (K, N))
    nb = n_blocks(unit, K)
    return tensors(unit, a, np.zeros((M, nb), int), b, np.zeros((nb, N), int))


@pytest.mark.parametrize("name", PRESETS)
def test_preset_registers_hold_full_blocks(name):
    """The paper's widths (BM8 31 bits, BM6 20) and MX's derived one hold a full block of the largest
    products exactly; the outputs are exact multiples of the block count."""
    unit = bitsim.unit(name)
    A, B = max_block(unit, 2 * unit.block_length)
    got = assert_matches_ref(unit, A, B)
    top = Fraction(unit.a.element.max) * Fraction(unit.b.element.max) * 2 * unit.block_length
    assert all(classify(int(x), unit.out)[2] == top for x in got.reshape(-1))


def narrow(unit, width, overflow):
    return BlockDotUnit(unit.a, unit.b, KulischAcc(width=width, overflow=overflow), unit.outer, unit.out,
                        block_add=unit.block_add)


@pytest.mark.parametrize("name", ["bm6_kulisch", "mxfp8_fp32"])
def test_register_too_narrow(name):
    unit = bitsim.unit(name)
    frac = unit.register()[0]
    A, B = max_block(unit, unit.block_length)
    # the block sum of L largest products, in register units, needs this many bits with the sign
    top = Fraction(unit.a.element.max) * Fraction(unit.b.element.max) * unit.block_length * 2 ** frac
    need = int(top).bit_length() + 1
    assert_matches_ref(narrow(unit, need, "raise"), A, B)      # exactly wide enough
    with pytest.raises(AccumulatorOverflow, match=f"{need - 1}-bit Kulisch register"):
        block_matmul(A, B, narrow(unit, need - 1, "raise"))
    with pytest.raises(AccumulatorOverflow):
        RB.block_matmul(A, B, narrow(unit, need - 1, "raise"))
    for rule in ("wrap", "saturate"):
        u = narrow(unit, need - 1, rule)
        got = assert_matches_ref(u, A, B)
        assert (got != block_matmul(A, B, narrow(unit, need, rule))).all()


def test_register_off_grid():
    mx = bitsim.unit("mxfp8_fp32")
    unit = BlockDotUnit(mx.a, mx.b, KulischAcc(frac_bits=4), mx.outer, mx.out)
    A, B = tensors(unit, *random_case(unit, 64, np.random.default_rng(9)))
    with pytest.raises(ValueError, match="quantum 2\\*\\*-4"):
        block_matmul(A, B, unit)


# ---------------------------------------------------------------- the fused add alone

def test_fused_block_add_against_fractions():
    """The one-rounding block add on wide registers (up to 127 bits), any scale, any fp32 s, every
    deterministic rounding; a fifth of the cases put s at minus the register's value rounded (massive
    cancellation)."""
    from bitsim.core import block_dot as core
    from bitsim.rounding import mode_code
    rng = np.random.default_rng(10)
    fp32 = F["fp32"]
    for t in range(400):
        width = int(rng.integers(2, 128))
        bits = int(rng.integers(1, width))               # |reg| < 2**(width - 1)
        reg = int(rng.integers(1 << 62, 1 << 63)) >> max(0, 63 - bits) << max(0, bits - 63)
        reg = -reg if rng.integers(2) else reg
        if t % 5 == 1:                                   # a top bit and a far tail: s cancels the top
            reg = ((1 << (width - 2)) + int(rng.integers(-1000, 1000))) * (-1 if rng.integers(2) else 1)
        if t % 50 == 0:
            reg = 0
        if t % 50 in (1, 2):
            reg = -(1 << 126)                            # the 127-bit extreme
        frac = int(abs(reg).bit_length() - rng.integers(-160, 132))
        value = Fraction(reg) / Fraction(2) ** frac
        s_val = rng.standard_normal() * 2.0 ** int(rng.integers(-160, 130))
        if t % 5 in (0, 1) and reg and abs(value) < 2 ** 127:
            s_val = -float(value)                        # massive cancellation
        if t % 50 == 2 and abs(value) < 2 ** 127:
            s_val = float(value)                         # both terms at the top of the frame, same sign
        with np.errstate(over="ignore"):
            s = int(bitsim.encode(np.array([s_val]), fp32)[0])
        kind, neg, sv = classify(s, fp32)
        if kind != "finite":
            continue
        mode = ("rne", "rtz", "rup", "rdn", "rna", "rto")[t % 6]
        u = reg % (1 << 128)
        with np.errstate(over="ignore"):                  # uint64 wraparound is intended (two's complement)
            code, _ = core.fused_block_add(np.uint64(s), fp32.params, np.uint64(u >> 64),
                                           np.uint64(u & (2 ** 64 - 1)),
                                           np.int64(0), np.int64(frac), np.int64(mode_code(mode)))
        exact = sv + value
        if exact == 0:        # IEEE 754 6.3: +0, -0 under rdn; (+0 register) + (+0) = +0 in every mode
            want = round_value(Fraction(0), fp32, mode, negative=mode == "rdn" and (reg != 0 or neg))[0]
        else:
            want = round_value(exact, fp32, mode)[0]
        assert int(code) == want, (t, reg, frac, s_val, mode, hex(int(code)), hex(want))


# ---------------------------------------------------------------- entry points

def test_matmul_dispatch_and_row_wise_dot():
    unit = bitsim.unit("mxfp8_fp32")
    rng = np.random.default_rng(11)
    A, B = tensors(unit, *random_case(unit, 96, rng))
    C = fp32_addend(rng, (M, N))
    want = block_matmul(A, B, unit, C)
    assert (bitsim.matmul(A, B, unit, C) == want).all()
    assert (bitsim.matmul(A, B, "mxfp8_fp32", C) == want).all()
    # row-wise: d[i] = A[i] . B[:, i], with B's columns as rows blocked along axis 1
    BT = BlockTensor(np.ascontiguousarray(B.codes.T), np.ascontiguousarray(B.scales.T), (N, 96),
                     unit.b.replace(axis=1))
    d = block_dot(A, BT, unit, np.diagonal(C).copy())
    assert [int(x) for x in d] == [int(want[i, i]) for i in range(M)]


def test_presets_are_the_documented_configurations():
    bm8, bm6, mx = (bitsim.unit(n) for n in PRESETS)
    for unit, element, L in ((bm8, "bm_e2m5", 48), (bm6, "bm_e2m3", 48), (mx, "e4m3_sat", 32)):
        fmt = bitsim.format(element)
        assert unit.a.element == fmt and unit.b.element == fmt and unit.block_length == L
        assert unit.outer == FloatAcc(F["fp32"]) and unit.out == F["fp32"] and unit.block_add == "convert_add"
        # the register's LSB is the smallest product (smallest subnormal squared)
        assert unit.register()[0] == -2 * (fmt.emin - fmt.man_bits)
    assert bm8.register()[1] == 31 and bm6.register()[1] == 20        # Fox et al. 2021, Table 3 "acc"
    assert mx.a.scale == E8M0 and bm8.a.scale == bitsim.format("bm8").activation.scale
    with pytest.raises(ValueError, match="bm8_kulisch, bm6_kulisch, mxfp8_fp32"):
        bitsim.unit("bm9_kulisch")


# ---------------------------------------------------------------- bad input

def test_bad_units():
    mx = bitsim.format("mxfp8_e4m3")
    a, b = mx.replace(axis=1), mx.replace(axis=0)
    with pytest.raises(ValueError, match="same block length along K; got a: 32, b: 16"):
        BlockDotUnit(a, b.replace(block=16, axis=0))
    with pytest.raises(ValueError, match="blocks must lie along K, axis 0"):
        BlockDotUnit(a, mx)                            # axis -1 of B (K, N) is N
    with pytest.raises(ValueError, match="blocks must lie along K, axis 1"):
        BlockDotUnit(b, b)
    with pytest.raises(ValueError, match="1-D blocks along K"):
        BlockDotUnit(BlockFormat(F["e4m3"], Tiling.tiles(32)), b)
    with pytest.raises(TypeError, match="BlockDotUnit.a must be a BlockFormat"):
        BlockDotUnit(F["e4m3"], b)
    with pytest.raises(TypeError, match="inner must be a KulischAcc"):
        BlockDotUnit(a, b, FloatAcc(F["fp32"]))
    with pytest.raises(TypeError, match="outer must be a FloatAcc"):
        BlockDotUnit(a, b, KulischAcc(), KulischAcc())
    with pytest.raises(ValueError, match="order must be 'sequential'"):
        BlockDotUnit(a, b, outer=FloatAcc(F["fp32"], order="pairwise"))
    with pytest.raises(ValueError, match="block_add must be one of"):
        BlockDotUnit(a, b, block_add="fma")
    with pytest.raises(ValueError, match="convert_rounding must be one of"):
        BlockDotUnit(a, b, convert_rounding="sr")
    with pytest.raises(ValueError, match="out_rounding must be one of"):
        BlockDotUnit(a, b, out_rounding="nearest")
    wide = BlockFormat(F["bf16"], 32, axis=1)
    with pytest.raises(ValueError, match="-bit register is needed"):
        BlockDotUnit(wide, wide.replace(axis=0))


def test_bad_operands():
    unit = bitsim.unit("mxfp8_fp32")
    rng = np.random.default_rng(12)
    A, B = tensors(unit, *random_case(unit, 64, rng))
    with pytest.raises(ValueError, match="A's columns must equal B's rows"):
        block_matmul(A, tensors(unit, *random_case(unit, 96, rng))[1], unit)
    with pytest.raises(TypeError, match="B must be a BlockTensor"):
        block_matmul(A, B.codes, unit)
    with pytest.raises(TypeError, match="unit must be a BlockDotUnit"):
        block_matmul(A, B, bitsim.unit("fp32_seq"))
    with pytest.raises(ValueError, match="blocks must lie along K, axis 0"):
        block_matmul(A, zeros(bitsim.format("mxfp8_e4m3"), (64, 4)), unit)      # blocks along N
    with pytest.raises(ValueError, match="element is .* but the unit takes"):
        block_matmul(A, zeros(bitsim.format("mxfp8_e5m2").replace(axis=0), (64, 4)), unit)
    with pytest.raises(ValueError, match="block length along K is 16 but the unit's is 32"):
        block_matmul(A, zeros(unit.b.replace(block=16, axis=0), (64, 4)), unit)
    with pytest.raises(ValueError, match="1-D blocks along K"):
        block_matmul(A, zeros(BlockFormat(unit.b.element, Tiling.per_tensor(), scale=E8M0), (64, 4)), unit)
    with pytest.raises(ValueError, match="2-D BlockTensor"):
        block_matmul(zeros(unit.b.replace(axis=0), (64,)), B, unit)
    with pytest.raises(ValueError, match="C must have shape \\(4, 4\\)"):
        block_matmul(A, B, unit, fp32_addend(rng, (4, 3)))
    bad = BlockTensor(A.codes, A.scales[:, :1], A.shape, A.format)
    with pytest.raises(ValueError, match="want scales \\(4, 2\\)"):
        block_matmul(bad, B, unit)
    with pytest.raises(ValueError, match="backend must be one of 'cpu', 'cuda'; got 'gpu'"):
        block_matmul(A, B, unit, backend="gpu")
    with pytest.raises(ValueError, match="same shape"):
        block_dot(A, BlockTensor(A.codes[:2], A.scales[:2], (2, 64), A.format), unit)


def test_fast_block_sums_path_is_taken_where_it_applies():
    """The register-from-BLAS path (``bitsim.kernels.block_dot_fast``) serves the presets and a wrapping
    narrow register, so the tests above hold it to the reference; registers that could raise or saturate
    mid-block, or that the exact float64 sums cannot feed, take the generic kernel."""
    from bitsim.accum.block_dot import _REGISTER_OVERFLOW
    from bitsim.kernels.block_dot_fast import block_register_plan

    def plan(unit):
        frac, width = unit.register()
        return block_register_plan(unit.a.element, unit.b.element, unit.block_length, frac, width,
                                   _REGISTER_OVERFLOW[unit.inner.overflow])
    for name in (*PRESETS, "bm8_fused_rdn", "int8_fp4_fp16"):
        assert plan(ALL[name]) is not None, name
    assert plan(ALL["e4m3_wide_register_fused"]) is None          # 2**100 register units: beyond int64
    assert plan(ALL["e5m2_bf16_fused"]) is None                   # e5m2 products span 2**64 quanta
    unit = bitsim.unit("bm6_kulisch")
    frac = unit.register()[0]
    need = int(Fraction(unit.a.element.max) * Fraction(unit.b.element.max) * unit.block_length * 2 ** frac
               ).bit_length() + 1
    assert plan(narrow(unit, need - 1, "wrap")) is not None
    assert plan(narrow(unit, need - 1, "raise")) is None and plan(narrow(unit, need, "raise")) is not None


def block_flags_by_ops(unit, A, B, C, i, j):
    """(code, flags) of output (i, j) stepped by hand through ``bitsim.ops``: each block's exact value
    (products and scales as rationals, then an exact fp64 code) converted and added, or added fused."""
    fp64, outer = F["fp64"], unit.outer
    L, K = unit.block_length, A.shape[1]
    a, b = values_of(A.codes[i], unit.a.element), values_of(B.codes[:, j], unit.b.element)
    xa, xb = values_of(A.scales[i], unit.a.scale), values_of(B.scales[:, j], unit.b.scale)
    s, flags = bitsim.ops.convert(np.array([C[i, j]], unit.c.code_dtype), unit.c, outer.fmt, outer.rounding)
    flags = int(flags[0])
    for kb in range(-(-K // L)):
        exact = sum(Fraction(float(a[k])) * Fraction(float(b[k])) for k in range(kb * L, min(K, (kb + 1) * L)))
        exact *= Fraction(float(xa[kb])) * Fraction(float(xb[kb]))
        assert Fraction(float(exact)) == exact                      # the block value is an fp64 number
        v = np.array([float(exact)]).view(np.uint64)
        if unit.block_add == "fused":
            s, f = bitsim.ops.add(s, v, outer.fmt, outer.rounding, in_formats=(outer.fmt, fp64))
        else:
            t, f0 = bitsim.ops.convert(v, fp64, outer.fmt, unit.convert_rounding)
            s, f = bitsim.ops.add(s, t, outer.fmt, outer.rounding)
            flags |= int(f0[0])
        flags |= int(f[0])
    code, f = bitsim.ops.convert(s, outer.fmt, unit.out, unit.out_rounding)
    return int(code[0]), flags | int(f[0])


@pytest.mark.parametrize("name", ["bm8_kulisch", "mxfp8_fp32", "bm8_fused_rdn", "int8_fp4_fp16"])
def test_block_matmul_flags_match_ops_by_hand(name):
    """block_matmul(..., return_flags=True): the OR over every rounding of the output, against the same
    roundings stepped through bitsim.ops; scales near the top of the range make some outputs overflow."""
    unit = ALL[name]
    rng = np.random.default_rng(17)
    K = 2 * unit.block_length + 5
    a, ax, b, bx = random_case(unit, K, rng, x_range=12)
    ax[0] = unit.a.scale.emax                                    # row 0: the largest scales
    A, B = tensors(unit, a, ax, b, bx)
    C = bitsim.encode(rng.standard_normal((M, N)), unit.c)
    D, flags = block_matmul(A, B, unit, C, return_flags=True)
    np.testing.assert_array_equal(D, block_matmul(A, B, unit, C))
    for i in range(M):
        for j in range(N):
            assert (int(D[i, j]), int(flags[i, j])) == block_flags_by_ops(unit, A, B, C, i, j), (i, j)
    assert (flags & 1).any() and len(set(flags.reshape(-1).tolist())) > 1
