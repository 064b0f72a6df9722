"""One output of a block-format dot-product unit (``bitsim.accum.block_dot``), in integers.

Operands: element codes ``A[i, k]`` and ``BT[j, k]`` (B transposed), blocks of ``L`` consecutive k
(the last one shorter when L does not divide K), and one scale code per row and block,
``SA[i, kb]`` and ``SBT[j, kb]``, of the unsigned power-of-two scale formats ``psa`` / ``psb``
(value 2**X, or NaN). For blocks kb = 0, 1, ... in increasing order:

1. the exact products a_k * b_k of the block enter a fresh Kulisch register (``register_chain``;
   ``frac`` fraction bits, ``width`` bits, overflow rule checked after every addition);
2. the block value is register * 2**(Xa + Xb): the register is read with ``frac - Xa - Xb``
   fraction bits, which scales it exactly; a NaN scale makes the block NaN;
3. the block value enters the outer float accumulator ``s`` (format ``p_acc``):
   ``fused == 0``: t = round(block value) to ``p_acc`` in ``mode_conv``, then s = round(s + t) in
   ``mode_acc`` (two roundings); ``fused != 0``: s = round(s + block value) in ``mode_acc`` (one).

``s`` starts from the addend c converted to ``p_acc`` (``mode_acc``) or +0, and is converted once to
``po`` (``mode_out``) at the end.
"""

from numba import int64, uint64

from bitsim.core.accum import SP_NAN, SP_NEG_INF, SP_POS_INF, negate_128, register_result, special_result
from bitsim.core.arith import add_codes, exact_zero_sign, finish_sum
from bitsim.core.bits import bit_length
from bitsim.core.convert import convert_one, pack_inf, pack_nan
from bitsim.core.dot import register_chain
from bitsim.core.round import zero_float
from bitsim.core.unpack import CLS_INF, CLS_QNAN, CLS_SNAN, CLS_ZERO, unpack
from bitsim.core.wide import add_128, bit_length_128, less_128, narrow_128, shl_128, shr_jam_128, sub_128


def block_scale_exp(code, ps):
    """(is_nan, X) of a power-of-two scale code: its value is 2**X."""
    cls, sign, sig, exp = unpack(code, ps)
    if cls == CLS_QNAN or cls == CLS_SNAN:
        return True, int64(0)
    return False, exp + int64(bit_length(sig)) - 1        # sig is 1 for a man_bits = 0 format


def align_term(hi, lo, exp, low):
    """A magnitude (hi, lo) * 2**exp in units of 2**low: shifted left exactly, or right with every bit
    shifted out ORed into the LSB (the caller keeps the shifted-left result below 2**127)."""
    if exp >= low:
        return shl_128(hi, lo, exp - low)
    return shr_jam_128(hi, lo, low - exp)


