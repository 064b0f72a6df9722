"""bitsim.ops against the exact reference: every operand pair of 8-bit formats, values and flags."""

import numpy as np
import pytest

import bitsim
from bitsim import ops, ref
from bitsim.formats import format as as_format
from boundary import MODES, assert_codes_equal

EXHAUSTIVE_FORMATS = ["e4m3", "e5m2", "bm_e2m5"]
BINARY = ["add", "sub", "mul", "div"]


def all_pairs(bits_a=8, bits_b=8):
    a = np.repeat(np.arange(1 << bits_a, dtype=np.uint64), 1 << bits_b)
    b = np.tile(np.arange(1 << bits_b, dtype=np.uint64), 1 << bits_a)
    return a, b


def ref_table(fn, operand_arrays, *args, **kw):
    """Reference (codes, flags) arrays, one ref call per element."""
    res = [fn(*(int(x) for x in xs), *args, **kw) for xs in zip(*operand_arrays)]
    return np.array([r[0] for r in res], dtype=np.uint64), np.array([r[1] for r in res], dtype=np.uint64)


def check(got, want, operands, context):
    labels = [" ".join(f"{int(x):#x}" for x in xs) for xs in zip(*operands)]
    assert_codes_equal(got[0], want[0], labels, context + " codes")
    assert_codes_equal(got[1], want[1], labels, context + " flags")


@pytest.mark.parametrize("name", EXHAUSTIVE_FORMATS)
@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("mode", MODES)
def test_every_pair(name, op, mode):
    fmt = as_format(name)
    a, b = all_pairs()
    got = getattr(ops, op)(a.astype(np.uint8), b.astype(np.uint8), fmt, mode)
    want = ref_table(getattr(ref.ops, op), (a, b), fmt, mode)
    check(got, want, (a, b), f"{op} {name} {mode}")


@pytest.mark.parametrize("name", EXHAUSTIVE_FORMATS + ["e5m2fnuz", "e2m1", "e8m0"])
@pytest.mark.parametrize("mode", MODES)
def test_sqrt_every_code(name, mode):
    fmt = as_format(name)
    a = np.arange(1 << fmt.bits, dtype=np.uint64)
    got = ops.sqrt(a.astype(fmt.code_dtype), fmt, mode)
    check(got, ref_table(ref.ops.sqrt, (a,), fmt, mode), (a,), f"sqrt {name} {mode}")


@pytest.mark.parametrize("mode", MODES)
def test_mixed_formats_every_pair_into_fp16(mode):
    """e4m3 x e5m2 -> fp16 (exact products) and e4m3 + e5m2 -> e4m3 (rounded sums)."""
    a, b = all_pairs()
    fa, fb = as_format("e4m3"), as_format("e5m2")
    got = ops.mul(a.astype(np.uint8), b.astype(np.uint8), "fp16", mode, in_formats=(fa, fb))
    check(got, ref_table(ref.ops.mul, (a, b), as_format("fp16"), mode, in_formats=(fa, fb)), (a, b), "mul mixed")
    got = ops.add(a.astype(np.uint8), b.astype(np.uint8), "e4m3", mode, in_formats=(fa, fb))
    check(got, ref_table(ref.ops.add, (a, b), fa, mode, in_formats=(fa, fb)), (a, b), "add mixed")


def random_triples(fmts, n, seed):
    rng = np.random.default_rng(seed)
    cols = [rng.integers(0, 1 << f.bits, n, dtype=np.uint64) for f in fmts]
    return cols


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("names", [("e4m3", "e4m3", "e4m3", "e4m3"), ("e5m2", "e5m2", "e5m2", "e5m2"),
                                   ("e4m3", "e5m2", "fp16", "fp16"), ("bm_e2m5", "bm_e2m5", "bm_e2m5", "bf16"),
                                   ("fp16", "fp16", "fp16", "fp16")])
