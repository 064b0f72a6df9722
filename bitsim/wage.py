"""WAGE (Wu et al., "Training and Inference with Integers in Deep Neural Networks", ICLR 2018) as exact
integer operations.

Every quantiser is a rounding onto a fixed-point grid done by ``bitsim.encode``; WAGE's power-of-two
rescalings (``x / Shift(max|x|)``, ``eta * g``) are folded into the grid's ``frac_bits`` instead of being
applied to the data, so no float arithmetic touches a value. Facts come from the paper and from the
authors' TensorFlow code (``source/Quantize.py``: ``S``, ``Shift``, ``C``, ``Q``, ``G``, ``error``;
``source/myInitializer.py``: the layer scale), as summarised in ``seed_papers.md`` section 5.

Representations:

* ``quantize`` and ``quantize_error`` return code words of the ``wage_k`` format
  (``FixedFormat(k, k - 1, signed, saturate, symmetric)``): value = integer * sigma(k).
* Weight updates and the weight accumulator are int64 counts of *half steps* of the k_G grid,
  ``sigma(k_G) / 2 = 2**-k_G`` (value = count * 2**-k_G). The paper's updates are always an even count;
  the reference code's ``+0.5`` tie (see ``quantize_gradient``) makes an odd one.
  ``half_step_values`` and ``to_half_steps`` convert to and from exact float64.

The quantisers accept bit widths 2..15 only. For k = 1 the code's ``Q`` is ``sign(x)`` (BNN) and for
k > 15 it is the identity (no quantisation at all); neither is a WAGE grid, so they raise ValueError
(use ``np.sign`` or keep the float). ``clip`` follows the code for every k >= 1.

Where the reference code is not exact and bitsim is: ``Shift`` is evaluated in float32 there
(``2 ** tf.round(tf.log(x) / tf.log(2.0))``), which can misround within a few float32 ulps of
``sqrt(2) * 2**n``; an all-zero tensor makes the code divide by ``Shift(0) = 0`` (NaN), here it gives
zeros with shift exponent 0; and float32 (flush-to-zero on GPUs) can lose scaled gradient bits below
2**-126 that decide the code profile's ``frac > u`` comparison.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from bitsim.core.params import FLAG_INEXACT
from bitsim.formats import FixedFormat, format as as_format
from bitsim.kernels.cpu import counter_bits_array
from bitsim.quantize import encode
from bitsim.rounding import stochastic_args

PROFILES = ("paper", "code")
WEIGHT_CLIPS = ("paper", "code")
ALPHA_RULES = ("code", "paper")
MIN_BITS, MAX_BITS = 2, 15            # the code quantises only for 1 < k <= 15
PAPER_RANDOM_BITS = 16                # "a 16-bit random number generator" (paper, gradient quantiser)
CODE_RANDOM_BITS = 23                 # tf.random_uniform in float32: u = R * 2**-23, R < 2**23
ETA_MIN_EXPONENT, ETA_MAX_EXPONENT = -64, 32
BETA = Fraction(3, 2)                 # L_min = beta * sigma(k_W), paper Eq. (5)
_FRAC_BITS_RANGE = 1024               # FixedFormat.frac_bits lies in -1024..1024
_HALF_STEP_LIMIT = 1 << 61            # accumulator magnitudes, so that w - dW cannot overflow int64
# frexp mantissa m in [1/2, 1): m > sqrt(1/2) iff (2m)**2 > 2. This is the largest double below sqrt(1/2)
# (sqrt(1/2) is irrational, so no double equals it and the comparison is exact).
_BELOW_SQRT_HALF = math.ldexp(math.isqrt(1 << 105), -53)


# ------------------------------------------------------------------ argument checks

def _check_int(name: str, value, lo: int, hi: int | None = None, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < lo or (hi is not None and value > hi):
        span = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be {span}, got {value!r}{why}")
    return int(value)


def _check_bits(name: str, k) -> int:
    """A quantiser bit width: 2..15."""
    return _check_int(name, k, MIN_BITS, MAX_BITS, " (the WAGE code's Q is sign(x) for k = 1 and the "
                      "identity for k > 15; neither is a k-bit grid)")


def _check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def _float_array(x, name: str) -> np.ndarray:
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.dtype not in (np.float16, np.float32, np.float64):
        raise TypeError(f"{name} must be a float16, float32 or float64 array; got dtype {arr.dtype}")
    return arr


def _reject(arr: np.ndarray, bad: np.ndarray, name: str, why: str) -> None:
    """ValueError naming the first element of ``arr`` where ``bad`` holds."""
    if np.any(bad):
        idx = np.unravel_index(int(np.argmax(bad)), arr.shape) if arr.ndim else ()
        where = f"{name}[{', '.join(map(str, idx))}]" if idx else name
        raise ValueError(f"{where} = {arr[idx].item()!r} {why}")


def _non_nan_array(x, name: str) -> np.ndarray:
    arr = _float_array(x, name)
    _reject(arr, np.isnan(arr), name, "is NaN")
    return arr


def _finite_array(x, name: str) -> np.ndarray:
    arr = _float_array(x, name)
    _reject(arr, ~np.isfinite(arr), name, f"is not finite (the max|{name}| scaling needs finite values)")
    return arr


def _half_step_array(x, name: str) -> np.ndarray:
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.dtype.kind not in "ui":
        raise TypeError(f"{name} must be an integer array of half-step counts; got dtype {arr.dtype}")
    _reject(arr, (arr < -_HALF_STEP_LIMIT) | (arr > _HALF_STEP_LIMIT), name, "is beyond +-2**61 half steps")
    return arr.astype(np.int64)


# ------------------------------------------------------------------ grid and Shift

def sigma(k) -> Fraction:
    """sigma(k) = 2**(1-k), the step of the k-bit WAGE grid (paper; the code's ``1 / S(k)``)."""
    return Fraction(1, 1 << (_check_int("k", k, 1) - 1))


def clip_bound(k) -> Fraction:
    """The bound of C(x, k): 1 - sigma(k) for 2 <= k <= 15, and 1 for k = 1 or k > 15 (the code's ``C``
    uses ``delta = 0`` there)."""
    k = _check_int("k", k, 1)
    return 1 - sigma(k) if MIN_BITS <= k <= MAX_BITS else Fraction(1)


def wage_format(k, name: str = "k") -> FixedFormat:
    """The k-bit WAGE grid ``wage_k``: symmetric two's complement integers in units of sigma(k)."""
    return as_format(f"wage_{_check_bits(name, k)}")


def _shift_exponents_of_positive(values: np.ndarray) -> np.ndarray:
    mantissa, exponent = np.frexp(values.astype(np.float64))    # values = mantissa * 2**exponent exactly
    return np.asarray(exponent - 1 + (mantissa > _BELOW_SQRT_HALF), dtype=np.int64)


def shift_exponent(x) -> np.ndarray:
    """The integer n with Shift(x) = 2**n = 2**round(log2 x), elementwise (paper; the code's ``Shift``).

    Computed from the bits: with x = M * 2**e, 1 <= M < 2, n = e + 1 if M*M > 2 else e (a binary float is
    never sqrt(2) * 2**e, so there are no ties). x must be a float array of positive finite values;
    zero, negative, NaN or infinite elements raise ValueError naming the first one. Returns int64
    (a 0-d array for a scalar).
    """
    arr = _float_array(x, "x")
    _reject(arr, ~(np.isfinite(arr) & (arr > 0)), "x",
            "is not a positive finite number (Shift(x) = 2**round(log2 x) needs x > 0)")
    return _shift_exponents_of_positive(arr)


def shift(x) -> np.ndarray:
    """Shift(x) = 2**round(log2 x) as exact float64 (see ``shift_exponent``; ValueError where the result
    is 2**1024, beyond float64, i.e. for x above the largest double below sqrt(2) * 2**1023)."""
    n = shift_exponent(x)
    _reject(n, n > 1023, "shift_exponent(x)", "is beyond float64 (use shift_exponent)")
    return np.ldexp(1.0, n)


def _tensor_shift_exponent(arr: np.ndarray) -> int:
    """Exponent of Shift(max|x|) over the whole tensor; 0 for an all-zero or empty tensor."""
    peak = np.max(np.abs(arr)) if arr.size else 0
    return int(_shift_exponents_of_positive(np.asarray(peak))) if peak > 0 else 0


# ------------------------------------------------------------------ C and Q

def clip(x, k) -> np.ndarray:
    """C(x, k): x clipped to [-clip_bound(k), clip_bound(k)] (the code's ``C``), as exact float64.

    Infinities clip to the bounds; NaN raises ValueError.
    """
    bound = float(clip_bound(k))
    return np.clip(_non_nan_array(x, "x").astype(np.float64), -bound, bound)


def quantize(x, k) -> np.ndarray:
    """Q(C(x, k), k) as code words of ``wage_format(k)`` (the paper's Q; the code's ``Q(C(x))``).

    round(x / sigma) with ties to even (``tf.round``), saturating at +-(1 - sigma); since the bounds are
    grid points, rounding then saturating equals the code's clip then round. k in 2..15; infinities
    saturate, NaN raises ValueError.
    """
    fmt = wage_format(k)
    return encode(_non_nan_array(x, "x"), fmt, "rne")


def _encode_scaled(arr: np.ndarray, grid: FixedFormat, scale_exp: int, rounding: str, name: str, **kwargs):
    """``bitsim.encode(arr * 2**scale_exp, grid, ...)`` exactly: the power of two goes into frac_bits.

    FixedFormat's frac_bits stop at +-1024. Above that the excess goes into the data instead, as a float64
    multiplication by a power of two: exact, because it happens only when every |value| < 2**-960 and the
    excess is at most 105. Below -1024 (a grid step beyond 2**1024, only for float64 data near its
    overflow threshold scaled by a small eta) ValueError is raised.
    """
    frac_bits = grid.frac_bits + scale_exp
    if frac_bits < -_FRAC_BITS_RANGE:
        raise ValueError(f"{name}: scaling by 2**{scale_exp} needs a grid step of 2**{-frac_bits}, beyond "
                         f"FixedFormat's range (max|{name}| = {np.max(np.abs(arr))!r} is too large for this eta)")
    excess = max(frac_bits - _FRAC_BITS_RANGE, 0)
    if excess:
        arr = np.ldexp(arr.astype(np.float64), excess)
    return encode(arr, grid.replace(frac_bits=frac_bits - excess), rounding, **kwargs)


def quantize_error(e, k_E) -> tuple[np.ndarray, int]:
    """The E quantiser: Q(C(e / Shift(max|e|), k_E), k_E), max over the whole tensor.

    Returns (codes of ``wage_format(k_E)``, n) with Shift(max|e|) = 2**n; the scaling is not undone
    (paper: only the orientation of the error is kept), so the codes' values lie in [-1 + sigma,
    1 - sigma]. Rounding is to nearest, ties to even (``tf.round``). e must be finite; an all-zero tensor
    gives zero codes and n = 0 (the code would compute 0 / 0).
    """
    fmt = wage_format(k_E, "k_E")
    arr = _finite_array(e, "e")
    n = _tensor_shift_exponent(arr)
    return _encode_scaled(arr, fmt, -n, "rne", "e"), n


# ------------------------------------------------------------------ G

def eta_exponent(eta) -> int:
    """log2(eta) for a learning rate eta that is an exact power of two in [2**-64, 2**32]."""
    if isinstance(eta, (bool, np.bool_)) or not isinstance(eta, (int, float, Fraction, np.integer, np.floating)):
        raise TypeError(f"eta must be a number (an exact power of two), got {eta!r} ({type(eta).__name__})")
    value = eta.item() if isinstance(eta, np.generic) else eta
    if (isinstance(value, float) and not math.isfinite(value)) or value <= 0:
        raise ValueError(f"eta must be a positive power of two, got {eta!r}")
    q = Fraction(value)
    num, den = q.numerator, q.denominator
    if num & (num - 1) or den & (den - 1):
        raise ValueError(f"eta must be a power of two (WAGE keeps the update on the integer grid), got {eta!r}")
    p = num.bit_length() - den.bit_length()
    if not ETA_MIN_EXPONENT <= p <= ETA_MAX_EXPONENT:
        raise ValueError(f"eta must be in 2**{ETA_MIN_EXPONENT}..2**{ETA_MAX_EXPONENT}, got {eta!r} (2**{p})")
    return p


def _random_integers(shape, bits: int, seed, rand, stream, offset) -> np.ndarray:
    """One random integer below 2**bits per element (flat int64): ``rand`` broadcast, or the generator's."""
    bits, seed, stream, offset, rand_flat = stochastic_args("sr", bits, seed, stream, offset, rand, shape)
    if rand is None:
        rand_flat = np.empty(math.prod(shape), dtype=np.uint64)
        counter_bits_array(seed, stream, offset, bits, rand_flat)
    return rand_flat.astype(np.int64)


def _paper_half_steps(arr, scale_exp, seed, rand, stream, offset) -> np.ndarray:
    """2 * sgn(g_s) * (floor|g_s| + [floor(frac * 2**16) + R >= 2**16]): bitsim's "sr" onto the integers."""
    steps = _encode_scaled(arr, FixedFormat(64, 0), scale_exp, "sr", "g", sr_bits=PAPER_RANDOM_BITS,
                           seed=seed, rand=rand, stream=stream, offset=offset)
    return 2 * steps.view(np.int64)


def _code_half_steps(arr, scale_exp, seed, rand, stream, offset) -> np.ndarray:
    """sgn(g_s) * (2 * floor|g_s| + 1 + sign(frac - u)) with u = R * 2**-23, from floor(|g_s| * 2**23)
    and whether that floor was exact."""
    u = _random_integers(arr.shape, CODE_RANDOM_BITS, seed, rand, stream, offset).reshape(arr.shape)
    codes, flags = _encode_scaled(arr, FixedFormat(64, CODE_RANDOM_BITS), scale_exp, "rtz", "g",
                                  return_flags=True)
    scaled = np.abs(codes.view(np.int64))                    # floor(|g_s| * 2**23)
    inexact = (flags & FLAG_INEXACT) != 0                      # g_s had bits below 2**-23
    whole, frac = scaled >> CODE_RANDOM_BITS, scaled & ((1 << CODE_RANDOM_BITS) - 1)
    above = (frac > u) | ((frac == u) & inexact)
    tie = (frac == u) & ~inexact
    sign = np.sign(arr).astype(np.int64)                      # sign(0) = 0: zero gradients stay zero
    return sign * (2 * whole + 2 * above + tie)


def quantize_gradient(g, k_G, eta, profile="paper", *, seed=None, rand=None, stream=0,
                      offset=0) -> tuple[np.ndarray, int]:
    """The G quantiser: the weight update dW for gradient g, as int64 half steps (units 2**-k_G).

    g_s = eta * g / Shift(max|g|) (max over the whole tensor), eta an exact power of two. Then
    dW = sigma(k_G) * sgn(g_s) * (floor|g_s| + b), with the stochastic increment b per ``profile``:

    * ``"paper"``: b = Bernoulli(frac), frac = |g_s| - floor|g_s|, from a 16-bit random integer R:
      b = 1 iff floor(frac * 2**16) + R >= 2**16 (bitsim's "sr" with sr_bits=16).
    * ``"code"`` (the TF reference code: bitsR = 16 > 15 makes its 16-bit pre-quantisation the identity):
      frac at full precision against u = R * 2**-23 (float32 ``tf.random_uniform``, 23-bit R):
      b = 1 if frac > u, b = 1/2 if frac == u (``0.5 * (sign(frac - u) + 1)`` with sign(0) = 0: an
      off-grid half step), else 0.

    Random integers: ``seed`` (with ``stream``, ``offset``: the counter-based generator of
    ``bitsim.core.rng``, element i drawing counter offset + i, top 16 or 23 bits) or ``rand`` (an integer
    array broadcast to g's shape, below 2**16 or 2**23). Returns (half steps, n) with Shift(max|g|) = 2**n;
    ``half_step_values`` gives the float64 values. dW is not clipped (nor is it in the paper or code).
    g must be finite; an all-zero tensor gives zeros and n = 0. ValueError if Shift(max|g|) / eta exceeds
    2**1024 (paper) or 2**1047 (code): the grid would be beyond FixedFormat's range.
    """
    _check_bits("k_G", k_G)          # the count does not depend on k_G; its unit 2**-k_G does
    p = eta_exponent(eta)
    _check_choice("profile", profile, PROFILES)
    arr = _finite_array(g, "g")
    n = _tensor_shift_exponent(arr)
    half_steps = _paper_half_steps if profile == "paper" else _code_half_steps
    return half_steps(arr, p - n, seed, rand, stream, offset), n


# ------------------------------------------------------------------ weight accumulator

def _half_steps_of(value: Fraction, k_G: int, name: str) -> int:
    count = value * (1 << k_G)
    if count.denominator != 1:
        raise ValueError(f"{name}: {value} is not a multiple of the half step 2**-{k_G}")
    return int(count)


def weight_update(w, dW, k_G, *, clip="paper", k_W=2) -> np.ndarray:
    """One WAGE weight step on the accumulator; w, dW and the result are int64 half steps (2**-k_G).

    * ``clip="paper"`` (Eq. (12)): W_{t+1} = Clip(W_t - dW, -1 + sigma(k_G), 1 - sigma(k_G)).
    * ``clip="code"``: the reference code clips W to the k_W range first, C(W, k_W) (+-0.5 for k_W = 2),
      and applies the update after it, unclipped: W_{t+1} = C(W_t, k_W) - dW (so W may leave the range
      by one dW until the next step). k_W >= 1, with 1 - sigma(k_W) on the half-step grid (k_W <= k_G + 1).
    """
    k_G = _check_bits("k_G", k_G)
    _check_choice("clip", clip, WEIGHT_CLIPS)
    w, dW = _half_step_array(w, "w"), _half_step_array(dW, "dW")
    if clip == "paper":
        bound = _half_steps_of(clip_bound(k_G), k_G, "k_G")
        return np.clip(w - dW, -bound, bound)
    bound = _half_steps_of(clip_bound(_check_int("k_W", k_W, 1)), k_G, "k_W")
    return np.clip(w, -bound, bound) - dW


def half_step_values(half_steps, k_G) -> np.ndarray:
    """Exact float64 values count * 2**-k_G of half-step counts (|count| <= 2**53)."""
    k_G = _check_bits("k_G", k_G)
    arr = _half_step_array(half_steps, "half_steps")
    _reject(arr, np.abs(arr) > (1 << 53), "half_steps", "is beyond 2**53 (not exact in float64)")
    return np.ldexp(arr.astype(np.float64), -k_G)


def to_half_steps(values, k_G) -> np.ndarray:
    """int64 half-step counts of exact values on the 2**-k_G grid (e.g. ``decode(quantize(w, 2), ...)``);
    ValueError naming the first value that is off the grid or beyond +-2**61 half steps."""
    k_G = _check_bits("k_G", k_G)
    arr = _non_nan_array(values, "values")
    counts = np.ldexp(arr.astype(np.float64), k_G)            # exact: scaling up, inf if beyond float64
    _reject(arr, (counts != np.floor(counts)) | (np.abs(counts) > _HALF_STEP_LIMIT), "values",
            f"is not a multiple of 2**-{k_G} within +-2**61 half steps")
    return counts.astype(np.int64)


# ------------------------------------------------------------------ layer scale alpha

def _floor_log2(q: Fraction) -> int:
    t = q.numerator.bit_length() - q.denominator.bit_length()
    return t - 1 if Fraction(2) ** t > q else t


def _shift_exponent_of_sqrt(q: Fraction) -> int:
    """round(log2 sqrt(q)) for a positive rational q that is not 2**odd (so sqrt(q) is no tie).

    With t = floor(log2 q), sqrt(q) lies in [2**(t/2), 2**((t+1)/2)): for even t that rounds down to t/2,
    for odd t up to (t+1)/2; both are (t+1) // 2.
    """
    return (_floor_log2(q) + 1) // 2


def layer_scale_alpha(fan_in, k_W=2, rule="code") -> int:
    """The layer-wise scale alpha = max(Shift(L_min / L), 1) (paper Eq. (7)), L_min = 1.5 * sigma(k_W).

    L is the unclipped uniform-init limit: sqrt(3 / fan_in) for ``rule="code"`` (what the reference code
    uses, ``variance_scaling_initializer(factor=1, uniform=True)``; its log prints these values) or
    sqrt(6 / fan_in) for ``rule="paper"`` (Eq. (5)). fan_in = kh * kw * C_in (conv) or C_in (fc). Exact:
    Shift is taken on the rational (L_min / L)**2, which is never 2**odd for an integer fan_in.
    k_W in 1..31 (the code skips the scale, alpha = 1, for unquantised 32-bit weights).
    """
    fan_in = _check_int("fan_in", fan_in, 1)
    k_W = _check_int("k_W", k_W, 1, 31)
    numerator = {"code": 3, "paper": 6}[_check_choice("rule", rule, ALPHA_RULES)]
    ratio_squared = (BETA * sigma(k_W)) ** 2 / Fraction(numerator, fan_in)
    return 1 << max(_shift_exponent_of_sqrt(ratio_squared), 0)


__all__ = ["sigma", "clip_bound", "wage_format", "shift_exponent", "shift", "clip", "quantize",
           "quantize_error", "eta_exponent", "quantize_gradient", "weight_update", "half_step_values",
           "to_half_steps", "layer_scale_alpha", "PROFILES", "WEIGHT_CLIPS", "ALPHA_RULES"]
