"""Multi-term fused dot-product units of GPU tensor cores, one output at a time (integer only).

The scalar form of ``bitsim.accum.fused.fused_dot`` (the NumPy reference; its module docstring states
the model) for a unit with a finite window ``W = window_bits``. ``bitsim.core.build`` compiles it for
the CPU (``bitsim.kernels.fused_cpu``) and the GPU (``bitsim.kernels.fused_cuda``). The unit reaches
the kernels as an int64 *plan* tuple (``F_*`` slots; built and checked by
``bitsim.kernels.fused_cpu.fused_plan``), the formats as their ``params`` tuples; the output's
``P_OVERFLOW`` slot holds the unit's overflow rule (OVF_INF: an infinity even under RZ; OVF_SATURATE:
the largest finite value), and every result is packed with RNE from an exactly representable value.

The kernels decode A and B once (``fused_decode``: the core's ``unpack``) into uint64 *operand words*
(``W_*`` layout: sign, NaN and inf marks, significand and exponent), so that the per-output loops only
multiply and shift. One output pairs the words of rows ``WA[i]`` and ``WBT[j]`` (B transposed), in
increasing k: instructions of ``F_STEP`` columns (at least one, so K = 0 is one instruction of padding),
each of ``F_STEP / F_GROUP`` groups; columns from K on are zero products, which never take part (a group
of padding alone still cuts and rounds ``c``). The special state (NaN, +inf, -inf) of a group is that of
*all* the products of its instruction, plus its ``c``, as in the reference.

Integer bound (checked by the plan): a product a*b is below 2**(ea + eb + 2), i.e. below 2**(W + 2)
units 2**(E - W) (its alignment exponent is at most E), ``c`` below 2**(W + 1) units, and a ``floor``
cut adds at most one unit; so with g products |sum| <= g * 2**(W + 2) + 2**(W + 1) = 2**(W + 1) * (2g + 1),
which the plan requires to be below 2**63 (any g <= 1024 for W <= 50; the presets have W <= 25,
g <= 32). Input significands fit the words' 32 bits (man_bits <= 31, checked by the plan), so products
fit uint64; every FloatFormat's exponents (|bias| <= 4096, exp_bits <= 11) fit their 16-bit field.
"""

from numba import int64, uint64

from bitsim.core.arith import add_codes, is_nan_class
from bitsim.core.bits import bit_length, low_mask, shift_left, shift_right
from bitsim.core.params import P_BIAS, P_BITS, P_EMIN_FIELD, P_INF, P_MAN, RM_RNE
from bitsim.core.round import round_pack_float, round_shifted
from bitsim.core.unpack import CLS_FINITE, CLS_INF, CLS_ZERO, unpack

# Plan slots (int64 tuple of F_LEN values)
F_GROUP = 0         # products per group g
F_STEP = 1          # columns per instruction (a multiple of g)
F_WINDOW = 2        # W
F_FLOOR_CUT = 3     # 1: window_cut "floor" (toward -inf); 0: "trunc0"
F_NORMALISED = 4    # 1: product_exponent "normalised"; 0: "sum_of_input_exponents"
F_C_MODE = 5        # C_JOINT, C_LATE_IEEE_ADD or C_HALVES_F16
F_HAS_FLOOR = 6     # 1 if exponent_floor is given
F_FLOOR = 7         # exponent_floor
F_HAS_ZERO_C = 8    # 1 if zero_c_exponent is given
F_ZERO_C = 9        # zero_c_exponent
F_FRAC = 10         # result_frac_bits
F_ROUND = 11        # result_rounding: RM_RTZ or RM_RNE
F_MAN_SUM = 12      # man_bits of A's format + man_bits of B's format
F_LEN = 13

C_JOINT = 0
C_LATE_IEEE_ADD = 1
C_HALVES_F16 = 2

SP_NAN = 1          # special state of a group: bits
SP_POS_INF = 2
SP_NEG_INF = 4

