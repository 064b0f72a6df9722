"""The scalar core with every shift checked: a count outside 0..width-1 raises ``ShiftOutOfRange``.

LLVM leaves ``x >> n`` and ``x << n`` undefined for n >= the operand's width (and for n < 0), and the
targets really differ: x86 masks the count to 6 bits (``x >> 64`` is x), PTX clamps it (0), NumPy (and
so Numba's CUDA simulator) gives 0. One such shift in the core would make the CPU and the GPU disagree
on the inputs that reach it, which the simulator's parity tests might not contain. ``checked_core``
recompiles every core function from its source with each shift (``<<``, ``>>``, ``<<=``, ``>>=``) turned
into a call that checks the count against the left operand's width; ``checked_simulator`` runs the CUDA
simulator's kernels on it. A test then drives the public API through those kernels.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import textwrap
import types

import numpy as np

from bitsim.core import core_functions


class ShiftOutOfRange(AssertionError):
    """A shift count outside 0..width-1 in the scalar core."""


def _width(x) -> int:
    """Bits of the shifted operand: a NumPy integer scalar's width; 64 for a Python int (Numba's int64)."""
    return x.dtype.itemsize * 8 if isinstance(x, np.integer) else 64


def checked_shift(x, n, left: bool, where: str):
    """x << n (``left``) or x >> n, after checking 0 <= n < width(x)."""
    count = int(n)
    if not 0 <= count < _width(x):
        raise ShiftOutOfRange(f"{where}: {'<<' if left else '>>'} by {count} on a {_width(x)}-bit "
                              f"{type(x).__name__} ({x!r})")
    return x << n if left else x >> n


class _ShiftsToCalls(ast.NodeTransformer):
    """Rewrite ``a << b`` / ``a >> b`` (and the augmented forms) into ``_checked_shift(a, b, left, where)``."""

    def __init__(self, where: str):
        self.where = where

    def _call(self, left, right, op, lineno):
        return ast.Call(func=ast.Name("_checked_shift", ast.Load()),
                        args=[left, right, ast.Constant(isinstance(op, ast.LShift)),
                              ast.Constant(f"{self.where}, line {lineno}")], keywords=[])

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, (ast.LShift, ast.RShift)):
            return ast.copy_location(self._call(node.left, node.right, node.op, node.lineno), node)
        return node

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        if isinstance(node.op, (ast.LShift, ast.RShift)) and isinstance(node.target, ast.Name):
            value = self._call(ast.Name(node.target.id, ast.Load()), node.value, node.op, node.lineno)
            return ast.copy_location(ast.Assign(targets=[ast.Name(node.target.id, ast.Store())], value=value), node)
        return node


def _rewrite(fn: types.FunctionType, namespace: dict) -> types.FunctionType:
    source = textwrap.dedent(inspect.getsource(fn))
    where = f"{fn.__module__}.{fn.__name__}"
    tree = _ShiftsToCalls(where).visit(ast.parse(source))
    ast.fix_missing_locations(tree)
    exec(compile(tree, inspect.getsourcefile(fn), "exec"), namespace)
    return namespace[fn.__name__]


def checked_core() -> types.SimpleNamespace:
    """Every core function, rewritten with checked shifts, calling each other's checked versions."""
    fns = core_functions()
    namespaces, checked = {}, {}
    for name, fn in fns.items():
        g = namespaces.setdefault(fn.__module__, dict(fn.__globals__, _checked_shift=checked_shift))
        checked[name] = _rewrite(fn, g)
    for g in namespaces.values():
        g.update(checked)
    return types.SimpleNamespace(**checked)


@contextlib.contextmanager
def checked_simulator():
    """Within the block, the CUDA simulator's kernels (``bitsim.kernels.cuda``, ``fused_cuda``) call the
    checked core: any public call with ``backend="cuda"`` runs every core shift through the check."""
    from bitsim.kernels import cuda as G, fused_cuda
    if not G.SIMULATOR:
        raise RuntimeError("checked_simulator needs NUMBA_ENABLE_CUDASIM=1")
    checked = vars(checked_core())
    saved = []
    for module in (G, fused_cuda):
        for name in set(vars(module)) & set(checked):
            saved.append((module, name, getattr(module, name)))
            setattr(module, name, checked[name])
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)
