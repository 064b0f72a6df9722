"""bitsim.nn block-format recipes: each block GEMM of a Linear and a Conv2d layer against an independent
computation (hand-gathered operands, hand-blocked, through the rational reference ``bitsim.ref.block_dot``),
the recipes' determinism and trace, bad input. Kernels run on one thread (results do not depend on it;
one test checks two threads) because tiny parallel launches are slow on a loaded 2-core machine."""

import hashlib
from dataclasses import replace
from types import SimpleNamespace

import numba
import numpy as np
import pytest

import bitsim
import bitsim.nn as nn
from bitsim.blocks import BlockFormat
from bitsim.blocks.catalog import lookup_block
from bitsim.blocks.tiling import Tiling
from bitsim.nn.block_recipes import bm_units, block_unit
from bitsim.nn.block_tensor import BlockTraceEntry
from bitsim.ref.block_dot import block_matmul as ref_block_matmul

BLOCK_RECIPES = ("bm8", "bm6", "bm5", "bm6_nodenorm", "mxfp8")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


# ---------------------------------------------------------------- test layouts (small blocks: many per GEMM)

def tiled_setup(t=8):
    """BM8 elements in t x t tiles (the recipes' rule with a small tile), RNE."""
    cfg = replace(lookup_block("bm8"), tile=t, paper_tiles=True)
    return cfg.activation, cfg.weight, cfg.error, bm_units(cfg)


def along_setup(length=8):
    """MX E4M3 / E5M2 elements in 1-D blocks of ``length`` along each GEMM's K, RNE."""
    fwd, bwd = lookup_block("mxfp8_e4m3").replace(block=length), lookup_block("mxfp8_e5m2").replace(block=length)
    return fwd, fwd, bwd, nn.GemmUnits(block_unit(fwd, fwd), block_unit(bwd, fwd), block_unit(bwd, fwd))


SETUPS = {"tiles": tiled_setup, "along": along_setup}


def recipe_of(setup):
    fa, fw, fe, units = setup
    q = nn.LayerQuant(act=nn.BlockQuantizer(fa), weight=nn.BlockQuantizer(fw), error=nn.BlockQuantizer(fe))
    return nn.Recipe("block_test", nn.LayerRecipe(units, q))


