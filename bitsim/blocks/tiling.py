"""Tilings: how a tensor is cut into blocks that share one scale.

Every tiling is one recipe: view the tensor in a *canonical* shape, give each canonical dimension a tile
length t (1 = every index its own block, the full length = the whole dimension in one block), pad each
dimension with zeros up to a multiple of t, and read the blocks out in C order of the block grid; inside
a block, elements are in C order of the tile. Padding zeros never change a block's largest magnitude and
are dropped on the way back.

========================  ==========================================================================
``Tiling.along(k, axis)``  1-D blocks of k consecutive elements along ``axis`` (OCP MX: k = 32)
``Tiling.tiles(T)``        T x T tiles over the last two dimensions (Block Minifloat paper, T = 48)
``Tiling.per_slice(axis)`` one block per index of ``axis`` (axis 0: per row / sample / out-channel)
``Tiling.per_tensor()``    one block for the whole tensor
``Tiling.bm_reference(T, tensor)``  the tilings of the Block Minifloat reference code
                           (sfox14/block_minifloat ``quant/block_design.py``), ``tensor`` "x" for
                           activations/errors and "w" for weights; T > 0, or -1 (per index of dim 0,
                           vectors whole) or 0 (per tensor):
                           1-D: whole vector; 2-D (R, C): per row if C < T, else T x T tiles;
                           4-D "x" (N, C, H, W): per sample if C < T, else 1 x T channels x T
                           positions of the flattened H*W; 4-D "w" (O, I, kh, kw): per out-channel if
                           I < T, else T out x T in x all kh*kw; 3-D and >4-D tensors are rejected.
========================  ==========================================================================
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

KINDS = ("axis", "tile", "slice", "tensor", "bm_x", "bm_w")


def _check_size(kind: str, size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"Tiling.size must be an int, got {size!r} ({type(size).__name__})")
    if kind in ("bm_x", "bm_w"):
        if size < -1:
            raise ValueError(f"Tiling.size for the BM reference tilings must be > 0, -1 or 0; got {size}")
    elif kind in ("axis", "tile") and size <= 0:
        raise ValueError(f"Tiling.size (block length) must be >= 1; got {size}")
    return int(size)


@dataclass(frozen=True)
class Tiling:
    """A rule that cuts a tensor into blocks (see the module doc); build with the class methods."""

    kind: str
    size: int = 0
    axis: int = -1

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Tiling.kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        object.__setattr__(self, "size", _check_size(self.kind, self.size))
        if isinstance(self.axis, bool) or not isinstance(self.axis, (int, np.integer)):
            raise TypeError(f"Tiling.axis must be an int, got {self.axis!r}")
        object.__setattr__(self, "axis", int(self.axis))

    @classmethod
    def along(cls, size: int, axis: int = -1) -> "Tiling":
        return cls("axis", size, axis)

    @classmethod
    def tiles(cls, size: int) -> "Tiling":
        return cls("tile", size)

    @classmethod
    def per_slice(cls, axis: int = 0) -> "Tiling":
        return cls("slice", 0, axis)

    @classmethod
    def per_tensor(cls) -> "Tiling":
        return cls("tensor")

    @classmethod
    def bm_reference(cls, size: int = 48, tensor: str = "x") -> "Tiling":
        if tensor not in ("x", "w"):
            raise ValueError(f"tensor must be 'x' (activations, errors) or 'w' (weights); got {tensor!r}")
        return cls("bm_" + tensor, size)

    def __str__(self):
        return {"axis": f"blocks of {self.size} along axis {self.axis}", "tile": f"{self.size}x{self.size} tiles",
                "slice": f"one block per index of axis {self.axis}", "tensor": "one block per tensor",
                "bm_x": f"BM reference activation tiling, T={self.size}",
                "bm_w": f"BM reference weight tiling, T={self.size}"}[self.kind]

    def layout(self, shape) -> "Layout":
        """The block layout of a tensor of ``shape`` (ValueError if this tiling cannot take it); one
        shared object per (tiling, shape), since training loops lay out the same shapes again and again."""
        return _layout(self, tuple(int(d) for d in shape))

    # ---- canonical view and tile length of each canonical dimension
    def _canonical(self, shape):
        nd = len(shape)
        if self.kind == "tensor":
            return shape, shape
        if self.kind in ("axis", "slice"):
            ax = _normalise_axis(self.axis, nd)
            tile = min(self.size, shape[ax]) if self.kind == "axis" else 1
            return shape, tuple(tile if i == ax else (1 if self.kind == "axis" else d) for i, d in enumerate(shape))
        if self.kind == "tile":
            if nd < 2:
                raise ValueError(f"Tiling.tiles({self.size}) needs a tensor of at least 2 dimensions; got shape {shape}")
            return shape, (1,) * (nd - 2) + (self.size, self.size)
        return self._bm_canonical(shape)

    def _bm_canonical(self, shape):
        nd, t = len(shape), self.size
        if nd not in (1, 2, 4):
            raise ValueError(f"the BM reference tilings take 1-D, 2-D or 4-D tensors; got shape {shape}")
        if nd == 1 or t == 0:
            return shape, shape
        per_first = (1,) + shape[1:]
        if t == -1 or shape[1] < t:
            return shape, per_first
        if nd == 2:
            return shape, (t, t)
        n0, n1 = shape[0], shape[1]
        rest = shape[2] * shape[3]
        if self.kind == "bm_x":
            return (n0, n1, rest), (1, t, t)
        return (n0, n1, rest), (t, t, rest)


@functools.lru_cache(maxsize=512)
def _layout(tiling: Tiling, shape: tuple) -> "Layout":
    canon, tiles = tiling._canonical(shape)
    return Layout(shape, canon, tiles)


def _normalise_axis(axis: int, nd: int) -> int:
    if not -nd <= axis < nd:
        raise ValueError(f"Tiling.axis {axis} is out of range for a {nd}-D tensor")
    return axis % nd


class Layout:
    """A tiling applied to one shape: gathers a tensor into a (n_blocks, block_len) array and back."""

    def __init__(self, shape, canon, tiles):
        self.shape = shape
        self.canon = canon
        self.tiles = tuple(max(1, min(t, d)) if d else 1 for t, d in zip(tiles, canon))
        self.grid = tuple(math.ceil(d / t) for d, t in zip(canon, self.tiles))
        self.n_blocks = math.prod(self.grid)
        self.block_len = math.prod(self.tiles)
        self._padded = tuple(g * t for g, t in zip(self.grid, self.tiles))
        self._split = tuple(x for g, t in zip(self.grid, self.tiles) for x in (g, t))
        nd = len(canon)
        self._perm = tuple(range(0, 2 * nd, 2)) + tuple(range(1, 2 * nd, 2))
        self._inverse = tuple(np.argsort(self._perm))

    @property
    def scale_shape(self) -> tuple:
        """Shape of the scale array: the block grid over the canonical dimensions."""
        return self.grid

    def gather(self, arr: np.ndarray) -> np.ndarray:
        """(n_blocks, block_len) contiguous array of ``arr``'s elements, zero-padded."""
        a = arr.reshape(self.canon)
        if self._padded != self.canon:
            a = np.pad(a, [(0, p - d) for p, d in zip(self._padded, self.canon)])
        blocks = a.reshape(self._split).transpose(self._perm).reshape(self.n_blocks, self.block_len)
        return np.ascontiguousarray(blocks)

    def scatter(self, blocks: np.ndarray) -> np.ndarray:
        """The inverse of ``gather``: a tensor of ``shape`` (padding dropped)."""
        a = blocks.reshape(self.grid + self.tiles).transpose(self._inverse).reshape(self._padded)
        if self._padded != self.canon:
            a = a[tuple(slice(0, d) for d in self.canon)]
        return np.ascontiguousarray(a).reshape(self.shape)

    def slot_sources(self) -> np.ndarray:
        """Flat (C order) element index of every block slot, -1 for padding, block after block."""
        idx = np.arange(math.prod(self.shape), dtype=np.int64)
        a = idx.reshape(self.canon)
        if self._padded != self.canon:
            a = np.pad(a, [(0, p - d) for p, d in zip(self._padded, self.canon)], constant_values=-1)
        return np.ascontiguousarray(a.reshape(self._split).transpose(self._perm).reshape(-1))

    def runs(self) -> tuple[int, np.ndarray, np.ndarray]:
        """(run_len, starts, lengths): every block is ``block_len // run_len`` runs of consecutive
        elements (one row of the tile's last dimension); run r of block b starts at flat index
        ``starts[b * R + r]`` and holds ``lengths[...]`` elements (fewer at a padded edge, 0 for padding).
        Slot j of the block is element j % run_len of run j // run_len."""
        run_len = self.tiles[-1] if self.tiles else 1
        if self._padded == self.canon and self._consecutive():
            run_len = self.block_len
            starts = np.arange(self.n_blocks, dtype=np.int64) * run_len
            return run_len, starts, np.full(self.n_blocks, run_len, dtype=np.int64)
        slots = self.slot_sources().reshape(-1, run_len)
        return run_len, np.ascontiguousarray(slots[:, 0]), np.count_nonzero(slots >= 0, axis=1).astype(np.int64)

    def _consecutive(self) -> bool:
        """True when each block is a run of consecutive elements: every dimension after the first
        tiled one is whole (dimensions before it are tiled by 1)."""
        split = [i for i, t in enumerate(self.tiles) if t != 1]
        return not split or all(t == d for t, d in zip(self.tiles[split[0] + 1:], self.canon[split[0] + 1:]))

    def expand(self, per_block: np.ndarray) -> np.ndarray:
        """A tensor of ``shape`` holding, at each element, its block's entry of ``per_block``."""
        flat = np.asarray(per_block).reshape(self.n_blocks, 1)
        return self.scatter(np.broadcast_to(flat, (self.n_blocks, self.block_len)))
