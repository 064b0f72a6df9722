"""Dot products of block-format operands: ``BlockDotUnit``, ``block_matmul``, ``block_dot`` and the
presets ``bm8_kulisch``, ``bm6_kulisch``, ``mxfp8_fp32`` (docs/block_dot.md states the model).

A is (M, K) in a BlockFormat with 1-D blocks along K (axis 1: one scale per row and K-block), B is
(K, N) with 1-D blocks along K (axis 0: one scale per K-block and column), both with the same block
length L. Output (i, j) runs over the K-blocks kb = 0, 1, ... in increasing order:

1. inner: the exact element products a_k * b_k of the block are summed exactly in a Kulisch register
   (``inner``: a KulischAcc, fields None derived by ``kulisch_layout(a.element, b.element, L)``);
2. scale: the block value is register * 2**(Xa[i, kb] + Xb[kb, j]), exactly (a NaN scale gives NaN);
3. outer: the block value enters the running sum s, a ``FloatAcc`` (``outer``) that started from c
   converted to the outer format (or +0): ``block_add="convert_add"`` rounds the block value to the
   outer format (``convert_rounding``) and then adds it (``outer.rounding``): two roundings, like a
   unit that converts its Kulisch sum to FP32 and then does an FP32 add; ``block_add="fused"`` adds
   it exactly and rounds once (``outer.rounding``);
4. out: s is converted once to ``out`` (``out_rounding``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bitsim.accum.models import AccumulatorOverflow, FloatAcc, KulischAcc, kulisch_layout
from bitsim.arrays import code_array
from bitsim.backend import choose, empty_like_input, is_device_array
from bitsim.blocks.spec import BlockFormat, BlockTensor
from bitsim.core.accum import REG_OVF_RAISE, REG_OVF_SATURATE, REG_OVF_WRAP, ST_OFF_GRID, ST_OVERFLOW
from bitsim.formats import FixedFormat, FloatFormat, format as as_format
from bitsim.kernels.block_dot_fast import (block_dot_sums_array, block_register_plan, block_sums, float_block_matmul,
                                           float_outer_plan)
from bitsim.rounding import DETERMINISTIC_MODES, mode_code

MAX_REGISTER_BITS = 127
BLOCK_ADDS = ("convert_add", "fused")
_REGISTER_OVERFLOW = {"raise": REG_OVF_RAISE, "wrap": REG_OVF_WRAP, "saturate": REG_OVF_SATURATE}


def _block_format(fmt, name: str) -> BlockFormat:
    f = as_format(fmt) if isinstance(fmt, str) else fmt
    if not isinstance(f, BlockFormat):
        raise TypeError(f"BlockDotUnit.{name} must be a BlockFormat (e.g. bitsim.format('mxfp8_e4m3')); got "
                        f"{type(f).__name__}")
    return f


def _element_format(fmt, name: str):
    f = as_format(fmt)
    if not isinstance(f, (FloatFormat, FixedFormat)):
        raise TypeError(f"BlockDotUnit.{name} must be an element format (float or fixed), got {f}")
    return f


def _k_axis_length(fmt: BlockFormat, k_axis: int, owner: str) -> int:
    """The block length along K of a 2-D operand's format whose K axis is ``k_axis``; ValueError unless
    its blocks are 1-D along that axis."""
    t = fmt.tiling
    if t.kind != "axis":
        raise ValueError(f"{owner}: block dots need 1-D blocks along K (an int block length, Tiling.along(k, "
                         f"axis={k_axis})); got {t}")
    if t.axis % 2 != k_axis or not -2 <= t.axis <= 1:
        raise ValueError(f"{owner}: the blocks must lie along K, axis {k_axis} of this 2-D operand; got {t} "
                         f"(use fmt.replace(axis={k_axis}))")
    return t.size


@dataclass(frozen=True)
class BlockDotUnit:
    """A dot-product unit on block-format operands (model: the module doc and docs/block_dot.md).

    Args:
        a: BlockFormat of A (M, K): 1-D blocks along axis 1 (K).
        b: BlockFormat of B (K, N): 1-D blocks along axis 0 (K), the same block length as ``a``.
        inner: the per-block Kulisch register (``frac_bits``/``width`` None: ``kulisch_layout`` of the
            element formats and the block length; at most 127 bits).
        outer: the FloatAcc between blocks (default fp32, round to nearest even; sequential only).
        out: output format (default fp32); ``out_rounding`` its rounding.
        c: format of the addend (default ``out``).
        block_add: "convert_add" (round the scaled block sum to the outer format, then add: two
            roundings) or "fused" (add it exactly, one rounding).
        convert_rounding: rounding of the block sum into the outer format with "convert_add" (default
            ``outer.rounding``).
        name: display name (not part of equality).
    """

    a: BlockFormat
    b: BlockFormat
    inner: KulischAcc = field(default_factory=KulischAcc)
    outer: FloatAcc | None = None
    out: object = "fp32"
    out_rounding: str = "rne"
    c: object = None
    block_add: str = "convert_add"
    convert_rounding: str | None = None
    name: str | None = field(default=None, compare=False, hash=False)

    def __post_init__(self):
        o = "BlockDotUnit"
        object.__setattr__(self, "a", _block_format(self.a, "a"))
        object.__setattr__(self, "b", _block_format(self.b, "b"))
        la = _k_axis_length(self.a, 1, f"{o}.a (A is (M, K))")
        lb = _k_axis_length(self.b, 0, f"{o}.b (B is (K, N))")
        if la != lb:
            raise ValueError(f"{o}: a and b must have the same block length along K; got a: {la}, b: {lb}")
        if not isinstance(self.inner, KulischAcc):
            raise TypeError(f"{o}.inner must be a KulischAcc (the exact per-block register); got "
                            f"{type(self.inner).__name__}")
        if self.outer is None:
            object.__setattr__(self, "outer", FloatAcc(as_format("fp32")))
        if not isinstance(self.outer, FloatAcc):
            raise TypeError(f"{o}.outer must be a FloatAcc; got {type(self.outer).__name__}")
        if self.outer.order != "sequential":
            raise ValueError(f"{o}.outer: blocks are accumulated in increasing order; order must be 'sequential', "
                             f"got {self.outer.order!r}")
        if not self.outer.fmt.has_zero:
            raise ValueError(f"{o}.outer format {self.outer.fmt} has no zero to start from")
        object.__setattr__(self, "out", _element_format(self.out, "out"))
        object.__setattr__(self, "c", self.out if self.c is None else _element_format(self.c, "c"))
        if self.out_rounding not in DETERMINISTIC_MODES:
            raise ValueError(f"{o}.out_rounding must be one of {', '.join(DETERMINISTIC_MODES)}; "
                             f"got {self.out_rounding!r}")
        if self.block_add not in BLOCK_ADDS:
            raise ValueError(f"{o}.block_add must be one of {', '.join(map(repr, BLOCK_ADDS))}; got {self.block_add!r}")
        if self.convert_rounding is None:
            object.__setattr__(self, "convert_rounding", self.outer.rounding)
        if self.convert_rounding not in DETERMINISTIC_MODES:
            raise ValueError(f"{o}.convert_rounding must be one of {', '.join(DETERMINISTIC_MODES)}; "
                             f"got {self.convert_rounding!r}")
        self.register()                                   # a too-wide register is an error now

    @property
    def block_length(self) -> int:
        """L, the block length along K."""
        return self.a.tiling.size

    def register(self) -> tuple[int, int]:
        """(frac_bits, width) of the per-block Kulisch register."""
        frac, width = kulisch_layout(self.a.element, self.b.element, self.block_length)
        frac = frac if self.inner.frac_bits is None else self.inner.frac_bits
        width = width if self.inner.width is None else self.inner.width
        if width > MAX_REGISTER_BITS:
            raise ValueError(f"BlockDotUnit.inner: a {width}-bit register is needed for {self.a.element} x "
                             f"{self.b.element} blocks of {self.block_length}; the kernels hold at most "
                             f"{MAX_REGISTER_BITS} bits (give KulischAcc(width=..., overflow=...))")
        return frac, width

    def __str__(self):
        return self.name or (f"BlockDotUnit({self.a.element} x {self.b.element}, blocks of {self.block_length}, "
                             f"{self.inner}, outer {self.outer.fmt} {self.outer.rounding}, {self.block_add})")


# ---------------------------------------------------------------- operands

def _operand(T, fmt: BlockFormat, k_axis: int, name: str) -> BlockTensor:
    """Check a 2-D BlockTensor against the unit's format (element, scale, block length) with its blocks
    along ``k_axis``."""
    if not isinstance(T, BlockTensor):
        raise TypeError(f"{name} must be a BlockTensor (bitsim.encode(x, block_format)); got {type(T).__name__}")
    if is_device_array(T.codes) != is_device_array(T.scales):
        raise ValueError(f"{name}: codes and scales must both be on the host or both on the GPU")
    if len(T.shape) != 2:
        raise ValueError(f"{name} must be a 2-D BlockTensor; got shape {tuple(T.shape)}")
    f = T.format
    length = _k_axis_length(f, k_axis, f"{name}.format")
    for field_name in ("element", "scale"):
        if getattr(f, field_name) != getattr(fmt, field_name):
            raise ValueError(f"{name}.format.{field_name} is {getattr(f, field_name)} but the unit takes "
                             f"{getattr(fmt, field_name)}")
    if length != fmt.tiling.size:
        raise ValueError(f"{name}: block length along K is {length} but the unit's is {fmt.tiling.size}")
    layout = f.tiling.layout(T.shape)
    codes, scales = (x if is_device_array(x) else np.asarray(x) for x in (T.codes, T.scales))
    if tuple(codes.shape) != tuple(T.shape) or tuple(scales.shape) != layout.scale_shape:
        raise ValueError(f"{name}: codes {codes.shape} and scales {scales.shape} do not match shape {tuple(T.shape)} "
                         f"(want scales {layout.scale_shape})")
    return BlockTensor(_codes(codes, f.element, f"{name}.codes"), _codes(scales, f.scale, f"{name}.scales"),
                       tuple(T.shape), f)


def _codes(arr, fmt, name: str):
    """``code_array``, without its scan where the dtype is the format's and exactly as wide (every
    value is then a code word); device arrays stay on the device."""
    if not is_device_array(arr) and arr.dtype == fmt.code_dtype and arr.dtype.itemsize * 8 == fmt.bits:
        return np.ascontiguousarray(arr)
    return code_array(arr, fmt, name)


def _addend(c, fmt, shape, name):
    arr = code_array(c, fmt, name)
    if tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}; got {tuple(arr.shape)}")
    return arr.reshape(-1) if is_device_array(arr) else arr.reshape(-1).astype(np.uint64)


def _float32_addend(C, fmt, shape):
    """C as float32 values (any strides, no copy for uint32 code arrays of IEEE binary32), or None."""
    if C is None:
        return None
    arr = C if isinstance(C, np.ndarray) and C.dtype == np.uint32 else code_array(C, fmt, "C")
    if tuple(arr.shape) != tuple(shape):
        raise ValueError(f"C must have shape {tuple(shape)}; got {tuple(arr.shape)}")
    return arr.view(np.float32)


def _run(A: BlockTensor, SA, BT, SBT, rowwise: bool, c, unit: BlockDotUnit, n_out: int, backend: str):
    """(codes of ``unit.out``, flags): every output of the unit on ``backend``; with device operands the
    results are device arrays (the kernel writes the codes in the output's dtype)."""
    if backend == "cuda":
        from bitsim.kernels import cuda_run as kernels
    else:
        from bitsim.kernels import block_dot_cpu as kernels
    frac, width = unit.register()
    use_c = c is not None
    C = c if use_c else np.zeros(1, np.uint64)
    on_device = any(is_device_array(x) for x in (A, BT, C))
    empty = empty_like_input(A if on_device else C)
    code = empty(n_out, dtype=unit.out.code_dtype if on_device else np.uint64)
    flags = empty(n_out, dtype=np.uint8)
    status = empty(n_out, dtype=np.uint8)                       # every kernel writes every output's status

    def u64(x):
        """Host operands as contiguous uint64 (one compiled signature for all formats); device ones as they are."""
        return x if is_device_array(x) else np.ascontiguousarray(x, dtype=np.uint64)

    L, overflow = unit.block_length, _REGISTER_OVERFLOW[unit.inner.overflow]
    tail = (C, use_c, unit.a.element.params, unit.b.element.params, unit.a.scale.params, unit.b.scale.params,
            unit.c.params, frac, width, overflow, unit.outer.fmt.params, mode_code(unit.outer.rounding),
            mode_code(unit.convert_rounding), unit.block_add == "fused", unit.out.params, mode_code(unit.out_rounding),
            code, flags, status)
    plan = None if backend == "cuda" else block_register_plan(unit.a.element, unit.b.element, L, frac, width,
                                                                 overflow)
    if plan is None:
        kernels.block_dot_array(u64(A), u64(SA), u64(BT), u64(SBT), rowwise, L, *tail)
    else:
        shift, ta, sa, tb, sb = plan
        sums = block_sums(ta[A], tb[BT], L, rowwise)
        block_dot_sums_array(u64(A), u64(SA), u64(BT), u64(SBT), rowwise, L, sums, shift, sa[A].any(axis=1),
                             sb[BT].any(axis=1), *tail)
    if on_device:
        status = status.copy_to_host() if kernels.device_max(status) else np.zeros(1, np.uint8)
    if status.any():
        t = int(np.flatnonzero(status)[0])
        if status[t] == ST_OVERFLOW:
            raise AccumulatorOverflow(f"output {t}: the {width}-bit Kulisch register of a block of {unit} overflowed")
        if status[t] == ST_OFF_GRID:
            raise ValueError(f"output {t}: a product is not a multiple of the register's quantum 2**-{frac}; give "
                             "KulischAcc a larger frac_bits")
    return (code if on_device else code.astype(unit.out.code_dtype)), flags


def _arrays(A, B, c) -> list:
    """The arrays of a block dot's operands (for the backend choice): codes, scales and the addend."""
    return [x for T in (A, B) if isinstance(T, BlockTensor) for x in (T.codes, T.scales)] + [c]


def _resolve(unit):
    if isinstance(unit, str):
        from bitsim.accum.unit import unit as named_unit
        unit = named_unit(unit)
    if not isinstance(unit, BlockDotUnit):
        raise TypeError(f"unit must be a BlockDotUnit or the name of a block preset ({', '.join(BLOCK_PRESETS)}); "
                        f"got {type(unit).__name__}")
    return unit


def block_matmul(A: BlockTensor, B: BlockTensor, unit, C=None, *, return_flags=False, backend=None):
    """D = C + A @ B through a BlockDotUnit: A (M, K) blocked along axis 1, B (K, N) blocked along axis 0,
    C (M, N) codes of ``unit.c``; returns (M, N) codes of ``unit.out``. ``return_flags``: also (M, N) uint8
    flags, the OR over every rounding of the output (the addend's conversion, each block's conversion and
    addition, or its fused addition, and the conversion to ``unit.out``; 1 inexact, 2 underflow, 4 overflow,
    8 infinite, 16 invalid). ``backend``: "cpu" | "cuda" | None (``bitsim.backend``; the BlockTensors are
    host arrays, copied to the GPU for "cuda", or held on the GPU, which selects "cuda" and gives device
    results)."""
    unit = _resolve(unit)
    backend = choose(backend, *_arrays(A, B, C))
    A = _operand(A, unit.a, 1, "A")
    B = _operand(B, unit.b, 0, "B")
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"block_matmul: A is {A.shape} and B is {B.shape}; A's columns must equal B's rows")
    M, N = A.shape[0], B.shape[1]
    if not return_flags and backend == "cpu":
        plan = float_outer_plan(unit)
        if plan is not None:
            d = float_block_matmul(A.codes, A.scales, B.codes, B.scales, _float32_addend(C, unit.c, (M, N)), plan,
                                   unit.block_length)
            if d is not None:
                return d.view(unit.out.code_dtype)
    c = None if C is None else _addend(C, unit.c, (M, N), "C")
    out, flags = _run(A.codes, A.scales, B.codes.T, B.scales.T, False, c, unit, M * N, backend)
    return (out.reshape(M, N), flags.reshape(M, N)) if return_flags else out.reshape(M, N)


