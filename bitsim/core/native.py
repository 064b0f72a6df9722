"""One step of a FloatAcc running sum in native binary64 arithmetic, and the conversions around a chain.

Used by the CPU's ``bitsim.kernels.float_acc_native`` and the GPU's ``native_gemm_kernel`` (module doc of
the former: TwoSum, round to odd at 53 bits, then the accumulator's rounding on the bit pattern; Boldo and
Melquiond 2008). The float operations are additions of float64s and one multiplication by a power of two,
written as ``f64_add`` / ``f64_mul`` so that the GPU runs them as ``.rn`` instructions, which are never
contracted into an fma; everything else is integer work on the IEEE binary64 bit pattern.

``float64_bits`` / ``bits_float64`` are plain NumPy views here (plain-Python callers and Numba's CUDA
simulator); ``bitsim.core.build`` binds them, and ``f64_add`` / ``f64_mul`` on the GPU, to each target's
instruction (``bitsim.kernels.primitives``).
"""

import numpy as np
from numba import float64, int64, uint64

from bitsim.core.bits import bit_length
from bitsim.core.convert import convert_one
from bitsim.core.params import RM_RDN, RM_RNA, RM_RNE, RM_RTO, RM_RUP
from bitsim.core.round import round_pack
from bitsim.core.unpack import CLS_FINITE, CLS_ZERO, unpack_float

ODD_BITS = 53              # round to odd keeps 53 significant bits: man_bits + 1 + 2 at most
MAG_MASK = (1 << 63) - 1
FRACTION_MASK = (1 << 52) - 1
HIDDEN_BIT = 1 << 52
EXP_BIAS_52 = 1075         # a normal float64 with exponent field E is (HIDDEN_BIT | fraction) * 2**(E - 1075)


def float64_bits(x):
    """The IEEE binary64 bit pattern of a float64, as an int64."""
    return np.float64(x).view(np.int64)


def bits_float64(x):
    """The float64 whose IEEE binary64 bit pattern is the int64 ``x``."""
    return np.int64(x).view(np.float64)


def f64_add(x, y):
    """x + y rounded to nearest even (a GPU's add.rn.f64: never contracted into an fma)."""
    return x + y


def f64_mul(x, y):
    """x * y rounded to nearest even (a GPU's mul.rn.f64: never contracted into an fma)."""
    return x * y


def native_step(s, p, mode, sh, normal_bits, max_bits, inv_quantum):
    """(round(s + p), inexact, redo) in the accumulator of the constants (``float_acc_native._step_constants``:
    mode, sh = 52 - man_bits dropped bits, the smallest normal's and the largest finite value's bit patterns,
    1 / smallest subnormal). redo: the sum is tiny and inexact, or passes the largest finite value, and
    the generic kernel must take the output. Branch-free where ``mode`` is a compile-time constant, so
    that chains step in SIMD lanes."""
    x = f64_add(s, p)
    back = f64_add(x, -s)
    err = f64_add(f64_add(s, -f64_add(x, -back)), f64_add(p, -back))   # TwoSum: x + err == s + p exactly
    bits = float64_bits(x)
    odd_fix = int64(err != 0.0) & ~bits & int64(1)        # round to odd: the odd neighbour toward s + p
    bits += odd_fix - (odd_fix << int64(1)) * int64((err > 0.0) != (x > 0.0))
    mag = bits & int64(MAG_MASK)
    below = bits >> int64(63)                              # -1 for a negative sum, else 0
    mask = (int64(1) << sh) - int64(1)
    rem = mag & mask
    if mode == RM_RNE:
        up = (mask >> int64(1)) + ((mag >> sh) & int64(1))
    elif mode == RM_RNA:
        up = (mask >> int64(1)) + int64(1)
    elif mode == RM_RUP:
        up = mask & ~below
    elif mode == RM_RDN:
        up = mask & below
    else:                                                  # rtz, and rto's truncation
        up = int64(0)
    rounded = (mag + up) & ~mask
    if mode == RM_RTO:
        rounded |= (mask + int64(1)) & -int64(rem != int64(0))
    tiny = mag < normal_bits                               # kept only when exact on the grid
    scaled = f64_mul(x if tiny else 0.0, inv_quantum)      # below 2**52 in magnitude where tiny
    off_grid = scaled != float64(int64(scaled))
    redo = (tiny & ((err != 0.0) | off_grid)) | ((not tiny) & (rounded > max_bits))
    v = x if tiny else bits_float64(rounded | (bits & ~int64(MAG_MASK)))
    if mode == RM_RDN and x == 0.0 and (s != 0.0 or float64_bits(s) < 0 or float64_bits(p) < 0):
        v = -0.0                                           # rdn: an exact zero is -0 unless both are +0
    return v, (not tiny) & (rem != int64(0)), redo


def native_start(c, use_c, pc, p_acc, mode_acc):
    """(value, flags, redo) of the sum before the first product: +0, or the addend ``c`` (format pc)
    converted to the accumulator (its value exact in float64); redo for an inf or NaN."""
    if not use_c:
        return 0.0, int64(0), False
    code, flags = convert_one(c, pc, p_acc, mode_acc, uint64(0), int64(1), int64(0))
    cls, sign, sig, exp = unpack_float(code, p_acc)
    if cls == CLS_FINITE:
        shift = int64(ODD_BITS) - bit_length(sig)          # sig * 2**exp as a normal float64's fields
        top = int64(sig << uint64(shift))
        bits = ((exp - shift + int64(EXP_BIAS_52)) << int64(52)) | (top & int64(FRACTION_MASK))
        return bits_float64(bits | (int64(sign) << int64(63))), flags, False
    if cls == CLS_ZERO:
        return bits_float64(int64(sign) << int64(63)), flags, False
    return 0.0, flags, True                                # inf, NaN


def native_finish(v, p_acc, po, mode_out):
    """(code, flags) of the accumulator value v (exact in it, a normal float64 or zero) converted to the
    output format."""
    bits = float64_bits(v)
    sign = int64(bits < 0)
    field = (bits >> int64(52)) & int64(0x7FF)
    if field == 0:                                         # a zero: the accumulator's signed zero
        acc_code, _ = round_pack(sign, uint64(0), int64(0), int64(0), p_acc, RM_RNE, uint64(0), int64(1), int64(0))
    else:
        sig = uint64((bits & int64(FRACTION_MASK)) | int64(HIDDEN_BIT))
        acc_code, _ = round_pack(sign, sig, field - int64(EXP_BIAS_52), int64(0), p_acc, RM_RNE, uint64(0), int64(1),
                                 int64(0))
    return convert_one(acc_code, p_acc, po, mode_out, uint64(0), int64(1), int64(0))