def test_fma_sampled(mode, names):
    fa, fb, fc, fo = (as_format(n) for n in names)
    a, b, c = random_triples((fa, fb, fc), 30000, hash(names) % 1000)
    # cancellation-heavy cases: c = -(a*b) rounded, so the exact sum is tiny or zero
    prod, _ = ops.mul(a[:5000].astype(fa.code_dtype), b[:5000].astype(fb.code_dtype), fc, "rtz", in_formats=(fa, fb))
    c[:5000] = prod.astype(np.uint64) ^ (1 << (fc.bits - 1))
    got = ops.fma(a.astype(fa.code_dtype), b.astype(fb.code_dtype), c.astype(fc.code_dtype), fo, mode,
                  in_formats=(fa, fb, fc))
    want = ref_table(ref.ops.fma, (a, b, c), fo, mode, in_formats=(fa, fb, fc))
    check(got, want, (a, b, c), f"fma {names} {mode}")


@pytest.mark.parametrize("op", ["add", "mul", "div", "sqrt", "fma"])
@pytest.mark.parametrize("sr_bits", [1, 4, 13])
def test_stochastic_rounding_with_explicit_bits(op, sr_bits):
    fmt = as_format("e5m2")
    arity = {"sqrt": 1, "fma": 3}.get(op, 2)
    operands = random_triples((fmt,) * arity, 20000, sr_bits)
    rand = np.random.default_rng(sr_bits + 7).integers(0, 1 << sr_bits, 20000, dtype=np.uint64)
    got = getattr(ops, op)(*(x.astype(np.uint8) for x in operands), fmt, "sr", sr_bits=sr_bits, rand=rand)
    res = [getattr(ref.ops, op)(*(int(x) for x in xs), fmt, "sr", rand=int(r), sr_bits=sr_bits)
           for xs, r in zip(zip(*operands), rand)]
    want = (np.array([r[0] for r in res], dtype=np.uint64), np.array([r[1] for r in res], dtype=np.uint64))
    check(got, want, operands, f"sr {op}")


def test_stochastic_rounding_large_sr_bits_fp16():
    """fp16 results with many random bits: the exact bits below the LSB are all used."""
    fmt = as_format("fp16")
    sr_bits = ops.SR_HEADROOM - fmt.man_bits
    a, b, c = random_triples((fmt,) * 3, 5000, 99)
    rand = np.random.default_rng(5).integers(0, 1 << sr_bits, 5000, dtype=np.uint64)
    for op, operands in (("add", (a, b)), ("div", (a, b)), ("fma", (a, b, c)), ("sqrt", (a,))):
        got = getattr(ops, op)(*(x.astype(np.uint16) for x in operands), fmt, "sr", sr_bits=sr_bits, rand=rand)
        res = [getattr(ref.ops, op)(*(int(x) for x in xs), fmt, "sr", rand=int(r), sr_bits=sr_bits)
               for xs, r in zip(zip(*operands), rand)]
        want = (np.array([r[0] for r in res], dtype=np.uint64), np.array([r[1] for r in res], dtype=np.uint64))
        check(got, want, operands, f"sr {op} fp16 {sr_bits} bits")


@pytest.mark.parametrize("tininess", ["before", "after"])
def test_tininess_selectable(tininess):
    fmt = as_format("e5m2")
    a, b = all_pairs()
    got = ops.mul(a.astype(np.uint8), b.astype(np.uint8), fmt, "rne", tininess=tininess)
    want = ref_table(ref.ops.mul, (a, b), fmt, "rne", tininess=tininess)
    check(got, want, (a, b), f"mul tininess {tininess}")


@pytest.mark.parametrize("name", ["e4m3", "e5m2", "e5m2fnuz", "bm_e2m5"])
@pytest.mark.parametrize("op,ref_fn", [("eq", "eq"), ("lt", "lt"), ("le", "le")])
def test_comparisons_every_pair(name, op, ref_fn):
    fmt = as_format(name)
    a, b = all_pairs()
    got, flags = getattr(ops, op)(a.astype(np.uint8), b.astype(np.uint8), fmt)
    want = ref_table(getattr(ref.ops, ref_fn), (a, b), fmt)
    check((got.astype(np.uint64), flags), want, (a, b), f"{op} {name}")


@pytest.mark.parametrize("name", ["e4m3", "e5m2", "e5m2fnuz"])
@pytest.mark.parametrize("op,nan,ref_fn", [("min", "propagate", "minimum"), ("max", "propagate", "maximum"),
                                           ("min", "ignore", "minimum_number"), ("max", "ignore", "maximum_number")])
