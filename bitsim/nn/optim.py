"""SGD with momentum and weight decay; every step of the update is one correctly rounded ``bitsim.ops`` op.

For each parameter w (master codes in ``master_fmt``) with gradient g (a QTensor, any format and scale):

1. unscale    u = RND_upd(g / S)                 ``ops.div`` of exact binary64 operands (loss scale S;
                                                 one rounding, which also converts g into fmt_update)
2. decay      u = RND_upd(wd * w + u)            ``ops.fma``           (only when weight_decay != 0)
3. momentum   v = RND_upd(mu * v + u); u = v     ``ops.fma``, v kept in fmt_update, starts at +0
                                                                        (only when momentum != 0)
4. update     w = RND_master(-lr * u + w)        ``ops.fma``

RND is ``rounding`` (``sr_bits`` random bits for "sr", keyed per op as ``<param>.<op>`` with the run's
seed and step: ``Context.sr_key``). The constants lr, mu, wd are rounded once (RNE) to ``const_fmt`` when
the optimizer is made (exact for powers of two and short dyadics). Trace keys:
``<param>/update/{unscaled, decayed, velocity, master}``.

With RNE, binary32 formats and S = 1 the same roundings run as native binary32 FMAs
(``bitsim.nn.native.fma32``, one rounding each), and through ``bitsim.ops`` wherever a result is not
finite.
"""

from __future__ import annotations

import numpy as np

from bitsim import ops
from bitsim.formats import FloatFormat
from bitsim.quantize import decode, encode
from bitsim.rounding import MODES
from bitsim.nn.native import fma32
from bitsim.nn.tensor import QTensor, element_format, ieee_dtype

FP64 = element_format("fp64", "fp64")


def _float_fmt(fmt, what):
    f = element_format(fmt, what)
    if not isinstance(f, FloatFormat):
        raise TypeError(f"{what} must be a float format (the update runs in bitsim.ops); got {f}")
    return f


def updatable(params, master_fmt, owner: str):
    """(param, master value) of every parameter with a gradient, in list order, after checking that the
    value is in ``master_fmt`` (scale 2**0) and the gradient has its shape."""
    for p in params:
        if p.grad is None:
            continue
        w = p.value
        if w.fmt != master_fmt or w.scale_exp:
            raise ValueError(f"{owner}: parameter {p.name} is in {w.fmt} but master_fmt is {master_fmt}")
        if p.grad.shape != w.shape:
            raise ValueError(f"{owner}: gradient of {p.name} has shape {p.grad.shape}, the parameter {w.shape}")
        yield p, w