EVERY_COLUMN = -1   # column selector of a group (``fused_takes``)

# Operand words (``fused_decode``): the kernels decode A and B once, then read these uint64 words
W_SIG_MASK = 0xFFFFFFFF   # bits 0..31: significand (input mantissas of at most 31 bits)
W_EXP_SHIFT = 32          # bits 32..47: lsb exponent + W_EXP_BIAS
W_EXP_FIELD = 0xFFFF
W_EXP_BIAS = 1 << 15
W_SIGN_SHIFT = 48         # bit 48: sign
W_INF_SHIFT = 49
W_INF = 1 << 49           # bit 49: infinity
W_NAN = 1 << 50           # bit 50: NaN


def fused_decode(code, p):
    """The operand word of a code of format ``p`` (``W_*`` layout): sign, and either the NaN or inf mark, or
    the value sig * 2**lsb (sig < 2**32; sig = 0 for a zero)."""
    cls, sign, sig, exp = unpack(code, p)
    word = uint64(sign) << uint64(W_SIGN_SHIFT)
    if is_nan_class(cls):
        return word | uint64(W_NAN)
    if cls == CLS_INF:
        return word | uint64(W_INF)
    if sig == uint64(0):
        return word
    return word | (uint64(exp + W_EXP_BIAS) << uint64(W_EXP_SHIFT)) | sig


def fused_term(wa, wb):
    """(neg, sig, lsb) of the exact product of two operand words: (-1)**neg * sig * 2**lsb; sig = 0 for a
    zero or special product."""
    mask = uint64(W_SIG_MASK)
    sig = (wa & mask) * (wb & mask)
    field = uint64(W_EXP_FIELD)
    lsb = int64((wa >> uint64(W_EXP_SHIFT)) & field) + int64((wb >> uint64(W_EXP_SHIFT)) & field) - 2 * W_EXP_BIAS
    return int64(((wa ^ wb) >> uint64(W_SIGN_SHIFT)) & uint64(1)), sig, lsb


def fused_align(sig, lsb, plan):
    """Alignment exponent of a nonzero product sig * 2**lsb: the sum of its input exponents
    max(floor(log2|x|), emin) = lsb + F_MAN_SUM, or floor(log2 of the product) when F_NORMALISED."""
    if plan[F_NORMALISED] != 0:
        return lsb + bit_length(sig) - 1
    return lsb + plan[F_MAN_SUM]


def fused_product_specials(wa, wb):
    """SP_* bits of the product of two operand words: a NaN operand or inf * 0 is NaN, another infinite
    operand an infinity of the product's sign; 0 for a finite product."""
    both = wa | wb
    if (both >> uint64(W_INF_SHIFT)) == uint64(0):
        return int64(0)
    if (both & uint64(W_NAN)) != uint64(0):
        return int64(SP_NAN)
    a_zero = (wa & uint64(W_INF | W_SIG_MASK)) == uint64(0)
    b_zero = (wb & uint64(W_INF | W_SIG_MASK)) == uint64(0)
    if a_zero or b_zero:
        return int64(SP_NAN)
    if ((wa ^ wb) >> uint64(W_SIGN_SHIFT)) & uint64(1):
        return int64(SP_NEG_INF)
    return int64(SP_POS_INF)


def fused_code_specials(code, p):
    """SP_* bits of one code of format ``p`` (the accumulator input)."""
    cls, sign, _, _ = unpack(code, p)
    if is_nan_class(cls):
        return int64(SP_NAN)
    if cls == CLS_INF:
        return int64(SP_NEG_INF) if sign != 0 else int64(SP_POS_INF)
    return int64(0)


