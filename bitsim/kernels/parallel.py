"""Serial and parallel builds of one Numba CPU kernel, so that small calls skip the thread launch.

On a 2-core machine a parallel launch costs more than it saves on small inputs, and far more when
another process holds a core; callers pick the parallel build from a size threshold of their own
(``block_cpu.PARALLEL_MIN_ELEMENTS``, ``block_dot_fast.PARALLEL_MIN_MACS``). No fastmath, ever.
"""

import types

import numba


def serial_and_parallel(fn):
    """(serial, parallel) compilations of a kernel written with prange, each under its own name (Numba's
    on-disk cache keys a function by name and signature, not by its flags)."""
    out = []
    for parallel in (False, True):
        clone = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
        clone.__qualname__ = f"{fn.__qualname__}_{'parallel' if parallel else 'serial'}"
        out.append(numba.njit(parallel=parallel, nogil=True, cache=True)(clone))
    return tuple(out)