def hand_operand(base, fmt, role, transposed):
    """The operand the unit reads, blocked by hand: tiles quantise the base matrix once and every
    operand row (a) or column (b) takes its tile's scale; 1-D blocks quantise the operand along K."""
    k_axis = 1 if role == "a" else 0
    if fmt.tiling.kind == "axis":
        m = np.ascontiguousarray(base.T if transposed else base)
        t = bitsim.encode(m, fmt.replace(axis=k_axis))
        return t.codes, t.scales
    t = bitsim.encode(base, fmt)
    codes, grid = (t.codes.T, t.scales.T) if transposed else (t.codes, t.scales)
    size = fmt.tiling.size
    rows, cols = codes.shape
    scales = grid[np.arange(rows) // size, :] if role == "a" else grid[:, np.arange(cols) // size]
    return codes, scales


def ref_gemm(a, b, unit, c=None):
    A = SimpleNamespace(codes=a[0], scales=a[1], shape=a[0].shape)
    B = SimpleNamespace(codes=b[0], scales=b[1], shape=b[0].shape)
    return np.array(ref_block_matmul(A, B, unit, c), dtype=np.uint64)


def exact32(rng, shape):
    return rng.standard_normal(shape).astype(np.float32).astype(np.float64)


def run_layer(layer, setup, x, w, b, dy):
    """Forward and backward of one layer through the test recipe; returns its trace."""
    nn.Sequential([layer], recipe=recipe_of(setup), seed=0)
    layer.weight.value = nn.QTensor.exact(w, "fp32")
    layer.bias.value = nn.QTensor.exact(b, "fp32")
    ctx = nn.Context(0, 0, trace=True)
    layer.forward(nn.QTensor.exact(x, "fp32"), ctx)
    layer.backward(nn.QTensor.exact(dy, "fp32"), ctx, need_dx=True)
    return ctx.trace


def check_layer(trace, name, setup, bases, ops, shapes, bias):
    """Every operand in the trace equals its hand-blocked version, and every GEMM result (and the
    bias gradient) equals the reference on the hand-blocked operands."""
    fa, fw, fe, units = setup
    fmts = {"act": fa, "weight": fw, "error": fe}
    hand = {}
    for (gemm, role), (point, base, transposed) in ops.items():
        codes, scales = hand_operand(bases[base], fmts[point], role, transposed)
        pass_ = "forward" if point in ("act", "weight") else "backward"
        entry = trace[f"{name}/{pass_}/{point}"]
        assert isinstance(entry, BlockTraceEntry) and entry.fmt == fmts[point]
        got = entry.operands[gemm]
        np.testing.assert_array_equal(got.codes, codes)
        np.testing.assert_array_equal(got.scales, scales)
        hand[gemm, role] = (codes, scales)
    c32 = bitsim.encode(bias, "fp32")
    for gemm, key in (("forward", "gemm"), ("backward_data", "gemm_data"), ("backward_weight", "gemm_weight")):
        u = getattr(units, gemm)
        m, n = hand[gemm, "a"][0].shape[0], hand[gemm, "b"][0].shape[1]
        c = np.broadcast_to(c32, (m, n)) if gemm == "forward" else None
        want = shapes[gemm](ref_gemm(hand[gemm, "a"], hand[gemm, "b"], u, c))
        entry = trace[f"{name}/backward/{key}" if gemm != "forward" else f"{name}/forward/gemm"]
        assert entry.fmt == u.out
        np.testing.assert_array_equal(entry.codes, want.astype(entry.codes.dtype))
    u = units.backward_weight
    ones = bitsim.encode(np.ones((hand["backward_weight", "a"][0].shape[1], 1)), u.b)
    want = ref_gemm(hand["backward_weight", "a"], (ones.codes, ones.scales), u).reshape(-1)
    np.testing.assert_array_equal(trace[f"{name}/backward/gemm_bias"].codes, want.astype(np.uint32))


@pytest.mark.parametrize("kind", SETUPS)
def test_linear_block_gemms_match_reference(kind):
    rng = np.random.default_rng(1)
    x, w, b, dy = exact32(rng, (20, 32)), exact32(rng, (12, 32)) / 4, exact32(rng, 12), exact32(rng, (20, 12)) / 64
    x[3, 5] = 300.0                                                 # one outlier: its blocks differ from others
    setup = SETUPS[kind]()
    trace = run_layer(nn.Linear(32, 12), setup, x, w, b, dy)
    ops = {("forward", "a"): ("act", "x", False), ("backward_weight", "b"): ("act", "x", False),
           ("forward", "b"): ("weight", "w", True), ("backward_data", "b"): ("weight", "w", False),
           ("backward_data", "a"): ("error", "dy", False), ("backward_weight", "a"): ("error", "dy", True)}
    keep = lambda d: d                                              # noqa: E731  (Linear results are the GEMM's)
    check_layer(trace, "linear1", setup, {"x": x, "w": w, "dy": dy}, ops, dict.fromkeys(
        ("forward", "backward_data", "backward_weight"), keep), b)


@pytest.mark.parametrize("kind", SETUPS)
def test_conv2d_block_gemms_match_reference(kind):
    rng = np.random.default_rng(2)
    n, ci, co, h, k, s, p = 2, 2, 4, 6, 3, 2, 1
    ho = (h + 2 * p - k) // s + 1
    x, w, b = exact32(rng, (n, ci, h, h)), exact32(rng, (co, ci, k, k)) / 4, exact32(rng, co)
    dy = exact32(rng, (n, co, ho, ho)) / 64
    setup = SETUPS[kind]()
    trace = run_layer(nn.Conv2d(ci, co, k, stride=s, padding=p), setup, x, w, b, dy)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = np.array([[xp[a, c, oh * s + i, ow * s + j] for c in range(ci) for i in range(k) for j in range(k)]
                     for a in range(n) for oh in range(ho) for ow in range(ho)])
    taps = np.zeros((n * h * h, co * k * k))
    for a, y0, x0, c, i, j in np.ndindex(n, h, h, co, k, k):
        oh, ow = divmod(y0 + p - i, s), divmod(x0 + p - j, s)
        if oh[1] == ow[1] == 0 and 0 <= oh[0] < ho and 0 <= ow[0] < ho:
            taps[(a * h + y0) * h + x0, (c * k + i) * k + j] = dy[a, c, oh[0], ow[0]]
    bases = {"cols": cols, "w2": w.reshape(co, -1), "wt": w.transpose(0, 2, 3, 1).reshape(-1, ci), "taps": taps,
             "dyr": dy.transpose(1, 0, 2, 3).reshape(co, -1)}
    ops = {("forward", "a"): ("act", "cols", False), ("backward_weight", "b"): ("act", "cols", False),
           ("forward", "b"): ("weight", "w2", True), ("backward_data", "b"): ("weight", "wt", False),
           ("backward_data", "a"): ("error", "taps", False), ("backward_weight", "a"): ("error", "dyr", False)}
    shapes = {"forward": lambda d: d.reshape(n, ho, ho, co).transpose(0, 3, 1, 2),
              "backward_data": lambda d: d.reshape(n, h, h, ci).transpose(0, 3, 1, 2),
              "backward_weight": lambda d: d.reshape(co, ci, k, k)}
    check_layer(trace, "conv2d1", setup, bases, ops, shapes, b)


# ---------------------------------------------------------------- the registered recipes

def train(recipe, steps=2):
    model = nn.Sequential([nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 8)], recipe=recipe, seed=3)
    opt = model.recipe.optimizer(lr=0.05, momentum=0.9)
    rng = np.random.default_rng(4)
    x, labels = rng.standard_normal((4, 2, 6, 6)), np.array([0, 3, 5, 7])
    trace = None
    for _ in range(steps):
        _, trace = nn.train_step(model, opt, x, labels, trace=True)
    digest = hashlib.sha256(b"".join(p.value.codes.tobytes() for p in model.parameters())).hexdigest()
    return digest, trace, model