def block_dot(A: BlockTensor, B: BlockTensor, unit, c=None, *, return_flags=False, backend=None):
    """Row-wise d[i] = c[i] + sum_k A[i, k] * B[i, k] through a BlockDotUnit: A and B (n, K), both blocked
    along axis 1 (B's format is ``unit.b`` with ``axis=1``); c (n,) codes of ``unit.c``. ``return_flags``
    as for ``block_matmul``."""
    unit = _resolve(unit)
    backend = choose(backend, *_arrays(A, B, c))
    A = _operand(A, unit.a, 1, "A")
    B = _operand(B, unit.b, 1, "B")
    if A.shape != B.shape:
        raise ValueError(f"block_dot: A and B must have the same shape (n, K); got {A.shape} and {B.shape}")
    c = None if c is None else _addend(c, unit.c, (A.shape[0],), "c")
    out, flags = _run(A.codes, A.scales, B.codes, B.scales, True, c, unit, A.shape[0], backend)
    return (out, flags) if return_flags else out


# ---------------------------------------------------------------- presets

_BM_SOURCE = ("Fox et al., A Block Minifloat Representation for Training Deep Neural Networks, ICLR 2021: Eq. (3) "
              "(a.b = 2**-(beta_a + beta_b) * sum X_a X_b: the inner sum is pure minifloat arithmetic), Eq. (4)-(6) "
              "(Kulisch adder per block, a floating-point unit every N = 48 MACs converts the block result), "
              "Table 3 'acc' column ({acc}-bit fixed point); the Fig. 3 caption puts the scalar work in FP32 units")
