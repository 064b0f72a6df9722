"""bitsim.dataflow: convolution, its gradients and pooling on codes, bit for bit.

The references below gather every output element's terms with plain loops in the documented K order and
evaluate each row with the exact accumulator reference ``bitsim.ref.accum.dot`` (tensor-core presets:
with ``bitsim.dot`` on the gathered rows; that kernel is checked against recorded hardware in
tests/test_tensor_cores.py). Where every value is a small integer, a KulischAcc unit with an fp32
output must equal a float64 computation exactly (no tolerance).
"""

from fractions import Fraction

import numpy as np
import pytest

import bitsim
import bitsim.dataflow as dataflow
from bitsim.accum import ChunkedAcc, DotUnit, FloatAcc, KulischAcc
from bitsim.ref import accum as R
from bitsim.ref.values import round_value

F = {n: bitsim.format(n) for n in ("fp32", "fp16", "bf16", "e4m3", "e5m2", "e2m1", "e8m0", "e4m3fnuz", "int8")}
KULISCH = DotUnit("e4m3", "e4m3", KulischAcc(), "fp32", c="fp16")
UNITS = {   # preset names go to dataflow as names
    "fp32_seq": "fp32_seq",
    "wang_fp8": "wang_fp8",
    "kulisch_e4m3_fp32": KULISCH,
    "int8_int32": "int8_int32",
    "mixed_chunk4": DotUnit("e5m2", "e4m3", ChunkedAcc(4, FloatAcc(F["fp16"]), FloatAcc(F["fp16"], "rtz")), "bf16"),
}
GEOMETRIES = [  # (kernel, stride, padding, dilation)
    ((3, 3), 1, 0, 1),
    ((3, 2), 2, 1, 1),
    ((2, 3), (1, 2), (2, 1), 2),
]
N, C_IN, C_OUT, H, W = 2, 3, 2, 6, 6


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def resolve(spec):
    return bitsim.unit(spec) if isinstance(spec, str) else spec


def formats(unit):
    """(a, b, c, out) formats of a unit."""
    if isinstance(unit, DotUnit):
        return unit.a, unit.b, unit.c, unit.out
    return unit.fmt_in, unit.fmt_in, unit.out, unit.out


def random_codes(fmt, shape, rng):
    """Codes of ``fmt``: any code for integers, else normal values of spread magnitudes with some +-0."""
    if isinstance(fmt, bitsim.FixedFormat):
        return rng.integers(0, 1 << fmt.bits, shape).astype(fmt.code_dtype)
    v = rng.standard_normal(shape) * 2.0 ** rng.integers(-3, 4, shape)
    v[rng.random(shape) < 0.1] = 0.0
    v[rng.random(shape) < 0.1] = -0.0
    return bitsim.encode(v, fmt)


def small_ints(fmt, shape, rng):
    return bitsim.encode(rng.integers(-4, 5, shape).astype(np.float64), fmt)


def zero(fmt):
    return int(bitsim.encode(np.zeros(1), fmt)[0])


def evaluate(unit, rows, out_shape):
    """Output codes of the gathered rows [(a codes, b codes, c code or None), ...]."""
    fa, fb, fc, fo = formats(unit)
    if not isinstance(unit, DotUnit):
        a = np.array([r[0] for r in rows], dtype=fa.code_dtype)
        b = np.array([r[1] for r in rows], dtype=fb.code_dtype)
        c = None if rows[0][2] is None else np.array([r[2] for r in rows], dtype=fc.code_dtype)
        return bitsim.dot(a, b, unit, c).reshape(out_shape)
    got = [R.dot(a, b, fa, fb, unit.acc, fo, unit.out_rounding, c=c, fc=fc) for a, b, c in rows]
    return np.array(got, dtype=fo.code_dtype).reshape(out_shape)


