"""Views between bitsim code arrays and the float dtypes of ml_dtypes and NumPy, for the formats they share.

``to_ml_dtypes(codes, fmt)`` gives the codes as an array of the matching dtype (``ml_dtypes.bfloat16``,
``ml_dtypes.float8_e4m3fn``, ``numpy.float16``, ...), and ``from_ml_dtypes(x)`` gives such an array's bits
as bitsim codes with their format. Both are views, no copy, when the codes already have the format's code
dtype: the two libraries store these formats with the same bits in the same number of bytes (sub-byte
formats one code per byte, in the low bits). Formats match on their encoding (widths, bias, subnormals,
special values, sign, zero), not on their rounding or overflow settings, which belong to bitsim's
operations rather than to the stored bits. ``tests/test_interop.py`` checks every code of every pair.
ml_dtypes is optional: it is imported when first needed.
"""

from __future__ import annotations

import functools

import numpy as np

from bitsim.arrays import code_array
from bitsim.backend import is_device_array
from bitsim.formats import FloatFormat, format as as_format

# ml_dtypes (or NumPy) dtype name -> the bitsim format whose code words are the same bits
ML_DTYPES_FORMATS = {
    "float8_e4m3fn": "e4m3",
    "float8_e5m2": "e5m2",
    "float8_e4m3fnuz": "e4m3fnuz",
    "float8_e5m2fnuz": "e5m2fnuz",
    "float8_e4m3b11fnuz": "e4m3b11fnuz",
    "float8_e4m3": FloatFormat(4, 3, name="e4m3_ieee"),
    "float8_e3m4": "e3m4",
    "float8_e8m0fnu": "e8m0",
    "float6_e2m3fn": "e2m3",
    "float6_e3m2fn": "e3m2",
    "float4_e2m1fn": "e2m1",
    "bfloat16": "bf16",
}
NUMPY_FORMATS = {"float16": "fp16", "float32": "fp32", "float64": "fp64"}


def _encoding(fmt: FloatFormat) -> tuple:
    """The fields that decide what a code word means."""
    return (fmt.exp_bits, fmt.man_bits, fmt.bias, fmt.subnormals, fmt.specials, fmt.signed, fmt.has_zero)


@functools.lru_cache(maxsize=1)
def _table() -> dict:
    """{encoding: (dtype, bitsim format)} over every shared format whose dtype this installation has."""
    table = {}
    for name, spec in NUMPY_FORMATS.items():
        fmt = as_format(spec)
        table[_encoding(fmt)] = (np.dtype(name), fmt)
    try:
        import ml_dtypes
    except ImportError:
        return table
    for name, spec in ML_DTYPES_FORMATS.items():
        if hasattr(ml_dtypes, name):
            fmt = as_format(spec)
            table[_encoding(fmt)] = (np.dtype(getattr(ml_dtypes, name)), fmt)
    return table


def _host(x, what: str) -> None:
    if is_device_array(x):
        raise TypeError(f"{what} takes host (NumPy) arrays; copy the device array to the host first")


def to_ml_dtypes(codes, fmt) -> np.ndarray:
    """``codes`` of ``fmt`` as an array of the ml_dtypes (or NumPy) float dtype with the same encoding: a
    view when ``codes`` has the format's code dtype, else a checked copy. ValueError names the format when
    no dtype matches (block formats: take ``BlockTensor.codes`` with the element format)."""
    _host(codes, "to_ml_dtypes")
    fmt = as_format(fmt)
    match = _table().get(_encoding(fmt)) if isinstance(fmt, FloatFormat) else None
    if match is None:
        raise ValueError(f"to_ml_dtypes: no ml_dtypes or NumPy dtype stores {fmt} (known: "
                         f"{', '.join(sorted(str(f) for _, f in _table().values()))}; is ml_dtypes installed?)")
    dtype, _ = match
    arr = np.asarray(codes)
    if arr.dtype != np.dtype(fmt.code_dtype):
        arr = code_array(arr, fmt, "codes").astype(fmt.code_dtype)
    elif arr.size and fmt.bits < 8 * arr.dtype.itemsize and int(arr.max()) >> fmt.bits:
        raise ValueError(f"to_ml_dtypes: codes: value {int(arr.max()):#x} does not fit the {fmt.bits}-bit format "
                         f"{fmt}")
    return arr.view(dtype)


def from_ml_dtypes(x) -> tuple[np.ndarray, FloatFormat]:
    """(codes, format) of an ml_dtypes (or NumPy float16/32/64) array: its bits viewed as the bitsim format's
    code dtype, no copy. TypeError names the dtype when bitsim has no format with its encoding."""
    _host(x, "from_ml_dtypes")
    arr = np.asarray(x)
    for dtype, fmt in _table().values():
        if arr.dtype == dtype:
            return arr.view(fmt.code_dtype), fmt
    raise TypeError(f"from_ml_dtypes: no bitsim format for dtype {arr.dtype}; known: "
                    f"{', '.join(sorted(str(d) for d, _ in _table().values()))}")
