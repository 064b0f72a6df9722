"""bitsim.nn: layer dataflow against independent float64 NumPy, finite differences, determinism,
trace contents, the SGD arithmetic, and bad input. Nets are tiny (the fp32 unit is a slow exact model)."""

import hashlib

import numba
import numpy as np
import pytest

import bitsim
import bitsim.nn as nn
from bitsim import ops
from bitsim.accum import DotUnit, KulischAcc
from bitsim.nn.trace import stream_of

FP32 = bitsim.format("fp32")
EXACT_UNIT = DotUnit(FP32, FP32, KulischAcc(frac_bits=32, width=100), FP32)
Q32 = nn.Quantizer("fp32")
EXACT = nn.Recipe("exact_test", nn.LayerRecipe(nn.GemmUnits(EXACT_UNIT),
                                               nn.LayerQuant(act=Q32, weight=Q32, error=Q32, weight_grad=Q32)))


def dyadic(rng, shape, scale=8):
    """Small dyadic values k/scale, |k| <= 4*scale: every sum in these tests is exact in fp32."""
    return rng.integers(-4 * scale, 4 * scale + 1, shape) / scale


def q32(values):
    return nn.QTensor.exact(values, "fp32")


def run_layer(layer, x, dy, weights=None, seed=0):
    """Forward and backward of one layer in the exact recipe; returns (y, dx, layer)."""
    nn.Sequential([layer], recipe=EXACT, seed=seed)
    if weights is not None:
        layer.weight.value = q32(weights[0])
        if layer.bias is not None:
            layer.bias.value = q32(weights[1])
    ctx = nn.Context(0, 0)
    y = layer.forward(q32(x), ctx)
    dx = layer.backward(q32(dy), ctx)
    return y, dx, layer


# ---------------------------------------------------------------- bit-exact layer checks

def test_linear_exact():
    rng = np.random.default_rng(1)
    x, w, b = dyadic(rng, (5, 7)), dyadic(rng, (3, 7)), dyadic(rng, 3)
    dy = dyadic(rng, (5, 3))
    y, dx, layer = run_layer(nn.Linear(7, 3), x, dy, (w, b))
    assert np.array_equal(y.values, x @ w.T + b)
    assert np.array_equal(dx.values, dy @ w)
    assert np.array_equal(layer.weight.grad.values, dy.T @ x)
    assert np.array_equal(layer.bias.grad.values, dy.sum(axis=0))


def conv_ref(x, w, b, dy, s, p, d):
    """Direct float64 convolution, its data gradient (scatter) and weight gradient."""
    n, _, h, wd = x.shape
    co, ci, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    ho, wo = (h + 2 * p - d * (kh - 1) - 1) // s + 1, (wd + 2 * p - d * (kw - 1) - 1) // s + 1
    y = np.zeros((n, co, ho, wo)) + b[None, :, None, None]
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i * d:i * d + s * (ho - 1) + 1:s, j * d:j * d + s * (wo - 1) + 1:s]   # (n, ci, ho, wo)
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
            dxp[:, :, i * d:i * d + s * (ho - 1) + 1:s, j * d:j * d + s * (wo - 1) + 1:s] += \
                np.einsum("nohw,oc->nchw", dy, w[:, :, i, j])
            dw[:, :, i, j] = np.einsum("nohw,nchw->oc", dy, patch)
    return y, dxp[:, :, p:p + h, p:p + wd], dw, dy.sum(axis=(0, 2, 3))


