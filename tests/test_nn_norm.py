"""BatchNorm: every code against a scalar exact-rational replay of the documented steps (``bitsim.ref``),
gradients against NumPy float64 in an fp64 BatchNorm, evaluation mode, checkpoints and bad input."""

import numpy as np
import pytest

import bitsim
import bitsim.nn as nn
from bitsim.accum import FloatAcc
from bitsim.ref import accum as R, ops as RO

FP32 = bitsim.format("fp32")


def codes32(values):
    return bitsim.encode(np.asarray(values, dtype=np.float64), "fp32")


def build(channels=2, seed=0, **kw):
    layer = nn.BatchNorm(channels, **kw)
    nn.Sequential([layer], recipe="fp32", seed=seed)
    return layer


def replay(x, dy, gamma, beta, r_mean, r_var, fmt, rounding, eps, momentum):
    """The module doc's steps on scalars with bitsim.ref (exact rationals, one rounding per step):
    x, dy (N, C, H, W) codes; gamma, beta, r_mean, r_var (C,) codes. Returns a dict of code arrays."""
    op = {name: (lambda *a, f=getattr(RO, name): f(*map(int, a), fmt, rounding)[0]) for name in
          ("add", "sub", "mul", "div", "fma", "sqrt")}
    acc = FloatAcc(fmt, rounding)

    def chain(a, b):
        return R.dot([int(v) for v in a], [int(v) for v in b], fmt, fmt, acc, fmt, rounding)

    def const(v):
        return int(bitsim.encode(np.array([v]), fmt)[0])

    one, m_code = const(1.0), None
    out = {k: np.zeros(x.shape, np.uint32) for k in ("y", "dx")}
    out.update({k: np.zeros(x.shape[1], np.uint32) for k in ("dgamma", "dbeta", "r_mean", "r_var")})
    for c in range(x.shape[1]):
        xs, gs = x[:, c].reshape(-1), dy[:, c].reshape(-1)
        m = xs.size
        m_code, m1_code = const(float(m)), const(float(m - 1))
        mean = op["div"](chain(xs, [one] * m), m_code)
        d = [op["sub"](v, mean) for v in xs]
        ssq = chain(d, d)
        var = op["div"](ssq, m_code)
        inv = op["div"](one, op["sqrt"](op["add"](var, const(eps))))
        xhat = [op["mul"](v, inv) for v in d]
        y = [op["fma"](v, gamma[c], beta[c]) for v in xhat]
        rate = const(momentum)
        out["r_mean"][c] = op["fma"](rate, op["sub"](mean, r_mean[c]), r_mean[c])
        out["r_var"][c] = op["fma"](rate, op["sub"](op["div"](ssq, m1_code), r_var[c]), r_var[c])
        out["dbeta"][c] = chain(gs, [one] * m)
        out["dgamma"][c] = chain(gs, xhat)
        g = [op["mul"](v, gamma[c]) for v in gs]
        s1, s2 = chain(g, [one] * m), chain(g, xhat)
        k = op["div"](inv, m_code)
        neg = [int(bitsim.ops.neg(np.array([v], np.uint32), fmt)[0]) for v in xhat]
        dx = [op["mul"](op["fma"](nx, s2, op["sub"](op["mul"](gv, m_code), s1)), k) for nx, gv in zip(neg, g)]
        out["y"][:, c] = np.array(y, np.uint32).reshape(out["y"][:, c].shape)
        out["dx"][:, c] = np.array(dx, np.uint32).reshape(out["dx"][:, c].shape)
    return out


@pytest.mark.parametrize("rounding", ["rne", "rtz"])
def test_batchnorm_fp32_matches_the_exact_replay(rounding):
    rng = np.random.default_rng(3)
    x = codes32(rng.standard_normal((3, 2, 2, 2)) * 3 + 1)
    dy = codes32(rng.standard_normal((3, 2, 2, 2)))
    layer = build(rounding=rounding, eps=1e-3, momentum=0.25)
    gamma, beta = codes32([1.5, -0.75]), codes32([0.125, 2.0])
    layer.weight.value, layer.bias.value = nn.QTensor(gamma, FP32), nn.QTensor(beta, FP32)
    r_mean, r_var = codes32([0.5, -1.0]), codes32([2.0, 0.25])
    layer.running_mean, layer.running_var = nn.QTensor(r_mean, FP32), nn.QTensor(r_var, FP32)
    ctx = nn.Context(0, 0, trace=True)
    y = layer.forward(nn.QTensor(x, FP32), ctx)
    dx = layer.backward(nn.QTensor(dy, FP32), ctx)
    want = replay(x, dy, gamma, beta, r_mean, r_var, FP32, rounding, 1e-3, 0.25)
    np.testing.assert_array_equal(y.codes, want["y"])
    np.testing.assert_array_equal(dx.codes, want["dx"])
    np.testing.assert_array_equal(layer.weight.grad.codes, want["dgamma"])
    np.testing.assert_array_equal(layer.bias.grad.codes, want["dbeta"])
    np.testing.assert_array_equal(layer.running_mean.codes, want["r_mean"])
    np.testing.assert_array_equal(layer.running_var.codes, want["r_var"])
    assert {"batchnorm1/forward/xhat", "batchnorm1/forward/inv_std", "batchnorm1/backward/grad_gamma",
            "batchnorm1/backward/grad_input"} <= set(ctx.trace)


