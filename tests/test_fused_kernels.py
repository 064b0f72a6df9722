"""The compiled tensor-core kernels (bitsim.core.fused via bitsim.kernels.fused_cpu / fused_cuda) against the
NumPy model bitsim.accum.fused.fused_dot, code word for code word: every preset, hand-made FusedAcc variants
covering every field value, boundary-heavy and random codes, every e4m3 pair; bitsim.dot / bitsim.matmul on
the new path (the real-GPU recordings, the old row-expansion result); the CUDA kernels in the simulator on
tiny inputs against the CPU kernel, host and device arrays."""

import dataclasses

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numba import cuda

import bitsim
from bitsim.accum import PRESETS, FusedAcc, GemmLevel, fused_dot
from bitsim.kernels import fused_cpu, fused_cuda
from bitsim.kernels.fused_cpu import fused_gemm, fused_plan, fused_rows
from test_tensor_cores import RECORDED, load_recording

KERNEL_PRESETS = sorted(name for name, u in PRESETS.items() if u.gemm is None)


# ------------------------------------------------------------------------------------------ inputs


def special_codes(fmt):
    """Codes of every boundary class of ``fmt`` with both signs: zeros, the smallest and largest subnormal,
    the smallest normal, one, the largest and second largest finite value, infinities and NaNs."""
    f = bitsim.format(fmt)
    mags = [0, 1, (1 << f.man_bits) - 1, 1 << f.man_bits, f.bias << f.man_bits, f.max_code_magnitude,
            f.max_code_magnitude - 1]
    if f.inf_code is not None:
        mags += [f.inf_code, f.inf_code + 1, f.magnitude_mask]             # inf, a signalling and a quiet NaN
    if f.nan_code is not None:
        mags.append(f.nan_code & f.magnitude_mask)                         # fn: S.1111.111; fnuz: 1.0000.000
    return np.array(sorted({m | s for m in mags for s in (0, f.sign_mask)}), np.int64)


def is_finite(codes, fmt):
    """Which codes of ``fmt`` are finite numbers (their magnitude is at most the largest finite one and they
    are not the format's NaN code)."""
    f = bitsim.format(fmt)
    codes = np.asarray(codes)
    return ((codes & f.magnitude_mask) <= f.max_code_magnitude) & (codes != (-1 if f.nan_code is None else f.nan_code))


