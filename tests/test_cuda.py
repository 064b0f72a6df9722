"""CUDA backend: every kernel against the CPU kernels, code word for code word.

In CI these run on Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set in conftest before numba is
imported), which executes the kernels' Python source thread by thread: the inputs stay tiny. On a
machine with a GPU (``NUMBA_ENABLE_CUDASIM=0 pytest tests/test_cuda.py``) the same tests run the
compiled kernels, and ``tests/long/verify_cuda.py`` checks parity on large inputs.
"""

import ast
from pathlib import Path

import numpy as np
import pytest
from numba import config, cuda

import bitsim
from bitsim.accum import AccumulatorOverflow, ChunkedAcc, DotUnit, FloatAcc, IntAcc, KulischAcc, SplitKAcc
from bitsim.blocks.catalog import lookup_block
from bitsim.kernels import cuda as G, cuda_ptx, fused_cuda
from test_dot import adversarial_rows, float_acc_adversarial_gemm

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")   # simulator: numpy wraps

NATIVE_GEMM = __import__("bitsim.kernels.cuda_run", fromlist=["native_gemm"]).native_gemm
REGISTER_GEMM = __import__("bitsim.kernels.cuda_run", fromlist=["register_gemm"]).register_gemm
F = {n: bitsim.format(n) for n in ("e4m3", "e5m2", "fp16", "bf16", "fp32", "e2m1")}
MODES = ("rne", "rna", "rtz", "rup", "rdn", "rto", "sr")


def host(x):
    """A result as a NumPy array (device results are copied back)."""
    return x.copy_to_host() if bitsim.backend.is_device_array(x) else x


def boundary_values(fmt, n=24, seed=0):
    """float64 values around fmt's edges: specials, +-0, subnormals, max, ties, plus a few randoms."""
    tiny, top = float(fmt.smallest), float(fmt.max)
    edge = [np.nan, np.inf, -np.inf, 0.0, -0.0, tiny, -tiny / 2, tiny * 1.5, top, -top, top * 1.0625, 1.0,
            1.0 + 2.0 ** -(fmt.man_bits + 1), -(1.0 + 3 * 2.0 ** -(fmt.man_bits + 1))]
    rng = np.random.default_rng(seed)
    return np.array(edge + list(rng.standard_normal(n - len(edge)) * 4))


def sr_args(mode):
    return {"sr_bits": 10, "seed": 7, "offset": 3} if mode == "sr" else {}


@pytest.mark.parametrize("name", ["e4m3", "e5m2fnuz", "bf16", "fp8_wang", "fixed8.4"])
@pytest.mark.parametrize("mode", MODES)
def test_encode_matches_cpu(name, mode):
    fmt = bitsim.format(name)
    x = boundary_values(fmt if isinstance(fmt, bitsim.FloatFormat) else F["e4m3"])
    for src in (x.astype(np.float32), x):                              # fast path and generic convert
        want, want_flags = bitsim.encode(src, fmt, mode, return_flags=True, **sr_args(mode))
        got, got_flags = bitsim.encode(src, fmt, mode, return_flags=True, backend="cuda", **sr_args(mode))
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got_flags, want_flags)
        np.testing.assert_array_equal(bitsim.encode(src, fmt, mode, backend="cuda", **sr_args(mode)), want)


E6M5 = bitsim.FloatFormat(6, 5, bias=20, specials="fn", overflow="saturate")


@pytest.mark.parametrize("source, target", [("fp32", F["e4m3"]), ("fp16", F["e4m3"]), ("fp32", E6M5)])
def test_table_encode_matches_cpu(source, target):
    """The table kernels: e4m3's table sits in shared memory; e6m5's (128 KB) is read from global
    memory. Random bit patterns (NaN payloads, subnormals) plus boundary values."""
    from bitsim.kernels.table_encode import table_encode_plan
    rng = np.random.default_rng(11)
    dtype = np.float32 if source == "fp32" else np.float16
    bits = rng.integers(0, 2**32, 40, dtype=np.uint64).astype(np.uint32).view(dtype)
    x = np.concatenate([boundary_values(F["e4m3"]).astype(dtype), bits])
    for mode in ("rne", "rtz", "rdn", "rto"):
        assert table_encode_plan(F[source], target, bitsim.rounding.mode_code(mode)) is not None
        np.testing.assert_array_equal(host(bitsim.encode(cuda.to_device(x), target, mode)),
                                      bitsim.encode(x, target, mode))


