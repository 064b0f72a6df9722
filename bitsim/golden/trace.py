"""``train_step`` case sets: one SGD step of a small net under a ``bitsim.nn`` recipe, every trace entry a
field (docs/golden.md, docs/nn.md).

Params (JSON): ``net``, ``hidden``, ``image_shape``, ``classes`` (``nets.models.build``), ``recipe``,
``seed``, ``step``, ``lr``, ``momentum``, ``weight_decay``, ``loss``, ``data`` (where the batch came
from; information only), ``units`` ({layer: {forward, backward_data, backward_weight}: unit spec}),
``inputs`` and ``outputs`` (field names in order: inputs, then trace entries in the order recorded) and
``fields`` ({field: {key, format, scale_exp, rounding}}).

Fields: ``x`` (the batch as fp64 codes), ``labels`` (``LABEL_BITS``-bit integers) and ``<param>.init``
(master weight codes before the step) are inputs; every trace entry ``<layer>/<pass>/<point>`` is the
output field ``<layer>.<pass>.<point>`` (``/`` -> ``.``). A field's value is decode(code) * 2**scale_exp
in its format; ``rounding`` is the quantiser that produced it (None: passed on unrounded). A block-format
entry (``bitsim.nn.block_tensor.BlockTraceEntry``) holds one BlockTensor per GEMM that reads it and
becomes two fields per GEMM, ``<field>.<gemm>.codes`` (element format) and ``<field>.<gemm>.scales``
(scale format), their metadata naming ``operand`` (the GEMM) and ``block_format`` (the tiling).

``recompute`` rebuilds the net with the initial weights of the file, reruns the step and returns every
entry's codes plus the disagreements in key set, format, scale or rounding. ``gemm_views`` gives the
operands of each Linear layer's GEMMs as plain (A, B, C) matrices of the fields, the way a hardware team
replays them.
"""

from __future__ import annotations

import re

import numpy as np

from bitsim.formats import format as as_format
from bitsim.golden.specs import from_json, to_json
from bitsim.quantize import encode

LABEL_BITS = 8
INIT = "init"
_SAFE = re.compile(r"[A-Za-z0-9_.\-]+")


def field_name(key: str) -> str:
    """The field of trace key ``key`` (``linear1/forward/act`` -> ``linear1.forward.act``)."""
    name = key.replace("/", ".")
    if not _SAFE.fullmatch(name):
        raise ValueError(f"trace key {key!r} does not make a file-safe field name (letters, digits, _ . -)")
    return name


def input_names(params: dict) -> list[str]:
    return list(params["inputs"])


def output_names(params: dict) -> list[str]:
    return list(params["outputs"])


def field_formats(params: dict) -> dict:
    out = {n: from_json(m["format"], f"fields[{n}].format") for n, m in params["fields"].items()}
    out["labels"] = None
    return out


def field_bits(params: dict, name: str) -> int:
    if name == "labels":
        return LABEL_BITS
    return from_json(params["fields"][name]["format"], f"fields[{name}].format").bits


def scale_note(params: dict, name: str) -> str:
    """``, value = decode(code) * 2**e`` for a field with a scale other than 2**0 (memh headers)."""
    e = params["fields"].get(name, {}).get("scale_exp", 0)
    return f", value = decode(code) * 2**{e}" if e else ""


def _unit_json(u) -> dict:
    try:
        return to_json(u)
    except TypeError:                                     # tensor-core units: named presets
        return {"preset": getattr(u, "name", repr(u))}


def _meta(key: str | None, fmt, scale_exp: int, rounding: str | None) -> dict:
    return {"key": key, "format": to_json(fmt), "scale_exp": int(scale_exp), "rounding": rounding}


