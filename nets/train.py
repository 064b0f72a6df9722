"""Bit-exact training runs: a net, a recipe and a data set, epochs of SGD, metrics, checkpoints.

Conventions (all part of the bit-exact result):

- inputs: pixels divided by the data set's largest pixel value (255, or 16 for digits) in float64, then
  rounded by the recipe's input quantiser;
- batches: epoch e visits the training set in the order ``np.random.default_rng([seed, e]).permutation``,
  in runs of ``batch_size`` (the last one shorter), so a run resumed at any step sees the same batches;
- initial weights come from ``seed`` (``bitsim.nn.Sequential``); SR draws from (seed, point, step);
- a checkpoint (``.npz``) holds the master weight codes, the optimizer's velocity codes, the step and the
  configuration; resuming it ends in the same weight codes as an uninterrupted run;
- evaluation: the forward pass in batches of 500 through the same units, accuracy = argmax of the logits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np

import bitsim.nn as nn
from bitsim.backend import BACKENDS, use_backend
from bitsim.progress import Progress
from nets import data as datasets
from nets.models import build

EVAL_BATCH = 500
LOSSES = {"softmax_cross_entropy", "sse"}
TRAINING_FIELDS = ("loss", "lr", "momentum", "weight_decay")      # what a Recipe.training may prescribe


def recipe_defaults(recipe: str) -> dict:
    """The TrainConfig fields ``recipe`` prescribes (``Recipe.training``), e.g. WAGE's loss and lr."""
    return {k: v for k, v in nn.get_recipe(recipe).training.items() if k in TRAINING_FIELDS}