def test_device_arrays_stay_on_the_device():
    x = boundary_values(F["e4m3"]).astype(np.float32)
    codes = bitsim.encode(cuda.to_device(x), "e4m3")
    assert bitsim.backend.is_device_array(codes)
    np.testing.assert_array_equal(host(codes), bitsim.encode(x, "e4m3"))
    values = bitsim.decode(codes, "e4m3")
    assert bitsim.backend.is_device_array(values)
    np.testing.assert_array_equal(host(values).view(np.uint64), bitsim.decode(host(codes), "e4m3").view(np.uint64))
    wide = bitsim.convert(codes, "e4m3", "fp16")
    np.testing.assert_array_equal(host(wide), bitsim.convert(host(codes), "e4m3", "fp16"))


def test_encode_and_convert_into_a_device_out():
    """``out=``: the caller's device array is filled and returned, on every kernel path (table, fast,
    generic with flags, SR)."""
    x = boundary_values(F["e4m3"]).astype(np.float32).reshape(-1, 2)
    dx = cuda.to_device(x)
    for fmt, mode, kw in (("e4m3", "rne", {}), ("bf16", "rne", {}), ("e5m2", "rtz", {"return_flags": True}),
                          ("fp16", "sr", {"sr_bits": 8, "seed": 3})):
        out = cuda.device_array(x.shape, bitsim.format(fmt).code_dtype)
        got = bitsim.encode(dx, fmt, mode, out=out, **kw)
        want = bitsim.encode(x, fmt, mode, **kw)
        if kw.get("return_flags"):
            (got, got_f), (want, want_f) = got, want
            np.testing.assert_array_equal(host(got_f), want_f)
        assert got is out
        np.testing.assert_array_equal(host(out), want)
    wide = cuda.device_array(x.shape, np.uint16)
    assert bitsim.convert(bitsim.encode(dx, "e4m3"), "e4m3", "fp16", out=wide) is wide
    np.testing.assert_array_equal(host(wide), bitsim.convert(bitsim.encode(x, "e4m3"), "e4m3", "fp16"))
    with pytest.raises(ValueError, match="out must live where the conversion runs"):
        bitsim.encode(x, "e4m3", out=cuda.device_array(x.shape, np.uint8))


def test_device_code_arrays_are_range_checked():
    with pytest.raises(ValueError, match="does not fit the 6-bit"):
        bitsim.convert(cuda.to_device(np.array([1, 64], np.uint8)), "e3m2", "fp16")
    with pytest.raises(TypeError, match="unsigned integer device array"):
        bitsim.convert(cuda.to_device(np.array([1, 2], np.int8)), "e4m3", "fp16")


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "sqrt", "fma"])
def test_ops_match_cpu(op):
    fmt = F["e4m3"]
    codes = bitsim.encode(boundary_values(fmt, 16), fmt)
    a, b, c = codes, codes[::-1].copy(), np.roll(codes, 5)
    args = {"sqrt": (a,), "fma": (a, b, c)}.get(op, (a, b))
    fn = getattr(bitsim.ops, op)
    want = fn(*args, fmt)                                   # the CPU answers narrow ops from lookup tables
    got = fn(*args, fmt, backend="cuda")
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_ops_with_stochastic_rounding_and_broadcast_match_cpu():
    fmt = F["fp16"]
    a = bitsim.encode(boundary_values(fmt, 16), fmt)
    b = bitsim.encode(np.array([3.0]), fmt)
    kw = {"in_formats": (fmt, fmt), "sr_bits": 13, "seed": 11}
    want = bitsim.ops.mul(a, b, F["e5m2"], "sr", **kw)
    got = bitsim.ops.mul(cuda.to_device(a), cuda.to_device(b), F["e5m2"], "sr", **kw)
    np.testing.assert_array_equal(host(got[0]), want[0])
    np.testing.assert_array_equal(host(got[1]), want[1])


