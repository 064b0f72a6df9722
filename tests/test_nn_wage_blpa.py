"""The WAGE and BLPA recipes of bitsim.nn: every quantiser point against bitsim.wage / bitsim.blpa applied
directly to the traced tensor (same SR keys, equal codes), WAGE's update by hand, the BLPA copy feeding the
backward-weight GEMM, determinism and resume, bad input. Tiny nets, batch 4 (the GEMM units are exact
models)."""

import hashlib

import numpy as np
import pytest

import bitsim
import bitsim.nn as nn
from bitsim import blpa, wage
from bitsim.formats import FixedFormat
from bitsim.nn.blpa_recipes import BlpaSaved
from bitsim.nn.gemm import conv_backward_weight, gemm
from bitsim.nn.trace import stream_of
from bitsim.nn.wage_quant import WageAct, WageError, WageWeight
from bitsim.nn.wage_recipes import wage_recipe
from bitsim.nn.wage_update import WageUpdate

LR = 2                                       # eta, a power of two
SEED = 0
X = np.random.default_rng(7).uniform(0, 1, (4, 1, 8, 8))
Y = np.array([0, 3, 5, 9])


def wage_net():
    return [nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(64, 6, bias=False), nn.ReLU(), nn.Linear(6, 10, bias=False)]


def blpa_net():
    return [nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64, 10)]


def digest(model) -> str:
    h = hashlib.sha256()
    for p in model.parameters():
        h.update(p.name.encode() + p.value.codes.tobytes())
    return h.hexdigest()


def run(recipe, layers, steps=1, lr=LR, loss="sse", trace=True):
    model = nn.Sequential(layers, recipe=recipe, seed=SEED)
    opt = model.recipe.optimizer(lr)
    before = model.state_dict()
    traces = [nn.train_step(model, opt, X, Y, loss=loss, trace=trace)[1] for _ in range(steps)]
    return model, before, traces[-1]


@pytest.fixture(scope="module", params=["paper", "code"])
def wage_step(request):
    recipe = nn.get_recipe(f"wage_2888_{request.param}")
    model, before, trace = run(recipe, wage_net())
    return request.param, recipe, model, before, trace


def qtensor(entry):
    return nn.QTensor(entry.codes, entry.fmt, entry.scale_exp)


def gemm_layers(model):
    return [layer for layer in model.layers if isinstance(layer, (nn.Linear, nn.Conv2d))]


# ---------------------------------------------------------------- WAGE

def test_wage_quantiser_points_equal_bitsim_wage(wage_step):
    profile, recipe, model, before, tr = wage_step
    w8, w2 = wage.wage_format(8), wage.wage_format(2)
    assert np.array_equal(tr["input/forward/quant"].codes, wage.quantize(X, 8))
    clipped = 0
    for layer in gemm_layers(model):
        name = layer.name
        x = tr[f"{name}/forward/input"].values
        act = tr[f"{name}/forward/act"]
        assert act.fmt == w8 and np.array_equal(act.codes, wage.quantize(x, 8))
        w = tr[f"{name}/forward/weight"]
        master = bitsim.decode(before["params"][f"{name}.weight"], recipe.master_fmt)
        alpha = wage.layer_scale_alpha(int(np.prod(master.shape[1:])), 2, profile)
        assert w.fmt == w2 and np.array_equal(w.codes, wage.quantize(master, 2)) and 2.0 ** -w.scale_exp == alpha
        if isinstance(layer, nn.Linear):          # the units are exact: the GEMM is the float64 product
            assert np.array_equal(tr[f"{name}/forward/gemm"].values, act.values @ w.values.T)
            e = tr[f"{name}/backward/error"].values
            assert np.array_equal(tr[f"{name}/backward/gemm_weight"].values, e.T @ act.values)
        if f"{name}/backward/gemm_data" in tr:    # A's clip mask, then E
            data = tr[f"{name}/backward/gemm_data"]
            inside = np.abs(x) <= 1 - 2.0 ** -7
            masked = tr[f"{name}/backward/act_clip"]
            assert np.array_equal(masked.values, np.where(inside, data.values, 0.0))
            clipped += int(np.count_nonzero(~inside & (data.values != 0)))
            codes, _ = wage.quantize_error(masked.values, 8)
            assert tr[f"{name}/backward/grad_input"].fmt == w8
            assert np.array_equal(tr[f"{name}/backward/grad_input"].codes, codes)
    assert clipped > 0                            # the data exercise the clip mask
    logits = tr[f"{gemm_layers(model)[-1].name}/forward/output"].values
    codes, _ = wage.quantize_error(logits - np.eye(10)[Y], 8)
    assert np.array_equal(tr["loss/backward/grad"].codes, codes)