@dataclass(frozen=True)
class TrainConfig:
    """What a run is: the net (``hidden``: the mlp's widths), recipe and data, the SGD hyperparameters;
    n_train / n_test take the first samples of each split (None = all); ``backend``: where every bitsim
    call of the run goes ("cpu" | "cuda"; the results are the same bits)."""

    net: str = "mlp"
    recipe: str = "fp32"
    data: str = "digits"
    epochs: int = 1
    batch_size: int = 32
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    n_train: int | None = None
    n_test: int | None = None
    loss: str = "softmax_cross_entropy"
    hidden: tuple = (256, 256)
    backend: str = "cpu"

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.backend not in BACKENDS:
            raise ValueError(f"TrainConfig.backend must be one of {BACKENDS}; got {self.backend!r}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive int; got {value!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"TrainConfig.loss must be one of {sorted(LOSSES)}; got {self.loss!r}")


def load_data(config: TrainConfig, path=None):
    """(x_train, y_train, x_test, y_test, image shape, classes) as float64 pixels / max pixel."""
    ds = datasets.load(config.data, path) if path is not None else datasets.load(config.data)
    ds = ds.subset(config.n_train or len(ds.y_train), config.n_test or len(ds.y_test))
    top = 16.0 if config.data == "digits" else 255.0
    return (ds.x_train / top, ds.y_train, ds.x_test / top, ds.y_test, ds.x_train.shape[1:], ds.n_classes)


def batch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def evaluate(model: nn.Sequential, x, y) -> float:
    """Accuracy in evaluation mode (running statistics; nothing in the model changes)."""
    correct = 0
    model.eval()
    try:
        for start in range(0, len(y), EVAL_BATCH):
            logits = model.forward(x[start:start + EVAL_BATCH], model.context())
            correct += int((np.argmax(logits.values, axis=1) == y[start:start + EVAL_BATCH]).sum())
    finally:
        model.train()
    return correct / max(len(y), 1)


def weight_digest(model: nn.Sequential) -> str:
    """sha256 over every parameter's name, dtype and codes: equal digests = equal weights, bit for bit."""
    h = hashlib.sha256()
    for p in model.parameters():
        h.update(p.name.encode())
        h.update(str(p.value.codes.dtype).encode())
        h.update(np.ascontiguousarray(p.value.codes).tobytes())
    return h.hexdigest()


CURVE_SEGMENTS = 20          # points per epoch of a history entry's "loss_curve"


def loss_curve(losses) -> list[float]:
    """The mean training loss of each of ``CURVE_SEGMENTS`` consecutive, near-equal runs of an epoch's steps
    (fewer when the epoch has fewer steps)."""
    parts = np.array_split(np.asarray(losses, dtype=np.float64), min(CURVE_SEGMENTS, len(losses)))
    return [float(p.mean()) for p in parts]


def save_checkpoint(path, config: TrainConfig, model: nn.Sequential, opt: nn.SGD, history: list,
                    epoch_losses=()) -> None:
    """Weights, optimizer state, history and the losses of the epoch in progress (``epoch_losses``), so a
    resumed run reports the same per-epoch loss and curve as an uninterrupted one."""
    state = model.state_dict()
    arrays = {f"param/{k}": v for k, v in state["params"].items()}
    arrays.update({f"buffer/{k}": v for k, v in state["buffers"].items()})
    arrays.update({f"velocity/{k}": v for k, v in opt.state_dict()["velocity"].items()})
    meta = {"config": dataclasses.asdict(config), "step": model.step, "seed": model.seed, "history": history,
            "epoch_losses": list(epoch_losses)}
    np.savez(path, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)


def load_checkpoint(path):
    """(config, {"params", "buffers", "velocity"} arrays, step, history, losses of the epoch in progress) of a
    checkpoint written by ``save_checkpoint``."""
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        arrays = {kind: {k[len(prefix):]: f[k] for k in f.files if k.startswith(prefix)}
                  for kind, prefix in (("params", "param/"), ("buffers", "buffer/"), ("velocity", "velocity/"))}
    return TrainConfig(**meta["config"]), arrays, meta["step"], meta["history"], meta.get("epoch_losses", [])


def train(config: TrainConfig, *, data_path=None, checkpoint=None, resume=None, stop_after=None, quiet=True):
    """Run ``config`` (or resume the checkpoint ``resume``); returns {"history": per-epoch metrics,
    "digest": weight digest, "step": steps done}. ``checkpoint``: write one there after every epoch (and
    when stopping); ``stop_after``: stop after this many steps in all (for tests of resuming)."""
    history, arrays, step, partial = [], None, 0, []
    if resume is not None:
        config, arrays, step, history, partial = load_checkpoint(resume)
    with use_backend(config.backend):
        return _run(config, data_path, checkpoint, arrays, step, history, partial, stop_after, quiet)


def _run(config, data_path, checkpoint, arrays, step, history, partial, stop_after, quiet):
    x, y, xt, yt, shape, classes = load_data(config, data_path)
    model = build(config.net, shape, classes, config.recipe, config.seed, hidden=config.hidden)
    opt = model.recipe.optimizer(config.lr, config.momentum, config.weight_decay)
    if arrays is not None:
        model.load_state_dict({"params": arrays["params"], "buffers": arrays["buffers"], "step": step,
                               "seed": config.seed})
        opt.load_state_dict({"velocity": arrays["velocity"]})
    per_epoch = -(-len(y) // config.batch_size)
    while model.step < config.epochs * per_epoch:
        epoch, first = divmod(model.step, per_epoch)
        order, losses, start = batch_order(len(y), config.seed, epoch), list(partial), time.perf_counter()
        partial = []
        bar = Progress(f"{config.recipe} epoch {epoch + 1}", per_epoch, quiet, done=first)
        for b in range(first, per_epoch):
            idx = order[b * config.batch_size:(b + 1) * config.batch_size]
            loss, _ = nn.train_step(model, opt, x[idx], y[idx], loss=config.loss)
            losses.append(float(loss))
            bar.update(note=f"loss {np.mean(losses):.4f}")
            if stop_after is not None and model.step >= stop_after:
                if checkpoint is not None:
                    save_checkpoint(checkpoint, config, model, opt, history, losses)
                return {"history": history, "digest": weight_digest(model), "step": model.step}
        history.append({"epoch": epoch + 1, "step": model.step, "train_loss": float(np.mean(losses)),
                        "loss_curve": loss_curve(losses), "test_accuracy": evaluate(model, xt, yt),
                        "seconds": time.perf_counter() - start})
        if checkpoint is not None:
            save_checkpoint(checkpoint, config, model, opt, history)
    return {"history": history, "digest": weight_digest(model), "step": model.step}
