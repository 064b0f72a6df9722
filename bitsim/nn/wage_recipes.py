"""WAGE recipes (Wu et al., ICLR 2018): ``wage_2888_paper`` (the paper's equations) and ``wage_2888_code``
(the authors' TensorFlow code, which produced the published numbers), and ``wage_recipe(profile, k_g=...)``
for other bit widths (the paper's k_G sweep). docs/nn.md states every point, unit and deviation.

Dataflow of a GEMM layer (``bitsim.nn.layers``), W-A-G-E = k_W, k_A, k_G, k_E:

forward   x --A (WageAct, k_A)--> x_q;  W --W (WageWeight, k_W, scale 1/alpha)--> W_q;
          y = x_q W_q^T on a 32-bit integer register (exact); the logits are not quantised.
backward  dy is already E-quantised (the loss gradient by ``loss_grad``, every other one by the layer
          above's ``grad_input``); dW = dy^T x_q and dx = dy W_q on 32-bit registers (exact);
          dx -> A's clip mask -> E (WageError, k_E) --> passed down (ReLU mask, pooling routing below).
update    ``WageUpdate``: G (lr folded in, stochastic) and the clipped integer step on the master weights.

The paper and code profiles differ in: alpha and the init limit (sqrt(6/n) vs sqrt(3/n)); the initial
accumulator (Q(W0, k_G) vs Q(W0, k_W)); G's random bits (16-bit SR vs a 23-bit uniform with the half-step
tie); the weight clip (Eq. 12 after the step vs the k_W range before it); the master format (wage_{k_G} vs
a 32-bit count of half steps). WAGE's layers have no bias: a layer with one raises ValueError.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from bitsim import wage
from bitsim.accum.models import KulischAcc
from bitsim.accum.unit import DotUnit
from bitsim.formats import FixedFormat
from bitsim.quantize import decode
from bitsim.nn.gemm import GemmUnits
from bitsim.nn.layers import LayerQuant
from bitsim.nn.quant import Quantizer
from bitsim.nn.recipes import LayerRecipe, Recipe, register
from bitsim.nn.wage_quant import WageAct, WageError, WageWeight
from bitsim.nn.wage_update import WageUpdate

ACC_BITS = 32                  # the GEMM register width (int32 accumulation)
CODE_MASTER_BITS = 32          # the code profile's master: a 32-bit count of half steps 2**-k_G


def wage_unit(a: FixedFormat, b: FixedFormat) -> DotUnit:
    """Exact a x b products summed in a 32-bit two's complement register with a.frac_bits + b.frac_bits
    fraction bits (KulischAcc, overflow raises: a result is the exact sum or an error), output as
    FixedFormat(32, same fraction bits): no rounding anywhere."""
    frac = a.frac_bits + b.frac_bits
    return DotUnit(a, b, KulischAcc(frac_bits=frac, width=ACC_BITS, overflow="raise"), FixedFormat(ACC_BITS, frac))


def wage_units(k_w=2, k_a=8, k_e=8) -> GemmUnits:
    """forward A x W, backward data E x W, backward weight E x A, each a ``wage_unit``."""
    fw, fa, fe = wage.wage_format(k_w, "k_w"), wage.wage_format(k_a, "k_a"), wage.wage_format(k_e, "k_e")
    return GemmUnits(wage_unit(fa, fw), wage_unit(fe, fw), wage_unit(fe, fa))


@dataclass(frozen=True)
class WageInit:
    """Initial weights U(-L, L), L = max(sqrt(c / fan_in), 1.5 * sigma(k_W)) with c = 6 ("paper", Eq. 5)
    or 3 ("code"); the code profile then quantises them once, Q(W0, k_W) (a ternary start)."""

    profile: str
    k_w: int = 2

    def __post_init__(self):
        if self.profile not in wage.PROFILES:
            raise ValueError(f"WageInit.profile must be one of {', '.join(map(repr, wage.PROFILES))}; "
                             f"got {self.profile!r}")
        wage.wage_format(self.k_w, "WageInit.k_w")

    def __call__(self, rng, shape, fan_in) -> np.ndarray:
        c = 6 if self.profile == "paper" else 3
        limit = max(math.sqrt(c / fan_in), float(wage.BETA * wage.sigma(self.k_w)))
        w0 = rng.uniform(-limit, limit, shape)
        if self.profile == "code":
            return decode(wage.quantize(w0, self.k_w), wage.wage_format(self.k_w))
        return w0


@dataclass(frozen=True)
class NoBias(Quantizer):
    """The bias point of a recipe whose layers have no bias: calling it raises ValueError."""

    def __call__(self, x, ctx, scale_exp=None):
        raise ValueError(f"{self.name or 'bias'}: WAGE's layers have no bias; build Linear / Conv2d with "
                         "bias=False for the wage recipes")


def _digit(k: int) -> str:
    return format(k, "X")          # the paper writes 12 as C ("28CC")


def _doc(profile, k_w, k_a, k_g, k_e) -> str:
    alpha = "sqrt(6/fan_in) (Eq. 5)" if profile == "paper" else "sqrt(3/fan_in) (myInitializer.py)"
    if profile == "paper":
        g = ("G: 16-bit stochastic rounding of the fraction (the paper's '16-bit random number generator'); "
             f"update W <- Clip(W - dW, +-(1 - sigma(k_G))) (Eq. 12); master weights are wage_{k_g} codes "
             "(the k_G-bit accumulator; Eq. 12's clip is its saturation), initialised Q(W0, k_G) "
             "(stated choice: the paper does not say how W0 reaches the k_G grid)")
    else:
        g = ("G: the fraction at full precision against a 23-bit uniform u (float32 tf.random_uniform), "
             "+1 if frac > u, +1/2 (a half step) if frac == u; update W <- C(W, k_W) - dW (the code clips to "
             "the k_W range before the step, so W may leave +-(1 - sigma(k_W)) by one dW); master weights are "
             "a 32-bit count of half steps 2**-k_G (the code keeps float32, exact for these values), "
             "initialised Q(W0, k_W) (ternary)")
    return (f"WAGE {k_w}-{k_a}-{k_g}-{k_e} (Wu et al., ICLR 2018), {profile} profile. Input and every GEMM "
            f"layer's input: A = Q(C(a, {k_a}), {k_a}) RNE (wage_{k_a}); the gradient stops where |a| > "
            f"1 - 2**-{k_a - 1}. Weights: W = Q(C(W, {k_w}), {k_w}) (wage_{k_w}) times 1/alpha, alpha = "
            f"max(Shift(1.5 sigma(k_W) / L), 1), L = {alpha}, carried as the weight tensor's power-of-two "
            "scale (the paper divides the activations, the code the weights: the same values, hence the same "
            "codes, since alpha is a power of two and ReLU / max pooling commute with it). Init U(-L', L'), "
            "L' = max(L, 1.5 sigma(k_W)). GEMMs: exact products in a 32-bit register (KulischAcc width 32, overflow "
            "raises) for forward A x W, backward-data E x W and backward-weight E x A; the logits are the "
            "forward register's exact value (not quantised). Loss: SSE (train_step(..., loss='sse')); "
            f"Recipe.training prescribes it, momentum 0 and lr = eta = {2.0 ** (k_g - 8):g}. "
            f"Errors: E = Q(C(e / Shift(max|e|), {k_e}), {k_e}) RNE over the whole tensor, scale not undone, "
            "on the loss gradient and on every backward-data result after A's clip mask (then ReLU and "
            f"pooling backward). {g}. Optimizer: WageUpdate, lr = eta an exact power of two, no momentum, no "
            "weight decay, no loss scaling. Deviations: no biases (a layer with one raises); the TF code's "
            "float32 GEMMs round the weight-gradient sum in cuDNN's order, here every GEMM is exact; Shift is "
            "exact here (the code's float32 log2 can misround near sqrt(2) 2**n); an all-zero error or "
            "gradient gives zeros (the code divides 0 by 0).")


def wage_recipe(profile="code", k_g=8, *, k_w=2, k_a=8, k_e=8) -> Recipe:
    """The WAGE recipe ``wage_<W><A><G><E>_<profile>`` (bit widths as hex digits, the paper's "28CC"),
    registered under that name: profile "paper" or "code" (module doc). Its ``training`` prescribes the
    SSE loss, no momentum or weight decay, and lr = eta = 2**(k_G - 8) (WAGE's MNIST eta = 1 at k_G = 8,
    halved per bit removed as in the paper's k_G sweep)."""
    if profile not in wage.PROFILES:
        raise ValueError(f"wage_recipe: profile must be one of {', '.join(map(repr, wage.PROFILES))}; "
                         f"got {profile!r}")
    units = wage_units(k_w, k_a, k_e)
    master = wage.wage_format(k_g, "k_g") if profile == "paper" else FixedFormat(CODE_MASTER_BITS, k_g)
    fw, fa, fe = units.forward.b, units.forward.a, units.backward_data.a
    quant = LayerQuant(act=WageAct(fa), weight=WageWeight(fw, alpha_rule=profile), grad_input=WageError(fe),
                       bias=NoBias(units.forward.c))
    name = f"wage_{''.join(_digit(k) for k in (k_w, k_a, k_g, k_e))}_{profile}"
    training = {"loss": "sse", "momentum": 0.0, "weight_decay": 0.0, "lr": 2.0 ** (k_g - 8), "bias": False}
    update = functools.partial(WageUpdate, k_g=k_g, k_w=k_w, profile=profile, master_fmt=master)
    return register(Recipe(name, LayerRecipe(units, quant, init=WageInit(profile, k_w)), input=WageAct(fa),
                           loss_grad=WageError(fe), master_fmt=master, update=update, training=training,
                           doc=_doc(profile, k_w, k_a, k_g, k_e)))


WAGE_2888_PAPER = wage_recipe("paper")
WAGE_2888_CODE = wage_recipe("code")

__all__ = ["wage_recipe", "wage_unit", "wage_units", "WageInit", "NoBias", "WAGE_2888_PAPER", "WAGE_2888_CODE"]