def ref_conv2d(x, w, unit, kernel, stride, padding, dilation, bias=None):
    """Every y[n, co, oh, ow] from its terms, k = (ci, i, j) in C order."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    n_, c_in, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    ho, wo = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    z = zero(formats(unit)[0]) if ph or pw else None
    rows = []
    for n in range(n_):
        for co in range(c_out):
            for oh in range(ho):
                for ow in range(wo):
                    a, b = [], []
                    for ci in range(c_in):
                        for i in range(kh):
                            for j in range(kw):
                                hh, ww = oh * sh + i * dh - ph, ow * sw + j * dw - pw
                                a.append(int(x[n, ci, hh, ww]) if 0 <= hh < h and 0 <= ww < wd else z)
                                b.append(int(w[co, ci, i, j]))
                    rows.append((a, b, None if bias is None else int(bias[co])))
    return evaluate(unit, rows, (n_, c_out, ho, wo))


def ref_backward_data(dy, w, unit, x_shape, stride, padding, dilation):
    """Every dx[n, ci, h, w] from its terms, k = (co, i, j) in C order; a tap that reaches no output
    position takes the +0 code of dy's format."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    n_, c_in, h_, w_ = x_shape
    c_out, _, kh, kw = w.shape
    ho, wo = dy.shape[2:]
    z = zero(formats(unit)[0])
    rows = []
    for n in range(n_):
        for ci in range(c_in):
            for h in range(h_):
                for wd in range(w_):
                    a, b = [], []
                    for co in range(c_out):
                        for i in range(kh):
                            for j in range(kw):
                                th, tw = h + ph - i * dh, wd + pw - j * dw        # = oh * sh, ow * sw
                                hit = (th % sh == 0 and tw % sw == 0 and 0 <= th // sh < ho and 0 <= tw // sw < wo)
                                a.append(int(dy[n, co, th // sh, tw // sw]) if hit else z)
                                b.append(int(w[co, ci, i, j]))
                    rows.append((a, b, None))
    return evaluate(unit, rows, x_shape)


def ref_backward_weight(x, dy, unit, w_shape, stride, padding, dilation):
    """Every dw[co, ci, i, j] from its terms, k = (n, oh, ow) in C order."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    c_out, c_in, kh, kw = w_shape
    n_, _, h, wd = x.shape
    ho, wo = dy.shape[2:]
    z = zero(formats(unit)[1]) if ph or pw else None
    rows = []
    for co in range(c_out):
        for ci in range(c_in):
            for i in range(kh):
                for j in range(kw):
                    a, b = [], []
                    for n in range(n_):
                        for oh in range(ho):
                            for ow in range(wo):
                                hh, ww = oh * sh + i * dh - ph, ow * sw + j * dw - pw
                                a.append(int(dy[n, co, oh, ow]))
                                b.append(int(x[n, ci, hh, ww]) if 0 <= hh < h and 0 <= ww < wd else z)
                    rows.append((a, b, None))
    return evaluate(unit, rows, w_shape)


def problem(unit, kernel, stride, padding, dilation, seed, values=random_codes):
    """x, w, dy codes for one geometry (dy has the forward output's shape)."""
    rng = np.random.default_rng(seed)
    fa, fb, _, _ = formats(unit)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, pair(stride), pair(padding), pair(dilation)
    ho, wo = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    return (values(fa, (N, C_IN, H, W), rng), values(fb, (C_OUT, C_IN, kh, kw), rng),
            values(fa, (N, C_OUT, ho, wo), rng), values(fb, (N, C_IN, H, W), rng))


def geometry_id(g):
    return f"k{g[0]}-s{g[1]}-p{g[2]}-d{g[3]}".replace(" ", "")


# ------------------------------------------------------------------ convolution vs the reference

@pytest.mark.parametrize("geometry", GEOMETRIES, ids=geometry_id)
@pytest.mark.parametrize("name", list(UNITS))
def test_conv2d_matches_reference(name, geometry):
    unit = resolve(UNITS[name])
    kernel, stride, padding, dilation = geometry
    x, w, _, _ = problem(unit, *geometry, seed=1)
    bias = random_codes(formats(unit)[2], (C_OUT,), np.random.default_rng(2)) if geometry[1] != 1 else None
    got = dataflow.conv2d(x, w, UNITS[name], stride=stride, padding=padding, dilation=dilation, bias=bias)
    np.testing.assert_array_equal(got, ref_conv2d(x, w, unit, *geometry, bias=bias))


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=geometry_id)
@pytest.mark.parametrize("name", list(UNITS))
def test_conv2d_backward_data_matches_reference(name, geometry):
    unit = resolve(UNITS[name])
    _, w, dy, _ = problem(unit, *geometry, seed=3)
    kw = dict(stride=geometry[1], padding=geometry[2], dilation=geometry[3])
    got = dataflow.conv2d_backward_data(dy, w, UNITS[name], (N, C_IN, H, W), **kw)
    np.testing.assert_array_equal(got, ref_backward_data(dy, w, unit, (N, C_IN, H, W), *geometry[1:]))


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=geometry_id)
@pytest.mark.parametrize("name", list(UNITS))
def test_conv2d_backward_weight_matches_reference(name, geometry):
    unit = resolve(UNITS[name])
    _, w, dy, xb = problem(unit, *geometry, seed=4)
    kw = dict(stride=geometry[1], padding=geometry[2], dilation=geometry[3])
    got = dataflow.conv2d_backward_weight(xb, dy, UNITS[name], w.shape, **kw)
    np.testing.assert_array_equal(got, ref_backward_weight(xb, dy, unit, w.shape, *geometry[1:]))


def test_tensor_core_preset_matches_rows():
    name = "nvidia_h100_fp16_fp32"
    unit = bitsim.unit(name)
    geometry = GEOMETRIES[1]
    x, w, dy, _ = problem(unit, *geometry, seed=5)
    bias = random_codes(unit.out, (C_OUT,), np.random.default_rng(6))
    kw = dict(stride=geometry[1], padding=geometry[2], dilation=geometry[3])
    np.testing.assert_array_equal(dataflow.conv2d(x, w, name, bias=bias, **kw),
                                  ref_conv2d(x, w, unit, *geometry, bias=bias))
    np.testing.assert_array_equal(dataflow.conv2d_backward_data(dy, w, name, x.shape, **kw),
                                  ref_backward_data(dy, w, unit, x.shape, *geometry[1:]))
    np.testing.assert_array_equal(dataflow.conv2d_backward_weight(x, dy, name, w.shape, **kw),
                                  ref_backward_weight(x, dy, unit, w.shape, *geometry[1:]))


# ------------------------------------------------------------------ exact float64 checks (KulischAcc)

def pad64(v, p):
    return np.pad(v, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))


def conv64(x, w, stride, padding, dilation):
    (sh, sw), p, (dh, dw) = pair(stride), pair(padding), pair(dilation)
    xp = pad64(x, p)
    kh, kw = w.shape[2:]
    ho, wo = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1, (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((x.shape[0], w.shape[0], ho, wo))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh, j * dw: j * dw + sw * (wo - 1) + 1: sw]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return y


def data_grad64(dy, w, x_shape, stride, padding, dilation):
    """Scatter form: every dy[n, co, oh, ow] * w[co, ci, i, j] added to its input position."""
    (sh, sw), p, (dh, dw) = pair(stride), pair(padding), pair(dilation)
    dxp = pad64(np.zeros(x_shape), p)
    ho, wo = dy.shape[2:]
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            dxp[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh, j * dw: j * dw + sw * (wo - 1) + 1: sw] += \
                np.einsum("nohw,oc->nchw", dy, w[:, :, i, j])
    return dxp[:, :, p[0]: p[0] + x_shape[2], p[1]: p[1] + x_shape[3]]


def weight_grad64(x, dy, w_shape, stride, padding, dilation):
    (sh, sw), p, (dh, dw) = pair(stride), pair(padding), pair(dilation)
    xp = pad64(x, p)
    ho, wo = dy.shape[2:]
    dw_ = np.zeros(w_shape)
    for i in range(w_shape[2]):
        for j in range(w_shape[3]):
            patch = xp[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh, j * dw: j * dw + sw * (wo - 1) + 1: sw]
            dw_[:, :, i, j] = np.einsum("nohw,nchw->oc", dy, patch)
    return dw_


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=geometry_id)
def test_kulisch_equals_float64_on_small_integers(geometry):
    x, w, dy, _ = problem(KULISCH, *geometry, seed=7, values=small_ints)
    xv, wv, dyv = (bitsim.decode(t, "e4m3") for t in (x, w, dy))
    kw = dict(stride=geometry[1], padding=geometry[2], dilation=geometry[3])
    y = dataflow.conv2d(x, w, KULISCH, **kw)
    dx = dataflow.conv2d_backward_data(dy, w, KULISCH, x.shape, **kw)
    dw = dataflow.conv2d_backward_weight(x, dy, KULISCH, w.shape, **kw)
    np.testing.assert_array_equal(bitsim.decode(y, "fp32"), conv64(xv, wv, *geometry[1:]))
    np.testing.assert_array_equal(bitsim.decode(dx, "fp32"), data_grad64(dyv, wv, x.shape, *geometry[1:]))
    np.testing.assert_array_equal(bitsim.decode(dw, "fp32"), weight_grad64(xv, dyv, w.shape, *geometry[1:]))


def test_backward_data_is_the_zero_stuffed_flipped_convolution():
    """Same terms as conv2d over the zero-stuffed, padded dy with the flipped, transposed kernel (stride 2,
    padding 1, dilation 2); KulischAcc makes the order irrelevant."""
    (kh, kw), s, p, d = (3, 2), 2, 1, 2
    rng = np.random.default_rng(8)
    x_shape = (N, C_IN, 7, 6)
    ho, wo = (7 + 2 * p - d * (kh - 1) - 1) // s + 1, (6 + 2 * p - d * (kw - 1) - 1) // s + 1
    w = small_ints(F["e4m3"], (C_OUT, C_IN, kh, kw), rng)
    dy = small_ints(F["e4m3"], (N, C_OUT, ho, wo), rng)
    lo_h, lo_w = d * (kh - 1) - p, d * (kw - 1) - p
    hi_h = x_shape[2] - ((ho - 1) * s + 1) - lo_h + d * (kh - 1)
    hi_w = x_shape[3] - ((wo - 1) * s + 1) - lo_w + d * (kw - 1)
    stuffed = np.zeros((N, C_OUT, lo_h + (ho - 1) * s + 1 + hi_h, lo_w + (wo - 1) * s + 1 + hi_w), dtype=np.uint8)
    stuffed[:, :, lo_h: lo_h + (ho - 1) * s + 1: s, lo_w: lo_w + (wo - 1) * s + 1: s] = dy
    flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    want = dataflow.conv2d(stuffed, flipped, KULISCH, dilation=d)
    got = dataflow.conv2d_backward_data(dy, w, KULISCH, x_shape, stride=s, padding=p, dilation=d)
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------ padding conventions, by hand

def test_padding_zeros_enter_the_accumulator():
    """x = -0 everywhere, w = +1, bias = -0, fp32_seq: interior outputs add only -0 terms to -0 (-0);
    outputs whose window holds a padding tap add +0 * 1 = +0 (-0 + +0 = +0 under RNE)."""
    fp32 = F["fp32"]
    x = np.full((1, 1, 3, 3), fp32.sign_mask, dtype=np.uint32)
    w = bitsim.encode(np.ones((1, 1, 3, 3)), fp32)
    bias = np.array([fp32.sign_mask], dtype=np.uint32)
    y = dataflow.conv2d(x, w, "fp32_seq", padding=1, bias=bias)
    want = np.zeros((1, 1, 3, 3), dtype=np.uint32)
    want[0, 0, 1, 1] = fp32.sign_mask
    np.testing.assert_array_equal(y, want)


def test_padding_zero_times_inf_is_nan():
    """w[0, 0, 0, 0] = +inf: outputs whose tap (0, 0) lies in the padding take +0 * inf = NaN; the others
    take 1 * inf = +inf."""
    fp32 = F["fp32"]
    x = bitsim.encode(np.ones((1, 1, 3, 3)), fp32)
    wv = np.ones((1, 1, 2, 2))
    wv[0, 0, 0, 0] = np.inf
    y = bitsim.decode(dataflow.conv2d(x, bitsim.encode(wv, fp32), "fp32_seq", padding=1), fp32)[0, 0]
    assert np.isnan(y[0, :]).all() and np.isnan(y[:, 0]).all()
    assert (y[1:, 1:] == np.inf).all()


# ------------------------------------------------------------------ pooling

def windows64(v, kernel, stride, padding, fill):
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel), pair(stride), pair(padding)
    vp = np.pad(v, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    ho, wo = (vp.shape[2] - kh) // sh + 1, (vp.shape[3] - kw) // sw + 1
    return np.stack([vp[:, :, oh * sh: oh * sh + kh, ow * sw: ow * sw + kw].reshape(*v.shape[:2], -1)
                     for oh in range(ho) for ow in range(wo)], axis=2).reshape(*v.shape[:2], ho, wo, -1)


@pytest.mark.parametrize("fmt,kernel,stride,padding", [
    ("fp32", (2, 3), (2, 1), (1, 1)),
    ("e4m3", 3, 2, 1),
    ("int8", (3, 2), None, 0),
])
def test_max_pool_matches_numpy(fmt, kernel, stride, padding):
    f = F[fmt]
    rng = np.random.default_rng(9)
    if fmt == "int8":
        x = rng.integers(0, 256, (N, C_IN, 7, 6)).astype(np.uint8)
    else:
        x = bitsim.encode(rng.standard_normal((N, C_IN, 7, 6)) * 100, f)     # |v| < 448: no e4m3 overflow to NaN
    got = bitsim.decode(dataflow.max_pool2d(x, f, kernel, stride, padding), f)
    want = windows64(bitsim.decode(x, f), kernel, kernel if stride is None else stride, padding, -np.inf).max(-1)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("fmt", ["fp16", "e4m3"])
def test_max_pool_nan(fmt):
    f = F[fmt]
    rng = np.random.default_rng(10)
    v = rng.standard_normal((1, 2, 4, 4))
    v[0, 0, 0, 0] = np.nan              # one NaN in window (0, 0)
    v[0, 1, :2, :2] = np.nan            # an all-NaN window
    x = bitsim.encode(v, f)
    x[0, 0, 0, 0] |= f.sign_mask        # a negative NaN operand
    for nan, reduce in (("propagate", np.max), ("ignore", np.nanmax)):
        got = dataflow.max_pool2d(x, f, 2, nan=nan)
        with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning) if nan == "ignore" else _nothing():
            want = reduce(windows64(bitsim.decode(x, f), 2, 2, 0, -np.inf), axis=-1)
        np.testing.assert_array_equal(bitsim.decode(got, f), want)
        assert (got[np.isnan(want)] == f.nan_code).all()   # the canonical NaN


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_max_pool_zero_signs_and_single_tap_nan():
    fp16 = F["fp16"]
    pz, nz, nan = 0, fp16.sign_mask, 0xFE01                  # +0, -0, a negative NaN with a payload
    x = np.array([[[[nz, pz, nz, nz]]]], dtype=np.uint16)
    np.testing.assert_array_equal(dataflow.max_pool2d(x, fp16, (1, 2)), [[[[pz, nz]]]])   # -0 < +0
    one = np.array([[[[nan]]]], dtype=np.uint16)
    assert dataflow.max_pool2d(one, fp16, 1)[0, 0, 0, 0] == fp16.nan_code


