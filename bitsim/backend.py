"""Where bitsim's kernels run: ``"cpu"`` (Numba, parallel) or ``"cuda"`` (``numba.cuda``).

Both backends compile the same scalar core, so they give the same code words. The choice, first
match wins:

1. the ``backend=`` argument of a public function;
2. the innermost ``with bitsim.use_backend(name):`` block;
3. ``"cuda"`` when an input is a device array (anything with ``__cuda_array_interface__``: Numba
   device arrays, CuPy arrays, PyTorch CUDA tensors) -- used in place, no host copy, and the results
   are Numba device arrays (zero-copy for ``cupy.asarray`` / ``torch.as_tensor``);
4. ``"cpu"``.

Host (NumPy) inputs on the ``"cuda"`` backend are copied to the GPU and the results copied back.
Asking for ``"cuda"`` where no GPU (and no ``NUMBA_ENABLE_CUDASIM=1`` simulator) is available raises
``CudaUnavailableError``.
"""

from __future__ import annotations

import contextlib
import contextvars
import types

BACKENDS = ("cpu", "cuda")
_CURRENT = contextvars.ContextVar("bitsim_backend", default=None)


class CudaUnavailableError(RuntimeError):
    """The CUDA backend was asked for and no CUDA device (or simulator) is available."""


def _check_name(name, what: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, BACKENDS))}; got {name!r}")
    return name


@contextlib.contextmanager
def use_backend(name: str):
    """Run the enclosed bitsim calls on ``name`` ("cpu" or "cuda") unless a call says otherwise."""
    _check_name(name, "use_backend(name)")
    if name == "cuda":
        require_cuda()
    token = _CURRENT.set(name)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def is_device_array(x) -> bool:
    """True for arrays that live on a CUDA device (``__cuda_array_interface__``), or on the simulator's."""
    return hasattr(x, "__cuda_array_interface__") or isinstance(x, _simulator_array_type())


def _simulator_array_type():
    """The device-array class of Numba's CUDA simulator, or () when it is off."""
    from numba import config
    if not config.ENABLE_CUDASIM:
        return ()
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
    return FakeCUDAArray


def choose(backend, *inputs) -> str:
    """The backend for a call with ``backend=`` argument and these inputs (rules in the module doc)."""
    if backend is None:
        backend = _CURRENT.get()
    if backend is None:
        backend = "cuda" if any(is_device_array(x) for x in inputs) else "cpu"
    _check_name(backend, "backend")
    if backend == "cuda":
        require_cuda()
    elif any(is_device_array(x) for x in inputs):
        raise ValueError("backend='cpu' was asked for but an input is a CUDA device array; copy it to the host "
                         "first (e.g. .copy_to_host(), cupy.asnumpy, tensor.cpu()) or use backend='cuda'")
    return backend


def require_cuda() -> None:
    """Raise ``CudaUnavailableError`` unless numba.cuda can run kernels here."""
    try:
        from numba import cuda
        ok = cuda.is_available()
    except Exception as exc:  # numba-cuda missing or broken driver: one clear error instead
        raise CudaUnavailableError(f"backend 'cuda' is not usable here: {exc}") from exc
    if not ok:
        raise CudaUnavailableError("backend 'cuda' was asked for but no CUDA GPU is available (numba.cuda."
                                   "is_available() is False); use backend='cpu', or set NUMBA_ENABLE_CUDASIM=1 "
                                   "before numba is imported to run the kernels in Numba's CUDA simulator")


def kernels(backend: str):
    """The array kernels of ``backend``: the same names and signatures on both (``bitsim.kernels``)."""
    if backend == "cuda":
        from bitsim.kernels import cuda_run
        return cuda_run
    from bitsim.kernels import block_cpu, cpu, dot_cpu, table_encode
    return types.SimpleNamespace(
        convert_array=cpu.convert_array, encode_fast_array=cpu.encode_fast_array,
        table_encode_array=table_encode.table_encode_array,
        counter_bits_array=cpu.counter_bits_array, arith_array=cpu.arith_array, compare_array=cpu.compare_array,
        block_encode_array=block_cpu.block_encode_array, block_decode_array=block_cpu.block_decode_array,
        dot_array=dot_cpu.dot_array)


def empty_like_input(x):
    """``np.empty`` for host inputs, ``numba.cuda.device_array`` for device inputs (same signature)."""
    if is_device_array(x):
        from numba import cuda
        return cuda.device_array
    import numpy as np
    return np.empty
