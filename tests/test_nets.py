"""nets: models, bit-exact resumable training runs on real data (scikit-learn's digits), the CLI."""

import json

import numpy as np
import pytest

import bitsim.nn as nn
from bitsim.cli import main
from nets.models import build
from nets.train import TrainConfig, load_checkpoint, train

SMALL = dict(data="digits", n_train=96, n_test=40, batch_size=16, recipe="int8", hidden=(32,))


@pytest.mark.parametrize("net,shape", [("mlp", (1, 8, 8)), ("lenet5", (1, 28, 28)), ("wage_cnn", (1, 28, 28))])
def test_nets_give_logits_per_class(net, shape):
    model = build(net, shape, 10, "int8", seed=0)
    logits = model.forward(np.random.default_rng(0).random((2, *shape)), model.context())
    assert logits.values.shape == (2, 10)
    assert len(model.parameters()) == {"mlp": 6, "lenet5": 10, "wage_cnn": 8}[net]


def test_conv_nets_refuse_small_images():
    with pytest.raises(ValueError, match="at least 20x20"):
        build("lenet5", (1, 8, 8), 10, "fp32", seed=0)
    with pytest.raises(ValueError, match="unknown net"):
        build("resnet", (1, 8, 8), 10, "fp32", seed=0)


def test_resumed_run_ends_in_the_same_weight_codes(tmp_path):
    """Stop after 7 steps (mid-epoch) with a checkpoint, resume: the digest equals the uninterrupted run's,
    which differs from another seed's."""
    config = TrainConfig(epochs=2, **SMALL)
    whole = train(config)
    assert whole["step"] == 12 and len(whole["history"]) == 2
    ckpt = tmp_path / "c.npz"
    part = train(config, checkpoint=ckpt, stop_after=7)
    assert part["step"] == 7 and part["digest"] != whole["digest"]
    assert load_checkpoint(ckpt)[2] == 7
    resumed = train(config, resume=ckpt)
    assert resumed["digest"] == whole["digest"]
    same = ("epoch", "step", "train_loss", "loss_curve", "test_accuracy")    # all but the seconds
    assert [{k: h[k] for k in same} for h in resumed["history"]] == [{k: h[k] for k in same} for h in whole["history"]]
    assert len(whole["history"][0]["loss_curve"]) == 6                     # one point per step: 6 steps < 20
    assert train(TrainConfig(epochs=2, seed=1, **SMALL))["digest"] != whole["digest"]


def test_bitsim_train_command(tmp_path, capsys):
    out = tmp_path / "run"
    status = main(["train", "--recipe", "int8", "--n-train", "96", "--n-test", "40", "--batch-size", "16",
                   "--hidden", "32", "--epochs", "1", "--quiet", "--out", str(out)])
    assert status == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["digest"] == train(TrainConfig(epochs=1, **SMALL))["digest"]
    assert metrics["history"][0]["epoch"] == 1 and (out / "checkpoint.npz").is_file()
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG" and "curves.png" in capsys.readouterr().out
    assert main(["train", "--recipe", "nope", "--quiet", "--out", str(out)]) == 2
    assert "unknown recipe 'nope'" in capsys.readouterr().err


def test_train_config_rejects_bad_values():
    with pytest.raises(ValueError, match="TrainConfig.epochs must be a positive int; got 0"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="TrainConfig.loss"):
        TrainConfig(loss="hinge")
    assert "fp32" in nn.RECIPES


def test_cpu_and_cuda_simulator_train_the_same_bits():
    """Two SGD steps of a tiny net (SR updates of wang_fp8 included) with every bitsim call on the GPU
    backend (Numba's simulator in CI) end in the CPU run's weight codes; so does a TrainConfig run."""
    from bitsim.backend import use_backend
    from nets.train import weight_digest
    x = np.random.default_rng(1).random((4, 1, 2, 3))
    digests = []
    for backend in ("cpu", "cuda"):
        model = nn.Sequential([nn.Flatten(), nn.Linear(6, 3)], recipe="wang_fp8", seed=2)
        opt = model.recipe.optimizer(0.1, momentum=0.9)
        with use_backend(backend):
            for _ in range(2):
                nn.train_step(model, opt, x, np.array([0, 1, 2, 1]))
        digests.append(weight_digest(model))
    assert digests[0] == digests[1]
    tiny = dict(SMALL, n_train=4, n_test=2, batch_size=4, hidden=(2,))
    assert train(TrainConfig(backend="cuda", **tiny))["digest"] == train(TrainConfig(**tiny))["digest"]


