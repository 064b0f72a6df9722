"""GEMM (library) level over the tensor-core chain (bitsim.accum.gemm_level): promotion, split-K and the
epilogue of tensorcore_models.md 1.3, held code word for code word to the exact reference
bitsim.ref.gemm_level, plus hand-derived vectors (the promotion-interval test of 2.3) and the
``_cublas`` presets."""

import dataclasses

import numpy as np
import pytest

import bitsim
from bitsim.accum import PRESETS, fused_dot, unit
from bitsim.accum.gemm_level import GemmLevel, chunk_columns, gemm_dot, rn_add, split_columns
from bitsim.ref import gemm_level as ref
from bitsim.ref import ops as ref_ops

FP32 = bitsim.format("fp32")
NAN32, PINF32, NINF32, NZERO32 = 0x7FFFFFFF, 0x7F800000, 0xFF800000, 0x80000000

GEMMS = [
    GemmLevel(None),
    GemmLevel(128),
    GemmLevel(64),
    GemmLevel(128, split_k=2, split_tile_k=128),
    GemmLevel(64, split_k=3, split_tile_k=64, split_layout="interleaved", combine="pairwise"),
    GemmLevel(None, split_k=5, split_tile_k=32, combine="pairwise"),
    GemmLevel(None, split_k=3, split_tile_k=96, split_layout="interleaved"),
    GemmLevel(128, split_k=2, split_tile_k=32, split_layout="interleaved", combine="pairwise"),
]
KS = (0, 1, 31, 96, 128, 129, 200, 384, 520)


def h100(fmt_in, gemm):
    """The H100 wgmma FP8 -> fp32 chain with a GEMM level."""
    return dataclasses.replace(unit(f"nvidia_h100_{fmt_in}_fp32"), gemm=gemm)


def codes(values, fmt):
    return bitsim.encode(np.asarray(values, dtype=np.float64), fmt).astype(np.int64)


def random_operands(rng, fmt, n, K):
    """Signed FP8 codes with magnitudes 2**U(-4, 4): W13 windows cut often, so promotion shows."""
    values = rng.choice([-1.0, 1.0], (n, K)) * 2.0 ** rng.uniform(-4, 4, (n, K))
    return codes(values, fmt)


def run_both(u, A, B, C):
    """(fast path through bitsim.dot, exact reference) codes."""
    fast = bitsim.dot(A, B, u, c=C).astype(np.int64)
    slow = ref.gemm_rows(A, B, C, u.fmt_in, u.acc, u.gemm, u.instruction_k)
    return fast, slow


# ---------------------------------------------------------------------------------- fast vs reference


@pytest.mark.parametrize("fmt_in", ["e4m3", "e5m2"])
@pytest.mark.parametrize("gemm", GEMMS, ids=[f"g{i}" for i in range(len(GEMMS))])
def test_fast_path_equals_reference(fmt_in, gemm):
    rng = np.random.default_rng([GEMMS.index(gemm), len(fmt_in), ord(fmt_in[1])])
    u = h100(fmt_in, gemm)
    for K in KS:
        A, B = random_operands(rng, fmt_in, 3, K), random_operands(rng, fmt_in, 3, K)
        C = codes(rng.normal(size=3) * 64.0, "fp32")
        for c in (None, C):
            fast, slow = run_both(u, A, B, c)
            assert np.array_equal(fast, slow), (K, c is not None, fast, slow)


@pytest.mark.parametrize("gemm", GEMMS, ids=[f"g{i}" for i in range(len(GEMMS))])
def test_gemm_form_equals_the_rows(gemm):
    """``bitsim.matmul`` (chunks as GEMMs of chunk columns, ``gemm_matmul``) equals ``bitsim.dot`` of every
    row with every column, with and without C, ragged K included."""
    rng = np.random.default_rng([GEMMS.index(gemm), 11])
    u = h100("e4m3", gemm)
    for K in (0, 129, 520):
        A, BT = random_operands(rng, "e4m3", 3, K), random_operands(rng, "e4m3", 4, K)
        C = codes(rng.normal(size=(3, 4)) * 64.0, "fp32")
        for c in (None, C):
            D = bitsim.matmul(A, np.ascontiguousarray(BT.T), u, c)
            rows = bitsim.dot(np.repeat(A, 4, axis=0), np.tile(BT, (3, 1)), u, c=None if c is None else c.reshape(-1))
            assert np.array_equal(D.reshape(-1), rows), (K, c is not None)


