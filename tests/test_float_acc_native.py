"""The native-binary64 path of sequential and chunked FloatAcc units (bitsim.kernels.float_acc_native)
against the generic per-product kernel, the exact reference and hand-stepped ``bitsim.ops``."""

import importlib

import numpy as np
from hypothesis import assume, given, settings, strategies as st
import pytest

import bitsim
from bitsim.accum import ChunkedAcc, DotUnit, FloatAcc, SplitKAcc, dot, matmul
from bitsim.kernels import dot_cpu
from bitsim.kernels.float_acc_native import COLUMN_TILE, native_plan
from bitsim.ref import accum as R
from bitsim.rounding import mode_code
from test_dot import adversarial_rows, sequential_flags_by_ops

unit_module = importlib.import_module("bitsim.accum.unit")
MODES = ("rne", "rna", "rtz", "rup", "rdn", "rto")


def generic(A, BT, unit, c=None, rowwise=False):
    """(codes, flags) of every output from the generic per-product kernel (``dot_cpu.dot_array``)."""
    model = unit_module._kernel_model(unit, A.shape[1], c is not None)
    args = (unit.a.params, unit.b.params, unit.c.params, *model, unit.out.params, mode_code(unit.out_rounding))
    n = A.shape[0] if rowwise else A.shape[0] * BT.shape[0]
    code, flags, status = np.empty(n, np.uint64), np.empty(n, np.uint8), np.zeros(n, np.uint8)
    C = np.zeros(1, np.uint64) if c is None else c.reshape(-1).astype(np.uint64)
    dot_cpu.dot_array(A.astype(np.uint64), BT.astype(np.uint64), rowwise, C, c is not None, *args, code, flags,
                      status)
    return code.astype(unit.out.code_dtype), flags


def operands(fmt, M, K, N, seed):
    """A (M, K), B (K, N) codes of ``fmt``: adversarial rows (cancellation, swamping, exponent spread,
    subnormals, overflow, inf / NaN) and their mirror columns, random rows of mixed scale, zeros of both
    signs."""
    rng = np.random.default_rng(seed)
    a, b = adversarial_rows(fmt, K, rng)
    with np.errstate(over="ignore"):
        ra = rng.standard_normal((M - len(a), K)) * 2.0 ** rng.integers(-8, 8, (M - len(a), 1))
        rb = rng.standard_normal((K, N)) * 2.0 ** rng.integers(-4, 4, (1, N))
    A = bitsim.encode(np.vstack([a, ra]), fmt)
    B = bitsim.encode(rb, fmt)
    B[:, : len(b)] = bitsim.encode(b.T, fmt)
    A[-1, ::3] = A[-1, ::3] | np.array(1 << (fmt.bits - 1), A.dtype)  # sign flips, -0 among them
    A[-2] = 0
    return A, B


def addends(fmt, M, N, seed):
    """C (M, N) codes of ``fmt``, with -0, +0, +inf and NaN columns."""
    C = bitsim.encode(np.random.default_rng(seed).standard_normal((M, N)) * 16, fmt)
    C[:, 0] = 1 << (fmt.bits - 1)
    C[:, 1] = 0
    C[:, 2] = bitsim.encode(np.array([np.inf]), fmt)[0]
    C[:, 3] = bitsim.encode(np.array([np.nan]), fmt)[0]
    return C


UNITS = [
    ("fp32_seq", None),
    ("wang_fp8", None),
    (DotUnit("bf16", "bf16", FloatAcc("fp32"), "bf16"), "fp32"),
    (DotUnit("fp16", "fp16", FloatAcc("fp16"), "fp16"), "fp16"),
    (DotUnit("e5m2", "e5m2", FloatAcc("bf16"), "fp32", c="fp32"), "fp32"),
    (DotUnit("fp16", "fp16", ChunkedAcc(16, FloatAcc("fp16_wang"), FloatAcc("fp32")), "fp32"), "fp32"),
    (DotUnit("bf16", "bf16", SplitKAcc(3, FloatAcc("fp32"), FloatAcc("fp32")), "bf16", c="fp32"), "fp32"),
]


def with_mode(unit, mode):
    """``unit`` with every accumulator rounding and the output rounding set to ``mode``."""
    def acc(a):
        if isinstance(a, FloatAcc):
            return FloatAcc(a.fmt, mode)
        return type(a)(a.chunk if isinstance(a, ChunkedAcc) else a.splits, acc(a.inner), acc(a.outer))
    return DotUnit(unit.a, unit.b, acc(unit.acc), unit.out, mode, c=unit.c)