@pytest.mark.parametrize("name", BLOCK_RECIPES)
def test_recipe_deterministic_and_traced(name):
    digest, trace, model = train(name)
    assert train(name)[0] == digest
    lq = model.recipe.layers.quant
    for layer in ("conv2d1", "linear1"):
        for key, q in ((f"{layer}/forward/act", lq.act), (f"{layer}/forward/weight", lq.weight),
                       (f"{layer}/backward/error", lq.error)):
            entry = trace[key]
            assert isinstance(entry, BlockTraceEntry) and entry.fmt == q.fmt and entry.rounding == q.label
            for t in entry.operands.values():
                assert t.format.element == q.fmt.element and t.format.tiling.kind == "axis"
        for key in ("forward/gemm", "backward/gemm_weight", "backward/weight_grad"):
            assert trace[f"{layer}/{key}"].fmt == bitsim.format("fp32")
        assert trace[f"{layer}/backward/weight_grad"].rounding is None
    assert trace["linear1/backward/gemm_data"].fmt == bitsim.format("fp32")             # conv2d1 computes no dx
    assert trace["linear1/forward/act"].operands["forward"].scales.shape == (4, 2)        # K = 64: two blocks
    assert all(p.value.fmt == bitsim.format("fp32") for p in model.parameters())


def test_recipe_formats_and_units():
    for name, fwd, bwd, preset in (("bm8", (2, 5), (4, 3), "bm8_kulisch"), ("bm6", (2, 3), (3, 2), "bm6_kulisch"),
                                   ("bm5", (2, 2), (3, 1), None), ("bm6_nodenorm", (2, 3), (3, 2), None)):
        r = nn.get_recipe(name)
        q, u = r.layers.quant, r.layers.units
        assert (q.act.fmt.element.exp_bits, q.act.fmt.element.man_bits) == fwd and q.weight.fmt == q.act.fmt
        assert (q.error.fmt.element.exp_bits, q.error.fmt.element.man_bits) == bwd
        assert q.act.fmt.tiling == Tiling.tiles(48) and q.act.rounding == "sr"
        assert q.act.fmt.element.subnormals == (name != "bm6_nodenorm")
        if preset:
            assert u.forward == bitsim.unit(preset)
        assert u.backward_data == u.backward_weight and u.backward_data.a.element == q.error.fmt.element
    for name, forward, backward in (("bm8", 31, 33), ("bm6", 20, 22), ("bm5", 18, 20), ("bm6_nodenorm", 20, 22)):
        u = nn.get_recipe(name).layers.units                        # docs/nn.md: register widths
        assert (u.forward.register()[1], u.backward_data.register()[1]) == (forward, backward)
    mx = nn.get_recipe("mxfp8").layers
    assert mx.units.forward == bitsim.unit("mxfp8_fp32")
    assert mx.quant.act.fmt == lookup_block("mxfp8_e4m3") and mx.quant.error.fmt == lookup_block("mxfp8_e5m2")
    assert mx.units.backward_data.a.element == bitsim.format("e5m2_sat")


