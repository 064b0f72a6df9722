"""``Sequential``: a list of layers run forward and backward, with bit-exact checkpoints of weight codes.

Step protocol (``train_step`` does all of it): ``ctx = model.context(trace=...)`` for the model's current
step; ``logits = model.forward(x, ctx)``; ``loss, dlogits = loss_fn(logits, labels, model.loss_quant, ctx,
scale=opt.loss_scale)``; ``model.backward(dlogits, ctx)``; ``opt.step(model.parameters(), ctx)``;
``model.step += 1``. The step counter keys every SR draw, so a model restored from ``state_dict`` (weight
codes and step) plus the optimizer's ``state_dict`` (velocity codes) continues exactly as an
uninterrupted run.
"""

from __future__ import annotations

import numpy as np

from bitsim.nn.layers import GemmLayer, Layer
from bitsim.nn.losses import loss_fn
from bitsim.nn.quant import Quantizer
from bitsim.nn.recipes import get as get_recipe
from bitsim.nn.tensor import QTensor
from bitsim.nn.trace import Context


class Sequential:
    """Layers in order; GEMM layers without units/quant take them from ``recipe`` (a Recipe or a name).
    Weights are drawn from ``numpy.random.default_rng(seed)`` (uniform +-1/sqrt(fan_in), biases 0) and
    rounded once (RNE) to the recipe's master format. ``names``: one per layer (default ``linear1``,
    ``relu1``, ``conv1``, ... counted per type)."""

    def __init__(self, layers, recipe="fp32", seed: int = 0, names=None):
        self.recipe = get_recipe(recipe)
        layers = list(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: layer {i} must be a bitsim.nn layer; got {type(layer).__name__}")
        if names is None:
            counts: dict = {}
            names = []
            for layer in layers:
                kind = type(layer).__name__.lower()
                counts[kind] = counts.get(kind, 0) + 1
                names.append(f"{kind}{counts[kind]}")
        names = list(names)
        if len(names) != len(layers) or len(set(names)) != len(names):
            raise ValueError(f"Sequential: names must be {len(layers)} distinct strings; got {names!r}")
        self.layers, self.seed, self.step = layers, int(seed), 0
        Context(self.seed, 0)                                           # validates the seed
        rng = np.random.default_rng(self.seed)
        master = Quantizer(self.recipe.master_fmt)
        gemms = [i for i, layer in enumerate(layers) if isinstance(layer, GemmLayer)]
        for i, (layer, name) in enumerate(zip(layers, names)):
            spec = self.recipe.for_layer(name, gemms.index(i), len(gemms)) if i in gemms else None
            layer.build(name, spec, master, rng)
        self.input_quant = self.recipe.input.bind("input")
        self.loss_quant = self.recipe.loss_grad.bind("loss.grad")

    def context(self, trace: bool = False) -> Context:
        return Context(self.seed, self.step, trace)

    def parameters(self) -> list:
        return [p for layer in self.layers for p in layer.parameters()]

    def buffers(self) -> dict:
        """{key: QTensor}: every layer's running state (``BatchNorm`` statistics)."""
        return {k: v for layer in self.layers for k, v in layer.buffers().items()}

    def train(self, mode: bool = True) -> "Sequential":
        """Training mode (batch statistics, running state updated) or, with mode False, evaluation mode."""
        for layer in self.layers:
            layer.training = bool(mode)
        return self

    def eval(self) -> "Sequential":
        return self.train(False)

    def forward(self, x, ctx) -> QTensor:
        """x: a float array (rounded by the input quantiser, trace ``input/forward/quant``) or a QTensor."""
        if not isinstance(x, QTensor):
            x = np.asarray(x)
            if x.dtype.kind != "f":
                raise TypeError(f"Sequential.forward: x must be a float array or a QTensor; got dtype {x.dtype}")
            x = QTensor.exact(x.astype(np.float64), "fp64")
        x = self.input_quant(x, ctx)
        ctx.record("input/forward/quant", x, self.input_quant.label)
        for layer in self.layers:
            x = layer.forward(x, ctx)
        return x

    def backward(self, dy: QTensor, ctx) -> None:
        """Backward through every layer; the first layer's input gradient is not computed."""
        for i in range(len(self.layers) - 1, -1, -1):
            dy = self.layers[i].backward(dy, ctx, need_dx=i > 0)

    def state_dict(self) -> dict:
        """{"step", "seed", "recipe", "params": {name: master codes}, "buffers": {key: codes}}: a bit-exact
        checkpoint."""
        return {"step": self.step, "seed": self.seed, "recipe": self.recipe.name,
                "params": {p.name: p.value.codes.copy() for p in self.parameters()},
                "buffers": {k: v.codes.copy() for k, v in self.buffers().items()}}

    def load_state_dict(self, state: dict) -> None:
        params = {p.name: p for p in self.parameters()}
        got = state.get("params") if isinstance(state, dict) else None
        if not isinstance(got, dict) or set(got) != set(params):
            raise ValueError(f"load_state_dict: state['params'] must hold exactly {sorted(params)}; "
                             f"got {sorted(got) if isinstance(got, dict) else got!r}")
        for name, codes in got.items():
            p, codes = params[name], np.asarray(codes)
            if codes.shape != p.value.shape:
                raise ValueError(f"load_state_dict: {name} has shape {codes.shape}; the model's is {p.value.shape}")
            if codes.dtype != p.value.codes.dtype:
                raise TypeError(f"load_state_dict: {name} has dtype {codes.dtype}; codes of {p.value.fmt} "
                                f"are {p.value.codes.dtype}")
        buffers = self.buffers()
        got_buffers = state.get("buffers", {})
        if not isinstance(got_buffers, dict) or set(got_buffers) != set(buffers):
            raise ValueError(f"load_state_dict: state['buffers'] must hold exactly {sorted(buffers)}; got "
                             f"{sorted(got_buffers) if isinstance(got_buffers, dict) else got_buffers!r}")
        for key, codes in got_buffers.items():
            if np.shape(codes) != buffers[key].shape:
                raise ValueError(f"load_state_dict: {key} has shape {np.shape(codes)}; the model's is "
                                 f"{buffers[key].shape}")
        for name, codes in got.items():
            params[name].value = QTensor(np.array(codes, copy=True), params[name].value.fmt)
        owners = {k: layer for layer in self.layers for k in layer.buffers()}
        for key, codes in got_buffers.items():
            owners[key].load_buffer(key, np.asarray(codes).astype(buffers[key].codes.dtype))
        self.step = int(state.get("step", 0))
        self.seed = int(state.get("seed", self.seed))


def train_step(model: Sequential, opt, x, labels, loss: str = "softmax_cross_entropy", trace: bool = False):
    """One SGD step; returns (loss value, trace dict or None)."""
    fn = loss_fn(loss)
    ctx = model.context(trace)
    logits = model.forward(x, ctx)
    value, dlogits = fn(logits, labels, model.loss_quant, ctx, scale=opt.loss_scale)
    model.backward(dlogits, ctx)
    opt.step(model.parameters(), ctx)
    model.step += 1
    return value, ctx.trace