def test_wage_update_by_hand(wage_step):
    profile, recipe, model, before, tr = wage_step
    fmt = recipe.master_fmt
    for layer in gemm_layers(model):
        p = f"{layer.name}.weight"
        g = tr[f"{layer.name}/backward/weight_grad"].values
        dw, _ = wage.quantize_gradient(g, 8, LR, profile, seed=model.seed, stream=stream_of(f"{p}.G#0"), offset=0)
        assert np.array_equal(tr[f"{p}/update/G"].codes.view(np.int64), dw)
        w0 = wage.to_half_steps(bitsim.decode(before["params"][p], fmt), 8)
        new = wage.weight_update(w0, dw, 8, clip=profile, k_W=2)
        assert np.array_equal(layer.weight.value.codes, bitsim.encode(wage.half_step_values(new, 8), fmt))
        assert np.any(new != w0)


def test_wage_profiles_init_and_formats():
    paper, code = nn.get_recipe("wage_2888_paper"), nn.get_recipe("wage_2888_code")
    assert paper.master_fmt == wage.wage_format(8) and code.master_fmt == FixedFormat(32, 8)
    m = nn.Sequential(wage_net(), recipe=code, seed=SEED)
    assert all(set(np.unique(p.value.values)) <= {-0.5, 0.0, 0.5} for p in m.parameters())   # Q(W0, 2)
    m = nn.Sequential(wage_net(), recipe=paper, seed=SEED)
    rng = np.random.default_rng(SEED)
    for layer in gemm_layers(m):                  # Q(U(-L, L), 8), L = max(sqrt(6 / fan_in), 0.75)
        limit = max(np.sqrt(6 / layer.fan_in), 0.75)
        want = wage.quantize(rng.uniform(-limit, limit, layer.weight_shape), 8)
        assert np.array_equal(layer.weight.value.codes, want)
    kg = wage_recipe("code", k_g=12)
    assert kg.name == "wage_28C8_code" and kg.master_fmt == FixedFormat(32, 12) and nn.get_recipe(kg.name) is kg
    assert kg.training == {"loss": "sse", "momentum": 0.0, "weight_decay": 0.0, "lr": 16.0, "bias": False}
    opt = kg.optimizer(0.5)
    assert isinstance(opt, WageUpdate) and opt.k_g == 12 and opt.profile == "code"


def test_wage_kg_variant_step():
    recipe = wage_recipe("paper", k_g=6)
    model, before, tr = run(recipe, [nn.Flatten(), nn.Linear(64, 10, bias=False)])
    p = "linear1.weight"
    g = tr["linear1/backward/weight_grad"].values
    dw, _ = wage.quantize_gradient(g, 6, LR, "paper", seed=SEED, stream=stream_of(f"{p}.G#0"), offset=0)
    w0 = wage.to_half_steps(bitsim.decode(before["params"][p], recipe.master_fmt), 6)
    new = wage.weight_update(w0, dw, 6, clip="paper")
    assert np.array_equal(model.parameters()[0].value.values, wage.half_step_values(new, 6))


# ---------------------------------------------------------------- BLPA

def backward_weight(layer, e, x):
    """The layer's backward-weight GEMM of error e and stored activation x, through its unit."""
    unit = layer.units.backward_weight
    if isinstance(layer, nn.Linear):
        return gemm(e.transpose(), x, unit, "check").codes
    return conv_backward_weight(x, e, unit, layer.weight_shape, layer.geom, "check").codes