def test_thread_count_does_not_change_weights():
    digest = train("bm8", steps=1)[0]
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        assert train("bm8", steps=1)[0] == digest
    finally:
        numba.set_num_threads(1)


# ---------------------------------------------------------------- bad input

def test_bad_block_quantizers():
    with pytest.raises(TypeError, match="BlockQuantizer.fmt must be a BlockFormat"):
        nn.BlockQuantizer("e4m3")
    with pytest.raises(ValueError, match="BlockQuantizer.fmt: unknown format"):
        nn.BlockQuantizer("no_such_format")
    with pytest.raises(ValueError, match="tiling"):
        nn.BlockQuantizer(BlockFormat(bitsim.format("e4m3"), Tiling.per_tensor()))
    with pytest.raises(ValueError, match="sr_bits"):
        nn.BlockQuantizer("mxfp8_e4m3", "sr")


def _one_linear(units, **quant):
    layer = nn.Linear(32, 8)
    units = units if isinstance(units, nn.GemmUnits) else nn.GemmUnits(units)
    recipe = nn.Recipe("bad", nn.LayerRecipe(units, nn.LayerQuant(**quant)))
    nn.Sequential([layer], recipe=recipe)
    return layer


def test_bad_block_points_and_operands():
    mx, x = nn.BlockQuantizer("mxfp8_e4m3"), nn.QTensor.exact(np.ones((4, 32)), "fp32")
    with pytest.raises(ValueError, match="GEMM operand point.*'output'"):
        _one_linear("mxfp8_fp32", act=mx, weight=mx, output=mx)
    with pytest.raises(ValueError, match="operand a is in .*e4m3.* block format"):
        _one_linear("mxfp8_fp32", act=nn.Quantizer("e4m3_sat"), weight=mx).forward(x, nn.Context(0, 0))
    with pytest.raises(ValueError, match="operand a is in mxfp8_e4m3 but the unit takes fp32"):
        _one_linear("fp32_seq", act=mx, weight=mx).forward(x, nn.Context(0, 0))
    short = nn.BlockQuantizer(lookup_block("mxfp8_e4m3").replace(block=16))
    with pytest.raises(ValueError, match=r"blocks of 16\) but the unit takes .* blocks of 32"):
        _one_linear("mxfp8_fp32", act=short, weight=mx).forward(x, nn.Context(0, 0))
    with pytest.raises(ValueError, match="not at the model input"):
        mx.bind("input")(x, nn.Context(0, 0))
    with pytest.raises(TypeError, match="expected a QTensor"):
        mx.bind("input")(np.ones((4, 32)), nn.Context(0, 0))
    bm = nn.get_recipe("bm8").layers.quant.act
    with pytest.raises(ValueError, match="NaN|inf"):
        _one_linear(nn.get_recipe("bm8").layers.units, act=bm, weight=bm).forward(
            nn.QTensor.exact(np.full((4, 32), np.inf), "fp32"), nn.Context(0, 0))
