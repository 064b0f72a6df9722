"""Losses: the loss value and the (scaled) gradient of the logits, rounded once by the loss-gradient
quantiser.

Arithmetic: both losses read the logits' exact values and compute the gradient in float64, then round it
once (the ``grad_quant`` quantiser, point ``loss.grad``). The same on every platform: the softmax's
exponentials are computed to 34 significant digits by Python's ``decimal`` module and rounded to binary64
(NumPy's and libm's exp differ between builds and CPUs), the row sums are correctly rounded
(``math.fsum``), and the rest are IEEE binary64 operations. The loss value (a metric only) is
log(sum e) - (z[label] - max z) with NumPy's log: -log p[label], finite even where p[label] underflows
to 0. ``sse``'s gradient y - t is one float64 subtraction, exact whenever |y| < 2**29 for fp32 logits
(always for narrower formats).

Loss scaling: the gradient is multiplied by ``scale`` (S) in float64 before the one rounding. For S a
power of two this is exact and commutes with the rounding (barring overflow and underflow of the
gradient's format), so the optimizer's division by S restores the unscaled gradient exactly; for any
other S (Wang et al.'s 1000) the product is itself rounded in float64 first and the pair is not exactly
reversible.
"""

from __future__ import annotations

import decimal
import math

import numpy as np

from bitsim.nn.tensor import QTensor


def _labels(labels, n: int, classes: int, what: str) -> np.ndarray:
    y = np.asarray(labels)
    if y.dtype.kind not in "ui":
        raise TypeError(f"{what}: labels must be an integer array of class indices; got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"{what}: labels must have shape ({n},) (one per logit row); got {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= classes):
        raise ValueError(f"{what}: labels must be in 0..{classes - 1}; got {int(y.min())}..{int(y.max())}")
    return y.astype(np.int64)


def _logits(logits, what: str) -> np.ndarray:
    if not isinstance(logits, QTensor):
        raise TypeError(f"{what}: logits must be a QTensor; got {type(logits).__name__}")
    if logits.codes.ndim != 2:
        raise ValueError(f"{what}: logits must have shape (N, classes); got {logits.shape}")
    return logits.values


_EXP_CONTEXT = decimal.Context(prec=34)


def _exp(x: np.ndarray) -> np.ndarray:
    """exp of every element: 34 significant digits (``decimal``), then rounded to binary64; the same bits
    on every platform."""
    flat = [float(_EXP_CONTEXT.exp(decimal.Decimal(float(v)))) for v in x.reshape(-1)]
    return np.array(flat, dtype=np.float64).reshape(x.shape)


def _finish(g: np.ndarray, scale, grad_quant, ctx) -> QTensor:
    g = g * float(scale) if scale != 1 else g
    d = grad_quant(QTensor.exact(g, "fp64"), ctx)
    ctx.record("loss/backward/grad", d, grad_quant.label)
    return d


def softmax_cross_entropy(logits: QTensor, labels, grad_quant, ctx, scale=1.0):
    """Mean cross-entropy of softmax(logits) over the batch, and dL/dlogits * scale rounded by
    ``grad_quant``: p = exp(z - max z) / sum, L = mean(-log p[label]), g = (p - onehot) / N."""
    z = _logits(logits, "softmax_cross_entropy")
    n, classes = z.shape
    y = _labels(labels, n, classes, "softmax_cross_entropy")
    shifted = z - z.max(axis=1, keepdims=True)
    e = _exp(shifted)
    total = np.array([math.fsum(row) for row in e])
    p = e / total[:, None]
    rows = np.arange(n)
    loss = float(np.mean(np.log(total) - shifted[rows, y]))     # -log p[label], finite where p underflows
    g = p.copy()
    g[rows, y] -= 1.0
    return loss, _finish(g / n, scale, grad_quant, ctx)


def sse(logits: QTensor, labels, grad_quant, ctx, scale=1.0):
    """WAGE's sum-of-squared-errors loss L = 1/2 * sum (y - onehot)**2 over the batch (no mean, as in
    the WAGE code), and dL/dy * scale = (y - onehot) * scale rounded by ``grad_quant``."""
    z = _logits(logits, "sse")
    n, classes = z.shape
    y = _labels(labels, n, classes, "sse")
    g = z.copy()
    g[np.arange(n), y] -= 1.0
    return float(0.5 * np.sum(g * g)), _finish(g, scale, grad_quant, ctx)


LOSSES = {"softmax_cross_entropy": softmax_cross_entropy, "sse": sse}


def loss_fn(name: str):
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {name!r}")
    return LOSSES[name]
