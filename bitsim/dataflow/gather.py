"""The convolutions' gathers on either backend: the host runs them on the codes, the GPU follows their
index maps.

Every operand gather of ``bitsim.dataflow.conv`` (im2col, the data gradient's taps, the layout changes
around its GEMMs) only moves elements and inserts +0 codes, the same way for every sample. For a host
array ``gather`` runs it on the codes. For a device array it runs it once on the element indices
1, 2, ... of one sample, inserting 0 where a +0 code goes (the ``nn.block_layout`` trick); that map,
cached on the device per (gather, geometry, shape), is followed for every sample by
``cuda.gather_samples_kernel``. Both give the same codes by construction.
"""

from __future__ import annotations

import functools

import numpy as np

from bitsim.backend import is_device_array


def gather(fn, x, sample_shape: tuple, n_samples: int, args: tuple, fill: int, out_shape: tuple, *,
           shared: bool = False):
    """``fn(x, *args, fill)`` reshaped to ``out_shape``, where ``fn`` maps ``n_samples`` samples of
    ``sample_shape`` (the shape ``fn`` takes for one sample) independently and alike (``shared``: every
    sample reads the one sample x, a broadcast); ``args`` must be hashable. A device x gives a device
    result, gathered on the GPU."""
    if not is_device_array(x):
        y = fn(x, *args, fill)
        if shared:
            y = np.broadcast_to(y.reshape(1, -1), (n_samples, y.size))      # a view, as NumPy broadcasts
        return y.reshape(out_shape)
    from bitsim.arrays import as_device
    from bitsim.kernels.cuda_run import gather_samples
    index_map = _device_map(fn, tuple(sample_shape), args)
    stride = 0 if shared else int(np.prod(sample_shape))
    return gather_samples(as_device(x).reshape(-1), stride, index_map, fill, n_samples).reshape(out_shape)


@functools.lru_cache(maxsize=128)
def index_map(fn, sample_shape: tuple, args: tuple) -> np.ndarray:
    """One sample's index map of ``fn``: ``fn`` applied to the element indices 1, 2, ... of a sample of
    ``sample_shape`` with fill 0, so each output holds its source index + 1, or 0 for an inserted +0 code
    (read-only, C-contiguous)."""
    ids = np.arange(1, 1 + int(np.prod(sample_shape)), dtype=np.intp).reshape(sample_shape)
    m = np.ascontiguousarray(fn(ids, *args, 0))
    m.setflags(write=False)
    return m


@functools.lru_cache(maxsize=128)
def _device_map(fn, sample_shape: tuple, args: tuple):
    """``index_map``, flat, on the device."""
    from numba import cuda
    return cuda.to_device(index_map(fn, sample_shape, args).reshape(-1).astype(np.int64))