def fused_special_code(specials, po):
    """The result of a group with special state ``specials`` (nonzero): the canonical NaN (every
    magnitude bit set) for a NaN or +inf with -inf, else the infinity of the sign present."""
    if (specials & SP_NAN) != 0 or ((specials & SP_POS_INF) != 0 and (specials & SP_NEG_INF) != 0):
        return low_mask(po[P_BITS] - 1)
    if (specials & SP_NEG_INF) != 0:
        return (uint64(1) << uint64(po[P_BITS] - 1)) | uint64(po[P_INF])
    return uint64(po[P_INF])


def fused_takes(k, base, half):
    """Whether column k of the group starting at column ``base`` is one of its ``half``: EVERY_COLUMN, 0
    (k - base mod 4 in {0, 1}) or 1 (in {2, 3}; c_mode halves_f16)."""
    return half < 0 or (((k - base) >> 1) & 1) == half


def fused_cut(sig, neg, lsb, unit, floor_cut):
    """The signed count of units 2**unit left of the term (-1)**neg * sig * 2**lsb (sig > 0, below
    2**(W + 2) units: see the module bound) after dropping the bits below the unit: magnitude toward
    zero, or toward minus infinity with ``floor_cut``."""
    amount = unit - lsb
    if amount <= 0:
        kept = shift_left(sig, -amount)
    else:
        kept = shift_right(sig, amount)
        if floor_cut != 0 and neg != 0 and (sig & low_mask(amount)) != uint64(0):
            kept += uint64(1)
    return -int64(kept) if neg != 0 else int64(kept)


def fused_group_sum(WA, i, WBT, j, lo, hi, base, half, c, has_c, po, plan):
    """(total, unit): the exact sum of the window-cut terms of one group, total * 2**unit. The terms are
    the products of columns lo .. hi-1 that ``fused_takes(k, base, half)`` selects and, with ``has_c``,
    the finite or zero code ``c`` of ``po``. E = the largest alignment exponent of the terms that take
    part (nonzero ones; a zero c with F_HAS_ZERO_C at F_ZERO_C), clamped below at F_FLOOR; E = 0 when
    none takes part; unit = E - W."""
    present = False
    top = int64(0)
    for k in range(lo, hi):
        if fused_takes(k, base, half):
            _, sig, lsb = fused_term(uint64(WA[i, k]), uint64(WBT[j, k]))
            if sig != uint64(0):
                align = fused_align(sig, lsb, plan)
                if not present or align > top:
                    top = align
                    present = True
    c_sig = uint64(0)
    c_neg = int64(0)
    c_lsb = int64(0)
    if has_c:
        cls, c_neg, c_sig, c_lsb = unpack(c, po)
        c_take = False
        c_align = int64(0)
        if cls == CLS_FINITE:
            c_take = True
            c_align = c_lsb + po[P_MAN]
        elif cls == CLS_ZERO and plan[F_HAS_ZERO_C] != 0:
            c_take = True
            c_align = plan[F_ZERO_C]
        if c_take and (not present or c_align > top):
            top = c_align
            present = True
    if not present:
        top = int64(0)
    elif plan[F_HAS_FLOOR] != 0 and top < plan[F_FLOOR]:
        top = plan[F_FLOOR]
    unit = top - plan[F_WINDOW]
    floor_cut = plan[F_FLOOR_CUT]
    total = int64(0)
    for k in range(lo, hi):
        if fused_takes(k, base, half):
            neg, sig, lsb = fused_term(uint64(WA[i, k]), uint64(WBT[j, k]))
            if sig != uint64(0):
                total += fused_cut(sig, neg, lsb, unit, floor_cut)
    if c_sig != uint64(0):
        total += fused_cut(c_sig, c_neg, c_lsb, unit, floor_cut)
    return total, unit