def ref_avg_pool(x, fmt, unit, kernel, stride, padding, count_include_pad):
    """Window sums by the accumulator reference (taps in (i, j) order, padding +0), then the exact product
    with RNE(1/n) in the unit's output format, rounded once (RNE) into fmt."""
    fa, fb, _, fo = formats(unit)
    one = int(bitsim.encode(np.ones(1), fb)[0])
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel), pair(stride), pair(padding)
    n_, c_, h, wd = x.shape
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n_, c_, ho, wo), dtype=fmt.code_dtype)
    z = zero(fa)
    for n, c, oh, ow in np.ndindex(n_, c_, ho, wo):
        taps = []
        for i in range(kh):
            for j in range(kw):
                hh, ww = oh * sh + i - ph, ow * sw + j - pw
                taps.append(int(x[n, c, hh, ww]) if 0 <= hh < h and 0 <= ww < wd else z)
        inside = sum(0 <= oh * sh + i - ph < h and 0 <= ow * sw + j - pw < wd for i in range(kh) for j in range(kw))
        total = R.dot(taps, [one] * len(taps), fa, fb, unit.acc, fo, unit.out_rounding)
        recip = round_value(Fraction(1, kh * kw if count_include_pad else inside), fo, "rne")[0]
        out[n, c, oh, ow] = R.code_of(R.product(R.Val.of_code(total, fo), R.Val.of_code(recip, fo)), fmt, "rne")
    return out


