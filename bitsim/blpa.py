"""BLPA per-channel K-bit activation codec (Chakrabarti & Moseley, NeurIPS 2019), K = 4 or 8.

Bit-exact to the reference CUDA kernels of github ``ayanc/blpa`` (``blpa/ops/quant.cu.cc``) as nvcc
compiles them, fed the way ``blpa/graph.py`` feeds them. See docs/blpa.md for the pinned operation order.

With n = 2**K bins, per channel gc = max(float32(1e-8), gamma) and b = float32(beta / gc):

* the kernel's input is z = float32(y / gc), y the BN output (``graph.py`` passes ``out/cscale``);
* shift s = max(1, n/2 - floor(float32(double(b) * (n/6.0)))), a float32 (integer-valued, >= 1, may be +inf);
* code  q = min(n-1, max(0, floor(float32((double(z) - 1e-6) * (n/6.0))) + s)), the add in float32;
* reconstruction zhat = float32((double(float32(q - s)) + 0.5) * (6.0/n));
* ReLU mask R = 1.0 where q >= (uint8)s else 0.0, with (uint8)s as nvcc emits it: a saturating
  float -> uint32 conversion keeping the low 8 bits (so s = 256 gives 0 and a mask of all ones).

The literals 1e-6, n/6.0 and 6.0/n are C doubles, so those steps run in binary64 and round once to binary32;
numpy's float64 arithmetic is the same IEEE binary64 arithmetic, so the steps are reproduced, not approximated.
No multiply feeds an add anywhere in the kernels, so nvcc's default FMA contraction changes nothing.

Codes are stored channel-last (the reference's NHWC layout): for K = 8 one uint8 per element; for K = 4 two
per byte, the element at even flat index 2j in the high nibble and 2j+1 in the low nibble (``pack4``).
"""

from __future__ import annotations

import numpy as np

BITS = (4, 8)
GAMMA_FLOOR = np.float32(1e-8)   # graph.py clamps scale with tf.maximum(1e-8, .) in float32
EPSILON = 1e-6                   # the kernel subtracts the double literal 1.0e-6
RANGE = 6.0                      # the grid spans 6 units of z (about +-3 sigma)
_U32_MAX = 2.0 ** 32 - 1


# ---------------------------------------------------------------- validation

def _check_bits(K) -> int:
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or int(K) not in BITS:
        raise ValueError(f"K must be 4 or 8; got K={K!r}")
    return int(K)


def _typed_array(name: str, a, dtype) -> np.ndarray:
    arr = a if isinstance(a, np.ndarray) else np.asarray(a)
    if arr.dtype != dtype:
        raise TypeError(f"{name} must be a {np.dtype(dtype).name} array; got dtype {arr.dtype}")
    return arr


def _first_bad(name: str, arr: np.ndarray, bad: np.ndarray, rule: str):
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be {rule}; got {name}[{i}] = {arr[i].item()!r}")


def _per_channel(name: str, a) -> np.ndarray:
    arr = _typed_array(name, a, np.float32)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per channel); got shape {arr.shape}")
    return arr


def _finite_per_channel(name: str, a) -> np.ndarray:
    arr = _per_channel(name, a)
    _first_bad(name, arr, ~np.isfinite(arr), "finite")
    return arr


def _channel_params(gamma, beta) -> tuple[np.ndarray, np.ndarray]:
    gamma, beta = _finite_per_channel("gamma", gamma), _finite_per_channel("beta", beta)
    if gamma.shape != beta.shape:
        raise ValueError(f"gamma and beta must have one value per channel each; got shapes "
                         f"{gamma.shape} and {beta.shape}")
    return gamma, beta


def _checked_shift(shift) -> np.ndarray:
    shift = _per_channel("shift", shift)
    bad = ~(shift >= 1) | (np.floor(shift) != shift)
    _first_bad("shift", shift, bad, "a per-channel shift from channel_shift/encode (integer-valued, >= 1)")
    return shift


