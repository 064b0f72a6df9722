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