@pytest.mark.parametrize("fmt,unit,kernel,stride,padding,include", [
    ("fp16", None, 3, 2, 1, True),
    ("fp16", None, 3, 2, 1, False),
    ("fp16", DotUnit("fp16", "e4m3", KulischAcc(), "fp32"), (2, 3), 1, (1, 0), False),
    ("fp8_wang", "wang_fp8", (3, 2), (1, 2), 0, True),
])
def test_avg_pool_matches_reference(fmt, unit, kernel, stride, padding, include):
    f = bitsim.format(fmt)
    x = random_codes(f, (N, C_IN, 6, 5), np.random.default_rng(11))
    got = dataflow.avg_pool2d(x, f, kernel, stride, padding, unit, count_include_pad=include)
    ref_unit = DotUnit(f, f, FloatAcc(f), f) if unit is None else resolve(unit)
    np.testing.assert_array_equal(got, ref_avg_pool(x, f, ref_unit, kernel, stride, padding, include))


def test_avg_pool_power_of_two_window_is_the_rounded_mean():
    """Exact sum (KulischAcc, exact in fp32 here) times an exact 1/4: one rounding of the float64 mean."""
    fp16 = F["fp16"]
    rng = np.random.default_rng(12)
    x = bitsim.encode(rng.standard_normal((N, C_IN, 6, 6)) * 2.0 ** rng.integers(-3, 4, (N, C_IN, 6, 6)), fp16)
    got = dataflow.avg_pool2d(x, fp16, 2, unit=DotUnit(fp16, fp16, KulischAcc(), "fp32"))
    want = bitsim.encode(windows64(bitsim.decode(x, fp16), 2, 2, 0, 0.0).mean(-1), fp16)
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------ relu

