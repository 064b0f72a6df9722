"""Layout of the integer parameter tuple that kernels receive instead of a format object.

A format spec (``bitsim.FloatFormat`` / ``bitsim.FixedFormat``) is flattened once, in Python, into a
tuple of ``P_LEN`` int64 values; the scalar core reads it by these indices. Kernels never see a
format's name: every convention they need is a number here.
"""

P_KIND = 0        # KIND_FLOAT or KIND_FIXED
P_BITS = 1        # total width of a code word
P_MAN = 2         # float: stored mantissa bits m;   fixed: fraction bits
P_EXP = 3         # float: exponent bits e;          fixed: unused (0)
P_BIAS = 4        # float: exponent bias;            fixed: unused (0)
P_SUBNORMALS = 5  # float: 1 if E=0 holds subnormals; fixed: unused
P_EMIN_FIELD = 6  # float: exponent field of the lowest normal binade (1, or 0 for formats without zero)
P_SIGNED = 7      # 1 if the code has a sign bit (float) / is two's complement (fixed)
P_MAX_MAG = 8     # float: largest finite magnitude code; fixed: largest integer value
P_NAN = 9         # canonical NaN code, or -1 if the format has no NaN
P_INF = 10        # +inf code, or -1 if the format has no infinity
P_OVERFLOW = 11   # OVF_INF, OVF_SATURATE, OVF_NAN or OVF_WRAP
P_NEGZERO = 12    # 1 if negative zero exists
P_SPECIALS = 13   # SPECIALS_IEEE, SPECIALS_FN, SPECIALS_FNUZ, SPECIALS_NONE (float)
P_MIN_INT = 14    # fixed: smallest integer value (<= 0)
P_LEN = 15

KIND_FLOAT = 0
KIND_FIXED = 1

OVF_INF = 0
OVF_SATURATE = 1
OVF_NAN = 2
OVF_WRAP = 3

SPECIALS_IEEE = 0
SPECIALS_FN = 1
SPECIALS_FNUZ = 2
SPECIALS_NONE = 3

# Rounding modes as the kernels see them (bitsim.rounding maps names to these).
RM_RNE = 0
RM_RNA = 1
RM_RTZ = 2
RM_RUP = 3
RM_RDN = 4
RM_RTO = 5
RM_SR = 6

# Exception flags, SoftFloat/TestFloat bit order.
FLAG_INEXACT = 1
FLAG_UNDERFLOW = 2
FLAG_OVERFLOW = 4
FLAG_INFINITE = 8
FLAG_INVALID = 16
