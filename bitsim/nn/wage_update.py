"""WAGE's weight update as an optimizer: the G quantiser with the learning rate folded in, then the
clipped integer step (``bitsim.wage``). Plain gradient descent: no momentum, no weight decay, no loss scale.

For each parameter w (master codes on the 2**-k_G grid) with gradient g (a QTensor; its exact values):

1. G       dW = ``wage.quantize_gradient(g, k_G, lr, profile)``: g_s = lr * g / Shift(max|g|), lr = eta an
           exact power of two; dW = sigma(k_G) * sgn(g_s) * (floor|g_s| + b), b stochastic (16-bit SR,
           "paper"; 23-bit uniform with the half-step tie, "code"). SR draw ``<param>.G`` (``Context.sr_key``).
2. update  w = ``wage.weight_update(w, dW, k_G, clip=profile, k_W)``: "paper" Clip(w - dW, +-(1 - sigma(k_G)))
           (Eq. 12); "code" C(w, k_W) - dW (the reference code clips to the k_W range before the step).

Both steps are exact integer arithmetic on counts of half steps 2**-k_G; the result must be exactly
representable in ``master_fmt`` (ValueError naming the parameter otherwise). Trace keys:
``<param>/update/{G, master}`` (G: dW as half steps, a 64-bit fixed-point tensor with k_G fraction bits).
"""

from __future__ import annotations

import numpy as np

from bitsim import wage
from bitsim.core.params import FLAG_INEXACT, FLAG_OVERFLOW
from bitsim.formats import FixedFormat
from bitsim.quantize import encode
from bitsim.nn.tensor import QTensor, element_format
from bitsim.nn.optim import updatable


class WageUpdate:
    """See the module doc. ``lr``: eta (a power of two); ``momentum`` and ``weight_decay`` must be 0
    (WAGE has neither; they exist for ``Recipe.optimizer``'s signature)."""

    loss_scale = 1.0

    def __init__(self, lr, momentum=0.0, weight_decay=0.0, *, k_g=8, k_w=2, profile="paper", master_fmt):
        for name, v in (("momentum", momentum), ("weight_decay", weight_decay)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != 0:
                raise ValueError(f"WageUpdate.{name} must be 0 (WAGE's update is plain gradient descent); "
                                 f"got {v!r}")
        wage.eta_exponent(lr)                                  # ValueError unless a power of two in range
        if profile not in wage.PROFILES:
            raise ValueError(f"WageUpdate.profile must be one of {', '.join(map(repr, wage.PROFILES))}; "
                             f"got {profile!r}")
        wage.sigma(k_w)
        wage.wage_format(k_g, "k_g")                           # validates k_g (2..15)
        self.master_fmt = element_format(master_fmt, "WageUpdate.master_fmt")
        if not isinstance(self.master_fmt, FixedFormat) or self.master_fmt.frac_bits < k_g - 1:
            raise ValueError(f"WageUpdate.master_fmt must be a fixed-point format on the 2**-{k_g - 1} grid or "
                             f"finer; got {self.master_fmt}")
        self.lr, self.k_g, self.k_w, self.profile = lr, int(k_g), int(k_w), profile
        self.delta_fmt = FixedFormat(64, self.k_g)

    @property
    def label(self) -> str:
        bits = wage.PAPER_RANDOM_BITS if self.profile == "paper" else wage.CODE_RANDOM_BITS
        return f"wage G k_G={self.k_g} {self.profile} sr{bits}"

    def step(self, params, ctx) -> None:
        """Update every parameter that has a gradient, in list order; gradients are consumed (set to None)."""
        for p, w in updatable(params, self.master_fmt, "WageUpdate"):
            dw, _ = wage.quantize_gradient(p.grad.values, self.k_g, self.lr, self.profile,
                                           **ctx.sr_key(f"{p.name}.G", w.codes.size))
            ctx.record(f"{p.name}/update/G", QTensor(dw.view(np.uint64), self.delta_fmt), self.label)
            new = wage.weight_update(wage.to_half_steps(w.values, self.k_g), dw, self.k_g, clip=self.profile,
                                     k_W=self.k_w)
            codes, flags = encode(wage.half_step_values(new, self.k_g), self.master_fmt, "rne", return_flags=True)
            if np.any(flags & (FLAG_INEXACT | FLAG_OVERFLOW)):
                raise ValueError(f"WageUpdate: the updated {p.name} leaves master_fmt {self.master_fmt} "
                                 f"(max |w| = {np.max(np.abs(wage.half_step_values(new, self.k_g)))!r})")
            p.value, p.grad = QTensor(codes, self.master_fmt), None
            ctx.record(f"{p.name}/update/master", p.value, f"{self.master_fmt} {self.profile}-clip")

    def state_dict(self) -> dict:
        """No state besides the hyperparameters (WAGE keeps no velocity); ``velocity`` is empty."""
        return {"velocity": {}, "lr": self.lr, "momentum": 0.0, "k_g": self.k_g, "profile": self.profile}

    def load_state_dict(self, state: dict) -> None:
        vel = state.get("velocity") if isinstance(state, dict) else None
        if isinstance(vel, dict) and not vel:
            return
        raise ValueError(f"WageUpdate.load_state_dict: WAGE keeps no velocity; state['velocity'] must be empty, "
                         f"got {vel!r:.80}")