def _channels_last(name: str, a, axis, channels: int) -> np.ndarray:
    """The float32 array ``a`` with its channel axis moved last, after checking it has ``channels`` there."""
    arr = _typed_array(name, a, np.float32)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be an int; got {axis!r}")
    if not -arr.ndim <= axis < arr.ndim:
        raise ValueError(f"axis={axis} is out of range for {name} of shape {arr.shape}")
    if arr.shape[axis] != channels:
        raise ValueError(f"{name}.shape[{axis}] = {arr.shape[axis]} does not match the {channels} channels "
                         "of the per-channel parameters")
    return np.moveaxis(arr, axis, -1)


def _even_channels(K: int, channels: int):
    if K == 4 and channels % 2:
        raise ValueError(f"K=4 packs adjacent channels two per byte: the channel count must be even; "
                         f"got {channels}")


# ---------------------------------------------------------------- per-channel quantities

def _to_float32(x64: np.ndarray) -> np.ndarray:
    """binary64 -> binary32, round to nearest even, overflow to +-inf (cvt.rn.f32.f64)."""
    with np.errstate(over="ignore"):
        return x64.astype(np.float32)


def _clamped(gamma: np.ndarray) -> np.ndarray:
    return np.maximum(GAMMA_FLOOR, gamma)


def clamp_gamma(gamma) -> np.ndarray:
    """max(float32(1e-8), gamma), the scale the reference graph multiplies and divides by."""
    return _clamped(_finite_per_channel("gamma", gamma))


def _bias(gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore"):
        return beta / _clamped(gamma)


def channel_bias(gamma, beta) -> np.ndarray:
    """b = float32(beta / max(1e-8, gamma)) per channel (may overflow to +-inf for tiny gamma)."""
    return _bias(*_channel_params(gamma, beta))


def _shift(b: np.ndarray, K: int) -> np.ndarray:
    floor_b = np.floor(_to_float32(b.astype(np.float64) * ((1 << K) / RANGE)))
    return np.fmax(np.float32(1), np.float32(1 << (K - 1)) - floor_b)


def channel_shift(gamma, beta, K) -> np.ndarray:
    """Per-channel shift s = max(1, n/2 - floor(b*n/6)) as the kernel holds it: float32, integer-valued,
    >= 1, +inf when b*n/6 overflows binary32 towards -inf."""
    K = _check_bits(K)
    return _shift(_bias(*_channel_params(gamma, beta)), K)


# ---------------------------------------------------------------- nibble packing

def pack4(codes) -> np.ndarray:
    """Pack 4-bit codes two per byte along the last axis: byte j = codes[2j] << 4 | codes[2j+1]."""
    codes = _typed_array("codes", codes, np.uint8)
    if codes.ndim == 0 or codes.shape[-1] % 2:
        raise ValueError(f"pack4 packs adjacent pairs along the last axis, which must have an even length; "
                         f"got codes of shape {codes.shape}")
    flat = codes.reshape(-1)
    _first_bad("codes", flat, flat > 15, "4-bit (< 16)")
    return (codes[..., 0::2] << 4) | codes[..., 1::2]


def unpack4(packed) -> np.ndarray:
    """Inverse of ``pack4``: high nibble first, the last axis doubles in length."""
    packed = _typed_array("packed", packed, np.uint8)
    if packed.ndim == 0:
        raise ValueError("unpack4 needs an array with at least one axis; got a 0-d array")
    pairs = np.stack([packed >> 4, packed & 15], axis=-1)
    return pairs.reshape(packed.shape[:-1] + (2 * packed.shape[-1],))


# ---------------------------------------------------------------- encode

def _codes(z: np.ndarray, shift: np.ndarray, K: int) -> np.ndarray:
    n = 1 << K
    bins = np.floor(_to_float32((z.astype(np.float64) - EPSILON) * (n / RANGE)))
    with np.errstate(invalid="ignore"):
        q = np.fmin(np.float32(n - 1), np.fmax(np.float32(0), bins + shift))
    return q.astype(np.uint8)


def encode(y, gamma, beta, K, axis=-1) -> tuple[np.ndarray, np.ndarray]:
    """Encode BN outputs y (float32; channels along ``axis``) to BLPA codes.

    Args:
        y: float32 array, the BN output gamma*xhat + beta (what graph.py quantises, divided by
            max(1e-8, gamma) on the way in). NaN and +-inf are allowed (they follow the kernel).
        gamma, beta: float32 1-D arrays, one finite value per channel.
        K: 4 or 8.
        axis: the channel axis of y (the reference uses NHWC, axis=-1).

    Returns:
        (codes, shift): codes uint8 in the channel-last layout (y with ``axis`` moved last); for K=4 packed
        two per byte (``pack4``), so the last axis has half the channels. shift is the float32 per-channel
        shift (``channel_shift``), needed to decode.
    """
    K = _check_bits(K)
    gamma, beta = _channel_params(gamma, beta)
    y_last = _channels_last("y", y, axis, gamma.size)
    _even_channels(K, gamma.size)
    shift = _shift(_bias(gamma, beta), K)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):     # invalid: signaling NaN inputs
        z = y_last / _clamped(gamma)
    codes = _codes(z, shift, K)
    return (pack4(codes) if K == 4 else codes), shift


