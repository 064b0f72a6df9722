"""The training loop's shortcuts against the general paths they replace, code for code: native binary32
FMA and SGD updates (``bitsim.nn.native``, ``bitsim.nn.optim``), IEEE codes read as floats
(``QTensor.values`` / ``floats``), ReLU and max pooling on binary32 codes, the cached gathers of the
block operands (``bitsim.nn.block_layout``) and the block quantiser's lazy operands."""

import math
from fractions import Fraction

import numpy as np
import pytest

import bitsim
import bitsim.nn as nn
from bitsim import dataflow as df
from bitsim.dataflow._common import Window
from bitsim.dataflow.conv import dy_taps, im2col
from bitsim.nn import block_layout, block_quant
from bitsim.nn.native import fma32
from bitsim.nn.optim import SGD
from bitsim.ref.values import round_value

FP32 = bitsim.format("fp32")


def f32(values):
    return np.asarray(values, np.float32)


def ref_fma(a, b, c) -> list:
    """Codes of RNE_fp32(a * b + c) of binary32 operands, from the exact rational value (bitsim.ref);
    an exact zero is -0 only when a * b and c are both zeros of negative sign (IEEE 754 6.3)."""
    out = []
    a = float(np.float32(a))
    for b, c in zip(f32(b).tolist(), f32(c).tolist()):
        exact = Fraction(a) * Fraction(b) + Fraction(c)
        neg = exact == 0 and (a == 0 or b == 0) and c == 0 and math.copysign(1, a * b) < 0 < -math.copysign(1, c)
        out.append(round_value(exact, FP32, negative=neg if exact == 0 else None)[0])
    return out


def test_fma32_ties_beyond_binary64_and_wide_ranges():
    """Exact results just above and below binary32 ties that binary64 rounds onto the tie (double
    rounding would miss them), exact ties, cancellation to +-0, subnormal and overflowing results, and
    random operands over the whole exponent range."""
    e = 2.0 ** -23
    cases = [(8 * (1 + e), -8 * (1 - e), 2.0 ** 30 + 2.0 ** 7),        # 2**30 + 2**6 + 2**-40: rounds up
             (8 * (1 + e), 8 * (1 - e), 2.0 ** 30),                     # 2**30 + 2**6 - 2**-40: rounds down
             (8 * (1 + e), 8 * (1 - e), -(2.0 ** 30 + 2.0 ** 7)),     # -(2**30 + 2**6 + 2**-40): away
             (8 * (1 + e), -8 * (1 - e), -(2.0 ** 30)),
             (8.0, 8.0, 2.0 ** 30), (8.0, 8.0, 2.0 ** 30 + 2.0 ** 7),  # exact ties: to even
             (1.5, -2.0, 3.0), (-1.5, 2.0, 3.0), (0.0, -1.0, -0.0), (-0.0, 1.0, -0.0), (0.0, 1.0, -0.0),
             (2.0 ** -75, 2.0 ** -75, 0.0), (-(2.0 ** -75), 2.0 ** -75, 0.0), (1.5 * 2.0 ** -140, 0.75, 2.0 ** -149),
             (2.0 ** 100, 2.0 ** 100, 1.0), (3.0e38, 2.0, -3.0e38), (3.4e38, 1.0, 3.4e38)]
    rng = np.random.default_rng(0)
    for a, b, c in cases:
        got = int(fma32(a, f32([b]), f32([c])).view(np.uint32)[0])
        assert got == ref_fma(a, [b], [c])[0], (a, b, c, hex(got))
    for scale in (1.0, 2.0 ** 60, 2.0 ** -70):
        b = rng.standard_normal(1000) * 2.0 ** rng.integers(-30, 30, 1000)
        c = rng.standard_normal(1000) * 2.0 ** rng.integers(-30, 30, 1000) * scale
        for a in (0.9, -0.05, 2.0 ** -100, 3.0):
            assert fma32(a, f32(b), f32(c)).view(np.uint32).tolist() == ref_fma(a, b, c)