@pytest.mark.parametrize("s,p,d", [(1, 1, 1), (2, 1, 1), (1, 0, 2)])
def test_conv2d_exact(s, p, d):
    rng = np.random.default_rng(2)
    x, w, b = dyadic(rng, (2, 2, 6, 6)), dyadic(rng, (3, 2, 3, 3)), dyadic(rng, 3)
    layer = nn.Conv2d(2, 3, 3, stride=s, padding=p, dilation=d)
    dy = dyadic(rng, conv_ref(x, w, b, np.zeros((2, 3, 1, 1)), s, p, d)[0].shape)
    y_ref, dx_ref, dw_ref, db_ref = conv_ref(x, w, b, dy, s, p, d)
    y, dx, layer = run_layer(layer, x, dy, (w, b))
    assert np.array_equal(y.values, y_ref)
    assert np.array_equal(dx.values, dx_ref)
    assert np.array_equal(layer.weight.grad.values, dw_ref)
    assert np.array_equal(layer.bias.grad.values, db_ref)


def test_relu_flatten_pools_exact():
    rng = np.random.default_rng(3)
    x = dyadic(rng, (2, 3, 4, 6))
    x[0, 0, 0, :2] = 5.0                                    # a tie inside a window: the first tap wins
    ctx = nn.Context(0, 0)
    relu, flat, mp, ap = nn.ReLU(), nn.Flatten(), nn.MaxPool2d(2), nn.AvgPool2d(2)
    dy4 = dyadic(rng, x.shape)
    assert np.array_equal(relu.forward(q32(x), ctx).values, np.maximum(x, 0))
    assert np.array_equal(relu.backward(q32(dy4), ctx).values, np.where(x > 0, dy4, 0))
    assert np.array_equal(flat.forward(q32(x), ctx).values, x.reshape(2, -1))
    assert flat.backward(q32(dy4.reshape(2, -1)), ctx).shape == x.shape
    win = x.reshape(2, 3, 2, 2, 3, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 3, 2, 3, 4)
    dyp = dyadic(rng, (2, 3, 2, 3))
    assert np.array_equal(mp.forward(q32(x), ctx).values, win.max(axis=-1))
    onehot = np.arange(4) == win.argmax(axis=-1)[..., None]            # argmax: first maximal tap
    expect = (onehot * dyp[..., None]).reshape(2, 3, 2, 3, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(x.shape)
    assert np.array_equal(mp.backward(q32(dyp), ctx).values, expect)
    assert np.array_equal(ap.forward(q32(x), ctx).values, win.mean(axis=-1))           # exact: sums and /4
    expect = np.repeat(np.repeat(dyp / 4, 2, axis=2), 2, axis=3)
    assert np.array_equal(ap.backward(q32(dyp), ctx).values, expect)


def test_losses_against_numpy():
    rng = np.random.default_rng(4)
    z, y = dyadic(rng, (4, 5)), rng.integers(0, 5, 4)
    ctx = nn.Context(0, 0)
    loss, g = nn.softmax_cross_entropy(q32(z), y, Q32, ctx, scale=8.0)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert loss == pytest.approx(-np.log(p[np.arange(4), y]).mean(), rel=1e-14)   # float64 libm, see losses doc
    ref = p.copy()
    ref[np.arange(4), y] -= 1
    assert np.array_equal(g.values, (ref / 4 * 8.0).astype(np.float32).astype(np.float64))
    far = q32(np.array([[0.0, 1000.0, -1000.0]]))                   # p[label] underflows to 0 in float64
    assert nn.softmax_cross_entropy(far, np.array([2]), Q32, ctx)[0] == 2000.0
    loss, g = nn.sse(q32(z), y, Q32, ctx)
    t = np.eye(5)[y]
    assert loss == 0.5 * np.sum((z - t) ** 2) and np.array_equal(g.values, z - t)


# ---------------------------------------------------------------- finite differences (fp32 recipe)

def test_fp32_recipe_finite_differences():
    """Tolerance here only: central differences are approximate, and the forward runs in fp32."""
    rng = np.random.default_rng(11)
    model = nn.Sequential([nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)], recipe="fp32", seed=3)
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    w1, b1 = (p.value.values for p in model.parameters()[:2])
    assert np.abs(x @ w1.T + b1).min() > 0.04            # no step of 1e-3 crosses a ReLU kink

    def loss():
        ctx = model.context()
        return nn.softmax_cross_entropy(model.forward(x, ctx), y, model.loss_quant, ctx)[0]

    ctx = model.context()
    _, g = nn.softmax_cross_entropy(model.forward(x, ctx), y, model.loss_quant, ctx)
    model.backward(g, ctx)
    for p in model.parameters():
        base, grad = p.value, p.grad.values
        for idx in [tuple(i) for i in np.argwhere(np.ones(base.shape))][:6]:
            vals = []
            for sign in (1, -1):
                v = base.values.copy()
                v[idx] += sign * 1e-3
                p.value = nn.QTensor(bitsim.encode(v, "fp32"), "fp32")
                vals.append((loss(), p.value.values[idx]))
            p.value = base
            fd = (vals[0][0] - vals[1][0]) / (vals[0][1] - vals[1][1])
            assert fd == pytest.approx(grad[idx], rel=2e-2, abs=2e-4), (p.name, idx)