def test_relu():
    fp32 = F["fp32"]
    v = np.array([-0.0, 0.0, -1.0, 1.0, -np.inf, np.inf, 1e-45, -1e-45])
    codes = np.append(bitsim.encode(v, fp32), np.array([0x7FC00001, 0xFFC00000], dtype=np.uint32))
    want = np.array([0, 0, 0, 0x3F800000, 0, 0x7F800000, 1, 0, 0x7FC00001, 0xFFC00000], dtype=np.uint32)
    np.testing.assert_array_equal(dataflow.relu(codes, fp32), want)
    fnuz = F["e4m3fnuz"]                                     # its NaN is the sign bit alone
    np.testing.assert_array_equal(dataflow.relu(np.array([0x80, 0xB8, 0x38], dtype=np.uint8), fnuz), [0x80, 0, 0x38])
    np.testing.assert_array_equal(dataflow.relu(np.array([0x80, 0xFF, 0, 1, 127], dtype=np.uint8), F["int8"]),
                                  [0, 0, 0, 1, 127])
    e8m0 = np.array([0, 127, 254, 255], dtype=np.uint8)      # unsigned: unchanged
    np.testing.assert_array_equal(dataflow.relu(e8m0, F["e8m0"]), e8m0)


# ------------------------------------------------------------------ bad input