FIXED_CASES = [  # (fa, fb, out): saturate and wrap, symmetric, 128-bit products, binary points far apart
    (bitsim.FixedFormat(8, 3), bitsim.FixedFormat(6, 1, signed=False), bitsim.FixedFormat(6, 2)),
    (bitsim.FixedFormat(64, 40), bitsim.FixedFormat(64, 50), bitsim.FixedFormat(64, 90, overflow="wrap")),
    (bitsim.FixedFormat(64, 0), bitsim.FixedFormat(64, 100), bitsim.FixedFormat(16, 2, symmetric=True)),
]


def fixed_operands(fa, fb, n=40, seed=0):
    """Codes of both formats' range ends, small integers and random words, paired up."""
    rng = np.random.default_rng(seed)

    def codes(f):
        ends = [0, 1, f.max_int, f.max_int - 1, (1 << f.bits) - 1, 1 << (f.bits - 1)]
        return np.array(ends + list(rng.integers(0, 1 << f.bits, n - len(ends), dtype=np.uint64)),
                        dtype=np.uint64).astype(f.code_dtype)
    return codes(fa), codes(fb)


@pytest.mark.parametrize("fa, fb, out", FIXED_CASES, ids=str)
@pytest.mark.parametrize("mode", ["rne", "rup", "rto", "sr"])
def test_fixed_point_ops_match_cpu(fa, fb, out, mode):
    a, b = fixed_operands(fa, fb)
    kw = {"sr_bits": 9, "seed": 5, "offset": 2} if mode == "sr" else {}
    for op in ("add", "sub", "mul"):
        fn = getattr(bitsim.fixed, op)
        want = fn(a, b, fa, fb, out, mode, **kw)
        got = fn(a, b, fa, fb, out, mode, backend="cuda", **kw)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype
            np.testing.assert_array_equal(g, w, err_msg=f"{op} {fa} {fb} -> {out} {mode}")
    for n in (-70, -3, 0, 5):
        want = bitsim.fixed.shift(a, fa, n, out, mode, **kw)
        got = bitsim.fixed.shift(a, fa, n, out, mode, backend="cuda", **kw)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w, err_msg=f"shift {n} {fa} -> {out} {mode}")


def test_fixed_point_ops_on_device_arrays_broadcast_and_stay_on_the_device():
    fa, out = bitsim.FixedFormat(8, 4), bitsim.FixedFormat(8, 2, overflow="wrap")
    a, _ = fixed_operands(fa, fa, n=12)
    scalar = np.array([0x9C], np.uint8)                            # one operand, broadcast by the kernel
    want = bitsim.fixed.mul(a.reshape(3, 4), scalar, fa, out=out, rounding="sr", sr_bits=6, seed=3)
    got = bitsim.fixed.mul(cuda.to_device(a.reshape(3, 4)), cuda.to_device(scalar), fa, out=out, rounding="sr",
                           sr_bits=6, seed=3)
    assert all(bitsim.backend.is_device_array(g) for g in got)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_array_equal(host(g), w)
    want = bitsim.fixed.requantize(a, fa, out, "rna")
    got = bitsim.fixed.requantize(cuda.to_device(a), fa, out, "rna")
    for g, w in zip(got, want):
        np.testing.assert_array_equal(host(g), w)
    with pytest.raises(ValueError, match="must have the result's shape"):
        bitsim.fixed.add(cuda.to_device(a.reshape(3, 4)), cuda.to_device(a[:4]), fa)


@pytest.mark.parametrize("op, kw", [("eq", {}), ("lt", {}), ("le", {}), ("min", {"nan": "propagate"}),
                                    ("max", {"nan": "ignore"})])
def test_compare_matches_cpu(op, kw):
    fmt = F["bf16"]
    a = bitsim.encode(boundary_values(fmt, 16), fmt)
    b = a[::-1].copy()
    want = getattr(bitsim.ops, op)(a, b, fmt, **kw)
    got = getattr(bitsim.ops, op)(cuda.to_device(a), cuda.to_device(b), fmt, **kw)
    np.testing.assert_array_equal(host(got[0]), want[0])
    np.testing.assert_array_equal(host(got[1]), want[1])


@pytest.mark.parametrize("fmt", [bitsim.format("mxfp8_e4m3"), bitsim.format("mxfp4_e2m1"),
                                 lookup_block("bm8").activation, bitsim.format("bfp8_qpytorch")])