@pytest.mark.parametrize("name,c_fmt", UNITS, ids=lambda u: getattr(u, "name", None) or str(u)[:20])
@pytest.mark.parametrize("mode", MODES)
def test_gemm_and_rows_match_the_generic_kernel(name, c_fmt, mode):
    """Every output's code and flags, GEMM (two column tiles, the second partial; and a narrow B, whose
    lanes run along A's rows) and row-wise, with and without an addend (-0, +0, inf, NaN among them)."""
    unit = with_mode(bitsim.unit(name) if isinstance(name, str) else name, mode)
    K = 70                                                   # chunks of 64 / 16 / split 3 close mid-row
    assert native_plan(unit, K) is not None
    A, B = operands(unit.a, 12, K, COLUMN_TILE + 5, seed=len(mode))
    BT = np.ascontiguousarray(B.T)
    for C in (None, addends(unit.c, A.shape[0], B.shape[1], seed=3)):
        for cols in (slice(None), slice(0, 5)):             # lanes along B's columns; along A's rows (swap)
            Bc, Cc = np.ascontiguousarray(B[:, cols]), None if C is None else np.ascontiguousarray(C[:, cols])
            D, F = matmul(A, Bc, unit, Cc, return_flags=True)
            want, want_f = generic(A, np.ascontiguousarray(Bc.T), unit, Cc)
            assert np.array_equal(D.reshape(-1), want), (mode, np.flatnonzero(D.reshape(-1) != want)[:5])
            assert np.array_equal(F.reshape(-1), want_f), (mode, np.flatnonzero(F.reshape(-1) != want_f)[:5])
        rows_a, rows_b = np.repeat(A, 9, axis=0), np.tile(BT[:9], (A.shape[0], 1))
        c = None if C is None else C[:, :9].reshape(-1)
        d, f = dot(rows_a, rows_b, unit, c, return_flags=True)
        want, want_f = generic(rows_a, rows_b, unit, c, rowwise=True)
        assert np.array_equal(d, want) and np.array_equal(f, want_f), mode


@pytest.mark.parametrize("mode", ["rne", "rdn", "rto"])
def test_outputs_match_the_reference_and_hand_stepped_ops(mode):
    """A few outputs of binary32 and chunked fp16_wang units against ``bitsim.ref`` and, for the flags, an
    fma per product through ``bitsim.ops``."""
    for unit in (DotUnit("fp32", "fp32", FloatAcc("fp32", mode), "fp32"),
                 with_mode(bitsim.unit("wang_fp8"), mode)):
        A, B = operands(unit.a, 10, 20, 8, seed=7)
        D, F = matmul(A, B, unit, return_flags=True)
        for i in range(A.shape[0]):
            for j in range(B.shape[1]):
                want = R.dot(A[i], B[:, j], unit.a, unit.b, unit.acc, unit.out, unit.out_rounding)
                assert int(D[i, j]) == want, (unit.acc, i, j)
                if isinstance(unit.acc, FloatAcc):
                    assert (int(D[i, j]), int(F[i, j])) == sequential_flags_by_ops(A[i], B[:, j], None, unit)


@pytest.mark.parametrize("acc_name", ["bf16", "fp32"])
def test_every_e4m3_pair_after_every_kind_of_start(acc_name):
    """All 2**16 e4m3 products into bf16 / fp32 sums that start at a large, a small, a tiny (subnormal) and
    a zero addend of both signs: row-wise dots of length 1, every mode."""
    codes = np.arange(256, dtype=np.uint8)
    a, b = np.repeat(codes, 256)[:, None], np.tile(codes, 256)[:, None]
    fmt = bitsim.format(acc_name)
    starts = bitsim.encode(np.array([3.0e4, -1.5, float(fmt.smallest) * 3, 0.0, -0.0]), fmt)
    for mode in MODES:
        unit = DotUnit("e4m3", "e4m3", FloatAcc(acc_name, mode), acc_name, mode)
        assert native_plan(unit, 1) is not None
        for start in starts:
            c = np.full(a.shape[0], start, fmt.code_dtype)
            d, f = dot(a, b, unit, c, return_flags=True)
            want, want_f = generic(a, b, unit, c, rowwise=True)
            assert np.array_equal(d, want) and np.array_equal(f, want_f), (mode, hex(int(start)))


