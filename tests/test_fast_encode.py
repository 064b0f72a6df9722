"""The branch-free fast encode path gives the generic round-and-pack code word for every input.

The generic kernel (``cpu.convert_array``) is itself checked against ``bitsim.ref`` elsewhere; here
the fast kernel is held to it exhaustively over binary16 inputs and on boundary-heavy binary32/64
inputs, and directly to ``ref`` on boundary inputs.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import bitsim
from bitsim.core.fast_encode import FE_SAME_EXP
from bitsim.formats import FloatFormat, format as as_format
from bitsim.kernels import cpu
from bitsim.kernels.plans import fast_encode_plan
from bitsim.kernels.table_encode import table_encode_plan
from bitsim.rounding import mode_code
from boundary import MODES, assert_codes_equal, boundary_inputs, ref_encode_all

FP16, FP32, FP64 = as_format("fp16"), as_format("fp32"), as_format("fp64")
TARGETS = ["e4m3", "e5m2", "e4m3fnuz", "e5m2fnuz", "e3m2", "e2m3", "e2m1", "bf16", "fp16", "tf32",
           "bm_e2m5", "e3m4", "e5m2_sat", "e6m5b20"]
ALL_MODES = MODES + ("sr",)
FP16_TARGETS = [t for t in TARGETS if fast_encode_plan(FP16, as_format(t), 0) is not None]


def both_paths(src_codes, src, dst, mode, sr_bits=8, seed=None, rand=None):
    """(fast codes, generic codes) for a flat code array of ``src`` converted to ``dst``."""
    rm = mode_code(mode)
    plan = fast_encode_plan(src, dst, rm)
    assert plan is not None, f"{src} -> {dst} should take the fast path"
    empty = np.zeros(0, dtype=np.uint64)
    rand = empty if rand is None else rand
    seed = 0 if seed is None else seed
    fast = np.empty(src_codes.shape, dtype=dst.code_dtype)
    cpu.encode_fast_array(src_codes, plan, rm, sr_bits, seed, 3, 5, rand, fast)
    generic = np.empty(src_codes.shape, dtype=dst.code_dtype)
    cpu.convert_array(src_codes, src.params, dst.params, rm, sr_bits, seed, 3, 5, rand, 0, generic,
                      np.zeros(0, dtype=np.uint8))
    return fast, generic


@pytest.mark.parametrize("name", FP16_TARGETS)
@pytest.mark.parametrize("mode", ALL_MODES)
def test_every_binary16_input(name, mode):
    dst = as_format(name)
    codes = FP16.codes()
    fast, generic = both_paths(codes, FP16, dst, mode, seed=11 if mode == "sr" else None)
    assert_codes_equal(fast, generic, codes, f"fp16 -> {name} {mode}")


@pytest.mark.parametrize("name", TARGETS)
@pytest.mark.parametrize("mode", ALL_MODES)
@pytest.mark.parametrize("src", [FP32, FP64], ids=["fp32", "fp64"])
def test_boundary_inputs(name, mode, src):
    dst = as_format(name)
    xs = boundary_inputs(dst)
    with np.errstate(over="ignore"):
        xs = xs.astype(src.code_dtype.str.replace("u", "f"))
    tiny = np.array([5e-324, 1e-300, 2.0 ** -130, 1e-45, 3e-39], dtype=xs.dtype)
    xs = np.concatenate([xs, tiny, -tiny])
    codes = xs.view(src.code_dtype)
    fast, generic = both_paths(codes, src, dst, mode, sr_bits=40, seed=7 if mode == "sr" else None)
    assert_codes_equal(fast, generic, xs, f"{src} -> {name} {mode}")


@pytest.mark.parametrize("sr_bits", [1, 5, 23, 62])
def test_stochastic_explicit_bits_tiny_values(sr_bits):
    """Values far below the smallest subnormal: the random bits still see the exact discarded fraction."""
    dst = as_format("e4m3")
    xs = np.array([2.0 ** -k * 1.75 for k in range(9, 80)], dtype=np.float64)
    rng = np.random.default_rng(sr_bits)
    rand = rng.integers(0, 2 ** sr_bits, xs.size, dtype=np.uint64)
    rand[::3] = 2 ** sr_bits - 1
    fast, generic = both_paths(xs.view(np.uint64), FP64, dst, "sr", sr_bits=sr_bits, rand=rand)
    assert_codes_equal(fast, generic, xs, f"sr {sr_bits}")


@pytest.mark.parametrize("mode", ALL_MODES)
def test_public_encode_agrees_with_ref(mode):
    """End to end through bitsim.encode (which picks the fast path without flags) against bitsim.ref."""
    fmt = as_format("e4m3")
    xs = boundary_inputs(fmt)
    kw, rand = {}, None
    if mode == "sr":
        rand = np.random.default_rng(1).integers(0, 2 ** 6, xs.size, dtype=np.uint64)
        kw = dict(sr_bits=6, rand=rand)
    want, _ = ref_encode_all(xs, fmt, mode, rand=rand, sr_bits=kw.get("sr_bits"))
    assert_codes_equal(bitsim.encode(xs, fmt, mode, **kw), want, xs, f"encode e4m3 {mode}")


@settings(max_examples=40, deadline=None)
@given(exp_bits=st.integers(2, 8), man_bits=st.integers(1, 9), bias_shift=st.integers(-3, 3),
       specials=st.sampled_from(["ieee", "fn", "fnuz", "none"]),
       overflow=st.sampled_from(["inf", "saturate", "nan"]), mode=st.sampled_from(ALL_MODES))
def test_random_formats(exp_bits, man_bits, bias_shift, specials, overflow, mode):
    if overflow == "inf" and specials != "ieee":
        overflow = "saturate"
    if specials == "none" and overflow == "nan":
        overflow = "saturate"
    if specials == "fn" and exp_bits + man_bits < 2:
        return
    dst = FloatFormat(exp_bits, man_bits, bias=(1 << (exp_bits - 1)) - 1 + bias_shift,
                      specials=specials, overflow=overflow)
    src, codes = FP16, FP16.codes()                  # every binary16 input where fp16 -> dst is a fast case
    if fast_encode_plan(src, dst, 0) is None:
        src = FP32
        words = np.random.default_rng(exp_bits * 100 + man_bits).integers(0, 2 ** 32, 1 << 16, dtype=np.uint32)
        with np.errstate(over="ignore"):
            edges = boundary_inputs(dst).astype(np.float32)
        codes = np.concatenate([words, edges.view(np.uint32)])
    fast, generic = both_paths(codes, src, dst, mode, seed=5 if mode == "sr" else None)
    assert_codes_equal(fast, generic, codes, f"{src} -> {dst} {mode}")


def test_fp16_sources_cover_the_small_targets():
    assert {"e4m3", "e5m2", "e3m2", "e2m1", "bm_e2m5"} <= set(FP16_TARGETS)


@pytest.mark.parametrize("name", ["e8m0", "int8", "fixed8.4", "fp32", "bm_e3m0"])
def test_out_of_scope_targets_take_the_generic_path(name):
    assert fast_encode_plan(FP32, as_format(name), 0) is None


def test_flags_requests_take_the_generic_path_and_agree():
    x = np.random.default_rng(0).standard_normal(4096).astype(np.float32)
    codes, _ = bitsim.encode(x, "e4m3", return_flags=True)
    assert_codes_equal(bitsim.encode(x, "e4m3"), codes, x, "fast vs flags path")


TABLE_CASES = [(src, t) for src in (FP32, FP16) for t in TARGETS + ["fp8_wang", "fp16_wang", "e8m0"]
               if table_encode_plan(src, as_format(t), 0) is not None]


@pytest.mark.parametrize("src,name", TABLE_CASES, ids=[f"{s.name}-{t}" for s, t in TABLE_CASES])
def test_table_encode_matches_the_generic_kernel_on_every_entry(src, name):
    """Every table entry (sign, exponent, kept and round bits, sticky), each with two random fills of
    the bits below the index (NaN payloads included), in every deterministic mode: the table path of
    ``bitsim.encode`` gives the generic kernel's code word."""
    dst = as_format(name)
    shift = table_encode_plan(src, dst, 0)[1]
    rng = np.random.default_rng(7)
    index = np.repeat(np.arange(1 << (src.bits - shift), dtype=np.uint64), 4)
    low = rng.integers(0, 1 << shift, index.shape[0], dtype=np.uint64)
    low[0::4] = 0
    low[1::4] = 1                                                   # the representatives themselves
    codes = ((index << np.uint64(shift)) | low).astype(src.code_dtype)
    values = codes.view(np.float32 if src.bits == 32 else np.float16)
    for mode in MODES:
        assert table_encode_plan(src, dst, mode_code(mode)) is not None
        fast = bitsim.encode(values, dst, mode)
        generic, _ = bitsim.encode(values, dst, mode, return_flags=True)
        assert_codes_equal(fast, generic, f"{src.name} -> {name} {mode}")


