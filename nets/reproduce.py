"""``bitsim reproduce``: every registered recipe, and the seed papers' ablations, on one small real task;
writes docs/reproduction.md.

The task is small enough for 2 cores (the default: an MLP 64-128-10 on scikit-learn's digits, a few
epochs), far from the papers' CIFAR/ImageNet settings, so the table reports what bitsim measures next to
what each paper claims for its own setting -- the two are not the same experiment. Every run is
bit-exact: the same command gives the same table, to the weight digest.

Ablations (issue 7):
- BM6 with vs without denormals (``bm6`` / ``bm6_nodenorm``), where both recipes are registered;
- Wang et al. with vs without chunking: ``wang_fp8`` against the same recipe with one sequential fp16_wang
  running sum per dot product, on a layer with long dot products (MNIST-5k's 784-pixel inputs);
- Wang's fp16_wang weight updates with SR vs RNE;
- a small WAGE k_G sweep, where ``bitsim.nn`` offers a k_G constructor.
"""

from __future__ import annotations

import dataclasses
import time
from functools import partial
from dataclasses import dataclass
from pathlib import Path

import bitsim.nn as nn
from bitsim.cluster import run_tasks
from bitsim.progress import Progress
from bitsim.accum import DotUnit, FloatAcc
from bitsim.nn.recipes import register
from bitsim.nn.wage_recipes import wage_recipe
from nets.curves import plot_recipes
from nets.train import TrainConfig, recipe_defaults, train

# What each paper reports for its own setting (../shared/reference/seed_papers.md; "unverified" where
# the paper text was not consulted there).
CLAIMS = {
    "fp32": "baseline",
    "wang_fp8": "Wang et al. 2018: FP8 within a fraction of a percent of FP32 on CIFAR-10 / ImageNet nets "
                "(paper table not consulted: unverified)",
    "bm8": "Fox et al. 2021 Table 3: ImageNet ResNet-18 top-1 69.8 % (FP32 69.7 %)",
    "bm6": "Fox et al. 2021 Table 1: ResNet-18 CIFAR-10 95.1 % (FP32 94.9 %)",
    "bm5": "Fox et al. 2021 Table 1: ResNet-18 CIFAR-10 94.7 % (FP32 94.9 %)",
    "bm6_nodenorm": "Fox et al. 2021: training stagnates without denormals",
    "wage_2888_paper": "Wu et al. 2018: MNIST LeNet-like net 0.40 % test error (10-run mean, 100 epochs)",
    "wage_2888_code": "reference code: a user reported 99.36 % MNIST accuracy against the paper's 99.60 % "
                      "(seed_papers.md, WAGE issues)",
    "blpa4": "Chakrabarti & Moseley 2019: close to exact training with 4-bit stored activations (abstract)",
    "blpa8": "Chakrabarti & Moseley 2019: close to exact training with 8-bit stored activations (abstract)",
    "int8": "common INT8 practice (no seed paper)",
    "mxfp8": "OCP MX v1.0 FP8 (no seed-paper figure)",
}


