"""Check a suite: read every file of every set, recompute the outputs from the inputs with bitsim's
kernels, and cross-check a sample of cases with the exact reference ``bitsim.ref``.

Every file is read by its reader (so a malformed file is reported with its line), every copy of an input
field must agree with the first copy, and every output word of every copy must equal the recomputed one. A mismatch is
reported with the file and line of the word (``$readmemh`` and TestFloat files) or the NPZ member and
index. The reference recomputes ``ref_cases`` cases per set spread evenly over the set (all of a block
encode, whose blocks are not independent, when it has at most ``ref_cases`` elements; ``None``: all).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bitsim.golden import memh, npzfile, testfloat, trace
from bitsim.golden.errors import GoldenFileError
from bitsim.golden.sets import compute, input_names, output_names, ref_block_encode, reference
from bitsim.golden.suite import MANIFEST, load_manifest
from bitsim.ref import accum as ref_accum

REF_CASES = 64
MAX_REPORTED = 20


@dataclass
class Report:
    """What a check found: mismatches (lines of text) and the counts checked."""

    mismatches: list = field(default_factory=list)
    cases: int = 0
    ref_cases: int = 0
    files: int = 0

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _where(root, entry, writer, name, index, shape) -> str:
    """File and line (or NPZ member and index) of word ``index`` of field ``name``."""
    files = entry["files"]
    if writer == "testfloat":
        return f"{root / files['testfloat']}:{index + 1}"
    if writer == "memh":
        path = root / files["memh"][name]
        header = 1 + len(memh.HEADER_KEYS)
        return f"{path}:{header + index + 1}"
    pos = np.unravel_index(index, shape) if shape else ()
    return f"{root / files['npz']} [{name}.npy{list(map(int, pos))}]"


def _read_copies(root, entry) -> dict:
    """{writer: {field: array}} of every file the set has."""
    table, files = entry["fields"], entry["files"]
    shapes = {n: tuple(info["shape"]) for n, info in table.items()}
    bits = {n: int(info["bits"]) for n, info in table.items()}
    copies = {}
    if "testfloat" in files:
        fields = testfloat.read(root / files["testfloat"], entry["params"], int(entry["count"]))
        copies["testfloat"] = {n: a.reshape(shapes[n]) for n, a in fields.items()}
    if "memh" in files:
        missing = set(table) - set(files["memh"])
        if missing:
            raise GoldenFileError(root / "manifest.json", None, f"set {entry['name']}: no memh file for "
                                  f"{', '.join(sorted(missing))}")
        copies["memh"] = {n: memh.read(root / files["memh"][n], bits[n], shapes[n]) for n in table}
    if "npz" in files:
        copies["npz"] = npzfile.read(root / files["npz"], shapes, bits)
    if not copies:
        raise GoldenFileError(root / "manifest.json", None, f"set {entry['name']}: no files")
    return copies


def _compare(report, label, root, entry, writer, name, got, want):
    bad = np.flatnonzero(np.asarray(got).reshape(-1) != np.asarray(want).reshape(-1))
    for i in bad[:max(0, MAX_REPORTED - len(report.mismatches))]:
        report.mismatches.append(f"{_where(root, entry, writer, name, int(i), np.shape(got))}: {entry['name']}.{name}"
                                 f"[{int(i)}]: file has {int(np.asarray(got).reshape(-1)[i]):#x}, {label} gives "
                                 f"{int(np.asarray(want).reshape(-1)[i]):#x}")
    if bad.size > MAX_REPORTED:
        report.mismatches.append(f"... {bad.size} mismatches in {entry['name']}.{name} ({writer})")
    return bad.size


def _sample(n: int, k: int | None) -> np.ndarray:
    if k is None or n <= k:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def check_set(root, entry, report: Report, ref_cases: int | None = REF_CASES) -> None:
    copies = _read_copies(root, entry)
    report.files += sum(1 if w != "memh" else len(c) for w, c in copies.items())
    kind, params = entry["kind"], entry["params"]
    first_writer, first = next(iter(copies.items()))
    inputs = {n: first[n] for n in input_names(kind, params)}
    for writer, fields in copies.items():            # every copy of an input holds the same words
        for name in inputs:
            _compare(report, f"the {first_writer} file", root, entry, writer, name, fields[name], first[name])
    if kind == "train_step":
        want, problems = trace.recompute(params, inputs)
        report.mismatches += [f"{root / MANIFEST}: {entry['name']}.{p}" for p in problems]
    else:
        want = compute(kind, params, inputs)
    for writer, fields in copies.items():
        for name in output_names(kind, params):
            if name in want:
                _compare(report, "bitsim", root, entry, writer, name, fields[name], want[name])
    report.cases += int(entry["count"])
    if kind == "train_step":
        _check_trace_gemms(root, entry, first_writer, first, report, ref_cases)
        return
    if kind == "block_encode":
        if ref_cases is None or int(entry["count"]) <= ref_cases * 64:
            got = ref_block_encode(params, first)
            for name in output_names(kind, params):
                _compare(report, "bitsim.ref", root, entry, first_writer, name, first[name], got[name])
            report.ref_cases += int(entry["count"])
        return
    key = output_names(kind, params)[0]
    for i in _sample(int(entry["count"]), ref_cases):
        got = reference(kind, params, first, int(i))
        for name, value in got.items():
            if int(first[name].reshape(-1)[i]) != int(value):
                report.mismatches.append(f"{_where(root, entry, first_writer, name, int(i), first[key].shape)}: "
                                         f"{entry['name']}.{name}[{int(i)}]: file has "
                                         f"{int(first[name].reshape(-1)[i]):#x}, bitsim.ref gives {int(value):#x}")
        report.ref_cases += 1


def _check_trace_gemms(root, entry, writer, fields, report, ref_cases) -> None:
    """Replay a sample of the GEMM outputs of a train_step set with ``bitsim.ref`` from its operand
    fields (``trace.gemm_views``), as a hardware team would."""
    views = trace.gemm_views(entry["params"], fields)
    sizes = [int(np.asarray(fields[out]).size) for out, *_ in views]
    starts = np.cumsum([0] + sizes)
    for i in _sample(int(starts[-1]), ref_cases):
        v = int(np.searchsorted(starts, i, side="right")) - 1
        out, A, B, C, u = views[v]
        r, c = divmod(int(i - starts[v]), B.shape[1])
        code = ref_accum.dot([int(a) for a in A[r]], [int(b) for b in B[:, c]], u.a, u.b, u.acc, u.out,
                             u.out_rounding, None if C is None else int(C[r, c]), u.c)
        got = int(np.asarray(fields[out]).reshape(-1)[i - starts[v]])
        if got != code:
            report.mismatches.append(f"{_where(root, entry, writer, out, int(i - starts[v]), fields[out].shape)}: "
                                     f"{entry['name']}.{out}[{int(i - starts[v])}]: file has {got:#x}, bitsim.ref "
                                     f"gives {code:#x}")
        report.ref_cases += 1


def check_suite(path, ref_cases: int | None = REF_CASES) -> Report:
    """Check every set of the suite at ``path`` (a directory or its manifest.json)."""
    root, manifest = load_manifest(path)
    report = Report()
    for entry in manifest["sets"]:
        check_set(root, entry, report, ref_cases)
    return report