def test_min_max_every_pair(name, op, nan, ref_fn):
    fmt = as_format(name)
    a, b = all_pairs()
    got = getattr(ops, op)(a.astype(np.uint8), b.astype(np.uint8), fmt, nan=nan)
    check(got, ref_table(getattr(ref.ops, ref_fn), (a, b), fmt), (a, b), f"{op} {nan} {name}")


@pytest.mark.parametrize("name", ["e4m3", "e5m2", "e5m2fnuz", "fp16"])
def test_neg_and_abs_every_code(name):
    fmt = as_format(name)
    codes = fmt.codes()
    for fn, value_fn in ((ops.neg, lambda v: -v), (ops.abs, abs)):
        out = fn(codes, fmt)
        for c, o in zip(codes.tolist(), out.tolist()):
            kind, negative, value = ref.classify(c, fmt)
            okind, onegative, ovalue = ref.classify(o, fmt)
            if kind == "finite":
                assert okind == "finite" and ovalue == value_fn(value), (fn.__name__, hex(c), hex(o))
                if value == 0 and fmt.has_negative_zero:
                    want_negative = (not negative) if fn is ops.neg else False
                    assert onegative == want_negative, (fn.__name__, hex(c), hex(o))
            elif kind == ref.INF:
                assert okind == ref.INF and onegative == ((not negative) if fn is ops.neg else False)
            else:
                assert okind in (ref.NAN, ref.SNAN), (fn.__name__, hex(c), hex(o))


def test_convert_returns_flags():
    codes, flags = ops.convert(np.array([0x3C00, 0x3C01, 0x7BFF], dtype=np.uint16), "fp16", "e4m3")
    want = [ref.convert(c, as_format("fp16"), as_format("e4m3")) for c in (0x3C00, 0x3C01, 0x7BFF)]
    assert codes.tolist() == [w[0] for w in want] and flags.tolist() == [w[1] for w in want]


def test_broadcasting_like_numpy():
    fmt = as_format("e4m3")
    a = np.arange(256, dtype=np.uint8).reshape(16, 16)
    b = np.arange(16, dtype=np.uint8)
    got, flags = ops.add(a, b, fmt)
    want, wflags = ops.add(a, np.broadcast_to(b, (16, 16)).copy(), fmt)
    assert got.shape == (16, 16) and np.array_equal(got, want) and np.array_equal(flags, wflags)


def test_stochastic_rounding_independent_of_thread_count():
    import numba
    fmt = as_format("e5m2")
    a, b = (x.astype(np.uint8) for x in random_triples((fmt, fmt), 100000, 3))
    before = numba.get_num_threads()
    try:
        results = []
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            results.append(ops.mul(a, b, fmt, "sr", sr_bits=8, seed=42)[0])
    finally:
        numba.set_num_threads(before)
    assert all(np.array_equal(results[0], r) for r in results[1:])
    pieces = np.concatenate([ops.mul(a[:500], b[:500], fmt, "sr", sr_bits=8, seed=42)[0],
                             ops.mul(a[500:], b[500:], fmt, "sr", sr_bits=8, seed=42, offset=500)[0]])
    assert np.array_equal(pieces, results[0])


def test_stochastic_rounding_is_unbiased_on_average():
    """1 + 2**-5 (between e5m2's 1.0 and 1.25) times 1.0, rounded with 16 random bits many times."""
    fmt = as_format("e5m2")
    x = bitsim.encode(np.array([1.0]), "fp16")
    one = bitsim.encode(np.array([1.0]), "fp16")
    x = x + np.uint16(0x20)                       # 1 + 2**-5 in fp16
    n = 1 << 16
    got, _ = ops.mul(np.repeat(x, n), np.repeat(one, n), fmt, "sr", sr_bits=16, seed=9,
                     in_formats=("fp16", "fp16"))
    ups = int(np.count_nonzero(got == bitsim.encode(np.array([1.25]), fmt)[0]))
    # P(up) = (2**-5 / 2**-2) = 1/8; binomial sd = sqrt(n p (1-p)) ~ 85
    assert abs(ups - n / 8) < 5 * 85