def test_batchnorm_fp64_gradients_match_numpy():
    """In fp64 the rounded steps stay within a few ulps of the textbook formulas (a math check, not a
    code check: the operation orders differ)."""
    rng = np.random.default_rng(5)
    x, dy = rng.standard_normal((6, 3)) * 2 + 0.5, rng.standard_normal((6, 3))
    layer = nn.BatchNorm(3, fmt="fp64")
    nn.Sequential([layer], recipe="fp32", seed=1)
    gamma, beta = np.array([1.25, -0.5, 2.0]), np.array([0.25, 0.0, -1.0])
    layer.weight.value = nn.QTensor.exact(gamma, "fp32")
    layer.bias.value = nn.QTensor.exact(beta, "fp32")
    ctx = nn.Context(0, 0)
    y = layer.forward(nn.QTensor.exact(x, "fp64"), ctx).values
    dx = layer.backward(nn.QTensor.exact(dy, "fp64"), ctx).values
    mean, var = x.mean(0), x.var(0)
    xhat = (x - mean) / np.sqrt(var + 1e-5)
    want_dx = gamma / np.sqrt(var + 1e-5) / 6 * (6 * dy - dy.sum(0) - xhat * (dy * xhat).sum(0))
    np.testing.assert_allclose(y, xhat * gamma + beta, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(layer.weight.grad.values, (dy * xhat).sum(0), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(layer.bias.grad.values, dy.sum(0), rtol=1e-13, atol=1e-13)


def test_eval_mode_uses_running_statistics_and_checkpoints_hold_them():
    rng = np.random.default_rng(7)
    model = nn.Sequential([nn.Linear(4, 3), nn.BatchNorm(3), nn.ReLU(), nn.Linear(3, 2)], recipe="fp32", seed=2)
    opt = model.recipe.optimizer(0.1)
    x, labels = rng.standard_normal((5, 4)), np.array([0, 1, 1, 0, 1])
    for _ in range(2):
        nn.train_step(model, opt, x, labels)
    state = model.state_dict()
    assert set(state["buffers"]) == {"batchnorm1.running_mean", "batchnorm1.running_var"}
    model.eval()
    before = {k: v.codes.copy() for k, v in model.buffers().items()}
    y1 = model.forward(x[:1], model.context()).codes                 # one sample: running statistics
    assert all(np.array_equal(before[k], v.codes) for k, v in model.buffers().items())
    other = nn.Sequential([nn.Linear(4, 3), nn.BatchNorm(3), nn.ReLU(), nn.Linear(3, 2)], recipe="fp32", seed=9)
    other.load_state_dict(state)
    other.eval()
    np.testing.assert_array_equal(other.forward(x[:1], other.context()).codes, y1)
    bad = dict(state, buffers={})
    with pytest.raises(ValueError, match="buffers"):
        other.load_state_dict(bad)


def test_batchnorm_bad_input():
    with pytest.raises(ValueError, match="channels"):
        nn.BatchNorm(0)
    with pytest.raises(TypeError, match="float format"):
        nn.BatchNorm(2, fmt="fixed8.4")
    with pytest.raises(ValueError, match="deterministic"):
        nn.BatchNorm(2, rounding="sr")
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm(2, momentum=0.0)
    layer = build(3)
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        layer.forward(nn.QTensor(codes32(np.ones((2, 2))), FP32), nn.Context(0, 0))
    with pytest.raises(ValueError, match="at least 2"):
        layer.forward(nn.QTensor(codes32(np.ones((1, 3))), FP32), nn.Context(0, 0))
    with pytest.raises(ValueError, match="training forward"):
        layer.backward(nn.QTensor(codes32(np.ones((2, 3))), FP32), nn.Context(0, 0))
    with pytest.raises(ValueError, match="not exact"):
        fp8 = build(1, fmt="e4m3")
        fp8.forward(nn.QTensor(bitsim.encode(np.arange(17.0).reshape(17, 1), "e4m3"), "e4m3"), nn.Context(0, 0))


def test_lenet5_bn_trains_deterministically():
    """nets' LeNet-5 with BatchNorm: two runs of two steps end in the same weight and buffer codes."""
    from nets.models import build as build_net
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((2, 1, 20, 20)), np.array([0, 2])
    states = []
    for _ in range(2):
        model = build_net("lenet5_bn", (1, 20, 20), 3, "fp32", seed=4)
        opt = model.recipe.optimizer(0.05)
        for _ in range(2):
            nn.train_step(model, opt, x, labels)
        states.append(model.state_dict())
    assert [type(layer).__name__ for layer in model.layers[:3]] == ["Conv2d", "BatchNorm", "ReLU"]
    for kind in ("params", "buffers"):
        assert set(states[0][kind]) == set(states[1][kind])
        for k in states[0][kind]:
            np.testing.assert_array_equal(states[0][kind][k], states[1][kind][k])
    assert not np.array_equal(states[0]["buffers"]["batchnorm1.running_mean"], codes32(np.zeros(6)))
