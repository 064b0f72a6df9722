"""Recipes: data naming, per GEMM layer, the units of its three GEMMs and its quantisers, plus the model's
input and loss-gradient quantisers and the optimizer's formats.

A recipe is a ``Recipe`` value; add one with ``register(Recipe(...))``. ``layers`` applies to every GEMM
layer (Linear, Conv2d) unless ``overrides`` has an entry for it, looked up by layer name, then
``"first"`` / ``"last"`` (the first and last GEMM layer of the model). Pooling, ReLU and Flatten keep
their input's format and take no recipe entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bitsim.accum.models import ChunkedAcc, FloatAcc
from bitsim.accum.unit import DotUnit
from bitsim.formats import FloatFormat
from bitsim.nn.gemm import GemmUnits
from bitsim.nn.layers import LayerQuant
from bitsim.nn.optim import SGD
from bitsim.nn.quant import Quantizer, ScaledQuantizer
from bitsim.nn.tensor import element_format


@dataclass(frozen=True)
class LayerRecipe:
    """What one GEMM layer gets: its units and its quantisers; ``init``: None (weights drawn from
    U(+-1/sqrt(fan_in))) or a callable (rng, shape, fan_in) -> float64 initial weights, rounded once (RNE)
    to the master format."""

    units: GemmUnits
    quant: LayerQuant
    init: object = None

    def __post_init__(self):
        if self.init is not None and not callable(self.init):
            raise TypeError(f"LayerRecipe.init must be None or a callable (rng, shape, fan_in); got {self.init!r}")
        if not isinstance(self.units, GemmUnits):
            raise TypeError(f"LayerRecipe.units must be a GemmUnits; got {self.units!r}")
        if not isinstance(self.quant, LayerQuant):
            raise TypeError(f"LayerRecipe.quant must be a LayerQuant; got {self.quant!r}")


@dataclass(frozen=True)
class Recipe:
    """name; layers (default LayerRecipe); overrides {layer name | "first" | "last": LayerRecipe};
    input: model input quantiser; loss_grad: loss-gradient quantiser; master_fmt: master weights (float,
    or fixed point for an ``update`` that keeps integer weights); fmt_update / update_rounding /
    update_sr_bits / const_fmt: the optimizer's arithmetic (``SGD``); loss_scale: S; doc: what the recipe
    models, every deviation from its source stated; update: None (``SGD``) or a callable
    (lr, momentum, weight_decay) -> optimizer that ``optimizer`` returns instead (WAGE's update);
    training: settings the recipe prescribes to a training run ({"loss": "sse", "momentum": 0.0, ...})."""

    name: str
    layers: LayerRecipe
    overrides: dict = field(default_factory=dict)
    input: Quantizer = Quantizer("fp32")
    loss_grad: Quantizer = Quantizer("fp32")
    master_fmt: object = "fp32"
    fmt_update: object = "fp32"
    update_rounding: str = "rne"
    update_sr_bits: int | None = None
    const_fmt: object = "fp32"
    loss_scale: float = 1.0
    doc: str = ""
    update: object = None
    training: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.layers, LayerRecipe):
            raise TypeError(f"Recipe.layers must be a LayerRecipe; got {self.layers!r}")
        for key, spec in self.overrides.items():
            if not isinstance(spec, LayerRecipe):
                raise TypeError(f"Recipe.overrides[{key!r}] must be a LayerRecipe; got {spec!r}")
        for name in ("input", "loss_grad"):
            if not isinstance(getattr(self, name), Quantizer):
                raise TypeError(f"Recipe.{name} must be a Quantizer; got {getattr(self, name)!r}")
        for name in ("master_fmt", "fmt_update", "const_fmt"):
            f = element_format(getattr(self, name), f"Recipe.{name}")
            if not isinstance(f, FloatFormat) and name != "master_fmt":
                raise TypeError(f"Recipe.{name} must be a float format; got {f}")
            object.__setattr__(self, name, f)
        if not isinstance(self.training, dict) or not all(isinstance(k, str) for k in self.training):
            raise TypeError(f"Recipe.training must be a dict with str keys; got {self.training!r}")
        if self.update is not None and not callable(self.update):
            raise TypeError(f"Recipe.update must be None or a callable (lr, momentum, weight_decay); "
                            f"got {self.update!r}")

    def for_layer(self, name: str, index: int, count: int) -> LayerRecipe:
        """The LayerRecipe of GEMM layer ``name``, the ``index``-th of ``count`` GEMM layers."""
        if name in self.overrides:
            return self.overrides[name]
        if index == 0 and "first" in self.overrides:
            return self.overrides["first"]
        if index == count - 1 and "last" in self.overrides:
            return self.overrides["last"]
        return self.layers

    def optimizer(self, lr, momentum=0.0, weight_decay=0.0):
        """The recipe's optimizer with these hyperparameters: ``update(...)`` if the recipe names one,
        else SGD with its formats, rounding and loss scale."""
        if self.update is not None:
            return self.update(lr, momentum, weight_decay)
        return SGD(lr, momentum, weight_decay, fmt_update=self.fmt_update, rounding=self.update_rounding,
                   sr_bits=self.update_sr_bits, master_fmt=self.master_fmt, const_fmt=self.const_fmt,
                   loss_scale=self.loss_scale)


RECIPES: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
    if not isinstance(recipe, Recipe):
        raise TypeError(f"register: expected a Recipe; got {recipe!r}")
    RECIPES[recipe.name] = recipe
    return recipe


def get(recipe) -> Recipe:
    """A Recipe from a Recipe or a registered name; ValueError lists the known names."""
    if isinstance(recipe, Recipe):
        return recipe
    if not isinstance(recipe, str) or recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; known: {', '.join(sorted(RECIPES))}")
    return RECIPES[recipe]


def _uniform(unit, q: Quantizer, weight_grad: Quantizer | None) -> LayerRecipe:
    return LayerRecipe(GemmUnits(unit), LayerQuant(act=q, weight=q, error=q, weight_grad=weight_grad))


_FP32 = Quantizer("fp32")
register(Recipe(
    "fp32", _uniform("fp32_seq", _FP32, _FP32),
    doc="IEEE fp32 baseline: every GEMM through fp32_seq (fp32 products rounded into a sequential fp32 "
        "running sum, RNE, in increasing k); fp32 RNE quantisers at act, weight, error and weight_grad "
        "(identities on fp32 values); fp32 master weights and RNE updates; no loss scaling."))

_W16 = DotUnit("fp16", "fp16", ChunkedAcc(64, FloatAcc("fp16_wang"), FloatAcc("fp16_wang")), "fp16_wang")
register(Recipe(
    "wang_fp8", _uniform("wang_fp8", Quantizer("fp8_wang"), None),
    overrides={k: _uniform(_W16, Quantizer("fp16"), None) for k in ("first", "last")},
    master_fmt="fp16_wang", fmt_update="fp16_wang", update_rounding="sr", update_sr_bits=16, loss_scale=1000.0,
    doc="Wang et al., NeurIPS 2018: GEMM operands (activations, weights, errors) in FP8 (1,5,2) (fp8_wang, "
        "RNE), products accumulated in chunks of 64 in FP16 (1,6,9) (the wang_fp8 unit); weight gradients "
        "are the GEMM's fp16_wang result; master weights and the SGD update in fp16_wang with stochastic "
        "rounding; loss scale 1000. Stated choices and deviations: the first and last GEMM layers take "
        "IEEE fp16 (1,5,10) operands into the same chunk-64 fp16_wang accumulation (the paper keeps them "
        "in '16 bits' without naming the format); SR uses 16 random bits; lr/momentum are fp32 constants; "
        "the loss gradient is rounded to fp32 (RNE) before the layers' error quantisers; S = 1000 is not a "
        "power of two, so scaling is not exactly reversible (see bitsim.nn.losses)."))

_I8 = ScaledQuantizer("int8")
register(Recipe(
    "int8", _uniform("int8_int32", _I8, None),
    doc="Symmetric per-tensor INT8: activations, weights and errors rounded (RNE) to int8 codes -127..127 "
        "with one power-of-two scale per tensor (the smallest 2**e with max|x| <= 127 * 2**e; a power of two "
        "instead of the common max|x|/127 keeps every value exact in float64 and the scale a shift); INT8 x "
        "INT8 products accumulated exactly in a wrapping 32-bit register (int8_int32) for all three GEMMs; "
        "weight gradients are the int32 results at their scale; bias enters the forward GEMM as an int32 "
        "addend at the product's scale (RNE); fp32 master weights and RNE updates; no loss scaling."))
