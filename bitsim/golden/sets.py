"""Case sets: what one golden-vector set is, how its expected results come from bitsim's kernels, and how
the slow exact reference (``bitsim.ref``) recomputes any one case.

A case set is a ``CaseSet``: a kind, its parameters (JSON-able: formats and units as ``specs.to_json``
forms) and named integer arrays (``fields``). Inputs and outputs per kind:

==============  ====================================================  ==================================
kind            inputs                                                outputs
==============  ====================================================  ==================================
``op``          ``a`` [``b`` [``c``]] codes of ``in_formats``,        ``result`` codes of ``out``,
                ``rand`` (stochastic rounding only: one integer       ``flags`` (1 inexact, 2 underflow,
                < 2**sr_bits per case)                                4 overflow, 8 infinite, 16 invalid)
``gemm``        ``A`` (M, K), ``B`` (K, N), ``C`` (M, N) codes of     ``D`` (M, N) codes of ``unit.out``,
                the DotUnit's a, b, c formats                         ``flags`` (M, N): the OR over every
                                                                      rounding of the output (DotUnits)
``block_gemm``  ``A.codes``, ``A.scales``, ``B.codes``, ``B.scales``  ``D`` (M, N) codes of ``unit.out``,
                (BlockTensors of the BlockDotUnit's a and b), ``C``   ``flags`` (M, N), as for ``gemm``
``block_encode``  ``x`` (float32 codes, 2-D)                          ``codes``, ``scales`` of ``format``
``train_step``  ``x`` (fp64 inputs), ``labels``, ``<param>.init``     every trace entry of one SGD step
                (master weight codes)                                 (``bitsim.golden.trace``)
==============  ====================================================  ==================================

Ops: add, sub, mul, div, sqrt, fma (``bitsim.ops``; ``in_formats`` may differ from ``out``) and
convert (``bitsim.ops.convert``: one input of format ``in_formats[0]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bitsim import ops, ref
from bitsim.accum.unit import matmul
from bitsim.blocks.spec import BlockTensor
from bitsim.golden import trace
from bitsim.golden.specs import from_json
from bitsim.quantize import encode
from bitsim.ref import accum as ref_accum
from bitsim.ref import block_dot as ref_block_dot
from bitsim.ref import blocks as ref_blocks

OPS = {"add": 2, "sub": 2, "mul": 2, "div": 2, "sqrt": 1, "fma": 3, "convert": 1}
OPERANDS = "abc"
KINDS = ("op", "gemm", "block_gemm", "block_encode", "train_step")
FLAG_BITS = 5


@dataclass
class CaseSet:
    """One set of golden vectors: ``name``, ``kind``, JSON-able ``params`` and the integer ``fields``;
    ``writers``: the writers this set is written by (None: the suite's)."""

    name: str
    kind: str
    params: dict
    fields: dict = field(default_factory=dict)
    writers: tuple | None = None

    @property
    def count(self) -> int:
        """Number of cases: elementwise cases, or output elements of a GEMM / encoded elements."""
        if self.kind == "train_step":
            return sum(int(np.asarray(self.fields[n]).size) for n in output_names(self.kind, self.params))
        key = {"op": "result", "gemm": "D", "block_gemm": "D", "block_encode": "codes"}[self.kind]
        return int(np.asarray(self.fields[key]).size)


def has_flags(params: dict) -> bool:
    """Whether a gemm or block_gemm set records per-output flags: its unit is a DotUnit or a BlockDotUnit
    (``return_flags=True``; tensor-core units give codes only)."""
    return params.get("unit", {}).get("type") in ("DotUnit", "BlockDotUnit")


def input_names(kind: str, params: dict) -> list[str]:
    if kind == "op":
        names = list(OPERANDS[:OPS[params["op"]]])
        return names + (["rand"] if params["rounding"] == "sr" else [])
    if kind == "train_step":
        return trace.input_names(params)
    return {"gemm": ["A", "B", "C"], "block_gemm": ["A.codes", "A.scales", "B.codes", "B.scales", "C"],
            "block_encode": ["x"]}[kind]


def output_names(kind: str, params: dict) -> list[str]:
    if kind in ("gemm", "block_gemm"):
        return ["D", "flags"] if has_flags(params) else ["D"]
    if kind == "train_step":
        return trace.output_names(params)
    return {"op": ["result", "flags"], "block_encode": ["codes", "scales"]}[kind]


def field_formats(kind: str, params: dict) -> dict:
    """The element format of every field (None: flags, random integers), as spec objects."""
    if kind == "op":
        fins = [from_json(f, f"in_formats[{i}]") for i, f in enumerate(params["in_formats"])]
        out = {n: f for n, f in zip(OPERANDS, fins)}
        out.update(result=from_json(params["out"], "out"), flags=None, rand=None)
        return out
    if kind == "gemm":
        u = from_json(params["unit"], "unit")
        return {"A": u.a, "B": u.b, "C": u.c, "D": u.out, "flags": None}
    if kind == "train_step":
        return trace.field_formats(params)
    if kind == "block_gemm":
        u = from_json(params["unit"], "unit")
        return {"A.codes": u.a.element, "A.scales": u.a.scale, "B.codes": u.b.element, "B.scales": u.b.scale,
                "C": u.c, "D": u.out, "flags": None}
    f = from_json(params["format"], "format")
    return {"x": from_json(params["source"], "source"), "codes": f.element, "scales": f.scale}


def field_bits(kind: str, params: dict, name: str) -> int:
    """Code width of a field's words."""
    if kind == "train_step":
        return trace.field_bits(params, name)
    if name == "flags":
        return FLAG_BITS
    if name == "rand":
        return int(params["sr_bits"])
    return field_formats(kind, params)[name].bits


# ---------------------------------------------------------------- expected results from the kernels

def _op_outputs(params: dict, fields: dict) -> dict:
    fmts = field_formats("op", params)
    out = fmts["result"]
    op = params["op"]
    names = OPERANDS[:OPS[op]]
    args = [np.asarray(fields[n], dtype=np.uint64).astype(fmts[n].code_dtype) for n in names]
    kw = {}
    if params["rounding"] == "sr":
        kw = dict(sr_bits=int(params["sr_bits"]), rand=np.asarray(fields["rand"], dtype=np.uint64))
    if op == "convert":
        res, flags = ops.convert(args[0], fmts["a"], out, params["rounding"], **kw)
    else:
        res, flags = getattr(ops, op)(*args, out, params["rounding"], in_formats=[fmts[n] for n in names], **kw)
    return {"result": res.astype(np.uint64), "flags": flags.astype(np.uint64)}


def _gemm_outputs(params: dict, fields: dict) -> dict:
    u = from_json(params["unit"], "unit")
    A = np.asarray(fields["A"], np.uint64).astype(u.a.code_dtype)
    B = np.asarray(fields["B"], np.uint64).astype(u.b.code_dtype)
    C = np.asarray(fields["C"], np.uint64).astype(u.c.code_dtype)
    if not has_flags(params):
        return {"D": matmul(A, B, u, C).astype(np.uint64)}
    D, flags = matmul(A, B, u, C, return_flags=True)
    return {"D": D.astype(np.uint64), "flags": flags.astype(np.uint64)}


def _block_tensor(fields: dict, prefix: str, fmt) -> BlockTensor:
    codes = np.asarray(fields[f"{prefix}.codes"], np.uint64).astype(fmt.element.code_dtype)
    scales = np.asarray(fields[f"{prefix}.scales"], np.uint64).astype(fmt.scale.code_dtype)
    return BlockTensor(codes, scales, codes.shape, fmt)


def _block_gemm_outputs(params: dict, fields: dict) -> dict:
    u = from_json(params["unit"], "unit")
    A, B = _block_tensor(fields, "A", u.a), _block_tensor(fields, "B", u.b)
    C = np.asarray(fields["C"], np.uint64).astype(u.c.code_dtype)
    D, flags = matmul(A, B, u, C, return_flags=True)
    return {"D": D.astype(np.uint64), "flags": flags.astype(np.uint64)}


def _float32(fields: dict) -> np.ndarray:
    return np.asarray(fields["x"], np.uint64).astype(np.uint32).view(np.float32)


def _block_encode_outputs(params: dict, fields: dict) -> dict:
    fmt = from_json(params["format"], "format")
    t = encode(_float32(fields), fmt, params["rounding"])
    return {"codes": np.asarray(t.codes).astype(np.uint64), "scales": np.asarray(t.scales).astype(np.uint64)}


_KERNELS = {"op": _op_outputs, "gemm": _gemm_outputs, "block_gemm": _block_gemm_outputs,
            "block_encode": _block_encode_outputs, "train_step": lambda p, f: trace.recompute(p, f)[0]}


def compute(kind: str, params: dict, fields: dict) -> dict:
    """The output fields bitsim's kernels give for the input ``fields`` (uint64 arrays)."""
    if kind not in _KERNELS:
        raise ValueError(f"case set kind must be one of {', '.join(KINDS)}; got {kind!r}")
    return _KERNELS[kind](params, fields)


# ---------------------------------------------------------------- the exact reference, case by case

def _ref_op(params, fields, i) -> dict:
    fmts = field_formats("op", params)
    op = params["op"]
    names = OPERANDS[:OPS[op]]
    args = [int(np.asarray(fields[n]).reshape(-1)[i]) for n in names]
    kw = {}
    if params["rounding"] == "sr":
        kw = dict(rand=int(np.asarray(fields["rand"]).reshape(-1)[i]), sr_bits=int(params["sr_bits"]))
    if op == "convert":
        code, flags = ref.convert(args[0], fmts["a"], fmts["result"], params["rounding"], **kw)
    else:
        code, flags = getattr(ref.ops, op)(*args, fmts["result"], params["rounding"],
                                           in_formats=[fmts[n] for n in names], **kw)
    return {"result": code, "flags": flags}


def _ij(fields, i):
    D = np.asarray(fields["D"])
    return divmod(i, D.shape[1])


def _ref_gemm(params, fields, i) -> dict:
    u = from_json(params["unit"], "unit")
    r, c = _ij(fields, i)
    A, B, C = (np.asarray(fields[k]) for k in "ABC")
    return {"D": ref_accum.dot([int(x) for x in A[r]], [int(x) for x in B[:, c]], u.a, u.b, u.acc, u.out,
                               u.out_rounding, int(C[r, c]), u.c)}


def _ref_block_gemm(params, fields, i) -> dict:
    u = from_json(params["unit"], "unit")
    r, c = _ij(fields, i)
    g = {k: np.asarray(v) for k, v in fields.items()}
    return {"D": ref_block_dot.block_dot([int(x) for x in g["A.codes"][r]], [int(x) for x in g["A.scales"][r]],
                                         [int(x) for x in g["B.codes"][:, c]], [int(x) for x in g["B.scales"][:, c]],
                                         u, int(g["C"][r, c]))}


def ref_block_encode(params, fields) -> dict:
    """Every output of a block_encode set by the reference (a whole tensor: blocks are not independent)."""
    fmt = from_json(params["format"], "format")
    codes, scales = ref_blocks.encode(_float32(fields), fmt, params["rounding"])
    grid = np.zeros(np.asarray(fields["scales"]).shape, dtype=np.uint64)
    for key, code in scales.items():
        grid[key[:grid.ndim]] = code
    return {"codes": codes.astype(np.uint64), "scales": grid}


_REFS = {"op": _ref_op, "gemm": _ref_gemm, "block_gemm": _ref_block_gemm}


def reference(kind: str, params: dict, fields: dict, i: int) -> dict:
    """The outputs of case ``i`` (flat C order of the first output field) by ``bitsim.ref``."""
    return _REFS[kind](params, fields, i)