def finite_codes(fmt):
    """Every finite code of ``fmt`` (or about 8192 spread over the range of a wide one), both signs."""
    f = bitsim.format(fmt)
    mags = np.arange(f.max_code_magnitude + 1, step=max(1, (f.max_code_magnitude + 1) // 4096))
    codes = np.concatenate([mags, mags | f.sign_mask]).astype(np.int64)
    return codes[is_finite(codes, f)]


def rows_of(rng, fmt_in, out, n, K):
    """(A, B, c) of about n rows of K columns, a quarter each: boundary codes with specials; finite boundary
    codes; random finite codes; cancelling pairs (column 2m+1 = column 2m with B's sign flipped, so
    a * b + a * (-b) = 0) ending in a tiny term (the smallest subnormal times a finite code). Half of c is
    boundary codes of ``out`` (specials, both zeros, max, min subnormal), half random finite codes."""
    f = bitsim.format(fmt_in)
    specials, finite = special_codes(f), finite_codes(f)
    bounds = specials[is_finite(specials, f)]
    q = max(1, n // 4)
    pools = (specials, bounds, finite, finite)
    A, B = (np.concatenate([rng.choice(p, (q, K)) for p in pools]) for _ in range(2))
    if K >= 2:
        A[3 * q:, 1::2] = A[3 * q:, 0:K - 1:2]
        B[3 * q:, 1::2] = B[3 * q:, 0:K - 1:2] ^ f.sign_mask
        A[3 * q:, -1] = 1
    c = np.concatenate([rng.choice(special_codes(out), 2 * q), rng.choice(finite_codes(out), 2 * q)])
    return A, B, c


def assert_same(got, want, context):
    got, want = np.asarray(got).astype(np.int64).reshape(-1), np.asarray(want).astype(np.int64).reshape(-1)
    bad = np.flatnonzero(got != want)
    assert not bad.size, f"{context}: {bad.size} of {got.size} differ, first at {bad[0]}: {got[bad[0]]:#x} != " \
                         f"{want[bad[0]]:#x}"


def check_rows(A, B, c, fmt_in, acc, step, context=""):
    """The CPU kernel equals the NumPy model on rows (A, B (n, K), c (n,))."""
    want = fused_dot(A, B, c, fmt_in, acc, instruction_k=step)
    assert_same(fused_rows(A, B, c, fmt_in, acc, step), want, context or str(acc))
    return want


def variants():
    """Hand-made FusedAcc variants (with their fmt_in and instruction K): every value of every field."""
    h16 = PRESETS["nvidia_h100_fp16_fp32"].acc                       # g16 W25 RZ23, floor -133, joint
    e4 = PRESETS["nvidia_h100_e4m3_fp32"].acc                        # g32 W13 RZ13
    half16 = PRESETS["nvidia_h100_e4m3_fp16"].acc                    # halves_f16 g32 W25 RNE10
    late = PRESETS["nvidia_b200_e4m3_fp32"].acc                      # late_ieee_add g32 W25 RZ23
    r = dataclasses.replace
    return [
        ("fp16", r(h16, window_cut="floor"), 16),
        ("fp16", r(h16, product_exponent="normalised"), 32),           # two groups per instruction
        ("fp16", r(h16, exponent_floor=None, zero_c_exponent=-126), 16),
        ("fp16", r(h16, exponent_floor=2, zero_c_exponent=0, window_cut="floor"), 16),   # the floor clamps
        ("fp16", r(h16, result_rounding="rne", overflow="maxfinite", out="fp16", result_frac_bits=10,
                   exponent_floor=-21), 16),
        ("bf16", r(h16, group=3, window_bits=0, result_frac_bits=0, result_rounding="rne"), 9),
        ("bf16", r(h16, group=1, window_bits=50, result_rounding="rne", out="bf16", result_frac_bits=7), 2),
        ("e5m2", r(e4, out="fp16", result_frac_bits=10, exponent_floor=-21, overflow="maxfinite"), 32),
        ("e5m2", r(e4, window_cut="floor", product_exponent="normalised", result_rounding="rne"), 64),
        ("e4m3", r(half16, window_cut="floor", zero_c_exponent=-14), 32),
        ("e4m3", r(half16, group=6, window_bits=3, overflow="maxfinite", exponent_floor=-3), 12),
        ("e5m2", r(late, out="fp16", result_frac_bits=10, overflow="maxfinite", exponent_floor=-21), 32),
        ("e5m2", r(late, group=4, window_bits=1, window_cut="floor", product_exponent="normalised",
                   result_rounding="rne", zero_c_exponent=-20), 8),
        ("e4m3fnuz", r(e4, group=8), 16),
        ("e5m2fnuz", r(half16, group=8, out="fp32", result_frac_bits=23), 8),
        ("e2m1", r(e4, group=5, exponent_floor=None), 10),
        ("e3m2", r(late, group=2, window_bits=7, result_frac_bits=4, out="bf16"), 2),
        ("tf32", r(h16, group=4, window_bits=24, exponent_floor=-132), 8),
    ]


VARIANTS = variants()


# ------------------------------------------------------------------------------------ CPU == NumPy


@pytest.mark.parametrize("name", KERNEL_PRESETS)
def test_every_preset_matches_the_numpy_model(name):
    """Boundary-heavy rows, K ragged (two instructions and 3 columns) and K = 0, 1."""
    u = PRESETS[name]
    rng = np.random.default_rng(KERNEL_PRESETS.index(name))
    for K in (2 * u.instruction_k + 3, 1, 0):
        A, B, c = rows_of(rng, u.fmt_in, u.out, 48 if K else 8, K)
        check_rows(A, B, c, u.fmt_in, u.acc, u.instruction_k, f"{name} K={K}")


@pytest.mark.parametrize("fmt_in, acc, step", VARIANTS, ids=[f"{v[0]}-{i}" for i, v in enumerate(VARIANTS)])
def test_fused_acc_variants_match_the_numpy_model(fmt_in, acc, step):
    rng = np.random.default_rng(step * 7 + acc.group)
    for K in (2 * step + 1, step, 0):
        A, B, c = rows_of(rng, fmt_in, acc.out, 64 if K else 8, K)
        check_rows(A, B, c, fmt_in, acc, step, f"{acc} K={K}")


@pytest.mark.parametrize("fmt_in, out, changes", [
    ("e4m3", "fp32", dict(window_bits=13, result_frac_bits=13)),
    ("e4m3", "fp32", dict(window_bits=3, product_exponent="normalised", window_cut="floor", zero_c_exponent=-126)),
    ("e5m2", "fp16", dict(window_bits=4, result_frac_bits=10, result_rounding="rne", c_mode="late_ieee_add",
                          exponent_floor=-21, overflow="maxfinite")),
])
def test_every_8_bit_pair_in_a_group_of_one(fmt_in, out, changes):
    """All 65536 (a, b) code pairs, one product per group, c cycling through boundary codes of the output."""
    acc = FusedAcc(**{"group": 1, "result_rounding": "rtz", "out": out, "result_frac_bits": 23, **changes})
    a, b = (x.reshape(-1, 1) for x in np.meshgrid(np.arange(256), np.arange(256)))
    cs = special_codes(out)
    check_rows(a, b, cs[np.arange(a.shape[0]) % len(cs)], fmt_in, acc, 1)


def test_largest_sums_the_bound_allows():
    """W = 50 with 1024 products of the largest fp16 magnitude (and a large c), every one of one sign: the
    cut sum reaches 2**62 units; trunc0 and floor, positive and negative, both c modes with c."""
    f16 = bitsim.format("fp16")
    big = np.full((4, 1024), f16.max_code_magnitude, np.int64)
    big[1::2] |= f16.sign_mask
    near = big - 1
    c = np.array([0x7F7FFFFF, 0xFF7FFFFF, 0x00000001, 0x80000001], np.int64)
    for cut in ("trunc0", "floor"):
        acc = FusedAcc(group=1024, window_bits=50, result_frac_bits=23, result_rounding="rne", window_cut=cut)
        fused_plan(acc, "fp16")                                     # accepted: 2**51 * 2049 < 2**63
        for A in (big, near):
            check_rows(A, big, c, "fp16", acc, 1024)
        check_rows(big, near, c, "fp16", dataclasses.replace(acc, c_mode="late_ieee_add"), 1024)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_codes_and_fields(data):
    name = data.draw(st.sampled_from(KERNEL_PRESETS), label="preset")
    u = PRESETS[name]
    acc = dataclasses.replace(u.acc, **data.draw(st.fixed_dictionaries({}, optional={
        "window_bits": st.integers(0, 30), "window_cut": st.sampled_from(["trunc0", "floor"]),
        "product_exponent": st.sampled_from(["sum_of_input_exponents", "normalised"]),
        "exponent_floor": st.one_of(st.none(), st.integers(-150, 20)),
        "zero_c_exponent": st.one_of(st.none(), st.integers(-150, 20)),
        "result_rounding": st.sampled_from(["rtz", "rne"]), "overflow": st.sampled_from(["inf", "maxfinite"]),
    }), label="changes"))
    n = data.draw(st.integers(1, 4), label="n")
    K = data.draw(st.integers(0, 2 * u.instruction_k + 5), label="K")
    code = st.integers(0, (1 << u.fmt_in.bits) - 1)
    A, B = (np.array(data.draw(st.lists(code, min_size=n * K, max_size=n * K)), np.int64).reshape(n, K)
            for _ in range(2))
    c = np.array(data.draw(st.lists(st.integers(0, (1 << u.out.bits) - 1), min_size=n, max_size=n)), np.int64)
    check_rows(A, B, c, u.fmt_in, acc, u.instruction_k)


# ------------------------------------------------------------------------- bitsim.dot / bitsim.matmul


NUMPY_TYPES = {"fp16": np.float16, "bf16": ml_dtypes.bfloat16, "e4m3": ml_dtypes.float8_e4m3fn, "fp32": np.float32}


def numpy_codes(words, fmt, exact=True):
    """Codes of ``fmt`` for fp32 bit patterns, converted by NumPy / ml_dtypes (RNE; ``exact``: asserted)."""
    x = np.asarray(words, np.uint32).view(np.float32)
    y = x.astype(NUMPY_TYPES[fmt])
    assert not exact or np.array_equal(y.astype(np.float32), x, equal_nan=True), fmt
    return y.view(bitsim.format(fmt).code_dtype)


@pytest.mark.parametrize("name, preset, out, c_zero", RECORDED, ids=[f"{r[0]}->{r[2]}" for r in RECORDED])
def test_recordings_through_bitsim_dot(name, preset, out, c_zero):
    """The real-GPU recordings of tests/test_tensor_cores.py through bitsim.dot, i.e. the compiled kernel
    (the recorded fp32 c rounded to an fp16 output by RNE, as there; the E4M3 -> fp32 set with c = 0)."""
    rec = load_recording(name)
    fmt_in = PRESETS[preset].fmt_in.name
    c = np.zeros(len(rec["c"]), bitsim.format(out).code_dtype) if c_zero else numpy_codes(rec["c"], out, False)
    got = bitsim.dot(numpy_codes(rec["a"], fmt_in), numpy_codes(rec["b"], fmt_in), preset, c=c)
    assert got.dtype == bitsim.format(out).code_dtype
    assert_same(got, numpy_codes(rec[f"d_{out}"], out), name)


@pytest.mark.parametrize("name", ["nvidia_h100_e4m3_fp32", "nvidia_h100_e4m3_fp16", "nvidia_b200_e5m2_fp32",
                                  "nvidia_v100_fp16_fp16", "nvidia_a100_tf32_fp32"])
def test_matmul_equals_the_row_expansion(name):
    """matmul without expanding A and B gives what the M*N expanded rows gave (the NumPy model)."""
    u = PRESETS[name]
    rng = np.random.default_rng(len(name))
    M, N, K = 5, 4, 2 * u.instruction_k + 3
    A, B, _ = rows_of(rng, u.fmt_in, u.out, M, K)
    B = B[:N].T.copy()
    C = rng.choice(finite_codes(u.out), (A.shape[0], N))
    for addend in (None, C):
        D = bitsim.matmul(A.astype(u.fmt_in.code_dtype), B.astype(u.fmt_in.code_dtype), name,
                          None if addend is None else addend.astype(u.out.code_dtype))
        c = np.zeros(A.shape[0] * N, np.int64) if addend is None else addend.reshape(-1)
        want = fused_dot(np.repeat(A, N, axis=0), np.tile(B.T, (A.shape[0], 1)), c, u.fmt_in, u.acc,
                         instruction_k=u.instruction_k)
        assert D.dtype == u.out.code_dtype and D.shape == (A.shape[0], N)
        assert_same(D, want, name)
        assert_same(fused_gemm(A, B, addend, u.fmt_in, u.acc, u.instruction_k), want, name)


def test_dot_unit_with_a_fused_acc_and_the_exact_window_stay_on_the_numpy_model():
    """A DotUnit's FusedAcc runs the kernel; window_bits=None runs the NumPy model on every entry point."""
    u = PRESETS["nvidia_ada_e4m3_fp16"]
    rng = np.random.default_rng(3)
    A, B, _ = rows_of(rng, "e4m3", "fp16", 8, 40)
    dot_unit = bitsim.DotUnit("e4m3", "e4m3", u.acc, "fp16")
    want = fused_dot(A, B, np.zeros(len(A), np.int64), "e4m3", u.acc)
    assert_same(bitsim.dot(A.astype(np.uint8), B.astype(np.uint8), dot_unit), want, "DotUnit")
    exact = dataclasses.replace(u, acc=dataclasses.replace(u.acc, window_bits=None))
    want = fused_dot(A, B, np.zeros(len(A), np.int64), "e4m3", exact.acc, instruction_k=32)
    assert_same(bitsim.dot(A.astype(np.uint8), B.astype(np.uint8), exact), want, "exact")
    assert_same(bitsim.matmul(A.astype(np.uint8), B[:3].T.astype(np.uint8), exact)[:, 0],
                fused_dot(A, np.tile(B[0], (len(A), 1)), np.zeros(len(A), np.int64), "e4m3", exact.acc,
                          instruction_k=32), "exact matmul")
    with pytest.raises(ValueError, match="window_bits=None"):
        fused_rows(A, B, None, "e4m3", exact.acc)


def test_gemm_level_chunk_chains_run_on_the_kernel(monkeypatch):
    """gemm_dot's chunk chains (``_chain_results``: chunks of equal and of ragged lengths) on the compiled
    kernel equal them on the NumPy model."""
    from bitsim.accum.gemm_level import _chain_results, chunk_columns, split_columns
    u = PRESETS["nvidia_h100_e4m3_fp32"]
    A, B, _ = rows_of(np.random.default_rng(4), "e4m3", "fp32", 8, 200)
    level = GemmLevel(64, split_k=3, split_tile_k=32, split_layout="interleaved")
    chunks = [chunk for cols in split_columns(200, level) for chunk in chunk_columns(cols, level)]
    assert len({len(chunk) for chunk in chunks}) > 1
    got = _chain_results(A, B, chunks, "e4m3", u.acc, 32)
    monkeypatch.setattr(fused_cpu, "kernel_supports", lambda acc: False)
    assert_same(got, _chain_results(A, B, chunks, "e4m3", u.acc, 32), str(level))


# ------------------------------------------------------------------------------------------ bad input


def test_plan_refuses_what_the_kernels_cannot_hold():
    acc = PRESETS["nvidia_h100_e4m3_fp32"].acc
    with pytest.raises(TypeError, match="FusedAcc"):
        fused_plan("nvidia_h100_e4m3_fp32", "e4m3")
    with pytest.raises(ValueError, match="instruction_k"):
        fused_plan(acc, "e4m3", 48)
    with pytest.raises(ValueError, match="window_bits=None"):
        fused_plan(dataclasses.replace(acc, window_bits=None), "e4m3")
    fused_plan(FusedAcc(group=31, window_bits=55, result_frac_bits=23, result_rounding="rtz"), "e4m3")
    for group, window in ((1024, 51), (32, 56), (64, 55)):                  # 2**(W+1) * (2g+1) >= 2**63
        with pytest.raises(ValueError, match=f"window_bits={window} with group={group}"):
            fused_plan(FusedAcc(group=group, window_bits=window, result_frac_bits=23, result_rounding="rtz"), "e4m3")
    with pytest.raises(ValueError, match="fmt_in.*32-bit"):
        fused_plan(acc, "fp64")
    with pytest.raises(TypeError, match="fmt_in"):
        fused_plan(acc, "int8")


def test_kernel_entry_points_check_their_operands():
    acc = PRESETS["nvidia_h100_e4m3_fp32"].acc
    a = np.zeros((2, 8), np.uint8)
    with pytest.raises(ValueError, match=r"A and B \(n, K\)"):
        fused_rows(a, a[:, :4], None, "e4m3", acc)
    with pytest.raises(ValueError, match=r"A \(M, K\) and B \(K, N\)"):
        fused_gemm(a, a, None, "e4m3", acc)
    with pytest.raises(ValueError, match=r"c must have shape \(2,\)"):
        fused_rows(a, a, np.zeros(3, np.uint32), "e4m3", acc)
    with pytest.raises(ValueError, match="does not fit"):
        fused_rows(a.astype(np.int64) + 256, a, None, "e4m3", acc)
    with pytest.raises(TypeError, match="integer"):
        fused_rows(a.astype(float), a, None, "e4m3", acc)
    with pytest.raises(ValueError, match="does not fit"):
        fused_gemm(a, a.T, np.full((2, 2), 1 << 32), "e4m3", acc)


# ------------------------------------------------------------------------------ CUDA (the simulator)


SIMULATOR_WRAPS = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # numpy scalars wrap


def host(x):
    return x.copy_to_host() if hasattr(x, "copy_to_host") else np.asarray(x)


@SIMULATOR_WRAPS
@pytest.mark.parametrize("name", ["nvidia_h100_e4m3_fp16", "nvidia_b200_e4m3_fp32", "nvidia_v100_fp16_fp32",
                                  "nvidia_ada_e5m2_fp32", "nvidia_a100_tf32_fp32"])
def test_cuda_kernels_match_the_cpu_kernel(name):
    """Tiny inputs (the simulator runs every GPU thread in Python): rows and the tiled GEMM, host arrays
    and device arrays in and out, through the kernel entry points and bitsim.dot / bitsim.matmul."""
    u = PRESETS[name]
    rng = np.random.default_rng(KERNEL_PRESETS.index(name))
    K = u.instruction_k + 3
    A, B, c = rows_of(rng, u.fmt_in, u.out, 4, K)
    A, B, c = A.astype(u.fmt_in.code_dtype), B.astype(u.fmt_in.code_dtype), c.astype(u.out.code_dtype)
    want = fused_rows(A, B, c, u.fmt_in, u.acc, u.instruction_k)
    assert_same(fused_cuda.fused_rows(A, B, c, u.fmt_in, u.acc, u.instruction_k), want, "rows")
    got = bitsim.dot(cuda.to_device(A), cuda.to_device(B), name, c=cuda.to_device(c))
    assert got.dtype == u.out.code_dtype and not isinstance(got, np.ndarray)
    assert_same(host(got), want, "device rows")
    Bk, C = B[:3].T.copy(), np.tile(c[:, None], (1, 3))                  # (K, 3), (4, 3)
    want = fused_gemm(A, Bk, C, u.fmt_in, u.acc, u.instruction_k)
    assert_same(bitsim.matmul(A, Bk, name, C, backend="cuda"), want, "gemm")
    got = bitsim.matmul(cuda.to_device(A), cuda.to_device(Bk), name, cuda.to_device(C))
    assert got.dtype == u.out.code_dtype and got.shape == (4, 3)
    assert_same(host(got), want, "device gemm")


@SIMULATOR_WRAPS
def test_cuda_untiled_gemm_ragged_and_empty():
    """An instruction K that does not divide the staged width (the untiled GEMM kernel), and K = 0."""
    fmt_in, acc, step = VARIANTS[5]                                       # group 3, instruction K 9
    assert fused_cuda.KT % step
    rng = np.random.default_rng(5)
    A, B, c = rows_of(rng, fmt_in, acc.out, 4, 2 * step + 2)
    for k in (A.shape[1], 0):
        Bk = B[:3, :k].T.copy()
        C = np.tile(c[:, None], (1, 3))
        want = fused_gemm(A[:, :k], Bk, C, fmt_in, acc, step)
        assert_same(fused_cuda.fused_gemm(A[:, :k], Bk, C, fmt_in, acc, step), want, f"K={k}")
        tiled = dataclasses.replace(acc, group=1)                          # instruction K 1: the tiled kernel
        assert_same(fused_cuda.fused_gemm(A[:, :k], Bk, C, fmt_in, tiled, 1),
                    fused_gemm(A[:, :k], Bk, C, fmt_in, tiled, 1), f"tiled K={k}")


@SIMULATOR_WRAPS
def test_cuda_gemm_through_a_library_level_matches_the_cpu():
    """A ``_cublas`` preset (promotion every 128) and a split-K level: the chunk GEMMs (and rows' chunk
    chains) on the GPU kernels, the fp32 adds on the host, against the CPU's GEMM and rows."""
    rng = np.random.default_rng(9)
    A = bitsim.encode(rng.standard_normal((3, 136)) * 4, "e4m3")
    B = bitsim.encode(rng.standard_normal((136, 2)), "e4m3")
    C = bitsim.encode(rng.standard_normal((3, 2)), "fp32")
    split = dataclasses.replace(PRESETS["nvidia_h100_e4m3_fp32"],
                                gemm=GemmLevel(None, split_k=2, split_tile_k=64, combine="pairwise"))
    for u in (PRESETS["nvidia_h100_e4m3_fp32_cublas"], split):
        for c in (None, C):
            want = bitsim.matmul(A, B, u, c)
            assert_same(bitsim.matmul(A, B, u, c, backend="cuda"), want, u.name)
            rows_a, rows_b = np.repeat(A, 2, axis=0), np.tile(B.T, (3, 1))
            rows_c = None if c is None else c.reshape(-1)
            assert_same(want.reshape(-1), bitsim.dot(rows_a, rows_b, u, rows_c), "rows")
            assert_same(want.reshape(-1), bitsim.dot(rows_a, rows_b, u, rows_c, backend="cuda"), "rows on cuda")
    # device operands: the chunk columns are gathered on the GPU, the results come back as device arrays
    for u in (PRESETS["nvidia_h100_e4m3_fp32_cublas"], split):
        got = bitsim.matmul(cuda.to_device(A), cuda.to_device(B), u, cuda.to_device(C))
        assert bitsim.backend.is_device_array(got)
        assert_same(got.copy_to_host(), bitsim.matmul(A, B, u, C), f"device {u.name}")
        rows_a, rows_b = np.repeat(A, 2, axis=0), np.tile(B.T, (3, 1))
        got = bitsim.dot(cuda.to_device(rows_a), cuda.to_device(rows_b), u)
        assert_same(got.copy_to_host(), bitsim.dot(rows_a, rows_b, u), f"device rows {u.name}")


def test_cuda_refuses_the_host_only_units():
    a = np.zeros((2, 32), np.uint8)
    exact = dataclasses.replace(PRESETS["nvidia_h100_e4m3_fp32"], acc=dataclasses.replace(
        PRESETS["nvidia_h100_e4m3_fp32"].acc, window_bits=None))
    with pytest.raises(ValueError, match="window_bits=None.*CPU backend only"):
        bitsim.dot(cuda.to_device(a), cuda.to_device(a), exact)