class SGD:
    """See the module doc. ``master_fmt``: the parameters' format (checked at every step)."""

    def __init__(self, lr, momentum=0.0, weight_decay=0.0, *, fmt_update="fp32", rounding="rne", sr_bits=None,
                 master_fmt="fp32", const_fmt="fp32", loss_scale=1.0):
        self.fmt_update = _float_fmt(fmt_update, "SGD.fmt_update")
        self.master_fmt = _float_fmt(master_fmt, "SGD.master_fmt")
        self.const_fmt = _float_fmt(const_fmt, "SGD.const_fmt")
        if rounding not in MODES:
            raise ValueError(f"SGD.rounding must be one of {', '.join(MODES)}; got {rounding!r}")
        if (rounding == "sr") != (sr_bits is not None):
            raise ValueError(f"SGD.sr_bits is required with rounding='sr' and only then; got sr_bits={sr_bits!r}")
        for name, v in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise ValueError(f"SGD.{name} must be a finite number >= 0; got {v!r}")
        if isinstance(loss_scale, bool) or not isinstance(loss_scale, (int, float)) or not 0 < loss_scale < np.inf:
            raise ValueError(f"SGD.loss_scale must be a finite number > 0; got {loss_scale!r}")
        self.rounding, self.sr_bits, self.loss_scale = rounding, sr_bits, float(loss_scale)
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)
        c = lambda v: encode(np.array([v], dtype=np.float64), self.const_fmt)  # noqa: E731
        self._neg_lr, self._mu, self._wd = c(-self.lr), c(self.momentum), c(self.weight_decay)
        self._scale = encode(np.array([self.loss_scale]), FP64)
        binary32 = all(ieee_dtype(f) == np.float32 for f in (self.fmt_update, self.master_fmt, self.const_fmt))
        self._native = binary32 and rounding == "rne" and self.loss_scale == 1.0      # _native_stages applies
        self.velocity: dict[str, np.ndarray] = {}

    def _op(self, fn, args, in_formats, fmt, name, ctx, size):
        kw = {}
        if self.rounding == "sr":
            kw = dict(sr_bits=self.sr_bits, **ctx.sr_key(name, size))
        return fn(*args, fmt, self.rounding, in_formats=in_formats, **kw)[0]

    def step(self, params, ctx) -> None:
        """Update every parameter that has a gradient, in list order; gradients are consumed (set to None)."""
        for p, w in updatable(params, self.master_fmt, "SGD"):
            stages = (self._native_stages(p, w) if self._native else None) or self._stages(p, w, ctx)
            for point, codes in stages:
                fmt = w.fmt if point == "master" else self.fmt_update
                if point == "velocity":
                    self.velocity[p.name] = codes
                ctx.record(f"{p.name}/update/{point}", QTensor(codes, fmt), f"{fmt} {self.rounding}")
            p.value, p.grad = QTensor(stages[-1][1], w.fmt), None

    def _stages(self, p, w, ctx) -> list:
        """[(trace point, codes)] of the update of p through ``bitsim.ops`` (module doc)."""
        up, cf, size = self.fmt_update, self.const_fmt, w.codes.size
        g64 = encode(p.grad.values, FP64)                                        # exact
        u = self._op(ops.div, (g64, self._scale), (FP64, FP64), up, f"{p.name}.unscale", ctx, size)
        stages = [("unscaled", u)]
        if self.weight_decay:
            u = self._op(ops.fma, (self._wd, w.codes, u), (cf, w.fmt, up), up, f"{p.name}.decay", ctx, size)
            stages.append(("decayed", u))
        if self.momentum:
            v = self.velocity.get(p.name)
            v = np.zeros_like(u) if v is None else v
            u = self._op(ops.fma, (self._mu, v, u), (cf, up, up), up, f"{p.name}.momentum", ctx, size)
            stages.append(("velocity", u))
        new = self._op(ops.fma, (self._neg_lr, u, w.codes), (cf, up, w.fmt), w.fmt, f"{p.name}.update", ctx, size)
        return stages + [("master", new)]

    def _native_stages(self, p, w) -> list | None:
        """``_stages`` in native binary32 arithmetic (``bitsim.nn.native``; ``_native``: RNE, binary32
        update, constant and master formats, S = 1, so the unscale is RNE_binary32(g)), or None where a
        result is not finite or w's codes are not binary32 words (``_stages`` then)."""
        wf = w.ieee_floats()
        if wf is None or wf.dtype != np.float32:
            return None
        with np.errstate(over="ignore", invalid="ignore"):
            u = p.grad.floats().astype(np.float32)
        stages = [("unscaled", u)]
        if self.weight_decay:
            u = fma32(self._wd.view(np.float32)[0], wf, u)
            stages.append(("decayed", u))
        if self.momentum:
            v = self.velocity.get(p.name)
            u = fma32(self._mu.view(np.float32)[0], np.zeros_like(u) if v is None else v.view(np.float32), u)
            stages.append(("velocity", u))
        stages.append(("master", fma32(self._neg_lr.view(np.float32)[0], u, wf)))
        if not all(np.isfinite(codes).all() for _, codes in stages):
            return None
        return [(point, codes.view(np.uint32)) for point, codes in stages]

    def state_dict(self) -> dict:
        """Velocity codes (bit-exact) and the hyperparameters they belong to."""
        return {"velocity": {k: v.copy() for k, v in self.velocity.items()},
                "fmt_update": str(self.fmt_update), "lr": self.lr, "momentum": self.momentum}

    def load_state_dict(self, state: dict) -> None:
        vel = state.get("velocity")
        if not isinstance(vel, dict):
            raise ValueError("SGD.load_state_dict: state['velocity'] must be a dict of code arrays")
        for k, v in vel.items():
            v = np.asarray(v)
            if v.dtype != self.fmt_update.code_dtype:
                raise TypeError(f"SGD.load_state_dict: velocity[{k!r}] has dtype {v.dtype}; codes of "
                                f"{self.fmt_update} are {self.fmt_update.code_dtype}")
            decode(v, self.fmt_update)
        self.velocity = {k: np.array(v, copy=True) for k, v in vel.items()}
