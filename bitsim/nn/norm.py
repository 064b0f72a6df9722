"""``BatchNorm``: batch normalisation whose every operation is a rounded ``bitsim`` op in one stated format.

Inputs are (N, C) or (N, C, H, W); statistics are per channel c over its m = N*H*W values, taken in the
order n, h, w. Every step below rounds once to ``fmt`` (default fp32) with ``rounding`` (default RNE);
"chain" is a sequential ``FloatAcc(fmt)`` dot product (``bitsim.dot``: s = round(s + a*b), k increasing,
from +0), so a sum of x is the chain of x * 1.

Training forward                              Backward (training)
  x     = input rounded to fmt                  dy    = gradient rounded to fmt
  mean  = chain(x) / m                          dbeta = chain(dy);  dgamma = chain(dy * xhat)
  d     = x - mean                              g     = dy * gamma
  var   = chain(d * d) / m                      s1    = chain(g);   s2 = chain(g * xhat)
  inv   = 1 / sqrt(var + eps)   (3 roundings)   u     = g * m - s1  (2 roundings)
  xhat  = d * inv                               t     = fma(-xhat, s2, u)
  y     = fma(xhat, gamma, beta)                dx    = t * (inv / m)  (2 roundings)

Running statistics (used by the evaluation forward, ``training = False``), updated by each training
forward: r_mean = fma(momentum, mean - r_mean, r_mean), r_var = fma(momentum, var_u - r_var, r_var), with
the unbiased var_u = chain(d * d) / (m - 1). Evaluation: y = fma((x - r_mean) * inv_r, gamma, beta), inv_r
= 1 / sqrt(r_var + eps). m, m - 1, eps and momentum are converted to fmt first (RNE; m and m - 1 must be
exact). gamma and beta are parameters (master format of the recipe; rounded to fmt where they are
used); r_mean and r_var are buffers (``Sequential.state_dict``). Trace keys: ``<name>/forward/{input, x,
mean, var, inv_std, xhat, output}``, ``<name>/backward/{grad_output, dy, grad_beta, grad_gamma,
grad_input}``.
"""

from __future__ import annotations

import numpy as np

from bitsim import ops
from bitsim.accum import DotUnit, FloatAcc
from bitsim.accum.unit import dot
from bitsim.formats import FloatFormat
from bitsim.nn.layers import Layer, Param
from bitsim.nn.tensor import QTensor, element_format
from bitsim.quantize import convert, encode
from bitsim.rounding import mode_code