@pytest.mark.parametrize("mode", ["default", "sr"])
def test_block_encode_matches_cpu(fmt, mode):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((2, 64)) * 2.0 ** rng.integers(-8, 8, (2, 1))).astype(np.float32)
    x[1, :32] = 0.0                                                     # a zero block
    if mode == "sr":
        sr_bits = 23 - fmt.element.bits if fmt.profile == "qpytorch_bfp" else 9
        kw = {"rounding": "sr", "sr_bits": sr_bits, "seed": 5}
    else:
        kw = {}
    want = bitsim.encode(x, fmt, **kw)
    got = bitsim.encode(cuda.to_device(x), fmt, **kw)
    np.testing.assert_array_equal(host(got.codes).reshape(want.codes.shape), want.codes)
    np.testing.assert_array_equal(host(got.scales).reshape(want.scales.shape), want.scales)
    decoded = bitsim.decode(got)                                        # decoded on the GPU, stays there
    assert bitsim.backend.is_device_array(decoded)
    np.testing.assert_array_equal(host(decoded).view(np.uint64), bitsim.decode(want).view(np.uint64))


FP16, FP32, E4M3 = F["fp16"], F["fp32"], F["e4m3"]
UNITS = {
    "float": DotUnit(E4M3, E4M3, FloatAcc(FP16), FP16),
    "chunked": DotUnit(E4M3, E4M3, ChunkedAcc(3, FloatAcc(FP16), FloatAcc(FP32, "rtz")), FP16),
    "kulisch": DotUnit(E4M3, E4M3, KulischAcc(), FP32, c=FP16),
    "pairwise": DotUnit(E4M3, E4M3, FloatAcc(FP16, order="pairwise"), FP32, c=FP16),
    "split_k": DotUnit(E4M3, E4M3, SplitKAcc(3, FloatAcc(FP16, "rdn"), FloatAcc(FP32)), FP16),
    "wang": "wang_fp8",
}


@pytest.mark.parametrize("name", sorted(UNITS))
def test_matmul_and_dot_match_cpu(name):
    unit = bitsim.unit(UNITS[name]) if isinstance(UNITS[name], str) else UNITS[name]
    a, b = adversarial_rows(unit.a, 14, np.random.default_rng(2))
    A, Bt = bitsim.encode(a[:5], unit.a), bitsim.encode(b[:3], unit.b)      # 5 x 14 @ 14 x 3: partial tiles
    B = np.ascontiguousarray(Bt.T)
    C = bitsim.encode(np.arange(15.0).reshape(5, 3) - 7, unit.c)
    np.testing.assert_array_equal(bitsim.matmul(A, B, unit, C, backend="cuda"), bitsim.matmul(A, B, unit, C))
    got = bitsim.matmul(cuda.to_device(A), cuda.to_device(B), unit)
    assert got.dtype == unit.out.code_dtype                                # written in the output's dtype
    np.testing.assert_array_equal(host(got), bitsim.matmul(A, B, unit))
    A2, B2 = bitsim.encode(a, unit.a), bitsim.encode(b, unit.b)
    np.testing.assert_array_equal(bitsim.dot(A2, B2, unit, backend="cuda"), bitsim.dot(A2, B2, unit))


