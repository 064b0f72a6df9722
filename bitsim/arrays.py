"""Validation of the code arrays that the public functions accept."""

from __future__ import annotations

import numpy as np

from bitsim.backend import is_device_array


def code_array(codes, fmt, name: str = "codes") -> np.ndarray:
    """Check an array of code words of ``fmt`` (integer dtype, every value in 0..2**bits-1); returns it
    contiguous, signed input cast to the format's code dtype. Device arrays stay on the device."""
    if is_device_array(codes):
        return device_code_array(codes, fmt, name)
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
    if is_device_array(x):
        arr = as_device(x)
    else:
        arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.dtype.kind == "u" and arr.dtype.itemsize != fmt.code_dtype.itemsize:
        raise TypeError(f"{name} has dtype {arr.dtype} but its format {fmt} has {fmt.bits}-bit codes "
                        f"({fmt.code_dtype}){hint}")
    return code_array(arr, fmt, name)


def flat_operand(a, shape, name: str):
    """An operand of the elementwise GPU kernels: flat, of the result's size or a single element (which the
    kernels broadcast). A host operand of another shape is broadcast here; a device one must not need it."""
    if a.size == 1 or tuple(a.shape) == tuple(shape):
        return a.reshape(-1) if is_device_array(a) else np.ascontiguousarray(a).reshape(-1)
    if is_device_array(a):
        raise ValueError(f"{name}: a device operand of shape {tuple(a.shape)} must have the result's shape {shape} "
                         "or a single element (broadcast it on the device first)")
    return np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1)


def as_device(x):
    """A Numba device-array view of a device array (CuPy, PyTorch, Numba), C-contiguous, no copy."""
    from numba import cuda
    # Numba's own (and the simulator's) device arrays as they are; others through their interface
    own = isinstance(x, _numba_device_types()) or not hasattr(x, "__cuda_array_interface__")
    arr = x if own else cuda.as_cuda_array(x)
    if not arr.is_c_contiguous():
        raise ValueError(f"device arrays must be C-contiguous; got strides {arr.strides} for shape {arr.shape} "
                         "(make a contiguous copy on the device first)")
    return arr


def _numba_device_types() -> tuple:
    from numba import cuda
    if cuda.config.ENABLE_CUDASIM:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
        return (FakeCUDAArray,)
    from numba.cuda.cudadrv.devicearray import DeviceNDArray
    return (DeviceNDArray,)


def device_code_array(codes, fmt, name: str = "codes"):
    """``code_array`` for a device array: an unsigned integer dtype, every value checked on the GPU (unless
    the dtype is exactly as wide as the format, where every value is a code word)."""
    from bitsim.kernels.cuda_run import device_max
    arr = as_device(codes)
    if arr.dtype.kind != "u":
        raise TypeError(f"{name} must be an unsigned integer device array of code words; got dtype {arr.dtype}")
    if arr.dtype.itemsize * 8 == fmt.bits:
        return arr
    hi = device_max(arr.reshape(-1))
    if hi >> fmt.bits:
        raise ValueError(f"{name}: value {hi:#x} does not fit the {fmt.bits}-bit format {fmt}")
    return arr


def host_only(x, what: str) -> None:
    """TypeError for a device array given to a function that runs on the host only."""
    if is_device_array(x):
        raise TypeError(f"{what} runs on host (NumPy) arrays only so far; got a CUDA device array (copy it to the "
                        "host first, e.g. .copy_to_host(), cupy.asnumpy, tensor.cpu())")
