"""No shift in the scalar core has a count outside 0..width-1 (``shift_check``), on the public API's paths.

A shift by 64 or more is undefined in LLVM and differs between the targets (x86: the count masked to 6
bits; PTX and NumPy: 0), so one would split the CPU from the GPU on exactly the inputs that reach it. Each
test runs public calls with ``backend="cuda"`` through the CUDA simulator's kernels on the checked core
(every ``<<`` / ``>>`` asserts its count) and compares the codes and flags with the compiled CPU kernels:
boundary-heavy inputs for encode, convert and decode, the arithmetic and fixed-point ops, block encode,
dot products through every accumulator model, and a training step of a small CNN under every recipe.
"""

import contextlib

import numpy as np
import pytest
from numba import config

import bitsim
from bitsim import nn
from bitsim.backend import use_backend
from bitsim.accum import ChunkedAcc, DotUnit, FloatAcc, IntAcc, KulischAcc, SplitKAcc
from bitsim.accum.presets import PRESETS
from shift_check import ShiftOutOfRange, _rewrite, checked_shift, checked_simulator
from test_dot import adversarial_rows
from test_fixed import WIDE, boundary_codes

pytestmark = [pytest.mark.skipif(not config.ENABLE_CUDASIM, reason="drives the CUDA simulator's kernels"),
              pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")]

MODES = ("rne", "sr")   # nearest and stochastic; directed and odd rounding: the dot units and fixed-point cases


def host(x):
    return x.copy_to_host() if bitsim.backend.is_device_array(x) else np.asarray(x)


def same(got, want, label):
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(host(g), w, err_msg=label)


def sr(mode, bits=10):
    return {"sr_bits": bits, "seed": 3, "offset": 5} if mode == "sr" else {}


def float32_edges(n=120, seed=0):
    """float32 bit patterns: every exponent with mantissas 0, 1 and all-ones (both signs), and n random
    patterns (NaNs, infinities and subnormals among them)."""
    exps = np.arange(256, dtype=np.uint32) << np.uint32(23)
    mans = np.array([0, 1, (1 << 23) - 1], dtype=np.uint32)
    grid = (exps[:, None] | mans[None, :]).reshape(-1)
    rand = np.random.default_rng(seed).integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    return np.concatenate([grid, grid | np.uint32(1 << 31), rand]).view(np.float32)


def float64_edges(n=120, seed=1):
    """float64 bit patterns: every 13th exponent with mantissas 0, 1 and all-ones (both signs), and n random."""
    exps = np.arange(0, 2048, 13, dtype=np.uint64) << np.uint64(52)
    mans = np.array([0, 1, (1 << 52) - 1], dtype=np.uint64)
    grid = (exps[:, None] | mans[None, :]).reshape(-1)
    rand = np.random.default_rng(seed).integers(0, 1 << 63, n, dtype=np.uint64) << np.uint64(1)
    return np.concatenate([grid, grid | np.uint64(1 << 63), rand]).view(np.float64)


def fp16_operands(seed, n=160):
    """fp16 codes: n random words (NaNs, infinities, subnormals among them) and the edges of every binade."""
    rng = np.random.default_rng(seed)
    edges = (np.arange(32, dtype=np.uint16) << np.uint16(10))[:, None] | np.array([0, 1, 0x3FF], np.uint16)
    words = np.concatenate([edges.reshape(-1), rng.integers(0, 1 << 16, n).astype(np.uint16)])
    return rng.permutation(words)


def test_the_rewrite_checks_every_shift_and_keeps_its_value():
    def sample(x, n):
        y = x >> n
        y <<= n
        return (x << n) | y
    checked = _rewrite(sample, {"_checked_shift": checked_shift})
    for n in (0, 1, 31, 63):
        assert checked(np.uint64(0xF0F0), n) == sample(np.uint64(0xF0F0), n)
    with pytest.raises(ShiftOutOfRange, match=">> by 64 on a 64-bit uint64"):
        checked(np.uint64(1), 64)
    with pytest.raises(ShiftOutOfRange, match="by -1"):
        checked(np.uint64(1), -1)
    with pytest.raises(ShiftOutOfRange, match="by 8 on a 8-bit uint8"):
        checked(np.uint8(1), 8)


ENCODE_TARGETS = ["e4m3", "e5m2fnuz", "fp16", "bf16", "e2m1", "fixed8.4",
                  bitsim.FixedFormat(64, 70, overflow="wrap"), bitsim.FixedFormat(40, -20, signed=False),
                  bitsim.FloatFormat(8, 23, specials="fn", overflow="saturate")]


@pytest.mark.parametrize("mode", MODES)
def test_encode_and_decode(mode):
    x32, x64 = float32_edges(), float64_edges()
    with checked_simulator():
        for fmt in ENCODE_TARGETS:
            for x in (x32, x64):
                want = bitsim.encode(x, fmt, mode, return_flags=True, **sr(mode))
                same(bitsim.encode(x, fmt, mode, return_flags=True, backend="cuda", **sr(mode)), want,
                     f"encode {x.dtype} -> {fmt} {mode}")
                same(bitsim.encode(x, fmt, mode, backend="cuda", **sr(mode)), want[0],      # the fast paths
                     f"encode {x.dtype} -> {fmt} {mode}, no flags")
        if mode == "rne":
            for fmt in ("e4m3", "e5m2", "fp16", "fixed8.4", "e8m0"):
                codes = bitsim.format(fmt).codes() if bitsim.format(fmt).bits <= 8 else bitsim.encode(x32, fmt)
                same(bitsim.decode(codes, fmt, backend="cuda"), bitsim.decode(codes, fmt), f"decode {fmt}")


@pytest.mark.parametrize("mode", MODES)
def test_convert_between_formats(mode):
    every_e5m2 = np.arange(256, dtype=np.uint8)
    fp16 = fp16_operands(1)
    fixed = boundary_codes(bitsim.FixedFormat(64, 30)).astype(np.uint64)
    cases = [(every_e5m2, "e5m2", "e2m1"), (every_e5m2, "e5m2", "fixed8.4"), (fp16, "fp16", "e4m3"),
             (fp16, "fp16", bitsim.FixedFormat(64, 60, overflow="wrap")), (fp16, "fp16", "fp64"),
             (fixed, bitsim.FixedFormat(64, 30), "bf16"), (fixed, bitsim.FixedFormat(64, 30), "e4m3")]
    with checked_simulator():
        for codes, src, dst in cases:
            want = bitsim.convert(codes, src, dst, mode, return_flags=True, **sr(mode))
            same(bitsim.convert(codes, src, dst, mode, return_flags=True, backend="cuda", **sr(mode)), want,
                 f"convert {src} -> {dst} {mode}")


@pytest.mark.parametrize("mode", MODES)
def test_float_ops(mode):
    every = np.arange(256, dtype=np.uint16)
    a2, b2 = (every >> 4).astype(np.uint8), (every & 15).astype(np.uint8)          # every e2m1 pair
    fp16 = [fp16_operands(seed) for seed in (2, 3, 4)]
    with checked_simulator():
        for op in ("add", "sub", "mul", "div"):
            fn = getattr(bitsim.ops, op)
            same(fn(a2, b2, "e2m1", mode, backend="cuda", **sr(mode, 5)), fn(a2, b2, "e2m1", mode, **sr(mode, 5)),
                 f"e2m1 {op} {mode}")
            same(fn(*fp16[:2], "fp16", mode, backend="cuda", **sr(mode)), fn(*fp16[:2], "fp16", mode, **sr(mode)),
                 f"fp16 {op} {mode}")
        same(bitsim.ops.sqrt(fp16[0], "fp16", mode, backend="cuda", **sr(mode)),
             bitsim.ops.sqrt(fp16[0], "fp16", mode, **sr(mode)), f"sqrt {mode}")
        kw = {"in_formats": ("fp16", "fp16", "fp16"), **sr(mode)}
        same(bitsim.ops.fma(*fp16, "e4m3", mode, backend="cuda", **kw), bitsim.ops.fma(*fp16, "e4m3", mode, **kw),
             f"fma {mode}")
        if mode == "rne":
            for op in ("eq", "lt", "le", "min", "max"):
                fn = getattr(bitsim.ops, op)
                same(fn(*fp16[:2], "fp16", backend="cuda"), fn(*fp16[:2], "fp16"), op)


@pytest.mark.parametrize("case", [1, 7])   # 128-bit products; binary points 320 bits apart
def test_fixed_point_ops(case):
    fa, fb, out = WIDE[case]
    a = np.repeat(boundary_codes(fa), boundary_codes(fb).size).astype(fa.code_dtype)
    b = np.tile(boundary_codes(fb), boundary_codes(fa).size).astype(fb.code_dtype)
    with checked_simulator():
        for mode in ("rdn", "rto", "sr"):
            kw = sr(mode, 62)
            for op in ("add", "sub", "mul"):
                fn = getattr(bitsim.fixed, op)
                same(fn(a, b, fa, fb, out, mode, backend="cuda", **kw), fn(a, b, fa, fb, out, mode, **kw),
                     f"{op} {mode}")
            for n in (-130, -64, -1, 63, 64):
                same(bitsim.fixed.shift(a, fa, n, out, mode, backend="cuda", **kw),
                     bitsim.fixed.shift(a, fa, n, out, mode, **kw), f"shift {n} {mode}")


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxint8", "bfp8_qpytorch"])
def test_block_encode(name):
    fmt = bitsim.format(name)
    x = float32_edges(100)
    x = x[np.isfinite(x)][:512].reshape(16, 32)              # blocks of huge, tiny and subnormal values
    qpytorch = fmt.profile == "qpytorch_bfp"
    with checked_simulator():
        for kw in ({"rounding": "rna"} if qpytorch else {},
                   {"rounding": "sr", "seed": 4, "sr_bits": 23 - fmt.element.bits if qpytorch else 10}):
            want = bitsim.encode(x, fmt, **kw)
            got = bitsim.encode(x, fmt, backend="cuda", **kw)
            same((got.codes, got.scales), (want.codes, want.scales), f"{name} {kw}")
            same(bitsim.decode(want, backend="cuda").view(np.uint64), bitsim.decode(want).view(np.uint64),
                 f"decode {name}")


E4M3, FP16, FP32 = bitsim.format("e4m3"), bitsim.format("fp16"), bitsim.format("fp32")
INT8 = bitsim.FixedFormat(8, 0)
DOT_UNITS = {   # one per kernel path: float64 lanes, generic chains (chunked, pairwise), registers, native
    "float_lanes": DotUnit(E4M3, E4M3, FloatAcc(FP16, "rtz"), FP16),
    "chunked": DotUnit(E4M3, E4M3, ChunkedAcc(3, FloatAcc(FP16), FloatAcc(FP32, "rto")), FP16),
    "pairwise": DotUnit(E4M3, E4M3, FloatAcc(FP16, order="pairwise"), FP32, c=FP16),
    "split_k": DotUnit(E4M3, E4M3, SplitKAcc(3, FloatAcc(FP16, "rdn"), FloatAcc(FP32)), FP16),
    "kulisch": DotUnit(E4M3, E4M3, KulischAcc(), FP32, c=FP16),
    "kulisch_narrow": DotUnit(E4M3, E4M3, KulischAcc(width=20, overflow="saturate"), FP16),
    "int_wrap": DotUnit(INT8, INT8, IntAcc(16, "wrap"), bitsim.FixedFormat(16, 0, overflow="wrap")),
    "wang": "wang_fp8",
}


@pytest.mark.parametrize("name", sorted(DOT_UNITS))
def test_dot_and_matmul_through_every_accumulator_model(name):
    unit = bitsim.unit(DOT_UNITS[name]) if isinstance(DOT_UNITS[name], str) else DOT_UNITS[name]
    rng = np.random.default_rng(6)
    if isinstance(unit.a, bitsim.FixedFormat):
        A = rng.integers(0, 256, (9, 12)).astype(np.uint8)
        B = rng.integers(0, 256, (12, 5)).astype(np.uint8)
        rows_a, rows_b = rng.integers(0, 256, (2, 12, 12)).astype(np.uint8)
    else:
        a, b = adversarial_rows(unit.a, 12, rng)
        A, B = bitsim.encode(a, unit.a), np.ascontiguousarray(bitsim.encode(b[:5], unit.b).T)
        rows_a, rows_b = bitsim.encode(a, unit.a), bitsim.encode(b, unit.b)
    C = bitsim.encode(rng.standard_normal((A.shape[0], B.shape[1])) * 4, unit.c) \
        if isinstance(unit.c, bitsim.FloatFormat) else None
    with checked_simulator():
        same(bitsim.matmul(A, B, unit, C, return_flags=True, backend="cuda"),
             bitsim.matmul(A, B, unit, C, return_flags=True), f"matmul {name}")
        same(bitsim.dot(rows_a, rows_b, unit, return_flags=True, backend="cuda"),
             bitsim.dot(rows_a, rows_b, unit, return_flags=True), f"dot {name}")


@pytest.mark.parametrize("name", ["nvidia_h100_e4m3_fp32", "nvidia_v100_fp16_fp16", "nvidia_h100_e4m3_fp32_cublas"])
def test_tensor_core_units(name):
    unit = PRESETS[name]
    rng = np.random.default_rng(8)
    K = 2 * unit.instruction_k + 3 if unit.gemm is None else 136
    x = rng.standard_normal((4, K)) * 2.0 ** rng.integers(-12, 12, (4, K))
    A = bitsim.encode(x, unit.fmt_in)
    B = np.ascontiguousarray(bitsim.encode(rng.standard_normal((3, K)), unit.fmt_in).T)
    with checked_simulator():
        same(bitsim.matmul(A, B, unit, backend="cuda"), bitsim.matmul(A, B, unit), f"matmul {name}")
        same(bitsim.dot(A, A[::-1].copy(), unit, backend="cuda"), bitsim.dot(A, A[::-1].copy(), unit), f"dot {name}")


@pytest.mark.parametrize("name", ["bm8_kulisch", "mxfp8_fp32"])
def test_block_format_dots(name):
    unit = bitsim.unit(name)
    rng = np.random.default_rng(4)
    K = unit.block_length + 5
    A = bitsim.encode(rng.standard_normal((3, K)) * 2.0 ** rng.integers(-8, 8, (3, 1)), unit.a)
    B = bitsim.encode(np.ascontiguousarray(rng.standard_normal((K, 2))), unit.b)
    C = bitsim.encode(rng.standard_normal((3, 2)), unit.c)
    with checked_simulator():
        same(bitsim.matmul(A, B, unit, C, return_flags=True, backend="cuda"),
             bitsim.matmul(A, B, unit, C, return_flags=True), name)


@pytest.mark.parametrize("recipe", ["wang_fp8", "int8", "bm8", "mxfp8", "wage_2888_paper"])
def test_a_training_step_of_each_recipe_family(recipe):
    """One SGD step of a conv / relu / max-pool / linear net with every bitsim call on the GPU backend (the
    checked simulator) ends in the CPU's weight codes: quantizers, block formats, GEMM units, the loss
    and the rounded update of one recipe of each family (every recipe passed this in session 11; the
    others differ in formats only)."""
    from nets.train import weight_digest
    x = np.random.default_rng(1).random((2, 1, 4, 4))
    digests = []
    wage = recipe.startswith("wage")                     # WAGE: no bias, plain descent, a power-of-two rate
    for backend in ("cpu", "cuda"):
        model = nn.Sequential([nn.Conv2d(1, 2, 3, padding=1, bias=not wage), nn.ReLU(), nn.MaxPool2d(2),
                               nn.Flatten(), nn.Linear(8, 3, bias=not wage)], recipe=recipe, seed=2)
        opt = model.recipe.optimizer(0.125, momentum=0.0 if wage else 0.9)
        with use_backend(backend), checked_simulator() if backend == "cuda" else contextlib.nullcontext():
            nn.train_step(model, opt, x, np.array([0, 2]))
        digests.append(weight_digest(model))
    assert digests[0] == digests[1]


def test_unchecked_kernels_are_restored():
    from bitsim.kernels import cuda as G
    before = G.convert_one
    with checked_simulator():
        assert G.convert_one is not before
    assert G.convert_one is before