def entry_fields(key: str, entry) -> dict:
    """{field: (codes, metadata)} of one trace entry (module doc: one field, or two per block operand)."""
    base = field_name(key)
    operands = getattr(entry, "operands", None)
    if operands is None:
        return {base: (entry.codes, _meta(key, entry.fmt, entry.scale_exp, entry.rounding))}
    out = {}
    for gemm, t in sorted(operands.items()):
        for part, codes, fmt in (("codes", t.codes, t.format.element), ("scales", t.scales, t.format.scale)):
            meta = dict(_meta(key, fmt, entry.scale_exp, entry.rounding), operand=gemm,
                        block_format=to_json(t.format))
            out[field_name(f"{key}/{gemm}/{part}")] = (codes, meta)
    return out


def _trace_fields(trace: dict) -> dict:
    out = {}
    for key, entry in trace.items():
        for f, item in entry_fields(key, entry).items():
            if f in out:
                raise ValueError(f"trace keys {key!r} and {out[f][1]['key']!r} map to one field {f!r}")
            out[f] = item
    return out


def _model(params: dict):
    from nets.models import build                         # nets: the model zoo of bitsim's training runs
    model = build(params["net"], tuple(params["image_shape"]), int(params["classes"]), params["recipe"],
                  int(params["seed"]), hidden=tuple(params["hidden"]))
    opt = model.recipe.optimizer(params["lr"], params["momentum"], params["weight_decay"])
    return model, opt


def _step(model, opt, params: dict, x: np.ndarray, labels: np.ndarray) -> dict:
    import bitsim.nn as nn
    _, tr = nn.train_step(model, opt, x, labels.astype(np.int64), loss=params["loss"], trace=True)
    return tr


def build_set(name: str, net: str, recipe: str, x, labels, classes: int, *, hidden=(16, 16), seed: int = 0,
              lr: float = 0.05, momentum: float = 0.9, weight_decay: float = 0.0,
              loss: str = "softmax_cross_entropy", data: dict | None = None):
    """The ``train_step`` set of one step of ``net`` (``nets.models``) under ``recipe`` on the batch
    ``x`` (float64, NCHW), ``labels`` (< ``classes``), initial weights from ``seed``, at step 0;
    ``data``: where the batch came from (recorded in the params)."""
    from bitsim.golden.sets import CaseSet
    x = np.ascontiguousarray(x, dtype=np.float64)
    labels = np.asarray(labels)
    top = min(int(classes), 1 << LABEL_BITS)
    if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= top:
        raise ValueError(f"labels must be integers in 0..{top - 1}")
    params = {"net": net, "hidden": [int(h) for h in hidden], "image_shape": list(x.shape[1:]),
              "classes": int(classes), "recipe": recipe, "seed": int(seed), "step": 0, "lr": float(lr),
              "momentum": float(momentum), "weight_decay": float(weight_decay), "loss": loss, "data": data or {}}
    model, opt = _model(params)
    params["units"] = {layer.name: {g: _unit_json(getattr(layer.units, g)) for g in
                                    ("forward", "backward_data", "backward_weight")}
                       for layer in model.layers if getattr(layer, "units", None) is not None}
    meta = {"x": _meta(None, as_format("fp64"), 0, None)}
    fields = {"x": x.view(np.uint64).copy(), "labels": labels.astype(np.uint64)}
    for p in model.parameters():
        f = field_name(f"{p.name}/{INIT}")
        meta[f] = _meta(f"{p.name}/{INIT}", p.value.fmt, p.value.scale_exp, None)
        fields[f] = p.value.codes.astype(np.uint64)
    inputs = list(fields)
    recorded = _trace_fields(_step(model, opt, params, x, labels))
    clash = sorted(set(recorded) & set(meta))
    if clash:
        raise ValueError(f"trace fields {clash} clash with the input fields")
    for f, (codes, m) in recorded.items():
        meta[f], fields[f] = m, np.asarray(codes).astype(np.uint64)
    params.update(inputs=inputs, outputs=list(recorded), fields=meta)
    return CaseSet(name, "train_step", params, fields)


