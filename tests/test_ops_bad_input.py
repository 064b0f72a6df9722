"""bitsim.ops refuses bad input with an error that names the field and the value."""

import numpy as np
import pytest

from bitsim import ops


def test_shapes_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"do not broadcast: a\(3,\), b\(4,\)"):
        ops.add(np.zeros(3, np.uint8), np.zeros(4, np.uint8), "e4m3")
    with pytest.raises(ValueError, match="do not broadcast"):
        ops.lt(np.zeros(3, np.uint8), np.zeros(4, np.uint8), "e4m3")


def test_codes_outside_the_format_width():
    with pytest.raises(ValueError, match=r"b: value 0x100 does not fit the 8-bit format"):
        ops.mul(np.zeros(2, np.uint16), np.array([1, 256]), "e4m3", in_formats=("fp16", "e4m3"))
    with pytest.raises(ValueError, match=r"a: value -0x1"):
        ops.add(np.array([-1]), np.array([1]), "e4m3")


def test_mixed_formats_without_in_formats():
    with pytest.raises(TypeError, match=r"a has dtype uint8 but its format fp16 .*in_formats="):
        ops.fma(np.zeros(2, np.uint8), np.zeros(2, np.uint8), np.zeros(2, np.uint16), "fp16")


def test_in_formats_of_the_wrong_length():
    with pytest.raises(ValueError, match="in_formats must be a sequence of 3 formats"):
        ops.fma(np.zeros(2, np.uint8), np.zeros(2, np.uint8), np.zeros(2, np.uint8), "e4m3", in_formats=("e4m3",))


def test_fixed_point_formats_are_refused():
    with pytest.raises(TypeError, match="fmt must be a float format"):
        ops.add(np.zeros(2, np.uint8), np.zeros(2, np.uint8), "int8")


def test_float_arrays_are_refused():
    with pytest.raises(TypeError, match="a must be an integer array of code words; got dtype float64"):
        ops.add(np.zeros(2), np.zeros(2, np.uint8), "e4m3")


def test_too_many_sr_bits():
    with pytest.raises(ValueError, match=r"sr_bits=40 is too many for fp32 .*at most 36"):
        ops.add(np.zeros(2, np.uint32), np.zeros(2, np.uint32), "fp32", "sr", sr_bits=40, seed=1)


def test_unknown_mode_and_nan_policy():
    with pytest.raises(ValueError, match="rounding"):
        ops.add(np.zeros(2, np.uint8), np.zeros(2, np.uint8), "e4m3", "nearest")
    with pytest.raises(ValueError, match="nan must be 'propagate'.*got 'drop'"):
        ops.min(np.zeros(2, np.uint8), np.zeros(2, np.uint8), "e4m3", nan="drop")


def test_neg_of_an_unsigned_format():
    with pytest.raises(ValueError, match="neg needs a signed format"):
        ops.neg(np.zeros(2, np.uint8), "e8m0")
