"""Formats, block formats and dot-product units as JSON objects, and back.

Every spec is a frozen dataclass; its JSON form is ``{"type": <class name>, <field>: <value>, ...}`` with
every field (the display ``name`` included), nested specs in the same form. ``from_json`` rebuilds the
object through its constructor, so a manifest's spec is validated exactly as a hand-written one, and
``from_json(to_json(x)) == x``. Only the classes in ``CLASSES`` are accepted.
"""

from __future__ import annotations

import dataclasses

from bitsim.accum.block_dot import BlockDotUnit
from bitsim.accum.models import ChunkedAcc, FloatAcc, IntAcc, KulischAcc, SplitKAcc
from bitsim.accum.unit import DotUnit
from bitsim.blocks.spec import BlockFormat
from bitsim.blocks.tiling import Tiling
from bitsim.formats.spec import FixedFormat, FloatFormat

CLASSES = {c.__name__: c for c in (FloatFormat, FixedFormat, BlockFormat, Tiling, FloatAcc, ChunkedAcc, SplitKAcc,
                                   KulischAcc, IntAcc, DotUnit, BlockDotUnit)}


def to_json(obj):
    """The JSON form of a spec (plain values pass through)."""
    if isinstance(obj, tuple(CLASSES.values())):
        out = {"type": type(obj).__name__}
        for f in dataclasses.fields(obj):
            out[f.name] = to_json(getattr(obj, f.name))
        return out
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"to_json: cannot describe {type(obj).__name__} {obj!r}")


def from_json(data, where: str = "spec"):
    """The spec of a JSON form; ValueError names ``where`` and the bad part."""
    if isinstance(data, dict):
        kind = data.get("type")
        if kind not in CLASSES:
            raise ValueError(f"{where}: unknown spec type {kind!r}; known: {', '.join(sorted(CLASSES))}")
        cls = CLASSES[kind]
        names = {f.name for f in dataclasses.fields(cls)}
        extra = set(data) - names - {"type"}
        if extra:
            raise ValueError(f"{where}: {kind} has no field(s) {', '.join(sorted(extra))}")
        kwargs = {k: from_json(v, f"{where}.{k}") for k, v in data.items() if k != "type"}
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: invalid {kind}: {e}") from None
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    raise ValueError(f"{where}: expected a spec object or a plain value; got {type(data).__name__}")