def test_table_encode_scope():
    assert [t for s, t in TABLE_CASES if s is FP32] == ["e4m3", "e5m2", "e4m3fnuz", "e5m2fnuz", "e3m2", "e2m3",
                                                        "e2m1", "bm_e2m5", "e3m4", "e5m2_sat", "e6m5b20",
                                                        "fp8_wang"]
    assert table_encode_plan(FP32, as_format("e4m3"), mode_code("sr")) is None          # SR: random bits
    assert table_encode_plan(FP64, as_format("e4m3"), 0) is None                        # 2**17 entries
    assert table_encode_plan(FP32, as_format("fp16"), 0) is None                        # 2**21 entries


@pytest.mark.parametrize("mode", ALL_MODES)
def test_float32_to_bfloat16_every_kept_pattern(mode):
    """The same-exponent path (float32 -> bfloat16: only mantissa bits drop) on every top half-word with
    every kind of dropped half: zero, one ulp, just below / at / above the tie, all ones, random."""
    dst = as_format("bf16")
    assert fast_encode_plan(FP32, dst, mode_code(mode))[FE_SAME_EXP] == 1
    top = np.arange(1 << 16, dtype=np.uint32) << np.uint32(16)
    low = np.array([0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF, 0x1234, 0xC001], dtype=np.uint32)
    codes = (top[:, None] | low[None, :]).reshape(-1)
    fast, generic = both_paths(codes, FP32, dst, mode, seed=5 if mode == "sr" else None)
    assert_codes_equal(fast, generic, codes, f"fp32 -> bf16 {mode}")
