"""Dot-product units (bitsim.accum.dot / matmul) against the exact reference of each accumulator model."""

import numpy as np
import pytest

import bitsim
from bitsim.accum import (
    AccumulatorOverflow, ChunkedAcc, DotUnit, FloatAcc, IntAcc, KulischAcc, PRESETS, SplitKAcc, dot, fused_dot,
    matmul,
)
from bitsim.kernels.float_acc_fast import float_acc_plan
from bitsim.kernels.register_fast import register_plan
from bitsim.ref import accum as R

F = {n: bitsim.format(n) for n in ("e4m3", "e5m2", "fp16", "bf16", "fp32")}
INT8 = bitsim.FixedFormat(8, 0)


def adversarial_rows(fmt, k, rng):
    """Float rows (values of ``fmt``) for a, b with a * b exercising cancellation, swamping, exponent spread,
    subnormal products, overflow and specials; b is mostly ones so the products are the a values."""
    top = float(fmt.max)
    tiny = float(fmt.smallest)
    rows = []
    x = rng.standard_normal(k)
    rows.append(np.concatenate([x[: k // 2], -x[: k // 2]]))                        # massive cancellation
    rows.append(np.r_[top / 4, np.full(k - 1, top / 4 * 2.0 ** -(fmt.man_bits + 2))])  # swamping
    rows.append(np.ldexp(rng.choice([-1.0, 1.0], k), rng.integers(fmt.emin, fmt.emax, k)))  # wide spread
    rows.append(rng.integers(-3, 4, k) * tiny)                                         # subnormal values
    rows.append(np.full(k, top))                                                       # accumulator overflow
    special = rng.standard_normal(k)
    special[1] = np.inf
    rows.append(special)
    special = rng.standard_normal(k)
    special[2], special[5] = np.inf, -np.inf
    rows.append(special)
    special = rng.standard_normal(k)
    special[0] = np.nan
    rows.append(special)
    a = np.array(rows)
    b = np.ones_like(a)
    b[0] = rng.standard_normal(k)
    b[0, k // 2:] = b[0, : k // 2]
    b[3] = np.full(k, tiny if fmt.man_bits > 3 else 1.0)                               # subnormal products
    b[5, 1] = 0.0                                                                      # 0 x inf
    return a, b


def operand_rows(fmt, n, k, seed):
    rng = np.random.default_rng(seed)
    a, b = adversarial_rows(fmt, k, rng)
    with np.errstate(over="ignore"):
        ra = rng.standard_normal((n, k)) * 2.0 ** rng.integers(-6, 6, (n, 1))
        rb = rng.standard_normal((n, k))
    a, b = np.vstack([a, ra]), np.vstack([b, rb])
    return bitsim.encode(a, fmt), bitsim.encode(b, fmt)


def assert_dot_matches_ref(unit, A, B, c=None):
    got = dot(A, B, unit, c)
    for i in range(A.shape[0]):
        want = R.dot(A[i], B[i], unit.a, unit.b, unit.acc, unit.out, unit.out_rounding,
                     c=None if c is None else int(c[i]), fc=unit.c)
        assert int(got[i]) == want, (i, unit, hex(int(got[i])), hex(want))


@pytest.mark.parametrize("fin", ["e4m3", "e5m2", "fp16", "bf16"])
@pytest.mark.parametrize("acc_name,mode", [("fp16", "rne"), ("fp32", "rtz"), ("bf16", "rup"), ("fp16", "rdn")])
def test_float_accumulator(fin, acc_name, mode):
    A, B = operand_rows(F[fin], 12, 24, seed=len(fin) + len(mode))
    unit = DotUnit(fin, fin, FloatAcc(F[acc_name], mode), acc_name, out_rounding=mode)
    assert_dot_matches_ref(unit, A, B)


@pytest.mark.parametrize("fin", ["e4m3", "e5m2", "fp16"])
def test_chunked_accumulator_and_addend(fin):
    A, B = operand_rows(F[fin], 10, 40, seed=3)
    unit = DotUnit(fin, fin, ChunkedAcc(8, FloatAcc(F["fp16"]), FloatAcc(F["fp32"], "rtz")), "fp16", c="fp32")
    c = bitsim.encode(np.random.default_rng(4).standard_normal(A.shape[0]) * 100, "fp32")
    assert_dot_matches_ref(unit, A, B, c)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 7, 8, 13, 24, 64])
@pytest.mark.parametrize("fin,acc_name,mode", [("e4m3", "fp16", "rne"), ("fp16", "bf16", "rtz"), ("e5m2", "fp16", "rdn")])
def test_pairwise_tree_matches_ref(k, fin, acc_name, mode):
    """Every tree shape up to 2**6 leaves (odd carries, complete and ragged levels), with and without c."""
    A, B = operand_rows(F[fin], 6, max(k + k % 2, 8), seed=k)
    A, B = np.ascontiguousarray(A[:, :k]), np.ascontiguousarray(B[:, :k])
    unit = DotUnit(fin, fin, FloatAcc(F[acc_name], mode, order="pairwise"), acc_name, out_rounding=mode)
    assert_dot_matches_ref(unit, A, B)
    with_c = DotUnit(fin, fin, FloatAcc(F[acc_name], mode, order="pairwise"), "fp32", c="fp16")
    c = bitsim.encode(np.random.default_rng(k).standard_normal(A.shape[0]) * 8, "fp16")
    c[0] = 0x8000                                                        # -0 addend
    assert_dot_matches_ref(with_c, A, B, c)


@pytest.mark.parametrize("inner_order,outer_order", [("pairwise", "sequential"), ("sequential", "pairwise"),
                                                     ("pairwise", "pairwise")])
def test_chunked_and_split_k_with_a_pairwise_part_match_ref(inner_order, outer_order):
    """Two stages of units (chunk sums exact in the inner format, then the sums through the outer model):
    ragged last chunks, one-product chunks, adversarial rows, with and without c, dot and matmul."""
    A, B = operand_rows(F["e5m2"], 6, 22, seed=61)
    inner, outer = FloatAcc("fp16", "rtz", order=inner_order), FloatAcc("bf16", "rne", order=outer_order)
    c = bitsim.encode(np.random.default_rng(62).standard_normal(A.shape[0]), "fp32")
    for acc in (ChunkedAcc(5, inner, outer), ChunkedAcc(1, inner, outer), SplitKAcc(3, inner, outer)):
        unit = DotUnit("e5m2", "e5m2", acc, "fp32", c="fp32")
        assert_dot_matches_ref(unit, A, B, c)
        assert_dot_matches_ref(unit, A, B)
        D = matmul(A[:3], np.ascontiguousarray(B[:4].T), unit)
        for i in range(3):
            for j in range(4):
                assert int(D[i, j]) == R.dot(A[i], B[j], unit.a, unit.b, unit.acc, unit.out), (acc, i, j)


def test_split_k_matches_ref_and_equals_its_chunking():
    A, B = operand_rows(F["e4m3"], 8, 40, seed=11)
    inner, outer = FloatAcc(F["fp16"], "rtz"), FloatAcc(F["fp32"])
    for splits in (1, 3, 7, 40, 64):                                     # 64 > K: one product per slice
        unit = DotUnit("e4m3", "e4m3", SplitKAcc(splits, inner, outer), "fp16")
        assert_dot_matches_ref(unit, A, B)
        chunked = DotUnit("e4m3", "e4m3", ChunkedAcc(-(-40 // splits), inner, outer), "fp16")
        assert np.array_equal(dot(A, B, unit), dot(A, B, chunked))


@pytest.mark.parametrize("fin", ["e4m3", "e5m2", "fp16"])
@pytest.mark.parametrize("out,mode", [("fp32", "rne"), ("fp16", "rtz"), ("bf16", "rna")])
def test_kulisch_is_exact_then_one_rounding(fin, out, mode):
    A, B = operand_rows(F[fin], 10, 32, seed=5)
    unit = DotUnit(fin, fin, KulischAcc(), out, out_rounding=mode, c="fp16")
    c = bitsim.encode(np.random.default_rng(6).standard_normal(A.shape[0]), "fp16")
    assert_dot_matches_ref(unit, A, B, c)


@pytest.mark.parametrize("acc_name,modes", [("fp16", ("rne", "rna", "rtz", "rup", "rdn", "rto")),
                                            ("e5m2", ("rne", "rtz", "rdn")), ("e4m3", ("rne", "rup"))])
def test_float_accumulator_on_the_integer_grid_matches_ref(acc_name, modes):
    """The int64-grid path of sequential FloatAcc (FP8 products into FP16 / FP8 sums): every mode,
    overflow to inf / saturation / NaN, signed zeros (a -0 addend, cancellations), rows with NaN."""
    A, B = operand_rows(F["e4m3"], 10, 24, seed=31)
    A[-1, :4], B[-1, :4] = 0x80, 0x00                                  # -0 x +0 products first
    c = bitsim.encode(np.random.default_rng(32).standard_normal(A.shape[0]), acc_name)
    c[1], c[-1] = (0x8000 if acc_name == "fp16" else 0x80), (0x8000 if acc_name == "fp16" else 0x80)
    for mode in modes:
        unit = DotUnit("e4m3", "e4m3", FloatAcc(bitsim.format(acc_name), mode), "fp32", c=acc_name)
        assert float_acc_plan(unit, unit.acc) is not None
        assert_dot_matches_ref(unit, A, B, c)
        assert_dot_matches_ref(unit, A, B)
        rows, cols = [0, 1, 4, 7, 9], [0, 1, 2, 3, 4, 9, 8, 5, 6]        # 4 columns at a time, edges, NaN rows
        C = np.add.outer(c[rows], c[cols] & 0).astype(c.dtype)           # c of row i in every column
        D = matmul(A[rows], np.ascontiguousarray(B[cols].T), unit, C)
        for r, i in enumerate(rows):
            for q, j in enumerate(cols):
                assert int(D[r, q]) == R.dot(A[i], B[j], unit.a, unit.b, unit.acc, unit.out, c=int(C[r, q]),
                                             fc=unit.c), (mode, i, j)


def float_acc_adversarial_gemm(N, seed=41):
    """(A (7, 6) e4m3, B (6, N) e4m3, C (7, N) fp16) for an e4m3 -> FloatAcc(fp16) GEMM (N >= 10): rows of
    all -0 and all +0, a row that cancels exactly against columns 0-3, a row whose sum overflows and one
    that overflows then comes back, a NaN row and a NaN column (9), and -0, +0, +inf addends."""
    rng = np.random.default_rng(seed)
    K = 6
    A = bitsim.encode(rng.standard_normal((7, K)), "e4m3")
    B = bitsim.encode(rng.standard_normal((K, N)), "e4m3")
    A[1], A[2] = 0x80, 0x00                                             # all -0, all +0
    A[3] = bitsim.encode(np.array([1.5, -1.5, 3.0, -3.0, 0.25, -0.25]), "e4m3")
    B[:, :4] = bitsim.encode(np.ones(K), "e4m3")[:, None]               # row 3 cancels exactly there
    A[4] = bitsim.encode(np.full(K, 448.0), "e4m3")                     # 448 * 448 * 6 > fp16 max
    A[5] = bitsim.encode(np.array([448.0, 448.0, -448.0, -448.0, 1.0, 1.0]), "e4m3")
    A[6, 2] = 0x7F                                                      # NaN row
    B[3, 9] = 0xFF                                                      # NaN column
    C = bitsim.encode(rng.standard_normal((7, N)), "fp16")
    C[:, 0], C[:, 1], C[:, 2] = 0x8000, 0x0000, 0x7C00                  # -0, +0, +inf addends
    return A, B, C


def test_float_accumulator_column_tiles_match_ref():
    """The GEMM lanes of the int64-grid path (``float_acc_gemm``: COLUMN_TILE chains at a time, lean
    steps): every mode, a partial second tile, all -0 / all +0 rows with -0 / +0 addends, exact
    cancellation, a sum that overflows and one that overflows then comes back, NaN rows and columns, inf
    and -0 addends, against the reference output by output."""
    from bitsim.kernels.float_acc_fast import COLUMN_TILE, lanes_exact
    N = COLUMN_TILE + 3
    A, B, C = float_acc_adversarial_gemm(N)
    cols = [0, 1, 2, 3, 4, 9, 100, COLUMN_TILE - 1, COLUMN_TILE, N - 1]   # the reference is slow: these
    rows_a, rows_b = np.repeat(A, N, axis=0), np.tile(B.T, (A.shape[0], 1))
    for mode in ("rne", "rna", "rtz", "rup", "rdn", "rto"):
        unit = DotUnit("e4m3", "e4m3", FloatAcc("fp16", mode), "fp16")
        assert lanes_exact(unit, unit.acc)
        for addend in (C, None):
            D = matmul(A, B, unit, addend)
            for i in range(A.shape[0]):
                for j in cols:
                    c = None if addend is None else int(addend[i, j])
                    assert int(D[i, j]) == R.dot(A[i], B[:, j], unit.a, unit.b, unit.acc, unit.out, c=c,
                                                 fc=unit.c), (mode, i, j, c)
            c = None if addend is None else addend.reshape(-1)          # every output: the row-wise path
            assert np.array_equal(D.reshape(-1), dot(rows_a, rows_b, unit, c)), mode


def sequential_flags_by_ops(a_row, b_row, c, unit):
    """A sequential FloatAcc's (code, flags) stepped by hand through ``bitsim.ops``: c converted to the
    accumulator, one fma per product, one conversion to ``out``; the flags ORed."""
    acc, fa, fb = unit.acc, unit.a, unit.b
    s, flags = np.array([0], acc.fmt.code_dtype), 0
    if c is not None:
        s, f = bitsim.ops.convert(np.array([c], unit.c.code_dtype), unit.c, acc.fmt, acc.rounding)
        flags |= int(f[0])
    for x, y in zip(a_row, b_row):
        s, f = bitsim.ops.fma(np.array([x]), np.array([y]), s, acc.fmt, acc.rounding, in_formats=(fa, fb, acc.fmt))
        flags |= int(f[0])
    d, f = bitsim.ops.convert(s, acc.fmt, unit.out, unit.out_rounding)
    return int(d[0]), flags | int(f[0])


@pytest.mark.parametrize("acc_name", ["fp16", "e5m2", "fp32"])       # grid lanes / grid chains / generic
@pytest.mark.parametrize("mode", ["rne", "rtz"])
def test_dot_and_matmul_flags_are_the_or_of_every_rounding(acc_name, mode):
    A = bitsim.encode(np.random.default_rng(51).standard_normal((5, 6)), "e4m3")
    B = bitsim.encode(np.random.default_rng(52).standard_normal((6, 4)), "e4m3")
    A[1] = bitsim.encode(np.full(6, 448.0), "e4m3")                       # overflows fp16 and e5m2
    A[2] = bitsim.encode(np.full(6, 0.5), "e4m3")                         # exact sums
    B[:, 0], B[:, 1] = bitsim.encode(np.ones(6), "e4m3"), bitsim.encode(np.full(6, 448.0), "e4m3")
    A[3, 1] = 0x7F                                                        # a NaN row
    unit = DotUnit("e4m3", "e4m3", FloatAcc(acc_name, mode), "fp16")
    C = bitsim.encode(np.random.default_rng(53).standard_normal((5, 4)), "fp16")
    for addend in (None, C):
        D, flags = matmul(A, B, unit, addend, return_flags=True)
        rows_d, rows_f = dot(np.repeat(A, 4, axis=0), np.tile(B.T, (5, 1)), unit,
                             None if addend is None else addend.reshape(-1), return_flags=True)
        assert np.array_equal(rows_d, D.reshape(-1)) and np.array_equal(rows_f, flags.reshape(-1))
        for i in range(5):
            for j in range(4):
                c = None if addend is None else int(addend[i, j])
                assert (int(D[i, j]), int(flags[i, j])) == sequential_flags_by_ops(A[i], B[:, j], c, unit), (i, j)
        if addend is None:
            assert flags[2, 0] == 0 and flags[1, 1] & 4                   # an exact output, an overflowing one
    with pytest.raises(ValueError, match="return_flags"):
        matmul(A, B, "nvidia_h100_e4m3_fp32", return_flags=True)


@pytest.mark.parametrize("fb", ["e4m3", "e5m2"])                     # float64-exact / int64 register paths
def test_kulisch_flags_are_those_of_the_one_rounding(fb):
    A = bitsim.encode(np.random.default_rng(54).standard_normal((6, 16)), "e4m3")
    B = bitsim.encode(np.random.default_rng(55).standard_normal((16, 5)), fb)
    A[0] = bitsim.encode(np.full(16, 0.5), "e4m3")
    unit = DotUnit("e4m3", fb, KulischAcc(), "fp16")
    D, flags = matmul(A, B, unit, return_flags=True)
    exact = bitsim.decode(A, "e4m3") @ bitsim.decode(B, fb)               # exact in float64 at this size
    single, f = bitsim.ops.convert(bitsim.encode(exact, "fp64"), "fp64", "fp16")
    assert np.array_equal(D, single) and np.array_equal(flags, f)


@pytest.mark.parametrize("fb,float_exact", [("e4m3", True), ("e5m2", False)])
def test_register_fast_paths_match_ref(fb, float_exact):
    """The int64 register path: exact float64 BLAS sums (e4m3 x e4m3) and the int64 loop (e4m3 x e5m2,
    sums beyond 2**53), rows with inf/NaN on the generic path, against the reference."""
    A, _ = operand_rows(F["e4m3"], 12, 32, seed=21)
    _, B = operand_rows(F[fb], 12, 32, seed=22)
    unit = DotUnit("e4m3", fb, KulischAcc(), "fp32", c="fp16")
    frac, width = unit.register(32)
    plan = register_plan(unit, 32, frac, width, True)
    assert plan is not None and plan[-1] == float_exact
    c = bitsim.encode(np.random.default_rng(23).standard_normal(A.shape[0]), "fp16")
    assert_dot_matches_ref(unit, A, B, c)
    D = matmul(A[:6], np.ascontiguousarray(B[:5].T), unit)
    for i in range(6):
        for j in range(5):
            assert int(D[i, j]) == R.dot(A[i], B[j], unit.a, unit.b, unit.acc, unit.out)


@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
def test_integer_accumulator_int8_int32(overflow):
    rng = np.random.default_rng(7)
    A = bitsim.encode(rng.integers(-128, 128, (20, 64)).astype(np.float64), INT8)
    B = bitsim.encode(rng.integers(-128, 128, (20, 64)).astype(np.float64), INT8)
    A[0], B[0] = bitsim.encode(np.full(64, 127.0), INT8), bitsim.encode(np.full(64, 127.0), INT8)
    out = bitsim.FixedFormat(16, 0, overflow="wrap")
    unit = DotUnit(INT8, INT8, IntAcc(16, overflow), out)            # a 16-bit register overflows on row 0
    assert_dot_matches_ref(unit, A, B)
    wide = DotUnit(INT8, INT8, IntAcc(32), bitsim.FixedFormat(32, 0))
    exact = (bitsim.decode(A, INT8) * bitsim.decode(B, INT8)).sum(axis=1)
    assert np.array_equal(bitsim.decode(dot(A, B, wide), bitsim.FixedFormat(32, 0)), exact)


def test_kulisch_register_overflow_raises_wraps_saturates():
    A = bitsim.encode(np.full((2, 8), 448.0), "e4m3")
    for overflow in ("wrap", "saturate"):
        unit = DotUnit("e4m3", "e4m3", KulischAcc(width=36, overflow=overflow), "fp32")
        assert_dot_matches_ref(unit, A, A)
    with pytest.raises(AccumulatorOverflow):
        dot(A, A, DotUnit("e4m3", "e4m3", KulischAcc(width=36), "fp32"))


def test_matmul_is_dot_over_rows_and_columns():
    rng = np.random.default_rng(8)
    A = bitsim.encode(rng.standard_normal((6, 20)), "e5m2")
    B = bitsim.encode(rng.standard_normal((20, 5)), "e5m2")
    C = bitsim.encode(rng.standard_normal((6, 5)), "fp16")
    unit = DotUnit("e5m2", "e5m2", FloatAcc(F["fp16"]), "fp16")
    D = matmul(A, B, unit, C)
    for i in range(6):
        cols = dot(np.repeat(A[i:i + 1], 5, axis=0), np.ascontiguousarray(B.T), unit, C[i])
        assert np.array_equal(D[i], cols)


def test_tensor_core_presets_through_dot_and_matmul():
    rng = np.random.default_rng(9)
    unit = PRESETS["nvidia_h100_fp16_fp32"]
    A = bitsim.encode(rng.standard_normal((4, 32)), "fp16")
    B = bitsim.encode(rng.standard_normal((32, 3)), "fp16")
    D = matmul(A, B, "nvidia_h100_fp16_fp32")
    rows = fused_dot(np.repeat(A, 3, axis=0), np.tile(B.T, (4, 1)), np.zeros(12, np.uint32), "fp16", unit.acc,
                     instruction_k=unit.instruction_k)
    assert np.array_equal(D.reshape(-1), rows)


def test_fused_accumulator_inside_a_dot_unit():
    """DotUnit(acc=FusedAcc) chains groups like the preset whose instruction is one group; c enters the
    first group; mismatched formats are refused."""
    rng = np.random.default_rng(10)
    A = bitsim.encode(rng.standard_normal((3, 40)), "e4m3")
    B = bitsim.encode(rng.standard_normal((40, 5)), "e4m3")
    C = bitsim.encode(rng.standard_normal((3, 5)), "fp32")
    for name in ("nvidia_h100_e4m3_fp32", "nvidia_ada_e4m3_fp16"):
        preset = PRESETS[name]
        unit = DotUnit("e4m3", "e4m3", preset.acc, preset.out)
        want = fused_dot(np.repeat(A, 5, axis=0), np.tile(B.T, (3, 1)), np.zeros(15, np.int64), "e4m3", preset.acc)
        assert np.array_equal(matmul(A, B, unit).reshape(-1), want)
        if preset.acc.group == preset.instruction_k:
            assert np.array_equal(matmul(A, B, unit, C if preset.out.bits == 32 else None),
                                  matmul(A, B, preset, C if preset.out.bits == 32 else None))
    acc = PRESETS["nvidia_h100_e4m3_fp32"].acc
    with pytest.raises(ValueError, match="one float format"):
        DotUnit("e4m3", "e5m2", acc, "fp32")
    with pytest.raises(ValueError, match="must be the FusedAcc's out"):
        DotUnit("e4m3", "e4m3", acc, "fp16")


def test_bad_input():
    unit = DotUnit("e4m3", "e4m3", FloatAcc(F["fp16"]), "fp16")
    a = np.zeros((2, 4), np.uint8)
    with pytest.raises(ValueError, match="same shape"):
        dot(a, np.zeros((2, 5), np.uint8), unit)
    with pytest.raises(ValueError, match="A's columns"):
        matmul(a, np.zeros((3, 2), np.uint8), unit)
    with pytest.raises(TypeError, match="dtype"):
        dot(a.astype(np.uint16), a, unit)
    with pytest.raises(ValueError, match="shape"):
        dot(a, a, unit, np.zeros(3, np.uint16))
    with pytest.raises(TypeError, match="DotUnit.acc"):
        DotUnit("e4m3", "e4m3", "fp16", "fp16")
    with pytest.raises(ValueError, match="IntAcc takes fixed-point"):
        DotUnit("e4m3", "e4m3", IntAcc(32), "fp32")
    with pytest.raises(ValueError, match="register is needed"):
        dot(np.zeros((1, 4), np.uint16), np.zeros((1, 4), np.uint16), DotUnit("bf16", "bf16", KulischAcc(), "fp32"))
    with pytest.raises(ValueError, match="takes float operands"):
        dot(a, a, DotUnit(INT8, INT8, FloatAcc(F["fp32"], order="pairwise"), "fp32"))
    with pytest.raises(ValueError, match="SplitKAcc.splits must be a positive int"):
        SplitKAcc(0, FloatAcc(F["fp16"]), FloatAcc(F["fp32"]))
    with pytest.raises(ValueError, match="quantum"):
        dot(bitsim.encode(np.full((1, 2), 2.0 ** -9), "e4m3"), bitsim.encode(np.ones((1, 2)), "e4m3"),
            DotUnit("e4m3", "e4m3", KulischAcc(frac_bits=4, width=40), "fp32"))
    with pytest.raises(ValueError, match="unknown unit"):
        dot(a, a, "nvidia_q100_fp16_fp32")


def test_seed_presets():
    rng = np.random.default_rng(10)
    wang = bitsim.unit("wang_fp8")
    A = bitsim.encode(rng.standard_normal((3, 130)), "fp8_wang")
    B = bitsim.encode(rng.standard_normal((3, 130)), "fp8_wang")
    w16 = bitsim.format("fp16_wang")                                 # (1,6,9), Wang et al.'s accumulator
    assert (w16.exp_bits, w16.man_bits) == (6, 9) and wang.acc == ChunkedAcc(64, FloatAcc(w16), FloatAcc(w16))
    assert_dot_matches_ref(wang, A, B)
    i8 = bitsim.unit("int8_int32")
    X = bitsim.encode(rng.integers(-128, 128, (3, 50)).astype(np.float64), "int8")
    assert np.array_equal(bitsim.decode(bitsim.dot(X, X, "int8_int32"), i8.out),
                          (bitsim.decode(X, "int8") ** 2).sum(axis=1))
    assert bitsim.unit("fp32_seq").acc == FloatAcc(F["fp32"])
    with pytest.raises(ValueError, match="fp32_seq"):
        bitsim.unit("fp32_sequential")