# ---------------------------------------------------------------- decode

def _stored_codes(codes, shift, K) -> tuple[np.ndarray, np.ndarray, int]:
    """Validated (unpacked channel-last codes, shift, K)."""
    K = _check_bits(K)
    shift = _checked_shift(shift)
    codes = _typed_array("codes", codes, np.uint8)
    _even_channels(K, shift.size)
    per_row = shift.size // 2 if K == 4 else shift.size
    if codes.ndim == 0 or codes.shape[-1] != per_row:
        raise ValueError(f"codes must be channel-last with {per_row} bytes per position for K={K} and "
                         f"{shift.size} channels; got shape {codes.shape}")
    return (unpack4(codes) if K == 4 else codes), shift, K


def _shift_byte(shift: np.ndarray) -> np.ndarray:
    """(uint8)shift as nvcc compiles it: cvt.rzi.u32.f32 (saturating) and the low 8 bits."""
    return np.minimum(shift.astype(np.float64), _U32_MAX).astype(np.uint64) & np.uint64(255)


def decode(codes, shift, K, axis=-1) -> np.ndarray:
    """Reconstruction zhat = float32((q - s + 0.5) * 6/n) in z units (the kernel's restored activation).

    ``codes`` and ``shift`` as returned by ``encode``; the result is float32 with channels moved back to
    ``axis`` (the layout of the encoded y). s = +inf gives -inf.
    """
    q, shift, K = _stored_codes(codes, shift, K)
    centred = q.astype(np.float32) - shift
    zhat = _to_float32((centred.astype(np.float64) + 0.5) * (RANGE / (1 << K)))
    return np.moveaxis(zhat, -1, axis)


def relu_mask(codes, shift, K, axis=-1) -> np.ndarray:
    """The stored ReLU derivative: float32 1.0 where q >= (uint8)s, else 0.0, channels at ``axis``."""
    q, shift, _ = _stored_codes(codes, shift, K)
    return np.moveaxis((q >= _shift_byte(shift)).astype(np.float32), -1, axis)


# ---------------------------------------------------------------- what the backward pass derives

def restored_activation(zhat, gamma, axis=-1) -> np.ndarray:
    """relu(float32(zhat * max(1e-8, gamma))): the approximate post-ReLU activation graph.py feeds to the
    weight-gradient convolution. ``zhat`` float32 with channels at ``axis``."""
    gamma = _finite_per_channel("gamma", gamma)
    with np.errstate(over="ignore", under="ignore"):
        y_hat = _channels_last("zhat", zhat, axis, gamma.size) * _clamped(gamma)
    return np.moveaxis(np.maximum(y_hat, np.float32(0)), -1, axis)


def restored_xhat(zhat, gamma, beta, axis=-1) -> np.ndarray:
    """float32(zhat - b): the approximate normalised input graph.py uses in the BN backward pass
    (NaN where zhat and b are both -inf)."""
    gamma, beta = _channel_params(gamma, beta)
    z_last = _channels_last("zhat", zhat, axis, gamma.size)
    with np.errstate(invalid="ignore"):
        return np.moveaxis(z_last - _bias(gamma, beta), -1, axis)


__all__ = ["BITS", "GAMMA_FLOOR", "EPSILON", "clamp_gamma", "channel_bias", "channel_shift", "encode",
           "decode", "relu_mask", "restored_activation", "restored_xhat", "pack4", "unpack4"]