def _codes(fields: dict, name: str, fmt) -> np.ndarray:
    return np.asarray(fields[name], np.uint64).astype(fmt.code_dtype)


def recompute(params: dict, fields: dict) -> tuple[dict, list[str]]:
    """(codes of every output field from a rerun of the step, disagreements between the rerun and the
    set's metadata: missing or extra trace keys, format, scale_exp, rounding, shape)."""
    fmts = field_formats(params)
    model, opt = _model(params)
    state = {"step": int(params["step"]), "seed": int(params["seed"]), "params": {}}
    for f in params["inputs"]:
        key = params["fields"].get(f, {}).get("key") or ""
        if key.endswith(f"/{INIT}"):
            state["params"][key[:-len(INIT) - 1]] = _codes(fields, f, fmts[f])
    problems = []
    try:
        model.load_state_dict(state)
    except (TypeError, ValueError) as e:
        return {}, [f"initial weights: {e}"]
    x = np.asarray(fields["x"], np.uint64).view(np.float64)
    tr = _trace_fields(_step(model, opt, params, x, np.asarray(fields["labels"])))
    out = {}
    for f in params["outputs"]:
        want = params["fields"][f]
        if f not in tr:
            problems.append(f"{f}: the rerun records no trace entry {want['key']!r}")
            continue
        codes, got = tr[f]
        problems += [f"{f}: {k}: the manifest has {want.get(k)!r}, bitsim gives {got.get(k)!r}"
                     for k in sorted(set(want) | set(got)) if want.get(k) != got.get(k)]
        if f in fields and np.shape(codes) != np.shape(fields[f]):
            problems.append(f"{f}: shape: the file has {np.shape(fields[f])}, bitsim gives {np.shape(codes)}")
            continue
        out[f] = np.asarray(codes).astype(np.uint64)
    problems += [f"{f}: bitsim records this trace field; the set lacks it" for f in tr if f not in params["fields"]]
    return out, problems


def gemm_views(params: dict, fields: dict) -> list[tuple]:
    """(output field, A, B, C or None, DotUnit) of every GEMM of every Linear layer, in the layer's
    operand convention (docs/nn.md): forward D = act @ weight^T + bias (row-broadcast), backward data
    D = error @ weight, backward weight D = error^T @ saved, bias gradient D = error^T @ ones. Codes
    only; the result's scale is scale_A + scale_B. Layers with other units or 4-D (conv) operands are
    left out."""
    f = lambda layer, point: f"{layer}.{point}"          # noqa: E731
    views = []
    for layer, units in params["units"].items():
        act = f(layer, "forward.act")
        if act not in fields or np.ndim(fields[act]) != 2:
            continue
        W, e = fields[f(layer, "forward.weight")], fields.get(f(layer, "backward.error"))
        bias = fields.get(f(layer, "forward.bias"))
        C = None if bias is None else np.broadcast_to(np.asarray(bias).reshape(1, -1), (np.shape(fields[act])[0],
                                                                                         np.shape(W)[0]))
        cand = [("forward", "forward.gemm", fields[act], np.asarray(W).T, C)]
        if e is not None:
            cand.append(("backward_weight", "backward.gemm_weight", np.asarray(e).T, fields[f(layer, "forward.saved")],
                         None))
            cand.append(("backward_weight", "backward.gemm_bias", np.asarray(e).T, None, None))
            cand.append(("backward_data", "backward.gemm_data", e, W, None))
        for which, point, A, B, C0 in cand:
            out = f(layer, point)
            spec = units[which]
            if out not in fields or spec.get("type") != "DotUnit":
                continue
            u = from_json(spec, f"units.{layer}.{which}")
            if B is None:
                B = encode(np.ones((np.shape(A)[1], 1)), u.b).astype(np.uint64)
            views.append((out, np.asarray(A), np.asarray(B), C0, u))
    return views