# ---------------------------------------------------------------- determinism, checkpoints, threads

def tiny_mlp(recipe="wang_fp8", seed=7):
    return nn.Sequential([nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)],
                         recipe=recipe, seed=seed)


def train(model, opt, steps, data_seed=0):
    rng = np.random.default_rng(data_seed)
    batches = [(rng.standard_normal((4, 6)), rng.integers(0, 3, 4)) for _ in range(6)]
    for _ in range(steps):
        nn.train_step(model, opt, *batches[model.step % len(batches)])


def digest(model):
    h = hashlib.sha256()
    for name, codes in sorted(model.state_dict()["params"].items()):
        h.update(name.encode() + codes.tobytes())
    return h.hexdigest()


def test_same_seed_same_codes_and_resume():
    runs = []
    for _ in range(2):
        m = tiny_mlp()
        train(m, m.recipe.optimizer(0.05, momentum=0.9), 4)
        runs.append(digest(m))
    assert runs[0] == runs[1]
    other = tiny_mlp(seed=8)
    train(other, other.recipe.optimizer(0.05, momentum=0.9), 4)
    assert digest(other) != runs[0]
    m = tiny_mlp()
    opt = m.recipe.optimizer(0.05, momentum=0.9)
    train(m, opt, 2)
    state, opt_state = m.state_dict(), opt.state_dict()
    resumed = tiny_mlp(seed=123)                      # other initial weights: the checkpoint overrides them
    resumed.load_state_dict(state)
    opt2 = resumed.recipe.optimizer(0.05, momentum=0.9)
    opt2.load_state_dict(opt_state)
    train(resumed, opt2, 2)
    assert digest(resumed) == runs[0]


def test_thread_count_does_not_matter():
    default = numba.get_num_threads()
    out = []
    for threads in (1, default):
        numba.set_num_threads(threads)
        try:
            m = tiny_mlp("int8")
            train(m, m.recipe.optimizer(0.1), 2)
            m2 = tiny_mlp()
            train(m2, m2.recipe.optimizer(0.1), 2)
        finally:
            numba.set_num_threads(default)
        out.append((digest(m), digest(m2)))
    assert out[0] == out[1]


# ---------------------------------------------------------------- trace

def representable(entry, fmt):
    """Every value of a trace entry is exact in ``fmt`` (re-encoding gives the same values)."""
    v = np.ldexp(entry.values, -entry.scale_exp)
    return np.array_equal(bitsim.quantize(v, fmt), v)


