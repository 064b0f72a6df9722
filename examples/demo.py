"""bitsim demo: the format catalog, a real array encoded in several formats and rounding modes, then a
small net trained bit-exactly on real data.

Run with `make demo`. The array is the logits of a least-squares classifier on the UCI digits data shipped
with scikit-learn when it is installed, else a seeded normal sample (a notice says which). The training
run (nets.train: MLP 64-256-256-10 on digits, recipe int8 = INT8 operands into INT32 accumulators) needs
scikit-learn; it prints its metrics and the sha256 of its weight codes, which every rerun reproduces.
"""

import numpy as np

import bitsim
from bitsim.formats import ENTRIES


def sample_array():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        print("(scikit-learn not installed: using a seeded N(0, 1) sample instead of digits data)\n")
        return np.random.default_rng(0).standard_normal(100_000), "N(0,1) sample"
    digits = load_digits()
    x = digits.data / 16.0
    y = np.eye(10)[digits.target]
    w = np.linalg.lstsq(x, y, rcond=None)[0]           # a least-squares linear classifier, float64
    return (x @ w).ravel(), "logits of a linear classifier on UCI digits"


def main():
    print(f"bitsim {bitsim.__version__}: {len(ENTRIES)} catalog formats\n")
    print(f"{'name':<10} {'bits':>4} {'max':>12} {'min subnormal':>14}  specials/overflow")
    for e in ENTRIES[:16]:
        f = e.spec
        if isinstance(f, bitsim.FloatFormat):
            print(f"{e.name:<10} {f.bits:>4} {float(f.max):>12.6g} {float(f.smallest):>14.6g}  {f.specials}/{f.overflow}")
    print("... (`bitsim formats` lists them all)\n")

    x, what = sample_array()
    print(f"Encoding {x.size} values ({what}); error of decode(encode(x)) vs x:\n")
    print(f"{'format':<10} {'mode':<5} {'rms rel err':>12} {'max abs err':>12} {'inexact':>8} {'overflow':>8} {'underflow':>9}")
    for name in ("fp16", "bf16", "e5m2", "e4m3", "e4m3fnuz", "bm_e2m5", "e2m1", "fixed8.5"):
        for mode in ("rne", "rtz", "sr"):
            kw = dict(sr_bits=8, seed=0) if mode == "sr" else {}
            codes, flags = bitsim.encode(x, name, mode, return_flags=True, **kw)
            y = bitsim.decode(codes, name)
            ok = np.isfinite(y)
            rel = (y[ok] - x[ok]) / np.where(x[ok] == 0, 1, np.abs(x[ok]))
            print(f"{name:<10} {mode:<5} {np.sqrt(np.mean(rel ** 2)):>12.3e} {np.max(np.abs(y[ok] - x[ok])):>12.3e}"
                  f" {np.mean(flags & 1 > 0):>8.1%} {np.mean(flags & 4 > 0):>8.1%} {np.mean(flags & 2 > 0):>9.1%}")
    first = bitsim.encode(x[:6], "e4m3")
    print("\nFirst six values as e4m3 code words:", " ".join(f"{c:#04x}" for c in first))
    print("decoded exactly:", bitsim.decode(first, "e4m3"))
    train_demo()


def train_demo():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("\n(scikit-learn not installed: skipping the training run; pip install -e .[data])")
        return
    from nets.train import TrainConfig, train
    config = TrainConfig(net="mlp", recipe="int8", data="digits", epochs=2)
    print(f"\nTraining {config.net} on {config.data} with recipe {config.recipe} ({config.epochs} epochs, "
          f"batch {config.batch_size}, SGD lr {config.lr} momentum {config.momentum}), every GEMM through "
          "its dot-product unit:")
    result = train(config, quiet=False)
    for row in result["history"]:
        print(f"  epoch {row['epoch']}: training loss {row['train_loss']:.4f}, test accuracy "
              f"{row['test_accuracy']:.1%} ({row['seconds']:.1f} s)")
    print(f"  weights sha256 {result['digest']} (the same on every run and thread count)")
    print("  more: `bitsim train --help`, docs/nn.md")


if __name__ == "__main__":
    main()
