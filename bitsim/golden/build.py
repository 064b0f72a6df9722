"""Builders of case sets: inputs from ``bitsim.golden.cases`` (or seeded random matrices), expected outputs
from bitsim's kernels (``sets.compute``). Every builder is deterministic in its arguments.

GEMM inputs: A, B are (M, K) x (K, N) values drawn from a seeded normal distribution with a random binary
exponent per element, rounded to the unit's input formats; row 0 of A and column 0 of B take interesting
codes of their formats instead (zeros, subnormals, the largest values, and for formats with them inf and
NaN), so specials reach a few outputs and the rest stay finite. C is drawn the same way.
"""

from __future__ import annotations

import numpy as np

from bitsim.accum.unit import unit as named_unit
from bitsim.formats import format as as_format
from bitsim.formats.spec import FixedFormat, FloatFormat
from bitsim.golden import cases
from bitsim.golden.sets import OPERANDS, OPS, CaseSet, compute
from bitsim.golden.specs import to_json
from bitsim.quantize import encode
from bitsim.rounding import MODES

SR_BITS_DEFAULT = 8


def _check_rounding(rounding: str, sr_bits):
    if rounding not in MODES:
        raise ValueError(f"rounding must be one of {', '.join(MODES)}; got {rounding!r}")
    if rounding == "sr" and sr_bits is None:
        return SR_BITS_DEFAULT
    if rounding != "sr" and sr_bits is not None:
        raise ValueError(f"sr_bits is only used with rounding='sr'; got sr_bits={sr_bits!r} with {rounding!r}")
    return sr_bits


def _finish(name, kind, params, inputs) -> CaseSet:
    fields = dict(inputs)
    fields.update(compute(kind, params, fields))
    return CaseSet(name, kind, params, fields)


def op_set(name: str, op: str, out, rounding: str = "rne", *, level: str = "small", seed: int = 0,
           sr_bits: int | None = None, in_formats=None) -> CaseSet:
    """Cases of one elementwise op (``sets.OPS``): out = op(operands) in ``rounding``. ``in_formats``
    default to ``out`` (the source format of ``convert`` must be given)."""
    if op not in OPS:
        raise ValueError(f"op must be one of {', '.join(OPS)}; got {op!r}")
    sr_bits = _check_rounding(rounding, sr_bits)
    out = as_format(out)
    arity = OPS[op]
    if in_formats is None:
        if op == "convert":
            raise ValueError("op 'convert' needs in_formats=(source format,)")
        in_formats = (out,) * arity
    fins = tuple(as_format(f) for f in in_formats)
    if len(fins) != arity:
        raise ValueError(f"in_formats: {op} takes {arity} operand format(s); got {len(fins)}")
    for f in fins + (out,):
        if op != "convert" and not isinstance(f, FloatFormat):
            raise ValueError(f"{op}: bitsim.ops takes float formats; got {f}")
    if op == "convert":
        pools = [cases.conversion_sources(fins[0], out) if isinstance(fins[0], FloatFormat)
                 else cases.interesting_codes(fins[0])]
    else:
        pools = [cases.interesting_codes(f) for f in fins]
    cols = cases.operand_tuples(pools, level, seed, [f.bits for f in fins])
    inputs = {n: c for n, c in zip(OPERANDS, cols)}
    params = {"op": op, "in_formats": [to_json(f) for f in fins], "out": to_json(out), "rounding": rounding,
              "sr_bits": sr_bits, "level": level, "seed": seed}
    if rounding == "sr":
        inputs["rand"] = cases.sr_random_integers(cols[0].size, sr_bits, seed)
    return _finish(name, "op", params, inputs)


def _values(rng, shape, spread: int) -> np.ndarray:
    """Seeded normal values times 2**U(-spread, spread): a wide but mostly in-range set of magnitudes."""
    return rng.standard_normal(shape) * np.exp2(rng.integers(-spread, spread + 1, shape))


def _codes(rng, fmt, shape, spread) -> np.ndarray:
    if isinstance(fmt, FixedFormat):
        return rng.integers(0, 1 << fmt.bits, shape, dtype=np.uint64)
    return encode(_values(rng, shape, spread), fmt).astype(np.uint64)


def _with_edges(rng, codes: np.ndarray, fmt, axis: int) -> np.ndarray:
    """``codes`` with row 0 (axis 0) or column 0 (axis 1) replaced by interesting codes of ``fmt``."""
    out = codes.copy()
    pool = cases.interesting_codes(fmt)
    n = out.shape[1 - axis]
    edge = rng.choice(pool, n)
    if axis == 0:
        out[0, :] = edge
    else:
        out[:, 0] = edge
    return out


def gemm_set(name: str, unit: str, M: int, K: int, N: int, *, seed: int = 0, spread: int = 4) -> CaseSet:
    """D = C + A @ B through the DotUnit preset ``unit`` (``bitsim.unit(name)``)."""
    u = named_unit(unit)
    rng = np.random.default_rng(seed)
    A = _with_edges(rng, _codes(rng, u.a, (M, K), spread), u.a, 0)
    B = _with_edges(rng, _codes(rng, u.b, (K, N), spread), u.b, 1)
    C = _codes(rng, u.c, (M, N), spread)
    params = {"unit_name": unit, "unit": to_json(u), "shape": [M, K, N], "seed": seed}
    return _finish(name, "gemm", params, {"A": A, "B": B, "C": C})


def block_gemm_set(name: str, unit: str, M: int, K: int, N: int, *, seed: int = 0, spread: int = 6) -> CaseSet:
    """D = C + A @ B through the BlockDotUnit preset ``unit``: A and B encoded from seeded values whose
    magnitude varies from block to block (so the scales differ)."""
    u = named_unit(unit)
    rng = np.random.default_rng(seed)
    A = encode(_values(rng, (M, K), spread), u.a)
    B = encode(_values(rng, (K, N), spread), u.b)
    C = _codes(rng, u.c, (M, N), 2)
    params = {"unit_name": unit, "unit": to_json(u), "shape": [M, K, N], "seed": seed}
    inputs = {"A.codes": A.codes, "A.scales": A.scales, "B.codes": B.codes, "B.scales": B.scales, "C": C}
    return _finish(name, "block_gemm", params, {k: np.asarray(v).astype(np.uint64) for k, v in inputs.items()})


def block_encode_set(name: str, fmt, rows: int, cols: int, rounding: str = "rne", *, seed: int = 0,
                     spread: int = 20) -> CaseSet:
    """Encode a (rows, cols) float32 tensor into the block format ``fmt``; one row of every block holds
    interesting float32 codes (zeros, subnormals, huge values), the rest seeded values."""
    f = as_format(fmt)
    if rounding not in MODES or rounding == "sr":
        raise ValueError(f"block_encode rounding must be a deterministic mode; got {rounding!r}")
    rng = np.random.default_rng(seed)
    fp32 = as_format("fp32")
    x = _values(rng, (rows, cols), spread).astype(np.float32).view(np.uint32).astype(np.uint64)
    pool = cases.interesting_codes(fp32)
    pool = pool[(pool & np.uint64(0x7F800000)) != np.uint64(0x7F800000)]     # finite: one NaN spoils a block
    x[0] = rng.choice(pool, cols)
    params = {"format": to_json(f), "source": to_json(fp32), "rounding": rounding, "seed": seed}
    return _finish(name, "block_encode", params, {"x": x})