def test_matmul_is_dot_over_rows_and_promotion_changes_results():
    rng = np.random.default_rng(7)
    u = unit("nvidia_h100_e4m3_fp32_cublas")
    A, B = random_operands(rng, "e4m3", 4, 520), random_operands(rng, "e4m3", 520, 3)
    C = codes(rng.normal(size=(4, 3)), "fp32")
    D = bitsim.matmul(A, B, u, C=C).astype(np.int64)
    rows_a, rows_b = np.repeat(A, 3, axis=0), np.tile(B.T, (4, 1))
    assert np.array_equal(D.reshape(-1), ref.gemm_rows(rows_a, rows_b, C.reshape(-1), u.fmt_in, u.acc, u.gemm, 32))
    plain = bitsim.dot(rows_a, rows_b, "nvidia_h100_e4m3_fp32").astype(np.int64)
    assert (bitsim.dot(rows_a, rows_b, u).astype(np.int64) != plain).any()  # the comparison is not vacuous


# ---------------------------------------------------------------------------------------- schedule


def test_split_and_chunk_schedule_by_hand():
    # K = 300, tiles of 64: t0 0-63, t1 64-127, t2 128-191, t3 192-255, t4 256-299 (ragged).
    inter = GemmLevel(None, split_k=3, split_tile_k=64, split_layout="interleaved")
    expected = [list(range(0, 64)) + list(range(192, 256)), list(range(64, 128)) + list(range(256, 300)),
                list(range(128, 192))]
    # contiguous, tiles of 128 (t0, t1, t2 = 256-299), S = 2: ceil(3 / 2) = 2 tiles per split.
    contig = GemmLevel(None, split_k=2, split_tile_k=128)
    # K = 100, tiles of 32 (4 tiles), S = 5: one tile per split, the last split owns nothing.
    spare = GemmLevel(None, split_k=5, split_tile_k=32)
    cases = [(300, inter, expected), (300, contig, [list(range(256)), list(range(256, 300))]),
             (100, spare, [list(range(0, 32)), list(range(32, 64)), list(range(64, 96)), list(range(96, 100)), []])]
    for K, gemm, want in cases:
        assert [list(s) for s in split_columns(K, gemm)] == want
        assert ref.split_slices(K, gemm) == want
    chunks = chunk_columns(np.array(expected[1]), GemmLevel(96))   # 108 elements -> 96 + 12
    assert [list(c) for c in chunks] == [expected[1][:96], expected[1][96:]]
    assert ref.chunk_slices(expected[1], GemmLevel(96)) == [expected[1][:96], expected[1][96:]]


# ------------------------------------------------------------------------------- hand-derived vectors


def promotion_vector(small_at):
    """tensorcore_models.md 2.3 'Promotion interval': a large product 16*16 = 2**8 at k = 0 and small
    products 2**-4 * 2**-4 = 2**-8 at the given k (e4m3, K = 256)."""
    a = np.zeros(256)
    a[0] = 16.0
    a[list(small_at)] = 2.0 ** -4
    return codes(a[None, :], "e4m3")


def test_promotion_interval_vector():
    # One chain (no promotion): every instruction after k = 0 has c = 256 (exponent 8) in its group, so
    # E = 8, the window keeps multiples of 2**(8-13) = 2**-5 and both 2**-8 products are cut: 256.0.
    # cuBLAS (N_C = 128): chunk 0 (k 0-127) = 256 (the k = 127 product is cut the same way), chunk 1
    # (k 128-255) = 2**-8 exactly; acc = RN32(RN32(+0 + 256) + 2**-8) = 256 + 2**-8 = 256.00390625:
    # 256 = 0x43800000 with ulp 2**-15, plus 2**-8 = 2**7 ulps -> 0x43800080.
    both = promotion_vector([127, 128])
    assert bitsim.dot(both, both, "nvidia_h100_e4m3_fp32")[0] == 0x43800000
    assert bitsim.dot(both, both, "nvidia_h100_e4m3_fp32_cublas")[0] == 0x43800080
    assert FP32.value_of(0x43800080) == 256.00390625
    # the small term at k = 127 only shares chunk 0 with the large one: cut, 256.0.
    same_chunk = promotion_vector([127])
    assert bitsim.dot(same_chunk, same_chunk, "nvidia_h100_e4m3_fp32_cublas")[0] == 0x43800000
    # N_C = 64 puts k = 127 in another chunk than k = 0: 256 + 2 * 2**-8 = 0x43800100.
    assert bitsim.dot(both, both, h100("e4m3", GemmLevel(64)))[0] == 0x43800100


