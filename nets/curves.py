"""Training curves as PNGs (matplotlib, an optional extra): one run (``bitsim train``: ``plot_run``) and one
line per recipe of a reproduction (``bitsim reproduce``: ``plot_recipes``). Both return False, writing
nothing, when matplotlib is missing."""

from __future__ import annotations

import numpy as np


def curve_points(history) -> tuple[np.ndarray, np.ndarray]:
    """(x in epochs, training loss): every point of each epoch's ``loss_curve`` at the middle of its run of
    steps (an entry without one: its ``train_loss`` at the epoch's end)."""
    xs, ys = [], []
    for h in history:
        curve = h.get("loss_curve") or [h["train_loss"]]
        start = h["epoch"] - 1
        xs += [start + (i + 0.5) / len(curve) if "loss_curve" in h else start + 1 for i in range(len(curve))]
        ys += curve
    return np.array(xs, dtype=np.float64), np.array(ys, dtype=np.float64)


def _pyplot():
    try:
        from bitsim.plots import pyplot
        return pyplot()
    except ImportError:
        return None


def plot_run(history, path, title: str) -> bool:
    """Training loss (per ``loss_curve`` point) and test accuracy per epoch of one run."""
    plt = _pyplot()
    if plt is None:
        return False
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3))
    ax1.plot(*curve_points(history), marker=".")
    ax1.set(xlabel="epoch", ylabel="training loss")
    ax2.plot([h["epoch"] for h in history], [h["test_accuracy"] for h in history], marker="o")
    ax2.set(xlabel="epoch", ylabel="test accuracy")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_recipes(histories: dict, path, title: str, losses: dict | None = None) -> bool:
    """One training-loss line per recipe ({recipe: history}), final test accuracy in the legend; recipes
    trained on different losses (``losses``: {recipe: loss name}, e.g. WAGE's SSE) get a panel each."""
    plt = _pyplot()
    if plt is None:
        return False
    losses = losses or {}
    panels = list(dict.fromkeys(losses.get(r, "loss") for r in histories))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 + 4.5 * len(panels), 4.2), squeeze=False)
    colours = plt.get_cmap("tab20").colors
    for i, (recipe, history) in enumerate(histories.items()):
        ax = axes[0, panels.index(losses.get(recipe, "loss"))]
        ax.plot(*curve_points(history), label=f"{recipe} ({100 * history[-1]['test_accuracy']:.1f} %)",
                linewidth=1.2, color=colours[(2 * i) % 20 + (2 * i) // 20 % 2])
    for ax, loss in zip(axes[0], panels):
        ax.set_yscale("log")
        ax.set(xlabel="epoch", ylabel=f"training {loss.replace('_', ' ')}")
        ax.legend(fontsize=8)
        ax.grid(True, linewidth=0.3)
    fig.suptitle(f"{title} (each point: the mean over a twentieth of an epoch)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