def test_where_the_path_does_not_apply():
    """Pairwise sums, fixed-point operands, formats without -0 or subnormals, and products that binary64
    cannot hold exactly go elsewhere."""
    fp32 = bitsim.format("fp32")
    assert native_plan(DotUnit("fp32", "fp32", FloatAcc(fp32, order="pairwise"), "fp32"), 8) is None
    assert native_plan(DotUnit("int8", "int8", FloatAcc(fp32), "fp32"), 8) is None
    assert native_plan(DotUnit("fp32", "fp32", FloatAcc("e4m3fnuz"), "fp32"), 8) is None
    no_subnormals = bitsim.FloatFormat(8, 7, subnormals=False)
    assert native_plan(DotUnit("bf16", "bf16", FloatAcc(no_subnormals), "fp32"), 8) is None
    assert native_plan(DotUnit("fp64", "fp32", FloatAcc(fp32), "fp32"), 8) is None
    assert native_plan(DotUnit("fp32", "fp32", FloatAcc("fp64"), "fp32"), 8) is None


@settings(max_examples=40)
@given(acc_exp=st.integers(5, 9), acc_man=st.integers(2, 26), op=st.sampled_from(["e4m3", "e5m2", "fp16", "bf16"]),
       mode=st.sampled_from(MODES), chunk=st.sampled_from([0, 3, 8]), seed=st.integers(0, 2 ** 16))
def test_random_accumulator_formats_match_the_generic_kernel(acc_exp, acc_man, op, mode, chunk, seed):
    """Accumulators of any exponent and fraction width (their subnormals, overflow to inf and tiny sums
    included) over FP8 / 16-bit products: plain and chunked sums, every mode, against the generic kernel."""
    fmt = bitsim.FloatFormat(acc_exp, acc_man)
    acc = FloatAcc(fmt, mode) if chunk == 0 else ChunkedAcc(chunk, FloatAcc(fmt, mode), FloatAcc("fp32", mode))
    unit = DotUnit(op, op, acc, fmt, mode)
    assume(native_plan(unit, 12) is not None)
    rng = np.random.default_rng(seed)
    scale = 2.0 ** rng.integers(-12, 12, (6, 1))
    A = bitsim.encode(rng.standard_normal((6, 12)) * scale, op)
    B = bitsim.encode(rng.standard_normal((12, 9)), op)
    C = bitsim.encode(rng.standard_normal((6, 9)) * scale, fmt)
    for addend in (None, C):
        D, F = matmul(A, B, unit, addend, return_flags=True)
        want, want_f = generic(A, np.ascontiguousarray(B.T), unit, addend)
        assert np.array_equal(D.reshape(-1), want) and np.array_equal(F.reshape(-1), want_f)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, width=32), st.floats(allow_nan=False, allow_infinity=False,
                                                                              width=32),
       st.sampled_from(MODES), st.sampled_from(["fp32", "bf16", "fp16_wang", "fp16"]))
def test_core_step_plain_python_equals_compiled(s, p, mode, acc_name):
    """``bitsim.core.native``'s plain-Python functions (what Numba's CUDA simulator runs, with NumPy views
    for the bit casts) against their CPU compilation (LLVM bitcasts): the step on sums and products of
    float32 values (tiny, huge, signed zeros), and the start and finish conversions around it."""
    from bitsim.core import build, native
    from bitsim.kernels.float_acc_native import _step_constants
    compiled = build("cpu")
    acc = FloatAcc(acc_name, mode)
    consts = _step_constants(acc)
    s64, p64 = np.float64(s), np.float64(s) * np.float64(p) if abs(s * p) < 1e30 else np.float64(p)
    with np.errstate(all="ignore"):
        plain = native.native_step(s64, p64, *consts)
    got = compiled.native_step(s64, p64, *consts)
    assert (np.float64(plain[0]).view(np.int64), bool(plain[1]), bool(plain[2])) == \
        (np.float64(got[0]).view(np.int64), bool(got[1]), bool(got[2]))
    fmt, p_acc = acc.fmt, acc.fmt.params
    code = int(bitsim.encode(np.array([s]), fmt, mode)[0])
    for use_c in (False, True):
        start = native.native_start(np.uint64(code), use_c, p_acc, p_acc, mode_code(mode))
        assert [np.float64(x).view(np.int64) if i == 0 else int(x) for i, x in enumerate(start)] == \
            [np.float64(x).view(np.int64) if i == 0 else int(x) for i, x in
             enumerate(compiled.native_start(np.uint64(code), use_c, p_acc, p_acc, mode_code(mode)))]
        if not start[2]:
            po = bitsim.format("e4m3").params
            assert tuple(map(int, native.native_finish(start[0], p_acc, po, mode_code(mode)))) == \
                tuple(map(int, compiled.native_finish(start[0], p_acc, po, mode_code(mode))))