X = np.zeros((1, 2, 4, 4), dtype=np.uint32)
WT = np.zeros((3, 2, 3, 3), dtype=np.uint32)


@pytest.mark.parametrize("kwargs,match", [
    (dict(stride=0), r"conv2d: stride must be a positive int .*got 0"),
    (dict(stride=(1, 2, 3)), r"stride must be .*got \(1, 2, 3\)"),
    (dict(stride=True), r"stride must be .*got True"),
    (dict(padding=-1), r"conv2d: padding must be a non-negative int .*got -1"),
    (dict(dilation=(1, 0)), r"dilation must be a positive int .*got \(1, 0\)"),
    (dict(dilation=2), r"output height would be < 1"),
    (dict(bias=np.zeros(2, dtype=np.uint32)), r"bias must have shape \(3,\)"),
])
def test_conv2d_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dataflow.conv2d(X, WT, "fp32_seq", **kwargs)


def test_bad_shapes_formats_and_units():
    with pytest.raises(ValueError, match=r"w has 2 input channels .* x has 3"):
        dataflow.conv2d(np.zeros((1, 3, 4, 4), dtype=np.uint32), WT, "fp32_seq")
    with pytest.raises(ValueError, match=r"x must be a 4-D array of codes; got shape \(2, 4, 4\)"):
        dataflow.conv2d(X[0], WT, "fp32_seq")
    with pytest.raises(TypeError, match=r"dtype uint8"):
        dataflow.conv2d(X.astype(np.uint8), WT, "fp32_seq")
    with pytest.raises(TypeError, match=r"unit must be a DotUnit"):
        dataflow.conv2d(X, WT, 42)
    scales = DotUnit("e8m0", "e8m0", FloatAcc(F["fp32"]), "fp32")
    with pytest.raises(ValueError, match=r"padding of x: format e8m0 has no zero"):
        dataflow.conv2d(X.astype(np.uint8), WT.astype(np.uint8), scales, padding=1)
    geo = dict(stride=2, padding=1, dilation=1)
    with pytest.raises(ValueError, match=r"dy must have shape \(1, 3, 2, 2\)"):
        dataflow.conv2d_backward_data(np.zeros((1, 3, 3, 3), np.uint32), WT, "fp32_seq", X.shape, **geo)
    with pytest.raises(ValueError, match=r"x_shape must be a tuple of 4 positive ints; got \(1, 2, 4\)"):
        dataflow.conv2d_backward_data(np.zeros((1, 3, 2, 2), np.uint32), WT, "fp32_seq", (1, 2, 4), **geo)
    with pytest.raises(ValueError, match=r"w_shape must be a tuple of 4 positive ints"):
        dataflow.conv2d_backward_weight(X, np.zeros((1, 3, 2, 2), np.uint32), "fp32_seq", (3, 2, 0, 3), **geo)
    with pytest.raises(ValueError, match=r"x has 2 channels .* w_shape has 4"):
        dataflow.conv2d_backward_weight(X, np.zeros((1, 3, 2, 2), np.uint32), "fp32_seq", (3, 4, 3, 3), **geo)


