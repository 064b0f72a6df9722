"""Exhaustive verification of a binary op over every operand pair of a format, sharded, optionally on Dask.

``verify_pairs("add", "fp16")`` checks ``bitsim.ops.add`` on all 2**32 pairs of fp16 codes against an
independent path, shard by shard: shard ``start`` takes the first operands ``start .. start + rows - 1``
and every second operand. The independent path:

* fp16 (and any IEEE binary16-like NumPy dtype): both operands as float64 (exact), the op in float64,
  then NumPy's float64 -> float16 cast (RNE). For +, -, x and / this is the correctly rounded result,
  since 53 >= 2 * 11 + 2 (a binary64 result rounded again to binary16 cannot double-round: Figueroa,
  1995). Codes are compared exactly, NaNs by NaN-ness.
* formats of at most 8 bits: the exact reference ``bitsim.ref.ops``, code and flags.

Each shard returns its mismatch count, its first mismatches and, per first operand, the sha256 of
bitsim's codes and flags against every second operand; the run's digest hashes those row digests in
operand order, so it is the same however the space was cut into shards and wherever they ran.

With ``scheduler`` ("local" for a ``LocalCluster``, or a scheduler address) the shards run as Dask
futures (``bitsim.cluster.run_tasks``), keyed by (op, format, rounding, shard): a worker lost mid-run has
its shards recomputed elsewhere, and each shard's result is taken once, so no case is lost or counted
twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from bitsim.cluster import run_tasks
from bitsim.formats import FloatFormat, format as as_format
from bitsim.progress import Progress

OPS = ("add", "sub", "mul", "div")
FIRST_MISMATCHES = 5
_NUMPY_OPS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}


@dataclass
class ShardResult:
    """One shard: first operands start .. start + rows - 1 against every second operand."""

    start: int
    rows: int
    pairs: int
    mismatches: int
    first: list = field(default_factory=list)
    row_digests: bytes = b""


@dataclass
class VerifyReport:
    """The whole run: pairs checked, mismatches, the first few, and the run's digest."""

    op: str
    fmt: str
    rounding: str
    pairs: int
    mismatches: int
    first: list
    digest: str

    @property
    def ok(self) -> bool:
        return self.mismatches == 0


def check_request(op: str, fmt, rounding: str = "rne") -> FloatFormat:
    """The format of a verification request; ValueError naming what is not supported."""
    if op not in OPS:
        raise ValueError(f"verify: op must be one of {', '.join(OPS)}; got {op!r}")
    f = as_format(fmt)
    if not isinstance(f, FloatFormat):
        raise ValueError(f"verify: fmt must be a float format; got {f}")
    if f.bits > 8 and (f != as_format("fp16") or rounding != "rne"):
        raise ValueError(f"verify: {f} with {rounding!r} has no independent path here (fp16 with 'rne', or a "
                         "format of at most 8 bits with any deterministic mode)")
    return f


def shard(op: str, fmt, rounding: str, start: int, rows: int) -> ShardResult:
    """Check first operands start .. start + rows - 1 of ``fmt`` against every second operand."""
    from bitsim import ops
    f = check_request(op, fmt, rounding)
    n = 1 << f.bits
    codes = np.arange(n, dtype=f.code_dtype)
    a = np.repeat(codes[start:start + rows], n)
    b = np.tile(codes, len(a) // n)
    got, flags = getattr(ops, op)(a, b, f, rounding)
    digests = b"".join(hashlib.sha256(got[r * n:(r + 1) * n].tobytes() + flags[r * n:(r + 1) * n].tobytes()).digest()
                       for r in range(len(a) // n))
    if f.bits > 8:
        bad = _numpy_mismatches(op, a, b, got)
        want = None
    else:
        want = _reference(op, a, b, f, rounding)
        bad = (got.astype(np.int64) != want[0]) | (flags.astype(np.int64) != want[1])
    where = np.flatnonzero(bad)
    first = [(int(a[i]), int(b[i]), int(got[i]), int(flags[i])) for i in where[:FIRST_MISMATCHES]]
    return ShardResult(start, len(a) // n, len(a), int(bad.sum()), first, digests)


def _numpy_mismatches(op, a, b, got) -> np.ndarray:
    values = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float64)
    with np.errstate(all="ignore"):
        want = _NUMPY_OPS[op](values[a], values[b]).astype(np.float16).view(np.uint16)
    got_nan, want_nan = np.isnan(got.view(np.float16)), np.isnan(want.view(np.float16))
    return (got_nan != want_nan) | (~want_nan & (got != want))


def _reference(op, a, b, fmt, rounding):
    """(codes, flags) from ``bitsim.ref.ops`` for every pair of an at most 8-bit format (a table per pair)."""
    from bitsim.ref import ops as ref
    n = 1 << fmt.bits
    table_code = np.empty((n, n), np.int64)
    table_flags = np.empty((n, n), np.int64)
    for x in np.unique(a):
        for y in range(n):
            table_code[x, y], table_flags[x, y] = getattr(ref, op)(int(x), y, fmt, rounding)
    return table_code[a, b], table_flags[a, b]


def verify_pairs(op: str, fmt="fp16", rounding: str = "rne", *, rows: int = 256, shards: int | None = None,
                 scheduler=None, workers: int = 2, retries: int = 3, quiet: bool = True) -> VerifyReport:
    """Check ``op`` over every operand pair of ``fmt`` (module doc), in shards of ``rows`` first operands
    (only the first ``shards`` of them, if given: a spot check): in this process (``scheduler`` None), on
    a ``LocalCluster`` of ``workers`` single-threaded worker processes ("local"), or on the Dask scheduler
    at an address."""
    f = check_request(op, fmt, rounding)
    n = 1 << f.bits
    if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= n:
        raise ValueError(f"verify: rows must be an int in 1..{n}; got {rows!r}")
    starts = list(range(0, n, rows))
    if shards is not None:
        if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
            raise ValueError(f"verify: shards must be a positive int or None; got {shards!r}")
        starts = starts[:shards]
    bar = Progress(f"verify {op} {f}", len(starts), quiet)
    results = run_tasks(shard, [(op, f, rounding, s, rows) for s in starts],
                        [f"bitsim-verify-{op}-{f}-{rounding}-{rows}-{s}" for s in starts], scheduler, workers,
                        retries, on_done=lambda r: bar.update())
    return _report(op, f, rounding, results)


def _report(op, f, rounding, results: list[ShardResult]) -> VerifyReport:
    first = [m for r in results for m in r.first][:FIRST_MISMATCHES]
    digest = hashlib.sha256(b"".join(r.row_digests for r in results)).hexdigest()
    return VerifyReport(op, str(f), rounding, sum(r.pairs for r in results), sum(r.mismatches for r in results),
                        first, digest)