@pytest.mark.parametrize("bits", [4, 8])
def test_blpa_saved_point_feeds_backward(bits):
    model, _, tr = run(f"blpa{bits}", blpa_net(), lr=0.05, loss="softmax_cross_entropy")
    conv1, conv2, linear = gemm_layers(model)
    assert np.array_equal(tr[f"{conv1.name}/forward/saved"].codes, tr[f"{conv1.name}/forward/act"].codes)  # image
    for layer in (conv2, linear):
        act, saved, e = (qtensor(tr[f"{layer.name}/{k}"]) for k in ("forward/act", "forward/saved", "backward/error"))
        x = act.values.astype(np.float32)
        ones, zeros = np.ones(x.shape[1], np.float32), np.zeros(x.shape[1], np.float32)
        codes, shift = blpa.encode(x, ones, zeros, bits, axis=1)
        want = blpa.restored_activation(blpa.decode(codes, shift, bits, axis=1), ones, axis=1)
        assert saved.fmt == bitsim.format("fp32") and np.array_equal(saved.codes, want.view(np.uint32))
        assert not np.array_equal(saved.codes, act.codes)            # the copy is an approximation
        got = tr[f"{layer.name}/backward/gemm_weight"].codes          # ... and the backward GEMM reads it
        assert np.array_equal(got, backward_weight(layer, e, saved))
        assert not np.array_equal(got, backward_weight(layer, e, act))


# ---------------------------------------------------------------- determinism

@pytest.mark.parametrize("recipe,loss,lr", [("wage_2888_paper", "sse", 1), ("wage_2888_code", "sse", 1),
                                            ("blpa4", "softmax_cross_entropy", 0.05)])
def test_two_steps_deterministic_and_resumable(recipe, loss, lr):
    def layers():
        return [nn.Flatten(), nn.Linear(64, 8, bias=False), nn.ReLU(), nn.Linear(8, 10, bias=False)]
    a, _, _ = run(recipe, layers(), steps=2, lr=lr, loss=loss, trace=False)
    b, _, _ = run(recipe, layers(), steps=2, lr=lr, loss=loss, trace=False)
    assert digest(a) == digest(b)
    first, _, _ = run(recipe, layers(), steps=1, lr=lr, loss=loss, trace=False)
    resumed = nn.Sequential(layers(), recipe=recipe, seed=SEED)
    resumed.load_state_dict(first.state_dict())
    opt = resumed.recipe.optimizer(lr)
    opt.load_state_dict(first.recipe.optimizer(lr).state_dict())
    nn.train_step(resumed, opt, X, Y, loss=loss)
    assert digest(resumed) == digest(a)


# ---------------------------------------------------------------- bad input

def test_bad_input():
    with pytest.raises(ValueError, match="profile"):
        wage_recipe("tf")
    with pytest.raises(ValueError, match="k_g"):
        wage_recipe("paper", k_g=16)
    code = nn.get_recipe("wage_2888_code")
    with pytest.raises(ValueError, match="power of two"):
        code.optimizer(0.3)
    with pytest.raises(ValueError, match="momentum"):
        code.optimizer(1, momentum=0.9)
    with pytest.raises(ValueError, match="velocity"):
        code.optimizer(1).load_state_dict({"velocity": {"linear1.weight": np.zeros(3, np.uint32)}})
    model = nn.Sequential([nn.Flatten(), nn.Linear(64, 10)], recipe=code, seed=0)
    with pytest.raises(ValueError, match="linear1.bias: WAGE's layers have no bias"):
        nn.train_step(model, code.optimizer(1), X, Y, loss="sse")
    with pytest.raises(ValueError, match="WageAct.fmt"):
        WageAct("fp32")
    with pytest.raises(ValueError, match="WageError.rounding"):
        WageError("wage_8", "rtz")
    with pytest.raises(ValueError, match="alpha_rule"):
        WageWeight("wage_2", alpha_rule="tf")
    with pytest.raises(ValueError, match="scale_exp"):
        WageAct("wage_8")(nn.QTensor.exact(np.zeros(2), "fp32"), None, scale_exp=1)
    with pytest.raises(ValueError, match="bits must be 4 or 8"):
        BlpaSaved("fp32", bits=5)
    q = BlpaSaved("fp32", bits=4).bind("conv2.saved")
    with pytest.raises(ValueError, match="conv2.saved: 4-bit BLPA codes pack two channels"):
        q(nn.QTensor.exact(np.ones((2, 3, 2, 2)), "fp32"), None)
    with pytest.raises(ValueError, match="conv2.saved: BLPA stores ReLU outputs"):
        q(nn.QTensor.exact(-np.ones((2, 4)), "fp32"), None)
    with pytest.raises(TypeError, match="Recipe.update"):
        nn.Recipe("x", code.layers, update=3)
    with pytest.raises(TypeError, match="LayerRecipe.init"):
        nn.LayerRecipe(code.layers.units, code.layers.quant, init=3)
