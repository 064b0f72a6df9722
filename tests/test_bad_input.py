"""Bad input gets a clear ValueError/TypeError naming the field and the value, never a wrong answer."""

import numpy as np
import pytest

import bitsim


@pytest.mark.parametrize("kwargs,exc,words", [
    (dict(exp_bits=0, man_bits=3), ValueError, "exp_bits"),
    (dict(exp_bits=12, man_bits=3), ValueError, "exp_bits"),
    (dict(exp_bits=4, man_bits=53), ValueError, "man_bits"),
    (dict(exp_bits=4.0, man_bits=3), TypeError, "exp_bits"),
    (dict(exp_bits=4, man_bits=3, specials="fn", overflow="inf"), ValueError, "overflow='inf'"),
    (dict(exp_bits=4, man_bits=3, specials="fnuz", overflow="inf"), ValueError, "overflow='inf'"),
    (dict(exp_bits=4, man_bits=3, specials="none", overflow="inf"), ValueError, "overflow='inf'"),
    (dict(exp_bits=4, man_bits=3, specials="none", overflow="nan"), ValueError, "overflow='nan'"),
    (dict(exp_bits=4, man_bits=3, specials="weird"), ValueError, "specials"),
    (dict(exp_bits=4, man_bits=3, overflow="clamp"), ValueError, "overflow"),
    (dict(exp_bits=5, man_bits=0), ValueError, "man_bits >= 1"),
    (dict(exp_bits=4, man_bits=3, subnormals=1), TypeError, "subnormals"),
    (dict(exp_bits=4, man_bits=3, has_zero=False), ValueError, "has_zero"),
    (dict(exp_bits=1, man_bits=0, specials="fn", overflow="nan"), ValueError, "no finite nonzero"),
    (dict(exp_bits=4, man_bits=3, bias=10 ** 6), ValueError, "bias"),
])
def test_invalid_float_formats(kwargs, exc, words):
    with pytest.raises(exc, match=words.replace("(", r"\(")):
        bitsim.FloatFormat(**kwargs)