_MX_SOURCE = ("OCP Microscaling Formats (MX) Specification v1.0 (2023), section 6 (dot product of MX vectors: "
              "X_A * X_B * sum P_A,i * P_B,i per block, summed over the blocks; the internal precision and order "
              "are implementation-defined -- this preset takes the block sum exactly and accumulates the blocks "
              "in FP32)")


def _bm_unit(name: str, config: str) -> BlockDotUnit:
    from bitsim.blocks.catalog import lookup_block
    cfg = lookup_block(config)
    scale = cfg.activation.scale                      # the 8-bit shared exponent, 2**(s - emax_e)
    a = BlockFormat(cfg.forward, cfg.tile, axis=1, scale=scale, name=f"{name}.a:{cfg.forward}")
    b = BlockFormat(cfg.forward, cfg.tile, axis=0, scale=scale, name=f"{name}.b:{cfg.forward}")
    return BlockDotUnit(a, b, KulischAcc(width=cfg.accumulator_bits, overflow="raise"), FloatAcc(as_format("fp32")),
                        "fp32", name=name)


def _mx_unit(name: str) -> BlockDotUnit:
    from bitsim.blocks.catalog import lookup_block
    mx = lookup_block("mxfp8_e4m3")
    return BlockDotUnit(mx.replace(axis=1), mx.replace(axis=0), KulischAcc(), FloatAcc(as_format("fp32")), "fp32",
                        name=name)


