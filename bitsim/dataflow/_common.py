"""Shared pieces of ``bitsim.dataflow``: argument checks, window geometry, unit formats, padding codes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitsim.accum.presets import TensorCoreUnit
from bitsim.accum.unit import DotUnit, unit as named_unit
from bitsim.arrays import host_only, operand_codes
from bitsim.formats import FixedFormat, FloatFormat
from bitsim.quantize import decode, encode


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def pair(value, name: str, minimum: int) -> tuple[int, int]:
    """(v, v) from an int, or a 2-tuple/list of ints; every entry must be >= ``minimum``."""
    items = (value, value) if _is_int(value) else value
    if (not isinstance(items, (tuple, list)) or len(items) != 2 or not all(_is_int(v) for v in items)
            or any(v < minimum for v in items)):
        kind = "positive" if minimum >= 1 else "non-negative"
        raise ValueError(f"{name} must be a {kind} int or a pair of {kind} ints; got {value!r}")
    return int(items[0]), int(items[1])


@dataclass(frozen=True)
class Window:
    """A 2-D sliding window: kernel, stride, padding and dilation, each (height, width)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int] = (1, 1)

    @staticmethod
    def of(kernel, stride, padding, dilation, what: str) -> "Window":
        return Window(pair(kernel, f"{what}: kernel", 1), pair(stride, f"{what}: stride", 1),
                      pair(padding, f"{what}: padding", 0), pair(dilation, f"{what}: dilation", 1))

    def out_size(self, height: int, width: int, what: str) -> tuple[int, int]:
        """(H_out, W_out) = floor((size + 2 p - d (k - 1) - 1) / s) + 1; ValueError when < 1."""
        sizes = []
        for axis, size, k, s, p, d in zip(("height", "width"), (height, width), self.kernel, self.stride,
                                          self.padding, self.dilation):
            span = d * (k - 1) + 1
            if size + 2 * p < span:
                raise ValueError(f"{what}: output {axis} would be < 1: input {axis} {size} + 2 * padding {p} "
                                 f"is smaller than the dilated kernel {axis} {span} (kernel {k}, dilation {d})")
            sizes.append((size + 2 * p - span) // s + 1)
        return sizes[0], sizes[1]

    def taps(self, axis: int, out: int) -> np.ndarray:
        """(out, kernel) positions in the padded input along ``axis``: o * stride + i * dilation."""
        k, s, d = self.kernel[axis], self.stride[axis], self.dilation[axis]
        return np.arange(out)[:, None] * s + np.arange(k)[None, :] * d

    def sources(self, axis: int, size: int, out: int) -> np.ndarray:
        """(size, kernel) output position o with o * stride - padding + i * dilation == h for every input
        position h and tap i, or ``out`` (a sentinel) where no output position reaches h through tap i."""
        k, s, p, d = self.kernel[axis], self.stride[axis], self.padding[axis], self.dilation[axis]
        num = np.arange(size)[:, None] + p - np.arange(k)[None, :] * d
        o = num // s
        return np.where((num >= 0) & (num % s == 0) & (o < out), o, out)


def resolve_unit(unit, what: str):
    """(unit, a format, b format, c format, out format) of a DotUnit, a TensorCoreUnit or a preset name."""
    u = named_unit(unit) if isinstance(unit, str) else unit
    if isinstance(u, DotUnit):
        return u, u.a, u.b, u.c, u.out
    if isinstance(u, TensorCoreUnit):
        return u, u.fmt_in, u.fmt_in, u.out, u.out
    raise TypeError(f"{what}: unit must be a DotUnit, a TensorCoreUnit or a preset name; got {type(unit).__name__}")


def codes(x, fmt, name: str, what: str, ndim: int | None = 4, device: bool = False) -> np.ndarray:
    """Validated code array of ``fmt`` with ``ndim`` dimensions, every one non-empty (host arrays only,
    unless ``device``: device arrays are then checked and kept on the device)."""
    if not device:
        host_only(x, f"bitsim.dataflow.{what}")
    arr = operand_codes(x, fmt, f"{what}: {name}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{what}: {name} must be a {ndim}-D array of codes; got shape {arr.shape}")
    if ndim is not None and 0 in arr.shape:
        raise ValueError(f"{what}: {name} must have no empty dimension; got shape {arr.shape}")
    return arr


def shape4(shape, name: str, what: str) -> tuple[int, int, int, int]:
    if (not isinstance(shape, (tuple, list)) or len(shape) != 4 or not all(_is_int(v) for v in shape)
            or any(v < 1 for v in shape)):
        raise ValueError(f"{what}: {name} must be a tuple of 4 positive ints; got {shape!r}")
    return tuple(int(v) for v in shape)


def zero_code(fmt, role: str) -> int:
    """The code of +0 in ``fmt`` (``bitsim.encode(0.0, fmt)``); ValueError for formats without a zero."""
    z = encode(np.zeros(1), fmt)
    if (isinstance(fmt, FloatFormat) and not fmt.has_zero) or decode(z, fmt)[0] != 0:
        raise ValueError(f"{role}: format {fmt} has no zero to pad with")
    return int(z[0])


def lowest_code(fmt) -> int:
    """The code of the smallest value of ``fmt``: -inf, else the most negative finite value (signed
    floats), the most negative integer (signed fixed point), or code 0 (unsigned formats)."""
    if isinstance(fmt, FloatFormat):
        if not fmt.signed:
            return 0
        if fmt.inf_code is not None:
            return fmt.inf_code | fmt.sign_mask
        return fmt.max_code_magnitude | fmt.sign_mask
    if isinstance(fmt, FixedFormat):
        return 1 << (fmt.bits - 1) if fmt.signed else 0
    raise TypeError(f"expected an element format (float or fixed); got {fmt}")


def pad_hw(x: np.ndarray, padding: tuple[int, int], value: int) -> np.ndarray:
    """x (N, C, H, W) with ``padding`` rows/columns of ``value`` on each side of H and W."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=x.dtype.type(value))


def windows(xp: np.ndarray, win: Window, out_hw: tuple[int, int]) -> np.ndarray:
    """(N, C, H_out, kh, W_out, kw): every window of the padded input ``xp`` (a pure gather)."""
    rows, cols = win.taps(0, out_hw[0]), win.taps(1, out_hw[1])
    return xp[:, :, rows[:, :, None, None], cols[None, None, :, :]]
