"""``bitsim train``: one bit-exact training run (``nets.train``); ``bitsim reproduce``: every recipe and
the ablations (``nets.reproduce``).

Writes into ``--out`` (default ``runs/<net>-<recipe>-<data>-seed<seed>``): ``metrics.json`` (the
configuration, per-epoch metrics and the final weight digest), ``checkpoint.npz`` after every epoch, and
``curves.png`` when matplotlib is installed. ``--resume`` continues a checkpoint to its configured epochs.
"""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(sub) -> None:
    from nets.data import DATASETS
    from nets.models import NETS
    p = sub.add_parser("train", help="train a small net bit-exactly on real data (nets.train)")
    p.add_argument("--net", default="mlp", choices=NETS)
    p.add_argument("--recipe", default="fp32", help="a bitsim.nn recipe: fp32, wang_fp8, int8, ...")
    p.add_argument("--data", default="digits", choices=list(DATASETS))
    p.add_argument("--data-path", help="directory of the IDX files (fashion-mnist)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, help="default: the recipe's, else 0.05")
    p.add_argument("--momentum", type=float, help="default: the recipe's, else 0.9")
    p.add_argument("--weight-decay", type=float, help="default: the recipe's, else 0")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-train", type=int, help="the first N training samples only")
    p.add_argument("--n-test", type=int, help="the first N test samples only")
    p.add_argument("--backend", default="cpu", choices=["cpu", "cuda"],
                   help="where the GEMMs, quantisers and updates run (the same bits either way)")
    p.add_argument("--hidden", default="256,256", help="the mlp's hidden widths, comma-separated")
    p.add_argument("--out", help="output directory")
    p.add_argument("--resume", help="a checkpoint.npz to continue")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_train)
    r = sub.add_parser("reproduce", help="every recipe and the seed papers' ablations on one small task; "
                                         "writes docs/reproduction.md (nets.reproduce)")
    r.add_argument("--epochs", type=int, default=4)
    r.add_argument("--data", default="digits", choices=list(DATASETS))
    r.add_argument("--hidden", default="128", help="the mlp's hidden widths, comma-separated")
    r.add_argument("--net", default="mlp", choices=NETS)
    r.add_argument("--n-train", type=int, help="use only the first N training images")
    r.add_argument("--n-test", type=int, help="evaluate on the first N test images only")
    r.add_argument("--no-ablations", action="store_true", help="the recipe table only")
    r.add_argument("--recipes", help="comma-separated recipe names (default: every registered recipe)")
    r.add_argument("--out", default="docs/reproduction.md")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument("--scheduler", help="'local' (a Dask LocalCluster) or a Dask scheduler address: one task per "
                                       "run; default: this process")
    r.add_argument("--workers", type=int, default=2, help="workers of a local cluster (default 2)")
    r.set_defaults(run=cmd_reproduce)


def cmd_train(args) -> int:
    from bitsim.nn import RECIPES
    from nets.curves import plot_run
    from nets.train import TrainConfig, recipe_defaults, train
    if args.recipe not in RECIPES:
        raise ValueError(f"unknown recipe {args.recipe!r}; known: {', '.join(sorted(RECIPES))}")
    given = {k: getattr(args, k) for k in ("lr", "momentum", "weight_decay") if getattr(args, k) is not None}
    config = TrainConfig(net=args.net, recipe=args.recipe, data=args.data, epochs=args.epochs,
                         batch_size=args.batch_size, seed=args.seed, n_train=args.n_train, n_test=args.n_test,
                         hidden=tuple(int(h) for h in args.hidden.split(",")), backend=args.backend,
                         **{**recipe_defaults(args.recipe), **given})
    out = Path(args.out or f"runs/{config.net}-{config.recipe}-{config.data}-seed{config.seed}")
    out.mkdir(parents=True, exist_ok=True)
    result = train(config, data_path=args.data_path, checkpoint=out / "checkpoint.npz", resume=args.resume,
                   quiet=args.quiet)
    for row in result["history"]:
        print(json.dumps({k: v for k, v in row.items() if k != "loss_curve"}, sort_keys=True))
    (out / "metrics.json").write_text(json.dumps({"config": vars(config), **result}, indent=1, sort_keys=True)
                                      + "\n")
    title = f"{config.net} / {config.recipe} / {config.data} (seed {config.seed})"
    print(f"weights sha256 {result['digest']}; wrote {out}/metrics.json, checkpoint.npz"
          + (", curves.png" if plot_run(result["history"], out / "curves.png", title) else ""))
    return 0


def cmd_reproduce(args) -> int:
    from nets.reproduce import Setting, reproduce
    setting = Setting(data=args.data, net=args.net, epochs=args.epochs, n_train=args.n_train, n_test=args.n_test,
                      hidden=tuple(int(h) for h in args.hidden.split(",")))
    rows = reproduce(setting, out=args.out, recipes=args.recipes.split(",") if args.recipes else None,
                     with_ablations=not args.no_ablations, quiet=args.quiet, scheduler=args.scheduler,
                     workers=args.workers)
    for row in rows:
        print(f"{row['recipe']:<20} {100 * row['accuracy']:5.1f} %  {row['digest'][:12]}  {row['seconds']:.0f} s")
    print(f"wrote {args.out}")
    return 0
