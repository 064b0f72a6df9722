"""A suite on disk: its case sets written by one or more writers, plus ``manifest.json``.

``manifest.json`` (keys sorted, no timestamps, so regenerating gives the same bytes)::

    {"bitsim_version": "0.1.0", "generator": "bitsim.golden", "suite": "e5m2",
     "flags": "...", "regenerate": "bitsim golden gen --suite e5m2 --out DIR",
     "sets": [{"name": ..., "kind": "op" | "gemm" | "block_gemm" | "block_encode" | "train_step",
               "params": {op, in_formats, out, rounding, sr_bits, level, seed | unit, shape, ...},
               "count": N,
               "fields": {field: {"bits": W, "shape": [...], "format": "e5m2 = FloatFormat(...)"}},
               "files": {"testfloat": "mul_rne.tf", "npz": "mul_rne.npz", "memh": {field: "mul_rne.a.memh"}}}],
     "sha256": {file name: hex digest of every file of the suite}}

Formats and units are in ``bitsim.golden.specs`` JSON form; ``params.seed`` (and the ``rand`` field of
stochastic-rounding sets) make every set reproducible.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from bitsim._version import __version__
from bitsim.golden import memh, npzfile, testfloat, trace
from bitsim.golden.errors import GoldenFileError
from bitsim.golden.sets import CaseSet, field_bits, field_formats, input_names, output_names

WRITERS = ("testfloat", "memh", "npz")
MANIFEST = "manifest.json"
FLAGS_TEXT = "flags: 1 inexact, 2 underflow, 4 overflow, 8 infinite, 16 invalid (SoftFloat/TestFloat bit order)"


def check_writers(writers) -> tuple:
    writers = tuple(writers)
    bad = [w for w in writers if w not in WRITERS]
    if bad or not writers:
        raise ValueError(f"writers must be a non-empty subset of {', '.join(WRITERS)}; "
                         f"got {', '.join(writers) or 'none'}")
    return writers


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def format_text(fmt) -> str:
    if fmt is None:
        return "none (integers)"
    return f"{fmt} = {fmt.spec_string()}" if fmt.name else fmt.spec_string()


def field_table(cs: CaseSet) -> dict:
    fmts = field_formats(cs.kind, cs.params)
    names = input_names(cs.kind, cs.params) + output_names(cs.kind, cs.params)
    note = (lambda n: trace.scale_note(cs.params, n)) if cs.kind == "train_step" else (lambda n: "")
    return {n: {"bits": field_bits(cs.kind, cs.params, n), "shape": list(np.shape(cs.fields[n])),
                "format": format_text(fmts.get(n)) + note(n)} for n in names}


def _write_set(out: Path, cs: CaseSet, writers) -> dict:
    writers = check_writers(cs.writers) if cs.writers is not None else writers
    table = field_table(cs)
    files = {}
    if "testfloat" in writers and cs.kind == "op":
        files["testfloat"] = f"{cs.name}.tf"
        testfloat.write(out / files["testfloat"], cs.params, cs.fields)
    if "memh" in writers:
        files["memh"] = {}
        for n, info in table.items():
            files["memh"][n] = f"{cs.name}.{n}.memh"
            memh.write(out / files["memh"][n], cs.name, n, info["format"], info["bits"], cs.fields[n])
    if "npz" in writers:
        files["npz"] = f"{cs.name}.npz"
        npzfile.write(out / files["npz"], {n: cs.fields[n] for n in table}, {n: i["bits"] for n, i in table.items()})
    return {"name": cs.name, "kind": cs.kind, "params": cs.params, "count": cs.count, "fields": table, "files": files}


def set_files(entry: dict) -> list[str]:
    f = entry["files"]
    return [f[k] for k in ("testfloat", "npz") if k in f] + sorted(f.get("memh", {}).values())


def write_suite(out, suite: str, sets, writers=WRITERS) -> Path:
    """Write every case set of a suite into directory ``out`` (created) and its manifest; returns the
    manifest path. Set names must be unique; a set's own ``writers`` (if not None) replace ``writers``."""
    writers = check_writers(writers)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = [cs.name for cs in sets]
    if len(set(names)) != len(names):
        raise ValueError(f"suite {suite}: case set names must be unique; got {names}")
    entries = [_write_set(out, cs, writers) for cs in sets]
    digests = {name: sha256(out / name) for e in entries for name in set_files(e)}
    manifest = {"bitsim_version": __version__, "generator": "bitsim.golden", "suite": suite, "flags": FLAGS_TEXT,
                "regenerate": f"bitsim golden gen --suite {suite} --out DIR", "sets": entries, "sha256": digests}
    path = out / MANIFEST
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="ascii")
    return path


def load_manifest(path) -> tuple[Path, dict]:
    """(suite directory, manifest) of a suite directory or its manifest.json; GoldenFileError if missing
    or not JSON (with the line of a JSON syntax error)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    if not path.is_file():
        raise GoldenFileError(path, None, "no such manifest (a suite directory holds manifest.json)")
    try:
        manifest = json.loads(path.read_text(encoding="ascii"))
    except json.JSONDecodeError as e:
        raise GoldenFileError(path, e.lineno, f"not valid JSON: {e.msg}") from None
    for key in ("sets", "sha256", "suite"):
        if key not in manifest:
            raise GoldenFileError(path, 1, f"manifest key {key!r} missing")
    return path.parent, manifest


def manifest_line(path, text: str) -> int | None:
    """The first line of a manifest holding ``text`` (for error messages)."""
    for i, line in enumerate(Path(path).read_text(encoding="ascii").split("\n")):
        if text in line:
            return i + 1
    return None


def verify(path) -> list[str]:
    """Problems with a suite's files against its manifest checksums (empty list: all match). Every file
    a set names must be listed, present and of the recorded sha256; nothing unlisted may sit beside."""
    root, manifest = load_manifest(path)
    mpath = root / MANIFEST
    problems = []
    listed = manifest["sha256"]
    named = {f for e in manifest["sets"] for f in set_files(e)}
    for name in sorted(named - set(listed)):
        problems.append(f"{mpath}:{manifest_line(mpath, name)}: {name} is not in the sha256 table")
    for name, digest in sorted(listed.items()):
        line = lambda: manifest_line(mpath, f'"{name}": "{digest}"')        # noqa: E731 (only on a problem)
        if not (root / name).is_file():
            problems.append(f"{mpath}:{line()}: {name} is missing")
        elif sha256(root / name) != digest:
            problems.append(f"{mpath}:{line()}: sha256 of {name} is {sha256(root / name)}, the manifest says {digest}")
    extra = sorted(set(os.listdir(root)) - set(listed) - {MANIFEST})
    problems += [f"{root / name}: not listed in {mpath}" for name in extra]
    return problems
