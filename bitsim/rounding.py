"""Rounding modes: names, validation, and the exact definition of each.

========  =====================================================================================
``rne``   round to nearest, ties to even (IEEE 754 default)
``rna``   round to nearest, ties away from zero
``rtz``   toward zero (truncation of the magnitude)
``rup``   toward +infinity
``rdn``   toward -infinity
``rto``   round to odd: truncate the magnitude, then set its LSB if anything was discarded
``sr``    stochastic rounding with k = ``sr_bits`` random bits R (0 <= R < 2**k): R is added to the
          magnitude just below its kept LSB and the sum is truncated. With f in [0, 1) the discarded
          fraction of one ULP, the result rounds away from zero iff floor(f * 2**k) + R >= 2**k, so
          P(away) = floor(f * 2**k) / 2**k -- the discarded fraction truncated to k bits. Exact values
          never move. R comes from ``rand=`` (one integer per element, e.g. recorded hardware LFSR
          bits) or from the counter-based generator keyed by (``seed``, ``stream``, element index);
          see ``bitsim.core.rng`` for its definition.
========  =====================================================================================

Overflow follows IEEE 754 section 7.4: rtz, rdn for positive and rup for negative results give the
largest finite value; every other mode (rto and sr included) applies the format's overflow rule.
"""

from __future__ import annotations

import numpy as np

from bitsim.core import params as P

MODES = {"rne": P.RM_RNE, "rna": P.RM_RNA, "rtz": P.RM_RTZ, "rup": P.RM_RUP, "rdn": P.RM_RDN,
         "rto": P.RM_RTO, "sr": P.RM_SR}
DETERMINISTIC_MODES = ("rne", "rna", "rtz", "rup", "rdn", "rto")
MAX_SR_BITS = 62


def mode_code(rounding: str) -> int:
    """Kernel code of a rounding-mode name; ValueError for an unknown name."""
    if not isinstance(rounding, str) or rounding not in MODES:
        raise ValueError(f"rounding must be one of {', '.join(MODES)}; got {rounding!r}")
    return MODES[rounding]


def check_tininess(tininess: str) -> int:
    """1 for "before" rounding, 0 for "after" (the default of most hardware)."""
    if tininess not in ("after", "before"):
        raise ValueError(f"tininess must be 'after' or 'before'; got {tininess!r}")
    return int(tininess == "before")


def _check_uint64(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) < 2**64:
        raise ValueError(f"{name} must be an integer in 0..2**64-1; got {value!r}")
    return int(value)


def stochastic_args(rounding: str, sr_bits, seed, stream, offset, rand, shape):
    """Validate the stochastic-rounding arguments; returns (sr_bits, seed, stream, offset, rand_flat).

    ``rand_flat`` is a contiguous uint64 array with one entry per element (broadcast to ``shape``), or an
    empty array when the bits come from the generator (or the mode is deterministic).
    """
    empty = np.zeros(0, dtype=np.uint64)
    if rounding != "sr":
        for name, v in (("sr_bits", sr_bits), ("seed", seed), ("rand", rand)):
            if v is not None:
                raise ValueError(f"{name} is only used with rounding='sr' (rounding={rounding!r})")
        return 1, np.uint64(0), np.uint64(0), np.uint64(0), empty
    if sr_bits is None:
        raise ValueError("sr_bits is required with rounding='sr' (the number of random bits, 1..62)")
    if isinstance(sr_bits, bool) or not isinstance(sr_bits, (int, np.integer)) or not 1 <= sr_bits <= MAX_SR_BITS:
        raise ValueError(f"sr_bits must be an integer in 1..{MAX_SR_BITS}; got {sr_bits!r}")
    stream = _check_uint64("stream", stream)
    offset = _check_uint64("offset", offset)
    if (seed is None) == (rand is None):
        raise ValueError("rounding='sr' needs exactly one of seed= (counter-based generator) or rand= "
                         f"(explicit random integers); got seed={seed!r}, rand={'given' if rand is not None else None}")
    # seed, stream and offset go to the kernels as uint64 (a Python int above 2**63 would not fit int64)
    stream, offset = np.uint64(stream), np.uint64(offset)
    if rand is None:
        return int(sr_bits), np.uint64(_check_uint64("seed", seed)), stream, offset, empty
    rand = np.asarray(rand)
    if rand.dtype.kind not in "ui":
        raise TypeError(f"rand must be an integer array; got dtype {rand.dtype}")
    if rand.size and (rand.min() < 0 or int(rand.max()) >> int(sr_bits)):
        bad = rand.max() if int(rand.max()) >> int(sr_bits) else rand.min()
        raise ValueError(f"rand values must be in 0..2**sr_bits-1 = {2**int(sr_bits) - 1}; got {int(bad)}")
    try:
        rand = np.broadcast_to(rand, shape)
    except ValueError:
        raise ValueError(f"rand shape {rand.shape} does not broadcast to the input shape {shape}") from None
    return int(sr_bits), np.uint64(0), stream, offset, np.ascontiguousarray(rand, dtype=np.uint64).reshape(-1)