@pytest.mark.parametrize("name", ["bm8_kulisch", "mxfp8_fp32"])
def test_block_format_dots_match_cpu(name):
    unit = bitsim.unit(name)
    rng = np.random.default_rng(4)
    K = unit.block_length + 5                                             # a short last block
    x = rng.standard_normal((2, K)) * 2.0 ** rng.integers(-6, 6, (2, 1))
    A = bitsim.encode(x, unit.a)
    B = bitsim.encode(np.ascontiguousarray(rng.standard_normal((K, 2))), unit.b)
    C = bitsim.encode(rng.standard_normal((2, 2)), unit.c)
    np.testing.assert_array_equal(bitsim.matmul(A, B, unit, C, backend="cuda"), bitsim.matmul(A, B, unit, C))
    # BlockTensors held on the GPU (encoded there): "cuda" is chosen, results stay on the device
    dA = bitsim.encode(cuda.to_device(x), unit.a)
    dB = bitsim.encode(cuda.to_device(np.ascontiguousarray(rng.standard_normal((K, 2)))), unit.b)
    B = bitsim.blocks.BlockTensor(host(dB.codes), host(dB.scales), dB.shape, dB.format)
    got = bitsim.matmul(dA, dB, unit, cuda.to_device(C), return_flags=True)
    assert all(bitsim.backend.is_device_array(g) for g in got)
    for g, w in zip(got, bitsim.matmul(A, B, unit, C, return_flags=True)):
        np.testing.assert_array_equal(host(g), w)
    b_rows = rng.standard_normal((2, K))
    want = bitsim.accum.block_dot(A, bitsim.encode(b_rows, unit.b.replace(axis=1)), unit)
    got = bitsim.accum.block_dot(dA, bitsim.encode(cuda.to_device(b_rows), unit.b.replace(axis=1)), unit)
    np.testing.assert_array_equal(host(got), want)


def test_float_acc_grid_gemm_matches_cpu():
    """The float64-lane GEMM kernels (``grid_start_kernel``, ``float_acc_lanes_kernel``,
    ``grid_finish_kernel``) against the CPU, codes and flags (their rounding, ``f64_round_hi``, is held to
    the CPU lanes' ``lane_step`` by tests/test_grid.py, and that to the reference by tests/test_dot.py):
    partial tiles in M, N and K, signed zeros decided by the products, exact cancellation, overflow (and
    back), NaN rows and columns, special addends (the second walk with the generic steps)."""
    from bitsim.kernels.float_acc_fast import lanes_exact
    A, B, C = float_acc_adversarial_gemm(2 * G.TILE + 3)
    for mode, addends in (("rne", (C,)), ("rto", (C,)), ("rdn", (C, None))):    # simulator time: 3 modes
        unit = DotUnit("e4m3", "e4m3", FloatAcc("fp16", mode), "fp16")
        assert lanes_exact(unit, unit.acc)
        for addend in addends:
            want = bitsim.matmul(A, B, unit, addend, return_flags=True)
            got = bitsim.matmul(cuda.to_device(A), cuda.to_device(B), unit,
                                None if addend is None else cuda.to_device(addend), return_flags=True)
            for g, w in zip(got, want):
                assert g.dtype == w.dtype
                np.testing.assert_array_equal(host(g), w, err_msg=mode)


def row_pairs(A, B, C):
    """Row-wise dot operands from a GEMM's: row i of A with column i of B (and C[i, i]), for as many rows
    as both have; C may be None."""
    n = min(A.shape[0], B.shape[1])
    rows_c = None if C is None else np.ascontiguousarray(np.diagonal(C)[:n])
    return np.ascontiguousarray(A[:n]), np.ascontiguousarray(B[:, :n].T), rows_c


@pytest.mark.parametrize("unit,mode", [("fp32_seq", "rne"), ("wang_fp8", "rdn"),
                                       (DotUnit("bf16", "bf16", ChunkedAcc(3, FloatAcc("fp32"), FloatAcc("bf16")),
                                                "fp16", c="fp32"), "rto")], ids=["fp32_seq", "wang_fp8", "bf16_chunk3"])