@dataclass(frozen=True)
class Setting:
    """The task every recipe runs: data, net (and the mlp's widths), epochs and SGD hyperparameters."""

    data: str = "digits"
    net: str = "mlp"
    hidden: tuple = (128,)
    epochs: int = 4
    batch_size: int = 32
    lr: float = 0.05
    momentum: float = 0.9
    seed: int = 0
    n_train: int | None = None
    n_test: int | None = None

    def config(self, recipe: str, **overrides) -> TrainConfig:
        """The TrainConfig of ``recipe`` in this setting (every field here is a TrainConfig field), with the
        recipe's own training settings, then ``overrides``, on top."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return TrainConfig(**{**fields, "recipe": recipe, **recipe_defaults(recipe), **overrides})


def wang_variant(name: str, *, chunked: bool = True, update_rounding: str = "sr") -> str:
    """``wang_fp8`` with its chunking or its update rounding changed, registered as ``name``."""
    base = nn.get_recipe("wang_fp8")

    def unchunk(layer):
        units = layer.units
        plain = [DotUnit(u.a, u.b, FloatAcc(u.acc.inner.fmt, u.acc.inner.rounding), u.out)
                 for u in (units.forward, units.backward_data, units.backward_weight)]
        return dataclasses.replace(layer, units=nn.GemmUnits(*plain))
    layers, overrides = base.layers, dict(base.overrides)
    if not chunked:
        layers = unchunk(layers)
        overrides = {k: unchunk(v) for k, v in overrides.items()}
    register(dataclasses.replace(base, name=name, layers=layers, overrides=overrides,
                                 update_rounding=update_rounding,
                                 update_sr_bits=base.update_sr_bits if update_rounding == "sr" else None,
                                 doc=f"{base.doc} Ablation: chunked={chunked}, updates {update_rounding}."))
    return name


def _is_sweep(name: str) -> bool:
    """A k_G-sweep variant that ``wage_recipe`` registered (not one of the two named WAGE recipes)."""
    return name.startswith("wage_") and name not in ("wage_2888_paper", "wage_2888_code")


def _run(config: TrainConfig, quiet: bool = True, prepare=None) -> dict:
    """One training run's table row; ``prepare()`` first registers a recipe made for an ablation (a Dask
    worker has only the registered recipes of a fresh import)."""
    if prepare is not None:
        prepare()
    start = time.perf_counter()
    result = train(config, quiet=quiet)
    last = result["history"][-1]
    return {"recipe": config.recipe, "data": config.data, "accuracy": last["test_accuracy"],
            "loss": last["train_loss"], "digest": result["digest"], "seconds": time.perf_counter() - start,
            "loss_name": config.loss, "history": result["history"]}


def ablation_jobs(setting: Setting, long_dots: Setting) -> list[tuple[str, list[tuple]]]:
    """(title, [(config, prepare), ...]) of each ablation whose recipes exist; ``prepare`` registers the
    ablation's recipe (None for a registered one)."""
    out = []
    if {"bm6", "bm6_nodenorm"} <= set(nn.RECIPES):
        out.append(("BM6 with vs without denormals", [(setting.config(r), None) for r in ("bm6", "bm6_nodenorm")]))
    chunked = [partial(wang_variant, "wang_fp8_chunk64", chunked=True),
               partial(wang_variant, "wang_fp8_nochunk", chunked=False)]
    out.append(("Wang FP8: chunk-64 vs sequential fp16_wang accumulation (784-long dot products)",
                [(long_dots.config(make()), make) for make in chunked]))
    rne = partial(wang_variant, "wang_fp8_rne_updates", update_rounding="rne")
    out.append(("Wang FP8: fp16_wang updates with SR vs RNE",
                [(setting.config("wang_fp8"), None), (setting.config(rne()), rne)]))
    sweep = [partial(_wage_name, k) for k in (4, 6, 8)]
    out.append(("WAGE (paper variant) k_G sweep: k_G = 4, 6, 8, lr = 2**(k_G - 8)",
                [(setting.config(make()), make) for make in sweep]))
    return out


def _wage_name(k_g: int) -> str:
    return wage_recipe("paper", k_g=k_g).name


