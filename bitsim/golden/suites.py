"""The committed suites (``golden/`` at the repository root) and the root ``MANIFEST``.

Each suite is a list of case-set builders; ``generate(name)`` runs them. The seeds are fixed here, so
``make golden`` (``bitsim golden gen --all --out golden``) rewrites the same bytes. ``golden/MANIFEST``
lists the sha256 of every file under ``golden/`` in ``sha256sum`` format (``sha256sum -c MANIFEST``
checks it without bitsim). Suite ``traces`` holds one training step per recipe of ``TRACE_RECIPES``
(``digits_trace``; needs ``nets`` and scikit-learn's digits).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from bitsim.golden import trace
from bitsim.golden.build import block_encode_set, block_gemm_set, gemm_set, op_set
from bitsim.golden.errors import GoldenFileError
from bitsim.golden.suite import WRITERS, sha256, write_suite

ROOT_MANIFEST = "MANIFEST"
ELEMENT_OPS = ("add", "sub", "mul", "div", "sqrt", "fma")
OP_WRITERS = ("testfloat", "npz")          # elementwise sets; `bitsim golden gen --writer memh` adds memh files
MATRIX_WRITERS = ("memh", "npz")           # GEMMs and block encodings: one hex file per matrix
DIRECTED = ("rtz", "rup", "rdn", "rna", "rto")
# The recipes of the committed training-step traces (bitsim.nn.RECIPES), each with hyperparameters beyond
# ``digits_trace``'s defaults and the recipe's own training settings: adding one is one entry here.
TRACE_RECIPES = {"fp32": {}, "int8": {}, "wang_fp8": {}, "bm8": {}, "bm6": {}, "bm6_nodenorm": {}, "bm5": {},
                 "mxfp8": {}, "blpa8": {}, "blpa4": {}, "wage_2888_paper": {}, "wage_2888_code": {}}
TRACE_BATCH = tuple(range(8))              # the first 8 training images of digits
TRACE_HIDDEN = (16, 16)                    # 64-16-16-10: a middle layer, so first/last overrides leave one


def _writers(cs, writers):
    cs.writers = writers
    return cs


def _fp8(name: str, exhaustive: bool = False):
    """An OCP FP8 format: every op in RNE; add and mul in every other mode and SR; conversions from
    fp32 and fp16 in every mode; with ``exhaustive``, mul RNE over all 65,536 operand pairs in every
    writer (the RTL example's ``$readmemh`` vectors)."""
    sets = [op_set(f"{op}_rne", op, name, "rne", seed=i) for i, op in enumerate(ELEMENT_OPS)]
    sets += [op_set(f"{op}_{r}", op, name, r, seed=10 + i) for i, (op, r) in
             enumerate((op, r) for op in ("add", "mul") for r in DIRECTED)]
    sets += [op_set(f"{op}_sr8", op, name, "sr", sr_bits=8, seed=20 + i) for i, op in enumerate(("add", "mul"))]
    conversions = [(src, r) for src in ("fp32", "fp16") for r in ("rne",) + DIRECTED + ("sr",)]
    sets += [op_set(f"from_{src}_{r}", "convert", name, r, in_formats=(src,), seed=30 + i,
                    sr_bits=8 if r == "sr" else None) for i, (src, r) in enumerate(conversions)]
    if exhaustive:
        sets.append(_writers(op_set("mul_rne_all", "mul", name, "rne", level="large", seed=99), WRITERS))
    return sets


def _fp16():
    """IEEE binary16: every op in the five IEEE modes (the SoftFloat cross-check's vectors)."""
    return [op_set(f"{op}_{r}", op, "fp16", r, seed=i) for i, (op, r) in
            enumerate((op, r) for op in ELEMENT_OPS for r in ("rne", "rtz", "rup", "rdn", "rna"))]


def _wang():
    """Wang et al. 2018: FP8 (1,5,2) x FP8 products in FP16 (1,6,9), chunk-64 accumulation (wang_fp8),
    the conversions and the FP16 add of its accumulator."""
    return [
        op_set("from_fp32_fp8_rne", "convert", "fp8_wang", "rne", in_formats=("fp32",), seed=1),
        op_set("from_fp32_fp8_sr8", "convert", "fp8_wang", "sr", sr_bits=8, in_formats=("fp32",), seed=2),
        op_set("from_fp16w_fp8_rne", "convert", "fp8_wang", "rne", in_formats=("fp16_wang",), seed=3),
        op_set("mul_fp8_to_fp16w_rne", "mul", "fp16_wang", "rne", in_formats=("fp8_wang", "fp8_wang"), seed=4),
        op_set("add_fp16w_rne", "add", "fp16_wang", "rne", seed=5),
        op_set("add_fp16w_sr8", "add", "fp16_wang", "sr", sr_bits=8, seed=6),
        _writers(gemm_set("gemm_wang_fp8", "wang_fp8", 4, 256, 4, seed=7), MATRIX_WRITERS),
    ]


def _bm():
    """Block Minifloat (Fox et al. 2021): BM8 and BM6 element formats (conversions from fp32, add, mul),
    their block encodings and the Kulisch-accumulated block GEMMs (bm8_kulisch, bm6_kulisch)."""
    sets = []
    for i, el in enumerate(("bm_e2m5", "bm_e4m3", "bm_e2m3", "bm_e3m2")):
        sets.append(op_set(f"{el}_from_fp32_rne", "convert", el, "rne", in_formats=("fp32",), seed=10 * i))
        sets.append(op_set(f"{el}_add_rne", "add", el, "rne", seed=10 * i + 1))
        sets.append(op_set(f"{el}_mul_rne", "mul", el, "rne", seed=10 * i + 2))
    from bitsim.accum.unit import unit
    for j, name in enumerate(("bm8_kulisch", "bm6_kulisch")):
        sets.append(_writers(block_encode_set(f"{name}_a_encode", unit(name).a, 8, 96, seed=50 + j), MATRIX_WRITERS))
        sets.append(_writers(block_gemm_set(f"gemm_{name}", name, 4, 96, 4, seed=60 + j), MATRIX_WRITERS))
    return sets


def _wage():
    """WAGE (Wu et al. 2018) k-bit fixed-point grids: fp32 -> wage_k in RNE, RTZ and 8-bit SR; and the
    INT8 x INT8 -> INT32 dot unit (int8_int32) with the fp32 sequential unit (fp32_seq) for reference."""
    sets = []
    for i, k in enumerate((2, 4, 8)):
        sets += [op_set(f"wage_{k}_from_fp32_{r}", "convert", f"wage_{k}", r, in_formats=("fp32",), seed=10 * i + j,
                        sr_bits=8 if r == "sr" else None) for j, r in enumerate(("rne", "rtz", "sr"))]
    sets.append(_writers(gemm_set("gemm_int8_int32", "int8_int32", 4, 64, 4, seed=40), MATRIX_WRITERS))
    sets.append(_writers(gemm_set("gemm_fp32_seq", "fp32_seq", 4, 64, 4, seed=41), MATRIX_WRITERS))
    return sets


def _mx():
    """OCP MXFP8: block encodings (E4M3 and E5M2 elements, E8M0 scales) and the mxfp8_fp32 block GEMM."""
    sets = [block_encode_set("mxfp8_e4m3_encode", "mxfp8_e4m3", 16, 64, seed=1),
            block_encode_set("mxfp8_e5m2_encode", "mxfp8_e5m2", 16, 64, seed=2),
            block_gemm_set("gemm_mxfp8_fp32", "mxfp8_fp32", 4, 128, 4, seed=3)]
    return [_writers(cs, MATRIX_WRITERS) for cs in sets]


def digits_trace(recipe: str, seed: int = 0, **options):
    """One step (lr 0.05, momentum 0.9, softmax cross-entropy, step 0, unless the recipe's training
    settings (``nets.train.recipe_defaults``) or ``options`` say other ``lr``, ``momentum``,
    ``weight_decay``, ``loss``) of the MLP 64-16-16-10 (``nets.models.mlp``) under ``recipe`` on the
    digits training images ``TRACE_BATCH`` (pixels / 16), initial weights from ``seed``: a ``train_step``
    set named ``train_<recipe>``."""
    from nets.train import recipe_defaults
    options = {**recipe_defaults(recipe), **options}
    x, labels, classes = _digits_batch()
    info = {"set": "digits", "split": "train", "indices": list(TRACE_BATCH), "x": "pixels / 16 in float64"}
    cs = trace.build_set(f"train_{recipe}", "mlp", recipe, x, labels, classes, hidden=TRACE_HIDDEN, seed=seed,
                         data=info, **options)
    return _writers(cs, MATRIX_WRITERS)


@functools.lru_cache(maxsize=1)
def _digits_batch():
    """(x, labels, classes) of the trace batch: digits training images ``TRACE_BATCH``, pixels / 16."""
    from nets import data
    ds = data.load("digits")
    idx = list(TRACE_BATCH)
    return ds.x_train[idx] / 16.0, ds.y_train[idx], ds.n_classes


def _traces():
    """One training step per recipe of ``TRACE_RECIPES`` (``digits_trace``): every layer's operands,
    GEMM results and outputs, forward and backward, and the weight update."""
    return [digits_trace(r, **options) for r, options in TRACE_RECIPES.items()]


SUITES = {"e4m3": lambda: _fp8("e4m3"), "e5m2": lambda: _fp8("e5m2", exhaustive=True), "fp16": _fp16, "wang": _wang,
          "bm": _bm, "wage": _wage, "mxfp8": _mx, "traces": _traces}


def generate(name: str):
    """The case sets of a committed suite."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
    return SUITES[name]()


def write_all(root, names=None, progress=None, scheduler=None, workers: int = 2) -> None:
    """Write the committed suites (default all) under ``root``, one directory each, and the MANIFEST;
    ``progress(name)`` is called after each suite. ``scheduler`` ("local" or a Dask scheduler address):
    each suite's cases are generated as one Dask task (``bitsim.cluster.run_tasks``) and written here,
    byte for byte the same files."""
    from bitsim.cluster import run_tasks
    root = Path(root)
    names = list(names or SUITES)

    def write(named):
        name, sets = named
        write_suite(root / name, name, sets, OP_WRITERS)
        if progress is not None:
            progress(name)
    run_tasks(_generate_named, [(n,) for n in names], [f"bitsim-golden-{n}" for n in names], scheduler, workers,
              on_done=write)
    write_root_manifest(root)


def _generate_named(name: str):
    """(name, case sets) of a committed suite: one task of ``write_all``."""
    return name, generate(name)


def _files(root: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            rel = Path(dirpath, f).relative_to(root).as_posix()
            if rel != ROOT_MANIFEST:
                out.append(rel)
    return sorted(out)


def write_root_manifest(root) -> Path:
    """``root/MANIFEST``: ``<sha256>  <path>`` for every file below ``root``, sorted by path."""
    root = Path(root)
    lines = [f"{sha256(root / rel)}  {rel}\n" for rel in _files(root)]
    path = root / ROOT_MANIFEST
    path.write_text("".join(lines), encoding="ascii")
    return path


def verify_root(root) -> list[str]:
    """Problems with ``root/MANIFEST``: malformed lines (GoldenFileError), wrong or missing files, and
    files that it does not list."""
    root = Path(root)
    path = root / ROOT_MANIFEST
    listed, problems = {}, []
    for i, line in enumerate(path.read_text(encoding="ascii").split("\n")[:-1]):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest) or not rel:
            raise GoldenFileError(path, i + 1, f"expected '<64 hex digits>  <path>', got {line!r}")
        listed[rel] = (digest, i + 1)
        if not (root / rel).is_file():
            problems.append(f"{path}:{i + 1}: {rel} is missing")
        elif sha256(root / rel) != digest:
            problems.append(f"{path}:{i + 1}: sha256 of {rel} is {sha256(root / rel)}, MANIFEST says {digest}")
    problems += [f"{root / rel}: not listed in {path}" for rel in _files(root) if rel not in listed]
    return problems