BLOCK_PRESETS = {
    "bm8_kulisch": lambda: _bm_unit("bm8_kulisch", "bm8"),
    "bm6_kulisch": lambda: _bm_unit("bm6_kulisch", "bm6"),
    "mxfp8_fp32": lambda: _mx_unit("mxfp8_fp32"),
}

BLOCK_PRESET_SOURCES = {
    "bm8_kulisch": "BM8 forward GEMM, (2,5) activations x (2,5) weights, blocks of 48 along K, 8-bit shared "
                   "exponents; exact per-block sum in a 31-bit Kulisch register (fraction 12 bits); block sum "
                   "rounded to FP32 (RNE) then added in FP32 (RNE), blocks in increasing k; FP32 out. "
                   + _BM_SOURCE.format(acc=31),
    "bm6_kulisch": "BM6 forward GEMM, (2,3) x (2,3), blocks of 48 along K; 20-bit Kulisch register (fraction 8 "
                   "bits); FP32 between blocks as bm8_kulisch. " + _BM_SOURCE.format(acc=20),
    "mxfp8_fp32": "MXFP8 E4M3 x MXFP8 E4M3, 32-element blocks with E8M0 scales; exact per-block sum in a 43-bit "
                  "Kulisch register (fraction 18 bits); block sum rounded to FP32 (RNE) then added in FP32 (RNE); "
                  "FP32 out. " + _MX_SOURCE,
}


def block_unit(name: str) -> BlockDotUnit | None:
    """The block preset of a name, or None."""
    make = BLOCK_PRESETS.get(name)
    return None if make is None else make()