def render(setting: Setting, long_dots: Setting, table: list[dict], extra: list, curves: str | None = None) -> str:
    base = next((r["accuracy"] for r in table if r["recipe"] == "fp32"), None)
    lines = ["# Reproduction: every recipe on one small real task", "",
             "Written by `bitsim reproduce` (nets/reproduce.py); regenerate rather than edit. Every run is "
             "bit-exact: rerunning gives the same accuracies and weight digests.", "",
             f"Task: {_net_label(setting)} on `{setting.data}` ({_sizes(setting)}), "
             f"{setting.epochs} epoch{'s' if setting.epochs != 1 else ''}, batch {setting.batch_size}, SGD lr {setting.lr} momentum {setting.momentum}, "
             f"seed {setting.seed} (a recipe may prescribe its own loss and momentum). This is far from the "
             "papers' settings (CIFAR / ImageNet, ResNets, 100+ epochs): the claim column is what each paper "
             "reports for its own setting, not a target for this table.", "",
             "| recipe | test accuracy | Δ vs fp32 | final training loss | weights sha256 | the paper's claim |",
             "|---|---:|---:|---:|---|---|"]
    for r in table:
        delta = "-" if base is None else f"{100 * (r['accuracy'] - base):+.1f} pt"
        lines.append(f"| `{r['recipe']}` | {100 * r['accuracy']:.1f} % | {delta} | {r['loss']:.4f} | "
                     f"`{r['digest'][:12]}` | {CLAIMS.get(r['recipe'], '-')} |")
    if curves:
        lines += ["", f"![training loss per recipe]({curves})", "",
                  "Training loss of every recipe, each point the mean over a twentieth of an epoch's steps."]
    if extra:
        lines += ["", "## Ablations", ""]
    for title, runs in extra:
        lines += [f"### {title}", "", "| recipe | data | test accuracy | final training loss |", "|---|---|---:|---:|"]
        lines += [f"| `{r['recipe']}` | {r['data']} | {100 * r['accuracy']:.1f} % | {r['loss']:.4f} |" for r in runs]
        lines.append("")
    if extra:
        lines += [f"Long-dot-product task of the Wang chunking ablation: MLP 784-"
                  f"{'-'.join(map(str, long_dots.hidden))}-10 on `{long_dots.data}` ({long_dots.n_train or 'all'} "
                  f"training images, {long_dots.epochs} epochs).", ""]
    return "\n".join(lines + [""])


def _net_label(setting: Setting) -> str:
    if setting.net == "mlp":
        return f"MLP {'-'.join(['in', *map(str, setting.hidden), 'classes'])}"
    return {"lenet5": "LeNet-5", "lenet5_bn": "LeNet-5 with BatchNorm", "wage_cnn": "WAGE's CNN"}.get(setting.net,
                                                                                                   setting.net)


def _sizes(setting: Setting) -> str:
    train = "all" if setting.n_train is None else f"the first {setting.n_train:,}"
    test = "all" if setting.n_test is None else f"the first {setting.n_test:,}"
    return f"{train} training and {test} test images"


def reproduce(setting: Setting = Setting(), long_dots: Setting | None = None, out="docs/reproduction.md",
              recipes=None, with_ablations: bool = True, quiet: bool = True, scheduler=None,
              workers: int = 2) -> list[dict]:
    """Run every recipe (or ``recipes``) and, unless ``with_ablations`` is False, the ablations; write
    ``out``; return the table rows. Unless ``quiet``, progress bars go to stderr. ``scheduler``: None (this
    process), "local" (a Dask LocalCluster of ``workers`` processes) or a Dask scheduler address, where
    every run is one task; each run is bit-exact, so the table is the same."""
    long_dots = long_dots or Setting(data="mnist-5k", hidden=(32,), epochs=2, n_train=2000, n_test=500)
    names = recipes or [r for r in nn.RECIPES if not r.startswith("wang_fp8_") and not _is_sweep(r)]
    groups = [("", [(setting.config(r), None) for r in names])]
    if with_ablations:
        groups += ablation_jobs(setting, long_dots)
    jobs = [job for _, group in groups for job in group]
    bar = Progress("reproduce: runs", len(jobs), quiet)
    run_quiet = quiet or scheduler is not None                # a Dask worker's bars would go nowhere
    keys = [f"bitsim-reproduce-{i}-{config.recipe}" for i, (config, _) in enumerate(jobs)]
    rows = run_tasks(_run, [(config, run_quiet, prepare) for config, prepare in jobs], keys, scheduler, workers,
                     on_done=lambda row: bar.update(note=f"{row['recipe']}: {100 * row['accuracy']:.1f} %"))
    table, extra, first = rows[:len(names)], [], len(names)
    for title, group in groups[1:]:
        extra.append((title, rows[first:first + len(group)]))
        first += len(group)
    curves = Path(out).with_name(Path(out).stem + "_curves.png")
    drawn = plot_recipes({r["recipe"]: r["history"] for r in table}, curves,
                         f"{_net_label(setting)} on {setting.data}: training loss per recipe",
                         {r["recipe"]: r["loss_name"] for r in table})
    with open(out, "w") as fh:
        fh.write(render(setting, long_dots, table, extra, curves.name if drawn else None))
    return table