def fused_round(total, unit, po, plan):
    """Code of ``po`` for total * 2**unit: normalised once and rounded once (F_ROUND) to F_FRAC fraction
    bits with the exponent clamped at the output's emin; an exact or rounded-away zero is +0; beyond the
    output's range the overflow rule in ``po`` applies."""
    if total == 0:
        return uint64(0)
    sign = int64(1) if total < 0 else int64(0)
    mag = uint64(-total) if sign != 0 else uint64(total)
    lead = unit + bit_length(mag) - 1
    emin = po[P_EMIN_FIELD] - po[P_BIAS]
    quantum = max(lead, emin) - plan[F_FRAC]
    if quantum > unit:
        mag, _ = round_shifted(mag, quantum - unit, int64(0), sign, plan[F_ROUND], uint64(0), int64(0), uint64(0))
        unit = quantum
        if mag == uint64(0):
            return uint64(0)
    code, _ = round_pack_float(sign, mag, unit, int64(0), po, int64(RM_RNE), uint64(0), int64(1), int64(0))
    return code


def fused_add(x, y, po):
    """RNE(x + y) of two codes of ``po`` (IEEE 754 addition; the late adds of c_mode late_ieee_add and
    halves_f16), except that a NaN is the canonical one (every magnitude bit set) and a zero is +0."""
    code, _ = add_codes(x, po, y, po, int64(0), po, int64(RM_RNE), uint64(0), int64(1), int64(0))
    mag = code & low_mask(po[P_BITS] - 1)
    if mag == uint64(0):
        return uint64(0)
    if mag > uint64(po[P_INF]):
        return low_mask(po[P_BITS] - 1)
    return code


def fused_evaluate(WA, i, WBT, j, lo, hi, base, half, c, has_c, specials, po, plan):
    """Code of one group (``fused_group_sum``'s terms) with the instruction's special state ``specials``:
    specials first (with those of ``c``), else the cut sum rounded once (``fused_round``)."""
    if has_c:
        specials |= fused_code_specials(c, po)
    if specials != 0:
        return fused_special_code(specials, po)
    total, unit = fused_group_sum(WA, i, WBT, j, lo, hi, base, half, c, has_c, po, plan)
    return fused_round(total, unit, po, plan)


def fused_instruction(WA, i, WBT, j, lo, hi, c, po, plan):
    """The accumulator code after one instruction: columns lo .. lo + F_STEP - 1 of WA[i] and WBT[j], those
    from ``hi`` on zero padding; its groups in increasing k, each with c as F_C_MODE says."""
    marks = uint64(0)
    for k in range(lo, hi):
        marks |= uint64(WA[i, k]) | uint64(WBT[j, k])
    specials = int64(0)
    if (marks >> uint64(W_INF_SHIFT)) != uint64(0):
        for k in range(lo, hi):
            specials |= fused_product_specials(uint64(WA[i, k]), uint64(WBT[j, k]))
    group = plan[F_GROUP]
    mode = plan[F_C_MODE]
    halves = mode == C_HALVES_F16
    has_c = mode == C_JOINT or halves          # late_ieee_add: the products alone, c added after
    for base in range(lo, lo + plan[F_STEP], group):
        end = min(base + group, hi)
        part = c if mode == C_JOINT else uint64(0)
        for h in range(2 if halves else 1):    # halves_f16: the second half takes the first's result as c
            half = h if halves else EVERY_COLUMN
            part = fused_evaluate(WA, i, WBT, j, base, end, base, half, part, has_c, specials, po, plan)
        c = part if mode == C_JOINT else fused_add(part, c, po)
    return c


def fused_output(WA, i, WBT, j, K, c, po, plan):
    """Code of c + sum_k a_k * b_k (k < K; operand words WA[i, k] and WBT[j, k], ``fused_decode``) through
    the unit's chain of instructions in increasing k, starting from the accumulator code ``c`` of ``po``."""
    step = plan[F_STEP]
    c = fused_instruction(WA, i, WBT, j, 0, min(step, K), c, po, plan)
    for lo in range(step, K, step):
        c = fused_instruction(WA, i, WBT, j, lo, min(lo + step, K), c, po, plan)
    return c