def test_native_binary64_gemm_matches_cpu(unit, mode, monkeypatch):
    """``native_gemm_kernel`` (the CPU's native path, one output per thread) against the CPU, codes and
    flags: sequential and chunked sums (a chunk closing mid-row), adversarial rows (cancellation,
    swamping, subnormal and overflowing sums, inf / NaN), -0 / +0 / inf / NaN addends; host and device
    inputs (without and with the addends). The generic kernel takes the outputs the native lanes give up
    (ST_REDO)."""
    from bitsim.kernels import cuda_run
    from test_float_acc_native import addends, operands, with_mode
    unit = with_mode(bitsim.unit(unit) if isinstance(unit, str) else unit, mode)
    calls = []
    monkeypatch.setattr(cuda_run, "native_gemm", lambda *a: calls.append(1) or NATIVE_GEMM(*a))
    A, B = operands(unit.a, 10, 8, 9, seed=2)                        # 10 rows: the adversarial ones and more
    C = addends(unit.c, A.shape[0], B.shape[1], seed=5)
    runs = [(None, bitsim.matmul(A, B, unit, return_flags=True, backend="cuda")),          # host inputs
            (C, bitsim.matmul(cuda.to_device(A), cuda.to_device(B), unit, cuda.to_device(C), return_flags=True))]
    for addend, got in runs:
        for g, w in zip(got, bitsim.matmul(A, B, unit, addend, return_flags=True)):
            np.testing.assert_array_equal(host(g), w, err_msg=str(unit.acc))
    rows_a, rows_b, rows_c = row_pairs(A, B, C)                       # row-wise dots: the kernel's rows variant
    runs = [(rows_c, bitsim.dot(rows_a, rows_b, unit, rows_c, return_flags=True, backend="cuda")),
            (None, bitsim.dot(cuda.to_device(rows_a), cuda.to_device(rows_b), unit, return_flags=True))]
    for addend, got in runs:
        for g, w in zip(got, bitsim.dot(rows_a, rows_b, unit, addend, return_flags=True)):
            np.testing.assert_array_equal(host(g), w, err_msg=f"rows {unit.acc}")
    assert len(calls) == 4                                            # the native path ran every time


def test_register_int64_gemm_matches_cpu(monkeypatch):
    """``register_gemm_kernel`` (exact int64 sums of the operands' integer values, then the register's own
    steps) against the CPU, codes and flags: Kulisch into fp32 with fp16 addends (-0, inf among them),
    an int8 register that wraps (int16 addends), a saturating one (no addend: the plan proves it cannot
    saturate); NaN rows and columns go to the generic kernel; host and device inputs; partial tiles."""
    from bitsim.kernels import cuda_run
    calls = []
    monkeypatch.setattr(cuda_run, "register_gemm", lambda *a: calls.append(1) or REGISTER_GEMM(*a))
    rng = np.random.default_rng(12)
    int8 = bitsim.FixedFormat(8, 0)
    units = [DotUnit(E4M3, E4M3, KulischAcc(), FP32, c="fp16"),
             DotUnit(int8, int8, IntAcc(16, "wrap"), bitsim.FixedFormat(16, 0, overflow="wrap", name="int16_wrap")),
             DotUnit(int8, int8, IntAcc(32, "saturate"), bitsim.FixedFormat(32, 0))]
    M, K, N = G.SPAN + 1, 2 * G.TILE + 3, G.SPAN - 1
    for n, unit in enumerate(units):
        if isinstance(unit.a, bitsim.FloatFormat):
            A = bitsim.encode(rng.standard_normal((M, K)) * 8, unit.a)
            B = bitsim.encode(rng.standard_normal((K, N)), unit.b)
            A[2, 1], B[3, 4] = 0x7F, 0xFF                                 # a NaN row and a NaN column
            C = bitsim.encode(rng.standard_normal((M, N)), unit.c)
            C[:, 0], C[:, 1] = 0x8000, 0x7C00                             # -0 and +inf addends
        else:
            A = rng.integers(0, 256, (M, K)).astype(np.uint8)
            B = rng.integers(0, 256, (K, N)).astype(np.uint8)
            C = rng.integers(0, 1 << unit.c.bits, (M, N)).astype(unit.c.code_dtype) if n == 1 else None
        want = bitsim.matmul(A, B, unit, C, return_flags=True)
        got = bitsim.matmul(A, B, unit, C, return_flags=True, backend="cuda") if n != 1 else \
            bitsim.matmul(cuda.to_device(A), cuda.to_device(B), unit, cuda.to_device(C), return_flags=True)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(host(g), w, err_msg=str(unit.acc))
        rows_a, rows_b, rows_c = row_pairs(A, B, C)                   # row-wise dots: register_rows_kernel
        want = bitsim.dot(rows_a, rows_b, unit, rows_c, return_flags=True)
        got = bitsim.dot(rows_a, rows_b, unit, rows_c, return_flags=True, backend="cuda") if n != 1 else \
            bitsim.dot(cuda.to_device(rows_a), cuda.to_device(rows_b), unit, cuda.to_device(rows_c),
                       return_flags=True)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(host(g), w, err_msg=f"rows {unit.acc}")
    assert len(calls) == 2 * len(units)          # a saturating register with an addend of any int32 would not


