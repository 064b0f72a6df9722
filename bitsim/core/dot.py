"""One output of a dot-product unit, as the state machine every backend's kernel drives.

An output accumulates its K products in increasing k. Its state is the tuple
``(s, part, flags, hi, lo, specials, status)``: ``s`` the accumulator code (FloatAcc, or ChunkedAcc's
outer sum, or the pairwise tree's rounded addend c), ``part`` the open chunk's sum (ChunkedAcc) or the
tree's pending odd product (pairwise), ``flags`` every rounding step's flags ORed, and the register
``(hi, lo, specials, status)`` of Kulisch/integer accumulators (``bitsim.core.accum``).

The pairwise tree (``bitsim.accum.models.FloatAcc``: level by level, neighbours paired, an odd last
term carried up) is built as a binary counter: after n products, ``stack[h]`` holds the rounded sum of
a complete subtree of 2**h products for every set bit h >= 1 of n, and an odd product waits exactly in
``part`` (code of ``p_prod``, a format holding every product exactly). ``dot_finish`` joins what is
left from the smallest subtree up, which is the order the level-by-level tree pairs them in.

``dot_init`` takes the addend c, ``dot_steps`` feeds any run of consecutive products (operands read
from ``A[i, lo:hi]`` and ``BT[j, lo:hi]``, the run's first product being product ``kg`` of the
output), and ``dot_finish`` rounds to the output format. Feeding K in one run (the CPU kernel) or in
shared-memory tiles (the CUDA kernel) gives the same state, so both give the same code words.
"""

from numba import int64, uint64

from bitsim.core.accum import product_term, register_result, register_term
from bitsim.core.arith import add_codes, fma_codes, mul_codes
from bitsim.core.convert import convert_one
from bitsim.core.params import RM_RNE
from bitsim.core.unpack import unpack

MODEL_FLOAT = 0        # FloatAcc, sequential
MODEL_CHUNKED = 1      # ChunkedAcc: FloatAcc chunks (inner) summed by a FloatAcc (outer)
MODEL_REGISTER = 2     # KulischAcc / IntAcc: exact two's complement register
MODEL_PAIRWISE = 3     # FloatAcc(order="pairwise"): balanced tree, every node rounded
STACK_DEPTH = 64       # the pairwise tree's partial sums, one per level (a scratch array of the caller's)


def output_index(t, rowwise, n_cols):
    """(i, j): the rows of A and BT that output t pairs -- t and t (row-wise dots), else t // N, t % N."""
    if rowwise:
        return int64(t), int64(t)
    return int64(t) // n_cols, int64(t) % n_cols


def float_chain(A, BT, i, j, lo, hi, pa, pb, s, p_acc, mode):
    """s = round(a_k * b_k + s) for k in lo .. hi-1; returns (s, flags)."""
    flags = int64(0)
    for k in range(lo, hi):
        s, f = fma_codes(uint64(A[i, k]), pa, uint64(BT[j, k]), pb, s, p_acc, p_acc, mode, uint64(0), int64(1),
                         int64(0))
        flags |= f
    return s, flags


def register_chain(A, BT, i, j, lo, hi, pa, pb, reg_hi, reg_lo, specials, status, frac, width, overflow):
    """Add the exact products k = lo .. hi-1 to the register; the first error status sticks."""
    for k in range(lo, hi):
        sign, cls, mh, ml, e = product_term(uint64(A[i, k]), pa, uint64(BT[j, k]), pb)
        reg_hi, reg_lo, specials, st = register_term(reg_hi, reg_lo, specials, status, sign, cls, mh, ml, e, frac,
                                                     width, overflow)
        status = st if status == 0 else status
    return reg_hi, reg_lo, specials, status


def dot_init(c, use_c, pc, model, p_acc, mode_acc, frac, width, overflow):
    """The state before the first product: empty, or holding the addend ``c`` (code of ``pc``)."""
    s = uint64(0)
    flags = int64(0)
    reg_hi = uint64(0)
    reg_lo = uint64(0)
    specials = int64(0)
    status = int64(0)
    if use_c:
        if model == MODEL_REGISTER:
            cls, sign, m, e = unpack(c, pc)
            reg_hi, reg_lo, specials, status = register_term(reg_hi, reg_lo, specials, status, sign, cls, uint64(0),
                                                             m, e, frac, width, overflow)
        else:
            s, flags = convert_one(c, pc, p_acc, mode_acc, uint64(0), int64(1), int64(0))
    return s, uint64(0), flags, reg_hi, reg_lo, specials, status