@pytest.mark.parametrize("kwargs,exc,words", [
    (dict(bits=0, frac_bits=0), ValueError, "bits"),
    (dict(bits=65, frac_bits=0), ValueError, "bits"),
    (dict(bits=8, frac_bits=0, overflow="inf"), ValueError, "overflow"),
    (dict(bits=8, frac_bits=0, signed=False, symmetric=True), ValueError, "symmetric"),
    (dict(bits=8, frac_bits=1.5), TypeError, "frac_bits"),
])
def test_invalid_fixed_formats(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        bitsim.FixedFormat(**kwargs)


def test_unknown_names_and_modes():
    with pytest.raises(ValueError, match="'e9m9x'"):
        bitsim.format("e9m9x")
    with pytest.raises(ValueError, match="rounding.*'nearest'"):
        bitsim.encode(np.ones(2), "e4m3", "nearest")
    with pytest.raises(ValueError, match="tininess"):
        bitsim.encode(np.ones(2), "e4m3", tininess="sometimes")
    with pytest.raises(TypeError, match="format"):
        bitsim.format(3)


def test_input_dtypes():
    with pytest.raises(TypeError, match="int64"):
        bitsim.encode(np.arange(3), "e4m3")
    with pytest.raises(TypeError, match="complex128"):
        bitsim.encode(np.ones(3, dtype=complex), "e4m3")
    with pytest.raises(TypeError, match="float64"):
        bitsim.decode(np.ones(3), "e4m3")


def test_encode_and_convert_into_out():
    """``out=`` is filled on every CPU kernel path and returned; a wrong dtype, shape, layout or kind of
    array is refused with the field named."""
    x = np.array([[1.0, -2.5, 3e-5], [448.0, 1e9, -0.0]], np.float32)
    for fmt, mode, kw in (("e4m3", "rne", {}), ("bf16", "rne", {}), ("int8", "rne", {}), ("e5m2", "rtz", {}),
                          ("fp16", "sr", {"sr_bits": 8, "seed": 3})):
        out = np.zeros(x.shape, bitsim.format(fmt).code_dtype)
        assert bitsim.encode(x, fmt, mode, out=out, **kw) is out
        np.testing.assert_array_equal(out, bitsim.encode(x, fmt, mode, **kw))
    out = np.zeros(x.shape, np.uint8)
    codes, flags = bitsim.encode(x, "e4m3", return_flags=True, out=out)
    assert codes is out and np.array_equal(flags, bitsim.encode(x, "e4m3", return_flags=True)[1])
    wide = np.zeros(x.shape, np.uint16)
    assert bitsim.convert(out, "e4m3", "fp16", out=wide) is wide
    np.testing.assert_array_equal(wide, bitsim.convert(out, "e4m3", "fp16"))
    with pytest.raises(ValueError, match="out must have dtype uint8.*shape \\(2, 3\\)"):
        bitsim.encode(x, "e4m3", out=np.zeros(x.shape, np.uint16))
    with pytest.raises(ValueError, match="shape"):
        bitsim.encode(x, "e4m3", out=np.zeros((3, 2), np.uint8))
    with pytest.raises(ValueError, match="C-contiguous"):
        bitsim.encode(x, "e4m3", out=np.zeros((3, 2), np.uint8).T)
    with pytest.raises(TypeError, match="out must be a NumPy array"):
        bitsim.encode(x, "e4m3", out=[0] * 6)
    with pytest.raises(ValueError, match="out are not supported"):
        bitsim.encode(x, "mxfp8_e4m3", out=np.zeros(x.shape, np.uint8))


def test_codes_wider_than_the_format():
    with pytest.raises(ValueError, match="0x100.*8-bit"):
        bitsim.decode(np.array([1, 256]), "e4m3")
    with pytest.raises(ValueError, match="-0x1"):
        bitsim.convert(np.array([-1]), "e4m3", "fp16")
    with pytest.raises(ValueError, match="0x40"):
        bitsim.decode(np.array([0x40], dtype=np.uint8), "e2m3")


def test_stochastic_arguments():
    x = np.ones(4)
    with pytest.raises(ValueError, match="sr_bits is required"):
        bitsim.encode(x, "e4m3", "sr", seed=1)
    with pytest.raises(ValueError, match="seed=.*rand="):
        bitsim.encode(x, "e4m3", "sr", sr_bits=4)
    with pytest.raises(ValueError, match="exactly one"):
        bitsim.encode(x, "e4m3", "sr", sr_bits=4, seed=1, rand=np.zeros(4, dtype=np.uint8))
    with pytest.raises(ValueError, match="sr_bits must be"):
        bitsim.encode(x, "e4m3", "sr", sr_bits=0, seed=1)
    with pytest.raises(ValueError, match="rand values.*16"):
        bitsim.encode(x, "e4m3", "sr", sr_bits=4, rand=np.array([0, 1, 2, 16]))
    with pytest.raises(ValueError, match="broadcast"):
        bitsim.encode(x, "e4m3", "sr", sr_bits=4, rand=np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match="sr_bits is only used"):
        bitsim.encode(x, "e4m3", "rne", sr_bits=4)
    with pytest.raises(ValueError, match="seed"):
        bitsim.encode(x, "e4m3", "sr", sr_bits=4, seed=-1)


def test_decode_refuses_values_float64_cannot_hold():
    wide = bitsim.FloatFormat(11, 52, bias=900)      # reaches 2**1147
    with pytest.raises(ValueError, match="not exactly representable"):
        bitsim.decode(np.array([0x7FE0000000000000], dtype=np.uint64), wide)
    assert bitsim.decode(np.array([0x3FF0000000000000 - (123 << 52)], dtype=np.uint64), wide)[0] == 1.0