def test_trace_points_follow_the_recipe():
    model = nn.Sequential([nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                           nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3)], recipe="wang_fp8", seed=2)
    rng = np.random.default_rng(0)
    _, trace = nn.train_step(model, model.recipe.optimizer(0.1), rng.standard_normal((2, 1, 4, 4)),
                             rng.integers(0, 3, 2), trace=True)
    fwd = ("input", "act", "weight", "bias", "gemm", "saved", "output")
    bwd = ("grad_output", "error", "gemm_weight", "gemm_bias", "weight_grad", "bias_grad")
    for name, operand in (("conv2d1", "fp16"), ("linear1", "fp8_wang"), ("linear2", "fp16")):
        for point in [f"forward/{p}" for p in fwd] + [f"backward/{p}" for p in bwd]:
            assert f"{name}/{point}" in trace, (name, point)
        for point in ("forward/act", "forward/weight", "backward/error"):
            e = trace[f"{name}/{point}"]
            assert str(e.fmt) == operand and e.rounding == f"{operand} rne" and representable(e, operand)
        for point in ("forward/gemm", "backward/gemm_weight", "backward/weight_grad"):
            assert str(trace[f"{name}/{point}"].fmt) == "fp16_wang"
        assert trace[f"{name}.weight/update/master"].rounding == "fp16_wang sr"
    assert "conv2d1/backward/gemm_data" not in trace                    # first layer: no input gradient
    assert str(trace["linear1/backward/gemm_data"].fmt) == "fp16_wang"
    assert str(trace["relu1/forward/output"].fmt) == "fp16_wang"


def test_int8_trace_scales():
    model = tiny_mlp("int8")
    rng = np.random.default_rng(1)
    _, trace = nn.train_step(model, model.recipe.optimizer(0.1), rng.standard_normal((4, 6)),
                             rng.integers(0, 3, 4), trace=True)
    for key in ("linear1/forward/act", "linear2/forward/weight", "linear3/backward/error"):
        e = trace[key]
        ints = e.codes.astype(np.int8).astype(np.int64)
        assert str(e.fmt) == "int8" and ints.min() >= -127 and 64 <= np.abs(ints).max() <= 127, key
    g = trace["linear2/forward/gemm"]
    assert str(g.fmt) == "int32_wrap"
    assert g.scale_exp == trace["linear2/forward/act"].scale_exp + trace["linear2/forward/weight"].scale_exp


# ---------------------------------------------------------------- SGD

def test_sgd_matches_ops_by_hand():
    rng = np.random.default_rng(6)
    fp16, fp32 = bitsim.format("fp16"), bitsim.format("fp32")
    w0 = bitsim.encode(rng.standard_normal(10), fp16)
    g = nn.QTensor(bitsim.encode(rng.standard_normal(10), fp32), fp32)
    opt = nn.SGD(0.1, momentum=0.9, weight_decay=1e-3, fmt_update="fp16", rounding="sr", sr_bits=12,
                 master_fmt="fp16", loss_scale=4.0)
    p = nn.Param("w", nn.QTensor(w0, fp16))
    p.grad, velocity = g, np.zeros(10, dtype=np.uint16)
    for step in range(2):
        ctx = nn.Context(11, step)
        p.grad = g
        opt.step([p], ctx)
        key = lambda op: dict(sr_bits=12, seed=11, stream=stream_of(f"w.{op}#0"), offset=step << 32)  # noqa: E731
        c = lambda v: bitsim.encode(np.array([v]), fp32)  # noqa: E731
        fp64 = bitsim.format("fp64")
        u = ops.div(bitsim.encode(g.values, fp64), bitsim.encode(np.array([4.0]), fp64), fp16, "sr",
                    in_formats=(fp64, fp64), **key("unscale"))[0]
        u = ops.fma(c(1e-3), w0, u, fp16, "sr", in_formats=(fp32, fp16, fp16), **key("decay"))[0]
        velocity = ops.fma(c(0.9), velocity, u, fp16, "sr", in_formats=(fp32, fp16, fp16), **key("momentum"))[0]
        w0 = ops.fma(c(-0.1), velocity, w0, fp16, "sr", in_formats=(fp32, fp16, fp16), **key("update"))[0]
        assert np.array_equal(p.value.codes, w0) and np.array_equal(opt.velocity["w"], velocity)