def pairwise_push(a, pa, b, pb, g, pending, stack, p_prod, p_acc, mode):
    """Product g (0-based) of the pairwise tree: (pending, flags) after it; complete subtrees go to ``stack``."""
    if g % 2 == 0:
        return mul_codes(a, pa, b, pb, p_prod, RM_RNE, uint64(0), int64(1), int64(0))    # exact: waits
    t, flags = fma_codes(a, pa, b, pb, pending, p_prod, p_acc, mode, uint64(0), int64(1), int64(0))
    h = int64(1)
    while (g >> h) & 1:                                    # a subtree of the same size: join it (carry)
        t, f = add_codes(uint64(stack[h]), p_acc, t, p_acc, 0, p_acc, mode, uint64(0), int64(1), int64(0))
        flags |= f
        h += 1
    stack[h] = t
    return pending, flags


def pairwise_finish(s, use_c, count, pending, stack, p_prod, p_acc, mode):
    """(code, flags) of the tree over ``count`` products, then round(c + tree) when c is given."""
    if count == 0:
        return s, int64(0)
    flags = int64(0)
    have = count % 2 == 1
    x = pending
    px = p_prod
    if count == 1:
        x, flags = convert_one(pending, p_prod, p_acc, mode, uint64(0), int64(1), int64(0))
        px = p_acc
    for h in range(1, STACK_DEPTH):
        if (count >> h) & 1:
            if have:
                x, f = add_codes(uint64(stack[h]), p_acc, x, px, 0, p_acc, mode, uint64(0), int64(1), int64(0))
                flags |= f
            else:
                x = uint64(stack[h])
                have = True
            px = p_acc
    if use_c:
        x, f = add_codes(s, p_acc, x, p_acc, 0, p_acc, mode, uint64(0), int64(1), int64(0))
        flags |= f
    return x, flags


def dot_steps(state, A, BT, i, j, lo, hi, kg, K, pa, pb, model, p_acc, mode_acc, p_inner, mode_inner, chunk, frac,
              width, overflow, stack, p_prod):
    """The state after products lo .. hi-1 of rows A[i] and BT[j], the first being product ``kg`` of K."""
    s, part, flags, reg_hi, reg_lo, specials, status = state
    if model == MODEL_PAIRWISE:
        for k in range(lo, hi):
            part, f = pairwise_push(uint64(A[i, k]), pa, uint64(BT[j, k]), pb, kg + (k - lo), part, stack, p_prod,
                                    p_acc, mode_acc)
            flags |= f
    elif model == MODEL_REGISTER:
        reg_hi, reg_lo, specials, status = register_chain(A, BT, i, j, lo, hi, pa, pb, reg_hi, reg_lo, specials,
                                                          status, frac, width, overflow)
    elif model == MODEL_FLOAT:
        s, f = float_chain(A, BT, i, j, lo, hi, pa, pb, s, p_acc, mode_acc)
        flags |= f
    else:
        k = lo
        while k < hi:
            g = kg + (k - lo)                              # global index of product k
            end = min(hi, k + (chunk - g % chunk))         # the run up to the chunk's end
            part, f = float_chain(A, BT, i, j, k, end, pa, pb, part, p_inner, mode_inner)
            flags |= f
            g_end = g + (end - k)
            if g_end % chunk == 0 or g_end == K:           # chunk closed: into the outer sum
                s, f = add_codes(s, p_acc, part, p_inner, 0, p_acc, mode_acc, uint64(0), int64(1), int64(0))
                flags |= f
                part = uint64(0)
            k = end
    return s, part, flags, reg_hi, reg_lo, specials, status


def dot_finish(state, model, use_c, K, stack, p_prod, p_acc, mode_acc, frac, po, mode_out):
    """(code, flags, status) of the output after all K products: the accumulator rounded once to ``po``."""
    s, part, flags, reg_hi, reg_lo, specials, status = state
    if model == MODEL_REGISTER:
        code, f = register_result(reg_hi, reg_lo, specials, frac, po, mode_out)
        return code, f, status
    if model == MODEL_PAIRWISE:
        s, f = pairwise_finish(s, use_c, K, part, stack, p_prod, p_acc, mode_acc)
        flags |= f
    code, f = convert_one(s, p_acc, po, mode_out, uint64(0), int64(1), int64(0))
    return code, flags | f, status
