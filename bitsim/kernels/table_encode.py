"""Table-driven encode for narrow targets: one table load per element, CPU, deterministic modes, no flags.

A deterministic rounding of an IEEE binary value to a float format with ``m`` mantissa bits depends only
on the sign, the exponent, the top ``m + 1`` mantissa bits (kept bits and round bit, where the target's
quantum is coarsest relative to the source) and whether any lower bit is set (sticky). That holds when
the target's rounding position never falls below the source's bit ``man - m - 1``: always for normal
source values, and for the source's subnormals when the target's smallest normal exponent is not below
the source's (``dst.emin >= src.emin``), so no target value needs a subnormal source's low bits.

The table maps ``index = (code >> (man - m - 1))`` (sign, exponent, m + 1 mantissa bits) and the sticky
bit to the target code. It is built once per (source, target, mode) by the generic exact kernel on one
representative per entry (the index's bits, plus the lowest bit when sticky), so each entry is the code
that kernel gives every source value sharing the entry. NaN payloads below the index take part only
through sticky, which the generic kernel drops for a narrower target. ``tests/test_fast_encode.py`` holds
it to the generic kernel on every entry with random low bits.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from numba import prange, uint64

from bitsim.formats.spec import FloatFormat
from bitsim.kernels.plans import is_ieee_binary
from bitsim.core.params import RM_SR

MAX_TABLE_ENTRIES = 1 << 16          # 64K codes of at most 16 bits: L1/L2-resident


def table_shift(src, dst) -> int:
    """Source bits below the index: everything under the target's round bit at the source's scale."""
    return src.man_bits - dst.man_bits - 1


@functools.lru_cache(maxsize=64)
def table_encode_plan(src, dst, mode: int):
    """(table, shift) for src -> dst in ``mode``, or None where the table does not apply (SR, a target
    wider than 16 bits, a table over MAX_TABLE_ENTRIES, or the conditions of the module doc)."""
    if not (is_ieee_binary(src) and isinstance(dst, FloatFormat) and mode != RM_SR and dst.bits <= 16
            and 1 <= dst.man_bits and table_shift(src, dst) >= 1 and dst.emin >= src.emin):
        return None
    shift = table_shift(src, dst)
    index_bits = src.bits - shift
    if 1 << (index_bits + 1) > MAX_TABLE_ENTRIES:
        return None
    from bitsim.kernels.cpu import convert_array       # the generic exact kernel builds the entries
    index = np.arange(1 << index_bits, dtype=np.uint64)
    representatives = np.empty(2 << index_bits, dtype=src.code_dtype)
    representatives[0::2] = index << np.uint64(shift)
    representatives[1::2] = (index << np.uint64(shift)) | np.uint64(1)
    table = np.empty(representatives.shape[0], dtype=dst.code_dtype)
    none = np.zeros(0, np.uint64)
    convert_array(representatives, src.params, dst.params, mode, 0, 0, 0, 0, none, False, table,
                  np.empty(0, np.uint8))
    table.setflags(write=False)
    return table, shift


@numba.njit(parallel=True, nogil=True, cache=True)
def table_encode_array(src, table, shift, out):  # pragma: no cover - compiled
    """out[i] = table[2 * (src[i] >> shift) + (any bit below shift set)] (module doc)."""
    mask = (uint64(1) << uint64(shift)) - uint64(1)
    for i in prange(src.shape[0]):
        x = uint64(src[i])
        out[i] = table[((x >> uint64(shift)) << uint64(1)) | uint64((x & mask) != uint64(0))]