def test_native_sgd_steps_are_the_documented_roundings():
    """Native SGD steps (RNE, fp32, S = 1) equal the module doc's chain of single RNE roundings of exact
    rationals: u = RNE(g), u = RNE(wd * w + u), v = RNE(mu * v + u), w = RNE(-lr * v + w); an inf
    gradient makes the native path decline (the ops run), other settings never take it."""
    assert not SGD(0.05, loss_scale=2.0)._native and not SGD(0.05, fmt_update="bf16")._native
    assert not SGD(0.05, rounding="sr", sr_bits=8)._native
    rng = np.random.default_rng(1)
    for kw in (dict(momentum=0.9, weight_decay=1e-3), dict()):
        opt = SGD(0.05, **kw)
        const = {k: float(getattr(opt, f"_{k}").view(np.float32)[0]) for k in ("neg_lr", "mu", "wd")}
        w = f32(rng.standard_normal(60) * 2.0 ** rng.integers(-20, 5, 60))
        v = np.zeros(60, np.float32)
        p = nn.layers.Param("p", nn.QTensor(w.view(np.uint32).copy(), FP32))
        for step in range(3):
            g = f32(rng.standard_normal(60) * 10.0 ** rng.integers(-12, 3, 60))
            p.grad = nn.QTensor(g.view(np.uint32), FP32)
            opt.step([p], nn.Context(0, step))
            rnd = lambda x: float(bitsim.decode(np.array([round_value(x, FP32)[0]]), FP32)[0])  # noqa: E731
            for i in range(60):
                u = rnd(Fraction(float(g[i])))
                if opt.weight_decay:
                    u = rnd(Fraction(const["wd"]) * Fraction(float(w[i])) + Fraction(u))
                if opt.momentum:
                    u = v[i] = rnd(Fraction(const["mu"]) * Fraction(float(v[i])) + Fraction(u))
                w[i] = rnd(Fraction(const["neg_lr"]) * Fraction(u) + Fraction(float(w[i])))
            np.testing.assert_array_equal(p.value.codes, w.view(np.uint32))
            if opt.momentum:
                np.testing.assert_array_equal(opt.velocity["p"], v.view(np.uint32))
        p.grad = nn.QTensor(f32(np.full(60, np.inf)).view(np.uint32), FP32)
        assert opt._native_stages(p, p.value) is None


def test_ieee_codes_read_as_floats():
    """fp16 (every code but NaN) and fp32 (random, subnormals, infinities) values equal the decoder's;
    a NaN makes ``floats`` fall back to ``values``; other formats and scaled tensors decode."""
    rng = np.random.default_rng(2)
    fp16 = np.arange(1 << 16, dtype=np.uint16)
    fp16 = fp16[~np.isnan(fp16.view(np.float16))]
    fp32 = np.concatenate([rng.integers(0, 2 ** 32, 5000), [0x80000000, 1, 0x807FFFFF, 0x7F800000, 0xFF800000]])
    fp32 = fp32.astype(np.uint32)[~np.isnan(fp32.astype(np.uint32).view(np.float32))]
    for codes, name in ((fp16, "fp16"), (fp32, "fp32")):
        t = nn.QTensor(codes, name)
        np.testing.assert_array_equal(t.values, bitsim.decode(codes, name))
        assert np.array_equal(t.values.view(np.uint64), bitsim.decode(codes, name).view(np.uint64))
        assert nn.QTensor(codes, name).floats().base is not None                   # a view, no copy
    nan = nn.QTensor(np.array([0x7FC00001, 0x3F800000], np.uint32), "fp32")
    assert nan.ieee_floats() is None and nan.floats() is nan.values
    assert nn.QTensor(np.array([3], np.uint8), "e4m3").ieee_floats() is None
    assert nn.QTensor(fp32[:4], "fp32", scale_exp=2).ieee_floats() is None


def test_rne_by_cast_equals_the_encoder():
    """float64 -> fp32 RNE by NumPy's cast (``Quantizer``, ``QTensor.exact``) equals bitsim.encode: ties to
    even, the overflow threshold (max + half an ulp ties to inf), subnormals and their ties, -0, inf,
    random doubles over the whole range; NaN takes the encoder; inexact values still raise in ``exact``."""
    top = float(np.finfo(np.float32).max)
    half_ulp_top = 2.0 ** 103
    v = np.array([1 + 2.0 ** -24, 1 + 3 * 2.0 ** -24, -(1 + 2.0 ** -24), top + half_ulp_top, top + half_ulp_top * 0.99,
                  2.0 ** -150, 3 * 2.0 ** -150, 2.0 ** -126 - 2.0 ** -150, -0.0, np.inf, -np.inf, 1e-50, -1e-50, 1e300])
    rng = np.random.default_rng(6)
    v = np.concatenate([v, rng.standard_normal(3000) * 2.0 ** rng.integers(-160, 140, 3000)])
    q = nn.Quantizer("fp32").bind("q")
    with np.errstate(over="ignore"):
        got = q(nn.QTensor.exact(v, "fp64"), nn.Context(0, 0)).codes
    np.testing.assert_array_equal(got, bitsim.encode(v, "fp32"))
    nan = q(nn.QTensor.exact(np.array([np.nan, 1.0]), "fp64"), nn.Context(0, 0)).codes
    np.testing.assert_array_equal(nan, bitsim.encode(np.array([np.nan, 1.0]), "fp32"))
    exact = bitsim.decode(got, "fp32")
    np.testing.assert_array_equal(nn.QTensor.exact(exact, "fp32").codes, got)
    with pytest.raises(ValueError, match="not representable in fp32"):
        nn.QTensor.exact(np.array([1.0, 1 + 2.0 ** -30]), "fp32")