def test_reproduce_writes_the_table_and_the_ablations(tmp_path):
    from nets.reproduce import Setting, reproduce
    tiny = Setting(n_train=32, n_test=16, epochs=1, hidden=(4,), batch_size=16)
    out = tmp_path / "reproduction.md"
    rows = reproduce(tiny, long_dots=tiny, out=out, recipes=["fp32", "int8"])
    assert [r["recipe"] for r in rows] == ["fp32", "int8"]
    text = out.read_text()
    assert "| `int8` |" in text and "+0.0 pt" in text                   # fp32's own row
    assert "![training loss per recipe](reproduction_curves.png)" in text
    assert (tmp_path / "reproduction_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert len(rows[0]["history"][0]["loss_curve"]) == 2                # 32 images, batch 16: two steps
    assert "chunk-64 vs sequential" in text and "`wang_fp8_nochunk`" in text and "SR vs RNE" in text
    assert rows[1]["digest"] == reproduce(tiny, long_dots=tiny, out=out, recipes=["int8"],
                                          with_ablations=False)[0]["digest"]
    text = out.read_text()
    assert "## Ablations" not in text and "the first 32 training and the first 16 test images" in text


def test_reproduce_on_a_local_dask_cluster_gives_the_same_table(tmp_path):
    """Every run (the table's and the ablations', whose recipes the workers register themselves) as one
    task on a 2-worker LocalCluster: the same rows and the same document as in this process."""
    from nets.reproduce import Setting, reproduce
    tiny = Setting(n_train=32, n_test=16, epochs=1, hidden=(4,), batch_size=16)
    here, there = tmp_path / "here.md", tmp_path / "there.md"
    want = reproduce(tiny, long_dots=tiny, out=here, recipes=["fp32", "int8"])
    got = reproduce(tiny, long_dots=tiny, out=there, recipes=["fp32", "int8"], scheduler="local")
    def timeless(rows):
        return [{**{k: v for k, v in r.items() if k != "seconds"},
                 "history": [{k: v for k, v in h.items() if k != "seconds"} for h in r["history"]]} for r in rows]
    assert timeless(got) == timeless(want)
    assert here.read_text().replace("here_curves", "there_curves") == there.read_text()


def test_recipes_that_prescribe_training_settings_run_as_prescribed():
    """WAGE: no biases, SSE loss, no momentum, lr from k_G (Recipe.training); bitsim train applies them."""
    from nets.train import recipe_defaults
    model = build("mlp", (1, 8, 8), 10, "wage_2888_paper", seed=0, hidden=(8,))
    assert all(layer.bias is None for layer in model.layers if isinstance(layer, nn.Linear))
    assert recipe_defaults("wage_2888_paper") == {"loss": "sse", "momentum": 0.0, "weight_decay": 0.0, "lr": 1.0}
    run = train(TrainConfig(**dict(SMALL, recipe="wage_2888_paper"), **recipe_defaults("wage_2888_paper")))
    assert run["step"] == 6


def test_curve_points_place_each_segment_mean_at_its_middle():
    from nets.curves import curve_points
    from nets.train import loss_curve
    assert loss_curve([1.0, 3.0, 5.0]) == [1.0, 3.0, 5.0]
    assert loss_curve(np.arange(40.0)) == [k * 2 + 0.5 for k in range(20)]        # 20 runs of 2 steps
    history = [{"epoch": 1, "train_loss": 2.0, "loss_curve": [3.0, 1.0]}, {"epoch": 2, "train_loss": 0.5}]
    x, y = curve_points(history)
    assert x.tolist() == [0.25, 0.75, 2.0] and y.tolist() == [3.0, 1.0, 0.5]