def test_pool_bad_arguments():
    x16 = np.zeros((1, 1, 4, 4), dtype=np.uint16)
    with pytest.raises(ValueError, match=r"max_pool2d: padding must be at most half the kernel \(2, 2\); got 2"):
        dataflow.max_pool2d(x16, "fp16", 2, padding=2)
    with pytest.raises(ValueError, match=r"nan must be 'propagate'.*got 'drop'"):
        dataflow.max_pool2d(x16, "fp16", 2, nan="drop")
    with pytest.raises(ValueError, match=r"max_pool2d: kernel must be a positive int .*got 0"):
        dataflow.max_pool2d(x16, "fp16", 0)
    with pytest.raises(TypeError, match=r"avg_pool2d: fmt must be a float format"):
        dataflow.avg_pool2d(x16.astype(np.uint8), "int8", 2)
    with pytest.raises(ValueError, match=r"unit's a format fp32 differs from fmt fp16"):
        dataflow.avg_pool2d(x16, "fp16", 2, unit="fp32_seq")
    fixed_out = DotUnit("fp16", "fp16", KulischAcc(), bitsim.FixedFormat(32, 8))
    with pytest.raises(TypeError, match=r"output format must be a float format"):
        dataflow.avg_pool2d(x16, "fp16", 2, unit=fixed_out)
    with pytest.raises(ValueError, match=r"1/9 rounds to 0.0 in the unit's output format e2m1"):
        dataflow.avg_pool2d(np.zeros((1, 1, 3, 3), np.uint8), "e2m1", 3)
    with pytest.raises(ValueError, match=r"relu: result: format .* has no zero"):
        dataflow.relu(np.zeros(2, np.uint8), bitsim.FloatFormat(4, 3, specials="fn", overflow="saturate",
                                                               has_zero=False, subnormals=False))