def fused_block_add(s, p_acc, reg_hi, reg_lo, specials, frac, mode):
    """round(s + register * 2**-frac) to ``p_acc`` in ``mode``, one rounding: (code, flags).

    Both terms are placed in a 128-bit frame whose top is the larger term's top and that reaches down
    to the lower term's LSB or 127 bits, whichever is higher. The register (at most 127 significant
    bits) and s (at most 64) then fit; when the frame cuts a term, that term lies far below the other
    (it is not the top term, and its top is at least two bits below the frame's top), the result keeps
    at least 124 exact bits above the cut, and the bits cut are ORed into the frame's LSB (a sticky
    bit), which is enough for a correct rounding to at most 64 significant bits.
    """
    cs, ss, ms, es = unpack(s, p_acc)
    if specials != 0:
        if cs == CLS_QNAN or cs == CLS_SNAN:
            specials |= SP_NAN
        elif cs == CLS_INF:
            specials |= SP_NEG_INF if ss != 0 else SP_POS_INF
        return special_result(specials, p_acc, mode)
    if cs == CLS_QNAN or cs == CLS_SNAN:
        return pack_nan(cs == CLS_SNAN, p_acc)
    if cs == CLS_INF:
        return pack_inf(ss, p_acc, mode)
    if reg_hi == uint64(0) and reg_lo == uint64(0):      # + (+0): s itself, or the sign of a zero sum
        if cs == CLS_ZERO:
            return zero_float(int64(0) if ss == 0 else exact_zero_sign(mode), p_acc)
        return s, int64(0)
    if cs == CLS_ZERO:
        return register_result(reg_hi, reg_lo, int64(0), frac, p_acc, mode)
    rs = int64(reg_hi >> uint64(63))
    rh, rl = reg_hi, reg_lo
    if rs != 0:
        rh, rl = negate_128(rh, rl)
    er = -frac
    nr = int64(bit_length_128(rh, rl))
    ns = int64(bit_length(ms))
    top = max(er + nr, es + ns)
    low = max(min(er, es), top - 127)
    rh, rl = align_term(rh, rl, er, low)
    sh, sl = align_term(uint64(0), ms, es, low)
    if rs == ss:
        h, l_ = add_128(rh, rl, sh, sl)
        sign = rs
    elif less_128(rh, rl, sh, sl):
        h, l_ = sub_128(sh, sl, rh, rl)
        sign = ss
    else:
        h, l_ = sub_128(rh, rl, sh, sl)
        sign = rs
    sig, shift, sticky = narrow_128(h, l_)
    return finish_sum(sign, sig, low + shift, sticky, p_acc, mode, uint64(0), int64(1), int64(0))


def block_outer_step(s, reg_hi, reg_lo, specials, SA, SBT, i, j, kb, psa, psb, frac, p_acc, mode_acc, mode_conv,
                     fused):
    """Steps 2 and 3 of the module doc for block kb, whose register (frac fraction bits) holds (reg_hi,
    reg_lo, specials): (new s, flags)."""
    nan_a, xa = block_scale_exp(uint64(SA[i, kb]), psa)
    nan_b, xb = block_scale_exp(uint64(SBT[j, kb]), psb)
    if nan_a or nan_b:
        specials |= SP_NAN
    scaled_frac = frac - (xa + xb)                         # register * 2**(Xa + Xb) = register * 2**-scaled_frac
    if fused != 0:
        return fused_block_add(s, p_acc, reg_hi, reg_lo, specials, scaled_frac, mode_acc)
    t, flags = register_result(reg_hi, reg_lo, specials, scaled_frac, p_acc, mode_conv)
    s, f = add_codes(s, p_acc, t, p_acc, 0, p_acc, mode_acc, uint64(0), int64(1), int64(0))
    return s, flags | f


def block_dot_start(c, use_c, pc, p_acc, mode_acc):
    """(s, flags): the outer accumulator's start, the addend c converted to ``p_acc`` or +0."""
    if use_c:
        return convert_one(c, pc, p_acc, mode_acc, uint64(0), int64(1), int64(0))
    return uint64(0), int64(0)


def block_dot_output(A, SA, BT, SBT, i, j, K, L, c, use_c, pa, pb, psa, psb, pc, frac, width, overflow, p_acc,
                     mode_acc, mode_conv, fused, po, mode_out):
    """(code, flags, status) of output (i, j): the steps of the module doc; ``status`` is the first
    register error (ST_OVERFLOW, ST_OFF_GRID) of any block, 0 if none."""
    s, flags = block_dot_start(c, use_c, pc, p_acc, mode_acc)
    status = int64(0)
    n_blocks = (K + L - 1) // L
    for kb in range(n_blocks):
        lo = kb * L
        hi = min(K, lo + L)
        reg_hi, reg_lo, specials, st = register_chain(A, BT, i, j, lo, hi, pa, pb, uint64(0), uint64(0), int64(0),
                                                      int64(0), frac, width, overflow)
        status = st if status == 0 else status
        s, f = block_outer_step(s, reg_hi, reg_lo, specials, SA, SBT, i, j, kb, psa, psb, frac, p_acc, mode_acc,
                                mode_conv, fused)
        flags |= f
    code, f = convert_one(s, p_acc, po, mode_out, uint64(0), int64(1), int64(0))
    return code, flags | f, status