def pooled(layer, x):
    """MaxPool2d forward (y codes, winners) and backward (dx codes) on an fp32 QTensor."""
    y = layer.forward(x, nn.Context(0, 0))
    dy = nn.QTensor(np.arange(1, y.codes.size + 1, dtype=np.uint32).reshape(y.shape), FP32)
    return y.codes, layer._winner.copy(), layer.backward(dy, nn.Context(0, 0)).codes


@pytest.mark.parametrize("kernel,stride", [(2, None), (3, None), (2, 3)])
def test_relu_and_max_pool_on_fp32_codes(kernel, stride):
    """Against bitsim.dataflow on codes: ties between +0 and -0 (the maximum is +0; the gradient goes
    to the first zero tap), -inf, odd sizes that drop a row and column; the tiled reshape against
    the gather (stride > kernel takes the gather)."""
    rng = np.random.default_rng(3)
    v = rng.choice([0.0, -0.0, 1.5, -2.0, -np.inf, 3.0], size=(2, 3, 7, 9)).astype(np.float32)
    v[0, 0] = rng.standard_normal((7, 9))
    x = nn.QTensor(v.view(np.uint32), FP32)
    relu = nn.ReLU()
    np.testing.assert_array_equal(relu.forward(x, nn.Context(0, 0)).codes, df.relu(x.codes, FP32))
    layer = nn.MaxPool2d(kernel, stride)
    codes, winner, dx = pooled(layer, x)
    np.testing.assert_array_equal(codes, df.max_pool2d(x.codes, FP32, **layer.pool_args))
    taps = layer._taps(x.values, -np.inf)
    np.testing.assert_array_equal(winner, np.argmax(taps == bitsim.decode(codes, FP32)[..., None], axis=-1))
    layer._tiled = False
    assert all(np.array_equal(a, b) for a, b in zip(pooled(layer, x), (codes, winner, dx)))


@pytest.mark.parametrize("geom", [dict(), dict(stride=2, padding=1), dict(padding=(2, 1), dilation=2)])
def test_cached_gathers_equal_the_dataflow_ones(geom):
    """im2col and dy_taps by the cached index maps equal bitsim.dataflow's gathers, as do the sizes."""
    layer = nn.Conv2d(3, 4, (3, 2), **geom)
    layer.name = "conv"
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    win = Window.of((3, 2), **layer.geom, what="t")
    out_hw = win.out_size(9, 8, "t")
    layer._x_shape = x.shape
    dy = rng.standard_normal((2, 4, *out_hw))
    for base, v, want in (("im2col", x, im2col(x, win, out_hw, 0)),                 # +0 of float64 is 0
                          ("dy_taps", dy, dy_taps(dy, win, (9, 8), 0))):
        got = block_layout.base_matrix(layer, base, v)
        assert got.dtype == v.dtype and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)
        assert block_layout.base_size(layer, base, v.shape) == want.size


def test_block_quantizer_rounds_lazily(monkeypatch):
    """The error point of a convolution: its operands equal encodes of the float64 base matrices with
    the same SR keys; nothing is rounded until an operand is read, and each base only once."""
    q = nn.get_recipe("bm8").layers.quant.error
    layer = nn.Conv2d(2, 3, 3, padding=1)
    layer.name, layer._x_shape = "conv", (2, 2, 5, 5)
    point = q.at(layer, "error")
    rng = np.random.default_rng(5)
    dy = nn.QTensor(f32(rng.standard_normal((2, 3, 5, 5)) * 1e-3).view(np.uint32), FP32)
    calls = []
    encode = block_quant.block_encode
    monkeypatch.setattr(block_quant, "block_encode", lambda m, *a, **k: calls.append(m.dtype) or encode(m, *a, **k))
    ctx = nn.Context(7, 3)
    t = point(dy, ctx)
    assert calls == [] and t.gemms == ("backward_data", "backward_weight")
    got = {g: t.operand(g) for g in ("backward_weight", "backward_data")}
    assert calls == [np.float64, np.float64]
    ref = nn.Context(7, 3)
    for base, gemm in (("dy_taps", "backward_data"), ("dy_rows", "backward_weight")):
        m = block_layout.base_matrix(layer, base, dy.values)
        want = bitsim.encode(m, q.fmt, "sr", sr_bits=q.sr_bits, **ref.sr_key(f"{point.name}:{base}", m.size))
        np.testing.assert_array_equal(got[gemm].codes, want.codes)
        np.testing.assert_array_equal(got[gemm].scales, np.repeat(want.scales, 48, axis=0)[:m.shape[0]])