def test_sr_draws_reproducible():
    q = nn.Quantizer("fp8_wang", "sr", sr_bits=8).bind("a.error")
    x = nn.QTensor.exact(np.random.default_rng(0).standard_normal(1000), "fp64")
    a, b = q(x, nn.Context(5, 3)), q(x, nn.Context(5, 3))
    assert np.array_equal(a.codes, b.codes)
    assert not np.array_equal(a.codes, q(x, nn.Context(5, 4)).codes)
    assert not np.array_equal(a.codes, q.bind("b.error")(x, nn.Context(5, 3)).codes)
    ctx = nn.Context(5, 3)
    first, second = q(x, ctx), q(x, ctx)                        # second call of a name: its own stream
    assert np.array_equal(first.codes, a.codes) and not np.array_equal(second.codes, a.codes)


# ---------------------------------------------------------------- bad input

def test_bad_input():
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):
        nn.Sequential([nn.Linear(2, 2)], recipe="nope")
    m = nn.Sequential([nn.Linear(4, 2)], recipe="int8")
    with pytest.raises(ValueError, match=r"shape \(N, 4\).*\(3, 5\)"):
        m.forward(np.zeros((3, 5)), m.context())
    with pytest.raises(TypeError, match="dtype int64"):
        m.forward(np.zeros((3, 4), dtype=np.int64), m.context())
    with pytest.raises(ValueError, match="operand a is in fp16 but the unit takes fp8_wang"):
        layer = nn.Linear(3, 2, units=nn.GemmUnits("wang_fp8"),
                          quant=nn.LayerQuant(act=nn.Quantizer("fp16"), weight=nn.Quantizer("fp8_wang")))
        mm = nn.Sequential([layer], recipe="wang_fp8")
        mm.forward(np.zeros((1, 3)), mm.context())
    with pytest.raises(ValueError, match="unknown format 'fp7'"):
        nn.Quantizer("fp7")
    with pytest.raises(TypeError, match="block formats"):
        nn.Quantizer("mxfp8_e4m3")
    with pytest.raises(ValueError, match="sr_bits is required"):
        nn.Quantizer("fp16", "sr")
    with pytest.raises(ValueError, match="rounding must be one of"):
        nn.Quantizer("fp16", "nearest")
    with pytest.raises(TypeError, match="fixed-point"):
        nn.ScaledQuantizer("fp16")
    with pytest.raises(ValueError, match="in_features must be a positive int; got 0"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="stride"):
        nn.MaxPool2d(3, stride=2)
    with pytest.raises(ValueError, match="SGD.lr must be a finite number >= 0; got -1"):
        nn.SGD(-1)
    with pytest.raises(TypeError, match="SGD.fmt_update must be a float format"):
        nn.SGD(0.1, fmt_update="int8")
    with pytest.raises(ValueError, match=r"labels must be in 0..1"):
        nn.softmax_cross_entropy(q32(np.zeros((2, 2))), np.array([0, 2]), Q32, nn.Context(0, 0))
    with pytest.raises(ValueError, match="unknown unit name 'tpu'"):
        nn.GemmUnits("tpu")
    state = m.state_dict()
    state["params"]["linear1.weight"] = state["params"]["linear1.weight"].astype(np.uint16)
    with pytest.raises(TypeError, match="linear1.weight has dtype uint16"):
        m.load_state_dict(state)
    with pytest.raises(ValueError, match="seed must be an integer"):
        nn.Context(-1, 0)


def test_softmax_exponentials_are_correctly_rounded_on_every_platform():
    """The cross-entropy gradient's exp: equal to MPFR's correctly rounded binary64 exp (gmpy2), so the
    gradient does not depend on the CPU or NumPy build."""
    gmpy2 = pytest.importorskip("gmpy2")
    from bitsim.nn.losses import _exp
    x = -np.abs(np.random.default_rng(3).standard_normal(2000) * 20)
    x = np.concatenate([x, [0.0, -1e-300, -708.4, -745.1, -746.0]])
    ctx = gmpy2.ieee(64)
    with gmpy2.local_context(ctx):
        want = np.array([float(gmpy2.exp(gmpy2.mpfr(float(v)))) for v in x])
    assert np.array_equal(_exp(x), want)