def test_convolution_gemm_runs_on_cuda():
    rng = np.random.default_rng(6)
    x = bitsim.encode(rng.standard_normal((1, 2, 3, 3)), E4M3)
    w = bitsim.encode(rng.standard_normal((1, 2, 2, 2)), E4M3)
    kw = {"stride": 1, "padding": 1, "dilation": 2}
    np.testing.assert_array_equal(bitsim.dataflow.conv2d(x, w, UNITS["float"], backend="cuda", **kw),
                                  bitsim.dataflow.conv2d(x, w, UNITS["float"], **kw))


def test_convolutions_on_device_arrays():
    """The three convolution GEMMs on device arrays: the gathers (im2col, the data gradient's taps with
    +0 codes where a tap reaches no output, the layout changes) follow their index maps on the GPU, and
    every result, a device array, holds the CPU's codes."""
    rng = np.random.default_rng(7)
    geom = {"stride": 2, "padding": (1, 0), "dilation": (1, 2)}         # padding, stride gaps, dilation
    unit = UNITS["chunked"]
    x = bitsim.encode(rng.standard_normal((2, 2, 5, 4)), E4M3)
    w = bitsim.encode(rng.standard_normal((3, 2, 2, 2)), E4M3)
    bias = bitsim.encode(rng.standard_normal(3), FP16)
    y = bitsim.dataflow.conv2d(x, w, unit, bias=bias, **geom)
    got = bitsim.dataflow.conv2d(cuda.to_device(x), cuda.to_device(w), unit, bias=cuda.to_device(bias), **geom)
    assert bitsim.backend.is_device_array(got)
    np.testing.assert_array_equal(host(got), y)
    dy = bitsim.encode(rng.standard_normal(y.shape), E4M3)
    want = bitsim.dataflow.conv2d_backward_data(dy, w, unit, x.shape, **geom)
    got = bitsim.dataflow.conv2d_backward_data(cuda.to_device(dy), cuda.to_device(w), unit, x.shape, **geom)
    np.testing.assert_array_equal(host(got), want)
    want = bitsim.dataflow.conv2d_backward_weight(x, dy, unit, w.shape, **geom)
    got = bitsim.dataflow.conv2d_backward_weight(cuda.to_device(x), cuda.to_device(dy), unit, w.shape, **geom)
    np.testing.assert_array_equal(host(got), want)


def test_integer_accumulator_wraps_and_overflow_is_reported_on_cuda():
    int8 = bitsim.FixedFormat(8, 0)
    wrap = DotUnit(int8, int8, IntAcc(16, "wrap"), bitsim.FixedFormat(16, 0, overflow="wrap", name="int16_wrap"))
    A = np.full((2, 6), 0x80, np.uint8)                                    # (-128)**2 * 6 wraps a 16-bit register
    np.testing.assert_array_equal(bitsim.dot(A, A, wrap, backend="cuda"), bitsim.dot(A, A, wrap))
    raising = DotUnit(E4M3, E4M3, KulischAcc(width=12, overflow="raise"), FP32)
    big = bitsim.encode(np.full((1, 4), 448.0), E4M3)
    with pytest.raises(AccumulatorOverflow, match="12-bit accumulator"):
        bitsim.dot(cuda.to_device(big), cuda.to_device(big), raising)


def test_backend_selection_and_errors(monkeypatch):
    x = np.array([1.5, -2.25], np.float32)
    with bitsim.use_backend("cuda"):
        assert bitsim.backend.choose(None, x) == "cuda"
        np.testing.assert_array_equal(bitsim.encode(x, "e4m3"), bitsim.encode(x, "e4m3", backend="cpu"))
    assert bitsim.backend.choose(None, x) == "cpu"
    assert bitsim.backend.choose(None, cuda.to_device(x)) == "cuda"
    with pytest.raises(ValueError, match="backend must be one of 'cpu', 'cuda'; got 'gpu'"):
        bitsim.encode(x, "e4m3", backend="gpu")
    with pytest.raises(ValueError, match="an input is a CUDA device array"):
        bitsim.encode(cuda.to_device(x), "e4m3", backend="cpu")
    with pytest.raises(TypeError, match="bitsim.dataflow.relu runs on host"):
        bitsim.dataflow.relu(cuda.to_device(np.zeros((1, 1, 2, 2), np.uint8)), "e4m3")
    monkeypatch.setattr(cuda, "is_available", lambda: False)
    with pytest.raises(bitsim.CudaUnavailableError, match="no CUDA GPU"):
        bitsim.encode(x, "e4m3", backend="cuda")
    with pytest.raises(bitsim.CudaUnavailableError):
        with bitsim.use_backend("cuda"):
            pass


