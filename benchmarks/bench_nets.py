"""Training throughput of LeNet-5 per recipe next to a plain NumPy float32 implementation, same run.

    python benchmarks/bench_nets.py [--n IMAGES] [--repeats R] [--append docs/performance.md]

SGD steps of batch 32 on the first IMAGES Fashion-MNIST training images (digits upscaled to 28x28 when
Fashion-MNIST is not installed), median of R passes after a warm-up step; seconds per 60,000-image epoch
are extrapolated from the measured images per second. The NumPy baseline is the same net (conv 6@5x5
pad 2, ReLU, max pool 2, conv 16@5x5, ReLU, max pool 2, FC 120-84-10, softmax cross-entropy, SGD with
momentum) in float32 with im2col GEMMs: no rounding model, no quantisers.
"""

from __future__ import annotations

import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import bitsim.nn as nn
from nets.models import build
from timing import bench_main

BATCH = 32
EPOCH_IMAGES = 60_000
TARGET = {"bm8": 120.0}


def images(n):
    try:
        from nets.data import fashion_mnist
        d = fashion_mnist()
        return d.x_train[:n] / 255.0, d.y_train[:n], "Fashion-MNIST"
    except FileNotFoundError:
        from nets.data import digits
        d = digits()
        x = np.kron(d.x_train[:n] / 16.0, np.ones((1, 1, 4, 4)))[:, :, :28, :28]      # 8x8 -> 28x28 (padded)
        x = np.pad(x, ((0, 0), (0, 0), (0, 28 - x.shape[2]), (0, 28 - x.shape[3])))
        return x, d.y_train[:n], "digits upscaled to 28x28 (Fashion-MNIST not installed)"


# ------------------------------------------------------------------- plain NumPy float32 baseline

def _im2col(x, k, pad):
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = sliding_window_view(x, (k, k), axis=(2, 3))                 # n, c, ho, wo, k, k
    n, c, ho, wo = cols.shape[:4]
    return cols.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k * k), (n, ho, wo)


def _col2im(cols, shape, k, pad):
    n, c, h, w = shape
    out = np.zeros((n, c, h + 2 * pad, w + 2 * pad), np.float32)
    ho, wo = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    cols = cols.reshape(n, ho, wo, c, k, k)
    for i in range(k):
        for j in range(k):
            out[:, :, i:i + ho, j:j + wo] += cols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return out[:, :, pad:pad + h, pad:pad + w]


