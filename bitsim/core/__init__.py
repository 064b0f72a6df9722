"""Integer-only scalar core, written once as plain Python and compiled for each target.

The modules below hold plain functions over Numba integer types (uint64 significands, int64
exponents, int64 parameter tuples; see ``params``). ``build(target)`` compiles all of them for one
target -- ``"cpu"`` (``numba.njit``) or ``"cuda"`` (``numba.cuda.jit(device=True)``) -- with each
function's references to the other core functions re-bound to that target's compiled versions, so the
CPU and GPU run the same source. The bit primitives of ``bitsim.kernels.primitives`` (``bit_length``,
``float64_bits``, ``bits_float64``) are bound to each target's one-instruction version. Plain Python callers (the tests) can also call the functions
directly with NumPy scalars.
"""

import types

from bitsim.core import (
    accum, arith, bits, block, block_decode, block_dot, block_encode, compare, convert, dot, fast_encode, fixed_arith, fused, grid,
    native, rng, round, unpack, wide,
)

MODULES = (bits, wide, rng, round, unpack, convert, fast_encode, arith, compare, fixed_arith, block, block_encode,
           block_decode, accum, dot, block_dot, grid, fused, native)

_BUILT = {}


def core_functions() -> dict:
    """Every function defined in the core modules, by name (names are unique across modules)."""
    fns = {}
    for mod in MODULES:
        for name, obj in vars(mod).items():
            if isinstance(obj, types.FunctionType) and obj.__module__ == mod.__name__:
                if name in fns:
                    raise RuntimeError(f"core function name {name!r} is defined twice")
                fns[name] = obj
    return fns


# Small functions in hot CPU loops, inlined by Numba on the CPU (NVVM inlines on the GPU).
CPU_INLINE = frozenset({"lane_step", "native_step", "f64_add", "f64_mul"})


def _decorator(target: str):
    if target == "cpu":
        import numba
        return lambda fn, inline: numba.njit(fn, nogil=True, inline="always" if inline else "never")
    if target == "cuda":
        from numba import cuda
        return lambda fn, inline: cuda.jit(device=True)(fn)   # NVVM inlines; Numba-level inlining takes minutes
    raise ValueError(f"target must be 'cpu' or 'cuda', got {target!r}")


def build(target: str) -> types.SimpleNamespace:
    """The core functions compiled (lazily, on first call) for ``target``."""
    if target not in _BUILT:
        deco = _decorator(target)
        fns = core_functions()
        namespaces = {}
        compiled = {}
        for name, fn in fns.items():
            g = namespaces.setdefault(fn.__module__, dict(fn.__globals__))
            clone = types.FunctionType(fn.__code__, g, name, fn.__defaults__, fn.__closure__)
            clone.__module__ = fn.__module__
            clone.__qualname__ = f"{fn.__qualname__}__{target}"
            compiled[name] = deco(clone, inline=name in CPU_INLINE)
        from bitsim.kernels.primitives import primitives
        compiled.update(primitives(target))
        for g in namespaces.values():
            g.update(compiled)
        _BUILT[target] = types.SimpleNamespace(**compiled)
    return _BUILT[target]
