"""The run context of one training step (seed, step counter, SR keys) and the trace it can record.

SR keys: a quantiser or optimizer op named ``name`` draws its stochastic-rounding bits from the counter
generator of ``bitsim.rounding`` with ``seed`` = the run seed, ``stream`` = the first 8 bytes of
sha256(f"{name}#{call}") (big endian; ``call`` counts the calls of that name within the step, 0 for the
first) and ``offset`` = step * 2**32, so element i of the tensor uses counter step * 2**32 + i. A run is
therefore reproducible from (seed, step) alone -- resumable from a checkpoint -- and independent of thread
count and tensor chunking. Tensors hold fewer than 2**32 elements.

Trace: with ``trace=True`` every named point of the step is kept as a ``TraceEntry`` under the key
``"<layer>/<pass>/<point>"`` (pass: ``forward``, ``backward``, ``update``; points in docs/nn.md).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np

MAX_ELEMENTS = 1 << 32


def stream_of(name: str) -> int:
    """The 64-bit SR stream of a name: the first 8 bytes of its sha256, big endian."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")


@dataclass(frozen=True)
class TraceEntry:
    """Codes (a copy) of one point, their format and scale, and the rounding that produced them
    (``"<fmt> <mode>"`` of the quantiser or op; None where nothing rounded: a pass-through point)."""

    codes: np.ndarray
    fmt: object
    scale_exp: int
    rounding: str | None

    @property
    def values(self) -> np.ndarray:
        from bitsim.quantize import decode
        return np.ldexp(decode(self.codes, self.fmt), self.scale_exp)


class Context:
    """Seed, step and (optional) trace of one step; hands out SR keys (see the module doc)."""

    def __init__(self, seed: int, step: int, trace: bool = False):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
            raise ValueError(f"seed must be an integer in 0..2**64-1; got {seed!r}")
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 0 <= step < 2**32:
            raise ValueError(f"step must be an integer in 0..2**32-1; got {step!r}")
        self.seed, self.step = int(seed), int(step)
        self.trace: dict[str, TraceEntry] | None = {} if trace else None
        self._calls: Counter = Counter()

    def sr_key(self, name: str, size: int) -> dict:
        """``seed``, ``stream``, ``offset`` keyword arguments for the next SR draw of ``name``."""
        if size >= MAX_ELEMENTS:
            raise ValueError(f"{name}: a tensor of {size} elements is too large for the SR counter layout "
                             f"(at most {MAX_ELEMENTS - 1})")
        call = self._calls[name]
        self._calls[name] += 1
        return dict(seed=self.seed, stream=stream_of(f"{name}#{call}"), offset=self.step * MAX_ELEMENTS)

    def record(self, key: str, tensor, rounding: str | None = None) -> None:
        if self.trace is not None:
            entry = getattr(tensor, "trace_entry", None)          # block tensors: bitsim.nn.block_tensor
            self.trace[key] = (entry(rounding) if entry is not None else
                               TraceEntry(np.array(tensor.codes, copy=True), tensor.fmt, tensor.scale_exp, rounding))
