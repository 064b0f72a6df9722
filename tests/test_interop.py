"""bitsim.to_ml_dtypes / from_ml_dtypes: every code of every shared format means the same value in both
libraries, and the conversions are views."""

import ml_dtypes
import numpy as np
import pytest

import bitsim
from bitsim.interop import ML_DTYPES_FORMATS, NUMPY_FORMATS, _table

SHARED = sorted({**ML_DTYPES_FORMATS, **NUMPY_FORMATS})


def all_codes(fmt):
    """Every code of a format up to 16 bits; for wider ones, boundary patterns and a random sample."""
    if fmt.bits <= 16:
        return np.arange(1 << fmt.bits, dtype=fmt.code_dtype)
    rng = np.random.default_rng(fmt.bits)
    top = np.iinfo(fmt.code_dtype).max
    edges = np.array([0, 1, 2, top, top - 1, top >> 1, (top >> 1) + 1, (top >> 1) - 1], dtype=fmt.code_dtype)
    exps = (np.arange(1 << fmt.exp_bits, dtype=np.uint64) << np.uint64(fmt.man_bits)).astype(fmt.code_dtype)
    return np.concatenate([edges, exps, exps + 1, rng.integers(0, top, 50_000, dtype=fmt.code_dtype, endpoint=True)])


def same_values(a, b):
    """Equal float64 values with the sign of zero, and NaN where the other has NaN."""
    nan = np.isnan(a)
    return np.array_equal(nan, np.isnan(b)) and np.array_equal(a[~nan].view(np.int64), b[~nan].view(np.int64))


@pytest.mark.parametrize("name", SHARED)
def test_every_code_means_the_same_value(name):
    dtype, fmt = next((d, f) for d, f in _table().values() if d.name == name)
    codes = all_codes(fmt)
    view = bitsim.to_ml_dtypes(codes, fmt)
    assert view.dtype == dtype and np.shares_memory(view, codes)
    with np.errstate(invalid="ignore"):                              # NaN casts warn in ml_dtypes
        values = view.astype(np.float64)
    assert same_values(values, bitsim.decode(codes, fmt)), name
    back, back_fmt = bitsim.from_ml_dtypes(view)
    assert back_fmt == fmt and back.dtype == codes.dtype and np.shares_memory(back, codes)
    assert np.array_equal(back, codes)


@pytest.mark.parametrize("name", sorted(ML_DTYPES_FORMATS))
def test_ml_dtypes_casts_read_as_bitsim_codes(name):
    """Values cast by ml_dtypes (its RNE), read back through bitsim, decode to the same numbers; a
    sub-byte dtype keeps its codes in the low bits."""
    rng = np.random.default_rng(len(name))
    x = (rng.standard_normal(4096) * 2.0 ** rng.integers(-8, 8, 4096)).astype(np.float32)
    ml = x.astype(getattr(ml_dtypes, name))
    codes, fmt = bitsim.from_ml_dtypes(ml)
    assert int(codes.max()) >> fmt.bits == 0
    assert same_values(bitsim.decode(codes, fmt), ml.astype(np.float64))


def test_other_dtypes_and_formats_are_refused():
    with pytest.raises(ValueError, match="no ml_dtypes or NumPy dtype stores int8"):
        bitsim.to_ml_dtypes(np.zeros(3, np.int8), "int8")
    with pytest.raises(ValueError, match="no ml_dtypes or NumPy dtype stores fp16_wang"):
        bitsim.to_ml_dtypes(np.zeros(3, np.uint16), "fp16_wang")
    same_bits = bitsim.to_ml_dtypes(np.array([0x3C], np.uint8), "fp8_wang")   # Wang's (1,5,2) is e5m2's encoding
    assert same_bits.dtype == ml_dtypes.float8_e5m2 and float(same_bits[0]) == 1.0
    with pytest.raises(ValueError, match="no ml_dtypes or NumPy dtype stores"):
        bitsim.to_ml_dtypes(np.zeros(3, np.uint8), "mxfp8_e4m3")
    with pytest.raises(ValueError, match="does not fit the 4-bit format e2m1"):
        bitsim.to_ml_dtypes(np.array([1, 17], np.uint8), "e2m1")
    with pytest.raises(TypeError, match="no bitsim format for dtype int32"):
        bitsim.from_ml_dtypes(np.zeros(3, np.int32))
    wide = bitsim.to_ml_dtypes(np.array([0x3C00, 0xBC00], np.int64), "fp16")     # a checked copy
    assert wide.dtype == np.float16 and list(wide) == [1.0, -1.0]


def test_block_tensor_repr_reads_like_numpy():
    """Small tensors show their decoded values (which read back exactly), large ones summarised codes and
    scales; the shape, format and block grid come first."""
    x = np.array([[-3.0, 0.5, 0.25, 1.75] * 8, [2.0 ** -9, -448.0, 6.0, 0.0] * 8])
    t = bitsim.encode(x, "mxfp8_e4m3")
    text = repr(t)
    assert text.startswith("BlockTensor(shape=(2, 32), format=mxfp8_e4m3, blocks=(2, 1),")
    values = text.split("values=", 1)[1].rstrip(")")
    assert np.array_equal(np.array(eval(values)), bitsim.decode(t))        # noqa: S307 - our own repr
    big = repr(bitsim.encode(np.ones((64, 64)), "mxfp8_e4m3"))
    assert "values=" not in big and "codes=[[" in big and "scales=[[" in big and "..." in big
