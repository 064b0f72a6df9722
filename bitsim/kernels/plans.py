"""Plans: the integer tuples a specialised kernel receives, computed once per call in Python."""

from __future__ import annotations

import functools

from bitsim.core import build
from bitsim.core.fast_encode import (
    FE_DST_BIAS, FE_DST_MAN, FE_DST_SIGN, FE_INF_NEG, FE_INF_POS, FE_LEN, FE_MAX_MAG, FE_NAN, FE_NEGZERO,
    FE_OVF_NEG, FE_OVF_POS, FE_SAME_EXP, FE_SRC_BIAS, FE_SRC_EXP_ONES, FE_SRC_MAN, FE_SRC_SIGN,
)
from bitsim.formats.spec import FloatFormat


def is_ieee_binary(fmt) -> bool:
    """True for a source format laid out like IEEE binary16/32/64 (the fast path's sources)."""
    return (isinstance(fmt, FloatFormat) and fmt.specials == "ieee" and fmt.subnormals and fmt.signed
            and fmt.has_zero and fmt.bias == (1 << (fmt.exp_bits - 1)) - 1 and fmt.man_bits <= 52)


@functools.lru_cache(maxsize=256)
def fast_encode_plan(src, dst, mode: int) -> tuple | None:
    """The ``bitsim.core.fast_encode`` plan for src -> dst in ``mode``, or None where it does not apply."""
    if not (is_ieee_binary(src) and isinstance(dst, FloatFormat) and dst.signed and dst.has_zero
            and dst.subnormals and 1 <= dst.man_bits < src.man_bits and dst.bias <= src.bias):
        return None
    core = build("cpu")
    dp = dst.params
    slots = [0] * FE_LEN
    slots[FE_SRC_MAN] = src.man_bits
    slots[FE_SRC_BIAS] = src.bias
    slots[FE_SRC_EXP_ONES] = (1 << src.exp_bits) - 1
    slots[FE_SRC_SIGN] = src.bits - 1
    slots[FE_DST_MAN] = dst.man_bits
    slots[FE_DST_BIAS] = dst.bias
    slots[FE_DST_SIGN] = dst.bits - 1
    slots[FE_MAX_MAG] = dst.max_code_magnitude
    slots[FE_NEGZERO] = int(dst.has_negative_zero)
    slots[FE_NAN] = int(core.pack_nan(False, dp)[0])
    slots[FE_INF_POS] = int(core.pack_inf(0, dp, mode)[0])
    slots[FE_INF_NEG] = int(core.pack_inf(1, dp, mode)[0])
    slots[FE_OVF_POS] = int(core.overflow_float(0, dp, mode)[0])
    slots[FE_OVF_NEG] = int(core.overflow_float(1, dp, mode)[0])
    slots[FE_SAME_EXP] = int(dst.exp_bits == src.exp_bits and dst.bias == src.bias)
    return tuple(slots)