class BatchNorm(Layer):
    """Batch normalisation over axis 1 (module doc); ``fmt`` must be a float format."""

    def __init__(self, channels: int, fmt="fp32", rounding: str = "rne", eps: float = 1e-5, momentum: float = 0.1):
        if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1:
            raise ValueError(f"BatchNorm: channels must be a positive int; got {channels!r}")
        self.channels = int(channels)
        self.fmt = element_format(fmt, "BatchNorm fmt")
        if not isinstance(self.fmt, FloatFormat):
            raise TypeError(f"BatchNorm: fmt must be a float format; got {self.fmt}")
        if rounding == "sr":
            raise ValueError("BatchNorm: rounding must be deterministic (rne, rna, rtz, rup, rdn, rto); got 'sr'")
        mode_code(rounding)                                            # validates the name
        self.rounding = rounding
        for what, v in (("eps", eps), ("momentum", momentum)):
            if not isinstance(v, (int, float)) or not (0 < v <= 1 if what == "momentum" else 0 < v):
                raise ValueError(f"BatchNorm: {what} must be a number in {'(0, 1]' if what == 'momentum' else '(0, inf)'}"
                                 f"; got {v!r}")
        self.eps, self.momentum = float(eps), float(momentum)
        self.unit = DotUnit(self.fmt, self.fmt, FloatAcc(self.fmt, rounding), self.fmt)
        self.weight = self.bias = None
        self.running_mean = self.running_var = None
        self._cache = None

    # --- construction and state
    def build(self, name, spec, master_quant, rng):
        self.name = name
        init = master_quant.bind(f"{name}.init")
        self.weight = Param(f"{name}.weight", init(QTensor.exact(np.ones(self.channels), "fp64"), None))
        self.bias = Param(f"{name}.bias", init(QTensor.exact(np.zeros(self.channels), "fp64"), None))
        self.running_mean = QTensor(self._const(np.zeros(self.channels)), self.fmt)
        self.running_var = QTensor(self._const(np.ones(self.channels)), self.fmt)

    def parameters(self):
        return [self.weight, self.bias]

    def buffers(self) -> dict:
        return {f"{self.name}.running_mean": self.running_mean, f"{self.name}.running_var": self.running_var}

    def load_buffer(self, key: str, codes: np.ndarray) -> None:
        attr = key[len(self.name) + 1:]
        setattr(self, attr, QTensor(np.array(codes, copy=True), self.fmt))

    # --- arithmetic helpers (each one rounding in fmt)
    def _const(self, values) -> np.ndarray:
        return encode(np.asarray(values, dtype=np.float64), self.fmt, "rne")

    def _fill(self, code, shape) -> np.ndarray:
        """An array of ``shape`` holding one code (a 1-element code array) everywhere."""
        return np.full(shape, code[0], dtype=code.dtype)

    def _exact_count(self, m: int) -> np.ndarray:
        code, flags = encode(np.array([float(m)]), self.fmt, "rne", return_flags=True)
        if flags[0]:
            raise ValueError(f"{self.name}: the count {m} is not exact in {self.fmt}; use a wider BatchNorm fmt")
        return code

    def _op(self, name, *args):
        return getattr(ops, name)(*args, self.fmt, self.rounding)[0]

    def _chain(self, a_rows, b_rows) -> np.ndarray:
        """Per-row sequential FloatAcc(fmt) sums of a*b: (C, m) rows -> (C,)."""
        return dot(a_rows, b_rows, self.unit)

    def _rows(self, codes) -> np.ndarray:
        """(N, C, ...) codes -> (C, m) rows in the order n, h, w."""
        return np.ascontiguousarray(np.moveaxis(codes, 1, 0).reshape(self.channels, -1))

    def _per_channel(self, v, shape) -> np.ndarray:
        """(C,) codes broadcast to ``shape`` (N, C, ...)."""
        return np.ascontiguousarray(np.broadcast_to(v.reshape((1, -1) + (1,) * (len(shape) - 2)), shape))

    def _in_fmt(self, t: QTensor) -> np.ndarray:
        if t.fmt == self.fmt and t.scale_exp == 0:
            return t.codes
        return encode(t.values, self.fmt, self.rounding)

    def _inv_std(self, var) -> np.ndarray:
        eps = self._const([self.eps])
        root = self._op("sqrt", self._op("add", var, self._fill(eps, var.shape)))
        return self._op("div", self._fill(self._const([1.0]), root.shape), root)

    # --- dataflow
    def _check(self, x: QTensor, what: str):
        if x.codes.ndim not in (2, 4) or x.shape[1] != self.channels:
            raise ValueError(f"{self.name or 'BatchNorm'}: {what} must have shape (N, {self.channels}) or "
                             f"(N, {self.channels}, H, W); got {x.shape}")

    def forward(self, x: QTensor, ctx) -> QTensor:
        self._check(x, "input")
        self._record(ctx, "forward", "input", x)
        xc = self._in_fmt(x)
        self._record(ctx, "forward", "x", QTensor(xc, self.fmt), f"{self.fmt} {self.rounding}")
        shape = xc.shape
        gamma = convert(self.weight.value.codes, self.weight.value.fmt, self.fmt, self.rounding)
        beta = convert(self.bias.value.codes, self.bias.value.fmt, self.fmt, self.rounding)
        rows = self._rows(xc)
        m = rows.shape[1]
        if self.training:
            if m < 2:
                raise ValueError(f"{self.name}: training needs at least 2 values per channel; got {m}")
            m_code = self._exact_count(m)
            ones = self._fill(self._const([1.0]), rows.shape)
            mean = self._op("div", self._chain(rows, ones), self._fill(m_code, self.channels))
            d = self._op("sub", xc, self._per_channel(mean, shape))
            d_rows = self._rows(d)
            ssq = self._chain(d_rows, d_rows)
            var = self._op("div", ssq, self._fill(m_code, self.channels))
            self._update_running(mean, ssq, m)
        else:
            mean, var = self.running_mean.codes, self.running_var.codes
            d = self._op("sub", xc, self._per_channel(mean, shape))
        inv = self._inv_std(var)
        xhat = self._op("mul", d, self._per_channel(inv, shape))
        y = self._op("fma", xhat, self._per_channel(gamma, shape), self._per_channel(beta, shape))
        for point, codes in (("mean", mean), ("var", var), ("inv_std", inv), ("xhat", xhat)):
            self._record(ctx, "forward", point, QTensor(codes, self.fmt), f"{self.fmt} {self.rounding}")
        out = QTensor(y, self.fmt)
        self._record(ctx, "forward", "output", out, f"{self.fmt} {self.rounding}")
        self._cache = (xhat, inv, gamma, m) if self.training else None
        return out

    def _update_running(self, mean, ssq, m: int) -> None:
        var_u = self._op("div", ssq, self._fill(self._exact_count(m - 1), self.channels))
        rate = self._fill(self._const([self.momentum]), self.channels)
        for attr, batch in (("running_mean", mean), ("running_var", var_u)):
            r = getattr(self, attr).codes
            setattr(self, attr, QTensor(self._op("fma", rate, self._op("sub", batch, r), r), self.fmt))

    def backward(self, dy: QTensor, ctx, need_dx: bool = True) -> QTensor | None:
        if self._cache is None:
            raise ValueError(f"{self.name}: backward needs a training forward first")
        xhat, inv, gamma, m = self._cache
        if dy.shape != xhat.shape:
            raise ValueError(f"{self.name}: gradient shape {dy.shape} differs from the input shape {xhat.shape}")
        self._record(ctx, "backward", "grad_output", dy)
        label = f"{self.fmt} {self.rounding}"
        g_in = self._in_fmt(dy)
        self._record(ctx, "backward", "dy", QTensor(g_in, self.fmt), label)
        shape = xhat.shape
        dy_rows, xhat_rows = self._rows(g_in), self._rows(xhat)
        ones = self._fill(self._const([1.0]), dy_rows.shape)
        self.bias.grad = QTensor(self._chain(dy_rows, ones), self.fmt)
        self.weight.grad = QTensor(self._chain(dy_rows, xhat_rows), self.fmt)
        self._record(ctx, "backward", "grad_beta", self.bias.grad, label)
        self._record(ctx, "backward", "grad_gamma", self.weight.grad, label)
        dx = None
        if need_dx:
            g = self._op("mul", g_in, self._per_channel(gamma, shape))
            g_rows = self._rows(g)
            s1, s2 = self._chain(g_rows, ones), self._chain(g_rows, xhat_rows)
            m_code = self._exact_count(m)
            u = self._op("sub", self._op("mul", g, self._fill(m_code, shape)), self._per_channel(s1, shape))
            t = self._op("fma", ops.neg(xhat, self.fmt), self._per_channel(s2, shape), u)
            k = self._op("div", inv, self._fill(m_code, self.channels))
            dx = QTensor(self._op("mul", t, self._per_channel(k, shape)), self.fmt)
            self._record(ctx, "backward", "grad_input", dx, label)
        self._cache = None
        return dx