class NumpyLeNet:
    """LeNet-5 (as nets.models.lenet5) forward, backward and SGD in float32."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        shapes = {"c1": (6, 1, 5, 5), "c2": (16, 6, 5, 5), "f1": (120, 400), "f2": (84, 120), "f3": (10, 84)}
        self.w = {k: (rng.standard_normal(s) * np.sqrt(2 / np.prod(s[1:]))).astype(np.float32)
                  for k, s in shapes.items()}
        self.b = {k: np.zeros(s[0], np.float32) for k, s in shapes.items()}
        self.v = {k: np.zeros_like(v) for k, v in {**self.w, **{k + "b": b for k, b in self.b.items()}}.items()}

    def _conv(self, x, name, pad):
        cols, (n, ho, wo) = _im2col(x, 5, pad)
        w = self.w[name]
        y = cols @ w.reshape(w.shape[0], -1).T + self.b[name]
        return y.reshape(n, ho, wo, -1).transpose(0, 3, 1, 2), cols

    @staticmethod
    def _pool(x):
        n, c, h, w = x.shape
        r = x.reshape(n, c, h // 2, 2, w // 2, 2)
        m = r.max(axis=(3, 5))
        return m, (r == m[:, :, :, None, :, None])

    def step(self, x, y, lr=0.05, momentum=0.9):
        x = x.astype(np.float32)
        a1, cols1 = self._conv(x, "c1", 2)
        r1 = np.maximum(a1, 0)
        p1, m1 = self._pool(r1)
        a2, cols2 = self._conv(p1, "c2", 0)
        r2 = np.maximum(a2, 0)
        p2, m2 = self._pool(r2)
        h0 = p2.reshape(len(x), -1)
        h1 = np.maximum(h0 @ self.w["f1"].T + self.b["f1"], 0)
        h2 = np.maximum(h1 @ self.w["f2"].T + self.b["f2"], 0)
        z = h2 @ self.w["f3"].T + self.b["f3"]
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        g = p
        g[np.arange(len(y)), y] -= 1
        g /= len(y)
        grads = {"f3": g.T @ h2, "f3b": g.sum(0)}
        g = (g @ self.w["f3"]) * (h2 > 0)
        grads.update(f2=g.T @ h1, f2b=g.sum(0))
        g = (g @ self.w["f2"]) * (h1 > 0)
        grads.update(f1=g.T @ h0, f1b=g.sum(0))
        g = (g @ self.w["f1"]).reshape(p2.shape)
        g = (np.repeat(np.repeat(g, 2, 2), 2, 3) * m2.reshape(r2.shape)) * (a2 > 0)
        g2 = g.transpose(0, 2, 3, 1).reshape(-1, 16)
        grads.update(c2=(g2.T @ cols2).reshape(self.w["c2"].shape), c2b=g2.sum(0))
        g = _col2im(g2 @ self.w["c2"].reshape(16, -1), p1.shape, 5, 0)
        g = (np.repeat(np.repeat(g, 2, 2), 2, 3) * m1.reshape(r1.shape)) * (a1 > 0)
        g1 = g.transpose(0, 2, 3, 1).reshape(-1, 6)
        grads.update(c1=(g1.T @ cols1).reshape(self.w["c1"].shape), c1b=g1.sum(0))
        for k, gr in grads.items():
            self.v[k] = momentum * self.v[k] + gr
            target = self.b[k[:-1]] if k.endswith("b") else self.w[k]
            target -= lr * self.v[k]


# ------------------------------------------------------------------------------------ measurement

def _images_per_second(step, x, y, repeats):
    step(x[:BATCH], y[:BATCH])                                           # warm-up (compiles)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for s in range(0, len(y), BATCH):
            step(x[s:s + BATCH], y[s:s + BATCH])
        times.append(time.perf_counter() - t0)
    return len(y) / float(np.median(times))


def run(n, repeats):
    x, y, source = images(n)
    base = NumpyLeNet()
    numpy_rate = _images_per_second(lambda a, b: base.step(a, b), x, y, repeats)
    rows = []
    for recipe in [r for r in ("fp32", "int8", "wang_fp8", "bm8", "mxfp8") if r in nn.RECIPES]:
        model = build("lenet5", (1, 28, 28), 10, recipe, seed=0)
        opt = model.recipe.optimizer(0.05, 0.9)
        rows.append((recipe, _images_per_second(lambda a, b: nn.train_step(model, opt, a, b), x, y, repeats)))
    return source, numpy_rate, rows


def render(result, n, repeats):
    source, numpy_rate, rows = result
    fp32 = dict(rows).get("fp32")
    lines = ["", "## Training: LeNet-5 per recipe (bitsim.nn)", "",
             f"Measured by `python benchmarks/bench_nets.py --append docs/performance.md` (part of `make bench`): "
             f"SGD steps of batch {BATCH} over {n} {source} training images, median of {repeats} passes; a "
             f"60,000-image epoch extrapolated from the rate. Baseline in the same run: the same net in plain "
             f"NumPy float32 (im2col GEMMs, no rounding model): {numpy_rate:,.0f} images/s, "
             f"{EPOCH_IMAGES / numpy_rate:,.0f} s per epoch.", "",
             "| recipe | images/s | s per 60k epoch | / fp32 recipe time | / NumPy float32 time | issue 7 target |",
             "|---|---:|---:|---:|---:|---|"]
    for recipe, rate in rows:
        epoch = EPOCH_IMAGES / rate
        vs_fp32 = "-" if fp32 is None else f"{fp32 / rate:.2f}x"
        goal = TARGET.get(recipe)
        goal = "-" if goal is None else f"<= {goal:.0f} s: {'met' if epoch <= goal else 'NOT met'}"
        lines.append(f"| {recipe} | {rate:,.1f} | {epoch:,.0f} | {vs_fp32} | {numpy_rate / rate:,.1f}x | {goal} |")
    lines.append("")
    return "\n".join(lines)


def main():
    bench_main(__doc__, run, render, 128, 3)


if __name__ == "__main__":
    main()
