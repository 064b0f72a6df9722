"""Comparisons, minimum and maximum of two code words of one float format (IEEE 754 section 5.11, 9.6).

Every finite or infinite code maps to an integer ``order_key`` that is monotonic in its value (sign and
magnitude code; +0 and -0 share the key 0). Returns (result uint64, flags int64): 0/1 for the
predicates, a code word for min/max.

  eq          quiet: invalid only for a signaling NaN operand; NaN compares unequal
  lt, le      signaling: invalid for any NaN operand; false when unordered
  minimum, maximum            (IEEE 754-2019) a NaN operand gives the canonical NaN; -0 < +0
  minimum_number, maximum_number  (IEEE 754-2019) a NaN operand is ignored; two NaNs give NaN
The NaN result is the format's canonical NaN; a signaling NaN operand raises invalid in all of them.
  negate, abs (IEEE 754 section 5.5.1, b unused): the sign bit flipped / cleared, NaNs included, no
              flags; a format without -0 (fnuz) keeps its 0 and its NaN (the would-be -0 code).
"""

from numba import int64, uint64

from bitsim.core.bits import low_mask
from bitsim.core.convert import pack_nan
from bitsim.core.params import FLAG_INVALID, P_BITS, P_NEGZERO, P_SIGNED
from bitsim.core.unpack import CLS_QNAN, CLS_SNAN, unpack

CMP_EQ = 0
CMP_LT = 1
CMP_LE = 2
SEL_MINIMUM = 3
SEL_MAXIMUM = 4
SEL_MINIMUM_NUMBER = 5
SEL_MAXIMUM_NUMBER = 6
SIGN_NEGATE = 7
SIGN_ABS = 8


def order_key(code, p):
    """(is_nan, is_signaling, key): key increases with the value; +0 and -0 both have key 0."""
    cls, sign, _, _ = unpack(code, p)
    mag_bits = p[P_BITS] - p[P_SIGNED]
    key = int64(code & low_mask(mag_bits))
    if sign != 0:
        key = -key
    return cls == CLS_QNAN or cls == CLS_SNAN, cls == CLS_SNAN, key


def is_negative_code(code, p):
    return p[P_SIGNED] != 0 and (code >> uint64(p[P_BITS] - 1)) != uint64(0)


def compare_one(op, a, b, p):
    """One element of ``op`` (CMP_*, SEL_* or SIGN_*) on codes a, b of format ``p``."""
    if op >= SIGN_NEGATE:
        sign = uint64(1) << uint64(p[P_BITS] - 1)
        if p[P_NEGZERO] == 0 and (a & (sign - uint64(1))) == uint64(0):
            return a, int64(0)
        return (a ^ sign) if op == SIGN_NEGATE else (a & (sign - uint64(1))), int64(0)
    a_nan, a_snan, ka = order_key(a, p)
    b_nan, b_snan, kb = order_key(b, p)
    flags = int64(FLAG_INVALID) if a_snan or b_snan else int64(0)
    if op <= CMP_LE:
        if a_nan or b_nan:
            if op != CMP_EQ:
                flags = int64(FLAG_INVALID)
            return uint64(0), flags
        if op == CMP_EQ:
            return uint64(ka == kb), flags
        if op == CMP_LT:
            return uint64(ka < kb), flags
        return uint64(ka <= kb), flags
    if a_nan or b_nan:
        if op >= SEL_MINIMUM_NUMBER and not (a_nan and b_nan):
            return (b if a_nan else a), flags
        code, _ = pack_nan(False, p)
        return code, flags
    want_min = op == SEL_MINIMUM or op == SEL_MINIMUM_NUMBER
    if ka == kb:                                  # equal values; only +0 / -0 can differ in code
        pick_a = is_negative_code(a, p) if want_min else not is_negative_code(a, p)
    else:
        pick_a = (ka < kb) if want_min else (ka > kb)
    return (a if pick_a else b), flags
