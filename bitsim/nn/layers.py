"""Layers: forward and backward side by side, on ``QTensor``s, every rounding at a named quantiser point.

A GEMM layer (``Linear``, ``Conv2d``) has these points (``LayerQuant`` fields; None = no rounding there,
the tensor passes on in the format it has):

forward   ``act``: input x -> operand a of the forward unit; ``weight``: master weight -> operand b of the
          forward and backward-data units; ``bias``: bias -> the forward unit's addend c (at the scale of
          the product; default RNE into c); ``output``: the forward GEMM's result -> the layer's output;
          ``saved``: the quantised x as kept for the backward-weight GEMM (operand b).
backward  ``error``: incoming gradient dy -> operand a of both backward units; ``weight_grad``: the
          backward-weight GEMM's result (and the bias gradient) -> the gradient the optimizer reads;
          ``grad_input``: the backward-data GEMM's result -> the gradient passed down. Before it, the
          result is zeroed where the ``act`` quantiser's ``grad_mask`` (if any) stops the gradient.

Trace keys: ``<layer>/forward/{input, act, weight, bias, gemm, saved, output}`` and
``<layer>/backward/{grad_output, error, gemm_data, gemm_weight, gemm_bias, weight_grad, bias_grad,
act_clip, grad_input}`` (``act_clip``: the masked backward-data result, only where ``act`` has a mask).
Initial weights: ``LayerRecipe.init(rng, shape, fan_in)`` when the recipe gives one, else U(+-1/sqrt(fan_in)).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from bitsim import dataflow as df
from bitsim.accum.block_dot import BlockDotUnit
from bitsim.nn.gemm import GemmUnits, gemm, ones, unit_formats
from bitsim.nn.native import zero_code
from bitsim.nn.quant import Quantizer
from bitsim.nn.tensor import QTensor

POINTS = ("act", "weight", "bias", "output", "saved", "error", "weight_grad", "grad_input")


@dataclass(frozen=True)
class LayerQuant:
    """The quantisers of one GEMM layer (module doc); None = no rounding at that point."""

    act: Quantizer | None = None
    weight: Quantizer | None = None
    error: Quantizer | None = None
    weight_grad: Quantizer | None = None
    saved: Quantizer | None = None
    output: Quantizer | None = None
    grad_input: Quantizer | None = None
    bias: Quantizer | None = None

    def __post_init__(self):
        for f in fields(self):
            q = getattr(self, f.name)
            if q is not None and not isinstance(q, Quantizer):
                raise TypeError(f"LayerQuant.{f.name} must be a Quantizer or None; got {q!r}")


class Param:
    """A trainable tensor: ``value`` (master codes, a QTensor) and ``grad`` (set by backward)."""

    def __init__(self, name: str, value: QTensor):
        self.name, self.value, self.grad = name, value, None

    def __repr__(self):
        return f"Param({self.name!r}, {self.value!r})"


class Layer:
    """Base class: ``forward(x, ctx)`` and ``backward(dy, ctx, need_dx=True)`` on QTensors. ``training``
    (set by ``Sequential.train`` / ``eval``) matters to layers with running state (``BatchNorm``)."""

    name = ""
    training = True

    def parameters(self) -> list:
        return []

    def buffers(self) -> dict:
        """{key: QTensor} of non-trainable state kept in checkpoints (running statistics)."""
        return {}

    def load_buffer(self, key: str, codes: np.ndarray) -> None:
        raise KeyError(f"{self.name}: no buffer {key!r}")

    def build(self, name: str, spec, master_quant, rng) -> None:
        """Give the layer its name (and, for GEMM layers, units, quantisers and initial weights)."""
        self.name = name

    def _record(self, ctx, pass_: str, point: str, t: QTensor, rounding=None) -> None:
        ctx.record(f"{self.name}/{pass_}/{point}", t, rounding)


class GemmLayer(Layer):
    """Common dataflow of Linear and Conv2d; subclasses give the three GEMMs and the weight shape."""

    def __init__(self, bias: bool, units: GemmUnits | None, quant: LayerQuant | None):
        if units is not None and not isinstance(units, GemmUnits):
            raise TypeError(f"{type(self).__name__}: units must be a GemmUnits; got {units!r}")
        if quant is not None and not isinstance(quant, LayerQuant):
            raise TypeError(f"{type(self).__name__}: quant must be a LayerQuant; got {quant!r}")
        self.use_bias, self.units, self.quant = bool(bias), units, quant
        self.weight = self.bias = None
        self._saved = self._wq = self._act_mask = None

    # --- subclass interface
    weight_shape: tuple = ()
    fan_in: int = 1

    def _gemm_forward(self, x, w, bias, u, what): raise NotImplementedError
    def _gemm_data(self, dy, w, u, x_shape, what): raise NotImplementedError
    def _gemm_weight(self, dy, x, u, what): raise NotImplementedError
    def _dy_rows(self, dy: QTensor) -> QTensor: raise NotImplementedError   # (C_out, K) for the bias sum

    # --- construction
    def build(self, name, spec, master_quant, rng):
        self.name = name
        if self.units is None:
            self.units = spec.units
        if self.quant is None:
            self.quant = spec.quant
        q = self.quant
        self._q = {p: (getattr(q, p).at(self, p) if getattr(q, p) is not None else None) for p in POINTS}
        if self.use_bias and self._q["bias"] is None:
            self._q["bias"] = Quantizer(unit_formats(self.units.forward)[2]).bind(f"{name}.bias")
        draw = getattr(spec, "init", None)
        if draw is None:
            bound = 1.0 / np.sqrt(self.fan_in)
            w0 = QTensor.exact(rng.uniform(-bound, bound, self.weight_shape), "fp64")
        else:
            w0 = QTensor.exact(draw(rng, self.weight_shape, self.fan_in), "fp64")
        init = master_quant.bind(f"{name}.init")
        self.weight = Param(f"{name}.weight", init(w0, None))
        if self.use_bias:
            self.bias = Param(f"{name}.bias", init(QTensor.exact(np.zeros(self.weight_shape[0]), "fp64"), None))

    def parameters(self):
        return [p for p in (self.weight, self.bias) if p is not None]

    def _gemm(self, kind: str, a, b, c=None) -> QTensor:
        """The ``kind`` GEMM ("forward", "backward_data", "backward_weight") through its unit; a block unit
        (or a block operand) goes to ``bitsim.nn.block_gemm.layer_gemm``."""
        u, what = getattr(self.units, kind), f"{self.name} {kind.replace('_', '-')} GEMM"
        if isinstance(u, BlockDotUnit) or not (isinstance(a, QTensor) and isinstance(b, QTensor)):
            from bitsim.nn.block_gemm import layer_gemm            # imports this module's subclasses
            return layer_gemm(self, kind, a, b, u, what, c)
        if kind == "forward":
            return self._gemm_forward(a, b, c, u, what)
        if kind == "backward_data":
            return self._gemm_data(a, b, u, self._x_shape, what)
        return self._gemm_weight(a, b, u, what)

    def _point(self, ctx, pass_, point, x, **kw) -> QTensor:
        """Apply the quantiser at ``point`` (or pass x on) and record the result."""
        q = self._q[point]
        y = x if q is None else q(x, ctx, **kw)
        self._record(ctx, pass_, point, y, None if q is None else q.label)
        return y

    # --- dataflow
    def forward(self, x: QTensor, ctx) -> QTensor:
        self._record(ctx, "forward", "input", x)
        xq = self._point(ctx, "forward", "act", x)
        self._act_mask = None if self._q["act"] is None else self._q["act"].grad_mask(x)
        wq = self._point(ctx, "forward", "weight", self.weight.value)
        bq = None
        if self.bias is not None:
            bq = self._point(ctx, "forward", "bias", self.bias.value, scale_exp=xq.scale_exp + wq.scale_exp)
        y = self._gemm("forward", xq, wq, bq)
        self._record(ctx, "forward", "gemm", y)
        self._saved = self._point(ctx, "forward", "saved", xq)
        self._wq, self._x_shape = wq, x.shape
        return self._point(ctx, "forward", "output", y)

    def backward(self, dy: QTensor, ctx, need_dx: bool = True) -> QTensor | None:
        if self._wq is None:
            raise ValueError(f"{self.name}: backward before forward")
        self._record(ctx, "backward", "grad_output", dy)
        e = self._point(ctx, "backward", "error", dy)
        dw = self._gemm("backward_weight", e, self._saved)
        self._record(ctx, "backward", "gemm_weight", dw)
        self.weight.grad = self._point(ctx, "backward", "weight_grad", dw)
        if self.bias is not None:
            u = self.units.backward_weight
            if isinstance(u, BlockDotUnit):
                from bitsim.nn.block_gemm import bias_gradient        # imports this module's subclasses
                db = bias_gradient(e, u, f"{self.name} bias-gradient GEMM")
            else:
                db = gemm(self._dy_rows(e), ones(unit_formats(u)[1], int(np.prod(e.shape)) // e.shape[1],
                                                 f"{self.name} bias gradient"), u, f"{self.name} bias-gradient GEMM")
            db = db.reshape(-1)
            self._record(ctx, "backward", "gemm_bias", db)
            q = self._q["weight_grad"]
            self.bias.grad = db if q is None else q.bind(f"{self.name}.bias_grad")(db, ctx)
            self._record(ctx, "backward", "bias_grad", self.bias.grad, None if q is None else q.label)
        dx = None
        if need_dx:
            dx = self._gemm("backward_data", e, self._wq)
            self._record(ctx, "backward", "gemm_data", dx)
            if self._act_mask is not None:
                dx = dx.with_codes(np.where(self._act_mask, dx.codes, zero_code(dx.fmt)).astype(dx.codes.dtype))
                self._record(ctx, "backward", "act_clip", dx)
            dx = self._point(ctx, "backward", "grad_input", dx)
        self._saved = self._wq = self._act_mask = None
        return dx


def _check_int(owner: str, name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{owner}: {name} must be a positive int; got {v!r}")
    return int(v)


class Linear(GemmLayer):
    """y = x W^T + b: x (N, in), W (out, in), b (out,).

    GEMMs (operand a first; K order = increasing k):
    forward          y = x @ W^T        a = x (N, in),   b = W^T (in, out), c = b;  k = input feature i
    backward data    dx = dy @ W        a = dy (N, out), b = W (out, in);           k = output feature o
    backward weight  dW = dy^T @ x      a = dy^T (out, N), b = x (N, in);           k = sample n
    bias gradient    db = dy^T @ 1      a = dy^T (out, N), b = 1.0 codes (N, 1), backward-weight unit; k = n
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, units=None, quant=None):
        super().__init__(bias, units, quant)
        self.in_features = _check_int("Linear", "in_features", in_features)
        self.out_features = _check_int("Linear", "out_features", out_features)
        self.weight_shape = (self.out_features, self.in_features)
        self.fan_in = self.in_features

    def forward(self, x, ctx):
        if x.codes.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{self.name or 'Linear'}: input must have shape (N, {self.in_features}); "
                             f"got {x.shape}")
        return super().forward(x, ctx)

    def _gemm_forward(self, x, w, bias, u, what):
        return gemm(x, w.transpose(), u, what, bias)

    def _gemm_data(self, dy, w, u, x_shape, what):
        return gemm(dy, w, u, what)

    def _gemm_weight(self, dy, x, u, what):
        return gemm(dy.transpose(), x, u, what)

    def _dy_rows(self, dy):
        return dy.transpose()