def test_api_c_is_added_in_the_epilogue_not_as_the_instruction_c():
    # 16*16 + C with C = 2**-8: as the instruction's c it joins the group (E = 8) and is cut -> 256.0;
    # in the epilogue RN32(256 + 2**-8) = 0x43800080.
    a = codes([[16.0]], "e4m3")
    c = codes([2.0 ** -8], "fp32")
    assert bitsim.dot(a, a, "nvidia_h100_e4m3_fp32", c=c)[0] == 0x43800000
    assert bitsim.dot(a, a, "nvidia_h100_e4m3_fp32_cublas", c=c)[0] == 0x43800080
    assert bitsim.dot(a, a, h100("e4m3", GemmLevel(None)), c=c)[0] == 0x43800080


# ------------------------------------------------------------------------------- zeros and specials


def test_rn_add_signed_zeros_and_specials():
    pairs = [(NZERO32, NZERO32, NZERO32), (0, NZERO32, 0), (NZERO32, 0, 0), (0x3F800000, 0xBF800000, 0),
             (PINF32, 0x3F800000, PINF32), (PINF32, NINF32, NAN32), (0x7FC00001, 0, NAN32),
             (0x7F7FFFFF, 0x7F7FFFFF, PINF32)]
    x, y, want = (np.array(col, np.int64) for col in zip(*pairs))
    assert np.array_equal(rn_add(x, y, FP32), want)
    for a, b, w in pairs:  # the exact reference agrees up to the NaN code
        got = ref_ops.add(a, b, FP32)[0]
        assert got == w or (w == NAN32 and FP32.is_nan_code(got))


@pytest.mark.parametrize("gemm", [GemmLevel(128), GemmLevel(None, split_k=2, split_tile_k=128, combine="pairwise")])
def test_zeros_and_specials_through_the_gemm_level(gemm):
    u = h100("e5m2", gemm)
    K = 256
    one, inf, nan = 0x3C, 0x7C, 0x7F           # e5m2 codes of 1.0, +inf, a NaN
    A = np.zeros((7, K), np.int64)
    B = np.zeros((7, K), np.int64)
    B[:] = one
    A[1, 0] = inf                               # +inf in chunk / split 0
    A[2, 0], A[2, 200] = inf, inf | 0x80        # +inf and -inf in different chunks / splits -> NaN
    A[3, 5] = nan
    A[4, 0], A[4, 1] = one, one | 0x80          # 1 - 1 = +0
    A[5, 0] = inf                               # +inf + C = -inf -> NaN
    A[6, 130] = one                             # 1 + C(NaN payload) -> canonical NaN
    C = np.array([NZERO32, NZERO32, 0, 0x3F800000, NZERO32, NINF32, 0x7FC00001], np.int64)
    want_c = [0, PINF32, NAN32, NAN32, 0, NAN32, NAN32]        # +0 + -0 = +0 under RNE
    want = [0, PINF32, NAN32, NAN32, 0, PINF32, 0x3F800000]
    for c, expected in ((C, want_c), (None, want)):
        fast, slow = run_both(u, A, B, c)
        assert np.array_equal(fast, expected) and np.array_equal(slow, expected)
    empty = np.zeros((1, 0), np.int64)
    assert bitsim.dot(empty, empty, u, c=np.array([NZERO32]))[0] == 0
    assert bitsim.dot(empty, empty, u)[0] == 0


# -------------------------------------------------------------------------- presets and equivalences


def test_cublas_presets():
    for fmt_in in ("e4m3", "e5m2"):
        name = f"nvidia_h100_{fmt_in}_fp32_cublas"
        u = bitsim.unit(name)
        assert name in PRESETS and u is PRESETS[name] and u.name == name
        assert u.acc == unit(f"nvidia_h100_{fmt_in}_fp32").acc and u.instruction_k == 32
        assert (u.gemm.promotion_interval, u.gemm.split_k, u.gemm.combine) == (128, 1, "serial")
        assert "1.3" in u.source and "mmaemu" in u.source and "use_fast_accum=False" in u.source
    assert all(p.gemm is None for n, p in PRESETS.items() if not n.endswith("_cublas"))


