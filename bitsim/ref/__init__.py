"""The slow exact reference: Python ints and ``fractions.Fraction``, never compiled, sharing no code
with the kernels. Tests hold every fast path to it, code word for code word and flag for flag."""

from bitsim.ref import ops
from bitsim.ref.rng import sr_random
from bitsim.ref.values import INF, NAN, SNAN, classify, convert, decode, encode, round_value

__all__ = ["decode", "encode", "convert", "round_value", "classify", "sr_random", "ops", "NAN", "SNAN", "INF"]