class ReLU(Layer):
    """y = max(x, +0) on codes (``bitsim.dataflow.relu``: -0 -> +0, NaN kept), no rounding. Backward:
    dx = dy where x > 0, else the +0 code of dy's format (exact). Stored for backward: the 1-bit mask x > 0."""

    def forward(self, x, ctx):
        f = x.ieee_floats()
        self._mask = (x.values if f is None else f) > 0
        # IEEE codes without NaN: +0 (code 0) wherever x <= 0 (-0 included), which is what relu returns
        y = x.with_codes(df.relu(x.codes, x.fmt) if f is None else np.where(self._mask, x.codes, x.codes.dtype.type(0)))
        self._record(ctx, "forward", "output", y)
        return y

    def backward(self, dy, ctx, need_dx=True):
        if dy.shape != self._mask.shape:
            raise ValueError(f"{self.name}: gradient shape {dy.shape} differs from the input shape {self._mask.shape}")
        dx = dy.with_codes(np.where(self._mask, dy.codes, zero_code(dy.fmt)).astype(dy.codes.dtype))
        self._record(ctx, "backward", "grad_input", dx)
        return dx


class Flatten(Layer):
    """(N, ...) -> (N, prod(...)) in C order; backward reshapes back. No rounding."""

    def forward(self, x, ctx):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy, ctx, need_dx=True):
        return dy.reshape(self._shape)