FLOAT_SYNTAX = (ast.Div, ast.Pow)


def test_scalar_core_has_no_float_arithmetic():
    """The golden path is integer arithmetic: no float literal, true division, power or float() call in
    the core, so no FMA contraction or fast-math can touch a result on any backend. One stated exception:
    ``core/native.py``, the native binary64 path, whose exact TwoSum steps are float64 additions through
    ``f64_add`` / ``f64_mul`` (``.rn`` on the GPU, held to exactly those instructions by the PTX check)."""
    core = Path(bitsim.__file__).parent / "core"
    for path in sorted(p for p in core.glob("*.py") if p.name != "native.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.name}:{getattr(node, 'lineno', '?')}"
            assert not (isinstance(node, ast.Constant) and isinstance(node.value, float)), where
            assert not (isinstance(node, ast.BinOp) and isinstance(node.op, FLOAT_SYNTAX)), where
            assert not (isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("float", "float32",
                                                                                        "float64")), where


def _ptx_or_skip():
    """Every kernel's PTX, or a skip where the simulator is on or the CUDA compiler libraries are missing
    (CI); ``make ptx`` runs the same check."""
    if config.ENABLE_CUDASIM:
        pytest.skip("the CUDA simulator compiles nothing; run `make ptx` (NVVM + NVRTC, no GPU needed)")
    try:
        return cuda_ptx.compile_all((9, 0))
    except Exception as exc:  # missing NVVM / NVRTC libraries
        pytest.skip(f"CUDA compiler libraries not available: {exc}")


def test_kernels_compile_to_ptx_without_float_instructions():
    """No float instruction in any kernel, except the float64 lanes' exact products and sums and the
    conversion of their integer-valued sums (which must be there: the kernels are what they say)."""
    ptx = _ptx_or_skip()
    assert sorted(ptx) == sorted(name for module in (G, fused_cuda) for name in dir(module)
                                 if name.endswith("_kernel"))
    for name, (text, _) in ptx.items():
        assert ".entry" in text, name
        assert cuda_ptx.unexpected_float_instructions(name, text) == [], name
    for name, ops in cuda_ptx.EXACT_FLOAT_OPS.items():
        assert set(cuda_ptx.float_instructions(ptx[name][0])) == ops, name


def test_float_instruction_scan_finds_float_arithmetic():
    """Positive control of the scan above: an fma and a float compare are found, also in the kernel that
    may hold exact float64 adds and multiplies."""
    text = "\tfma.rn.f32 \t%f3, %f1, %f2, %f0;\n\tsetp.lt.f64 \t%p1, %fd1, %fd2;\n\tadd.s64 \t%rd1, %rd2, %rd3;\n"
    assert cuda_ptx.float_instructions(text) == ["fma.rn.f32", "setp.lt.f64"]
    text += "\tadd.rn.f64 \t%fd1, %fd2, %fd3;\n\tfma.rn.f64 \t%fd1, %fd2, %fd3, %fd4;\n"
    assert cuda_ptx.unexpected_float_instructions("float_acc_lanes_kernel", text) == [
        "fma.rn.f32", "setp.lt.f64", "fma.rn.f64"]


@pytest.mark.parametrize("fmt", ["e4m3", "e4m3fnuz"])
def test_neg_and_abs_on_the_device_match_the_cpu(fmt):
    codes = np.arange(256, dtype=np.uint8)
    for fn in (bitsim.ops.neg, bitsim.ops.abs):
        got = fn(cuda.to_device(codes), fmt)
        assert bitsim.backend.is_device_array(got)
        assert np.array_equal(got.copy_to_host(), fn(codes, fmt)), fn.__name__