def test_gemm_none_is_the_instruction_chain():
    rng = np.random.default_rng(3)
    A, B = random_operands(rng, "e4m3", 5, 300), random_operands(rng, "e4m3", 5, 300)
    c = codes(rng.normal(size=5), "fp32")
    base = unit("nvidia_h100_e4m3_fp32")
    chain = fused_dot(A, B, c, base.fmt_in, base.acc, instruction_k=32)
    stripped = dataclasses.replace(unit("nvidia_h100_e4m3_fp32_cublas"), gemm=None)
    for u in (base, stripped):
        assert np.array_equal(bitsim.dot(A, B, u, c=c).astype(np.int64), chain)
    # GemmLevel(None) without C is the chain from +0; with C, C goes to the epilogue.
    zero = np.zeros(5, np.int64)
    from_zero = fused_dot(A, B, zero, base.fmt_in, base.acc, instruction_k=32)
    assert np.array_equal(bitsim.dot(A, B, h100("e4m3", GemmLevel(None))).astype(np.int64), from_zero)


@pytest.mark.parametrize("K", [1, 32, 100, 128])
def test_cublas_up_to_128_is_the_chain_then_the_epilogue(K):
    rng = np.random.default_rng(K)
    for fmt_in in ("e4m3", "e5m2"):
        A, B = random_operands(rng, fmt_in, 6, K), random_operands(rng, fmt_in, 6, K)
        C = codes(rng.normal(size=6) * 8.0, "fp32")
        base = unit(f"nvidia_h100_{fmt_in}_fp32")
        chain = fused_dot(A, B, np.zeros(6, np.int64), base.fmt_in, base.acc, instruction_k=32)
        epilogue, _ = bitsim.ops.add(chain.astype(np.uint32), C.astype(np.uint32), "fp32")
        name = f"nvidia_h100_{fmt_in}_fp32_cublas"
        assert np.array_equal(bitsim.dot(A, B, name, c=C), epilogue)
        assert np.array_equal(bitsim.dot(A, B, name).astype(np.int64), chain)


# --------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(promotion_interval=0), ValueError, "promotion_interval"),
    (dict(promotion_interval=128.0), TypeError, "promotion_interval"),
    (dict(promotion_interval=True), TypeError, "promotion_interval"),
    (dict(promotion_interval=128, split_k=0), ValueError, "split_k"),
    (dict(promotion_interval=128, split_k=2), ValueError, "split_tile_k"),
    (dict(promotion_interval=128, split_k=2, split_tile_k=-32), ValueError, "split_tile_k"),
    (dict(promotion_interval=None, split_layout="strided"), ValueError, "split_layout"),
    (dict(promotion_interval=None, combine="tree"), ValueError, "combine"),
    (dict(promotion_interval=None, epilogue="bf16_add"), ValueError, "epilogue"),
    (dict(promotion_interval=None, source=3), TypeError, "source"),
])
def test_bad_gemm_level(kwargs, error, words):
    with pytest.raises(error, match=words):
        GemmLevel(**kwargs)


def test_bad_units_and_calls():
    base = unit("nvidia_h100_e4m3_fp32")
    with pytest.raises(ValueError, match="promotion_interval.*multiple.*32.*48"):
        dataclasses.replace(base, gemm=GemmLevel(48))
    with pytest.raises(ValueError, match="split_tile_k.*multiple"):
        dataclasses.replace(base, gemm=GemmLevel(None, split_k=2, split_tile_k=16))
    with pytest.raises(ValueError, match="fp32"):
        dataclasses.replace(unit("nvidia_h100_e4m3_fp16"), gemm=GemmLevel(128))
    with pytest.raises(TypeError, match="gemm"):
        dataclasses.replace(base, gemm="cublas")
    u = unit("nvidia_h100_e4m3_fp32_cublas")
    a = np.zeros((2, 40), np.int64)
    with pytest.raises(ValueError, match="C must have shape"):
        bitsim.dot(a, a, u, c=np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="C must be an integer array"):
        bitsim.dot(a, a, u, c=np.zeros(2))
    with pytest.raises(TypeError, match="GemmLevel"):
        gemm_dot(a, a, None, "e4m3", base.acc, "cublas", 32)
    with pytest.raises(ValueError, match="multiple"):
        gemm_dot(a, a, None, "e4m3", base.acc, GemmLevel(128), 96)
