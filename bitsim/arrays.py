"""Validation of the code arrays that the public functions accept."""

from __future__ import annotations

import numpy as np


def code_array(codes, fmt, name: str = "codes") -> np.ndarray:
    """Check an array of code words of ``fmt`` (integer dtype, every value in 0..2**bits-1); returns it
    contiguous, signed input cast to the format's code dtype."""
    arr = codes if isinstance(codes, np.ndarray) else np.asarray(codes)
    if arr.dtype.kind not in "ui":
        raise TypeError(f"{name} must be an integer array of code words; got dtype {arr.dtype}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >> fmt.bits:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{name}: value {bad:#x} does not fit the {fmt.bits}-bit format {fmt}")
    if arr.dtype.kind == "i":
        arr = arr.astype(fmt.code_dtype)
    return np.ascontiguousarray(arr)


def operand_codes(x, fmt, name: str, hint: str = "") -> np.ndarray:
    """``code_array`` for an operand of an arithmetic function: an unsigned array must already have
    the format's code dtype (a uint16 array for an 8-bit format is a mistake, not a cast)."""
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.dtype.kind == "u" and arr.dtype.itemsize != fmt.code_dtype.itemsize:
        raise TypeError(f"{name} has dtype {arr.dtype} but its format {fmt} has {fmt.bits}-bit codes "
                        f"({fmt.code_dtype}){hint}")
    return code_array(arr, fmt, name)
