"""Block formats: element codes plus one power-of-two scale per block, every convention a field.

A block of values v_i is stored as element codes c_i and one scale code s with value 2**X:
v_i ~ element_value(c_i) * 2**X. X comes from the block's largest magnitude amax by the scale rule:

* ``scale_rule="top_binade"`` (default): X = R(amax / 2**emax_e), emax_e the exponent of the element's
  largest power of two. With ``scale_rounding="rtz"`` (floor) this is the OCP MX v1.0 rule (section
  6.3, X = floor(log2 amax) - emax_e) and the Block Minifloat rule (Fox et al. 2021, Eq. 2: the block
  maximum lands in the element's top binade, which may round above the element max and saturate).
* ``scale_rule="fit_max"``: X = R(amax / max_e), max_e the element's largest finite value. With
  ``scale_rounding="rup"`` (ceil) no element saturates (the cuBLAS / Transformer Engine "RCEIL" choice);
  "rne"/"rna" take the nearer power of two (ties at 1.5 * 2**k).

R rounds a positive ratio to a power of two in ``scale_rounding`` (rtz, rdn, rup, rne, rna, rto; see
``bitsim.core.block.scale_exponent``). X is then clamped below to the scale format's smallest exponent
(an all-zero block gets that one too); above its largest exponent a saturating scale format clamps and
any other raises ValueError. A block holding inf or NaN gets the scale format's NaN (OCP MX: the block
decodes to NaN) with element codes 0; a scale format without NaN raises ValueError instead.
Elements are ``v_i / 2**X`` rounded once to the element format in ``element_rounding``.

``profile="qpytorch_bfp"`` replaces that element rule by QPyTorch's block floating point
(``bitsim.core.block.qpytorch_bfp_element``: a float32 double rounding with ties toward +inf), and X by
the float32 exponent field of amax minus 127 (-127 for zero or subnormal blocks); float32 input only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from bitsim.blocks.tiling import Tiling
from bitsim.formats.spec import FixedFormat, FloatFormat
from bitsim.rounding import DETERMINISTIC_MODES, MODES

SCALE_RULES = ("top_binade", "fit_max")
PROFILES = ("exact", "qpytorch_bfp")
SCALE_ROUNDINGS = DETERMINISTIC_MODES


def power_of_two_scale(bits: int = 8, *, bias: int, nan: bool = False, name: str | None = None) -> FloatFormat:
    """An unsigned exponent-only scale format: codes 0 .. 2**bits-1 are 2**(code - bias); with ``nan``
    the all-ones code is NaN and a too-large exponent is an error, without it the exponent saturates."""
    return FloatFormat(bits, 0, bias=bias, subnormals=False, specials="fn" if nan else "none",
                       overflow="nan" if nan else "saturate", signed=False, has_zero=False, name=name)


def element_emax(element) -> int:
    """Exponent of the largest power of two not above the element format's largest value."""
    if isinstance(element, FloatFormat):
        return element.emax
    return element.max_int.bit_length() - 1 - element.frac_bits


def element_max(element) -> Fraction:
    """The element format's largest finite value, exactly."""
    return Fraction(element.max)


def _check_element(element):
    if not isinstance(element, (FloatFormat, FixedFormat)):
        raise TypeError(f"BlockFormat.element must be a FloatFormat or FixedFormat, got {type(element).__name__}")
    if isinstance(element, FloatFormat) and not element.has_zero:
        raise ValueError(f"BlockFormat.element {element} has no zero; an element format must encode 0")
    if isinstance(element, FixedFormat) and element.max_int < 1:
        raise ValueError(f"BlockFormat.element {element} has no positive value")


def _check_scale(scale):
    if not isinstance(scale, FloatFormat):
        raise TypeError(f"BlockFormat.scale must be a FloatFormat, got {type(scale).__name__}")
    if scale.man_bits != 0 or scale.signed or scale.has_zero:
        raise ValueError(f"BlockFormat.scale must be an unsigned power-of-two format (man_bits=0, signed=False, "
                         f"has_zero=False, like e8m0); got {scale.spec_string()}")


@dataclass(frozen=True)
class BlockFormat:
    """Element format + shared power-of-two scale per block (see the module doc for the rules).

    Args:
        element: FloatFormat or FixedFormat of the elements (give it ``overflow="saturate"`` to clamp).
        block: block length along ``axis`` (an int), or a ``Tiling``.
        axis: the axis of 1-D blocks when ``block`` is an int.
        scale: the scale format (default OCP E8M0).
        scale_rule: "top_binade" | "fit_max".
        scale_rounding: rounding of amax / reference to a power of two (rtz = floor, rup = ceil, ...).
        element_rounding: the default rounding of elements (``encode(..., rounding=)`` overrides it).
        profile: "exact" (correct rounding) or "qpytorch_bfp".
        name: display name (not part of equality).
    """

    element: FloatFormat | FixedFormat
    block: int | Tiling = 32
    axis: int = -1
    scale: FloatFormat | None = None
    scale_rule: str = "top_binade"
    scale_rounding: str = "rtz"
    element_rounding: str = "rne"
    profile: str = "exact"
    name: str | None = field(default=None, compare=False, hash=False)

    def __post_init__(self):
        o = "BlockFormat"
        _check_element(self.element)
        if isinstance(self.block, Tiling):
            if self.axis != -1:
                raise ValueError(f"{o}.axis is only used with an int block length; the Tiling {self.block} has its own")
        else:
            Tiling.along(self.block, self.axis)          # validates block and axis
        if self.scale is None:
            object.__setattr__(self, "scale", power_of_two_scale(8, bias=127, nan=True, name="e8m0"))
        _check_scale(self.scale)
        for fname, value, choices in (("scale_rule", self.scale_rule, SCALE_RULES),
                                      ("scale_rounding", self.scale_rounding, SCALE_ROUNDINGS),
                                      ("element_rounding", self.element_rounding, tuple(MODES)),
                                      ("profile", self.profile, PROFILES)):
            if value not in choices:
                raise ValueError(f"{o}.{fname} must be one of {', '.join(map(repr, choices))}; got {value!r}")
        if self.profile == "qpytorch_bfp":
            e = self.element
            if not (isinstance(e, FixedFormat) and e.signed and e.symmetric and e.frac_bits == e.bits - 2
                    and 2 <= e.bits <= 22):
                raise ValueError(f"{o}.profile='qpytorch_bfp' needs element FixedFormat(wl, wl-2, symmetric=True) "
                                 f"with 2 <= wl <= 22; got {e}")

    # ---- derived
    @property
    def tiling(self) -> Tiling:
        return self.block if isinstance(self.block, Tiling) else Tiling.along(self.block, self.axis)

    @property
    def emax(self) -> int:
        """Exponent of the element's largest power of two (emax_e in the module doc)."""
        return element_emax(self.element)

    @property
    def scale_exponent_range(self) -> tuple[int, int]:
        """(smallest, largest) scale exponent X the scale format holds."""
        return -self.scale.bias, self.scale.emax

    @property
    def scale_reference(self) -> Fraction:
        """The value amax is divided by before rounding to a power of two."""
        return Fraction(2) ** self.emax if self.scale_rule == "top_binade" else element_max(self.element)

    @property
    def bits_per_element(self) -> float | None:
        """Element bits plus the scale's share, for 1-D blocks (None for other tilings)."""
        t = self.tiling
        return self.element.bits + self.scale.bits / t.size if t.kind == "axis" else None

    def replace(self, **changes) -> "BlockFormat":
        fields = dict(element=self.element, block=self.block, axis=self.axis, scale=self.scale,
                      scale_rule=self.scale_rule, scale_rounding=self.scale_rounding,
                      element_rounding=self.element_rounding, profile=self.profile)
        fields.update(changes)
        return BlockFormat(**fields)

    def __str__(self):
        return self.name or self.spec_string()

    def spec_string(self) -> str:
        return (f"BlockFormat(element={self.element}, {self.tiling}, scale={self.scale}, "
                f"scale_rule={self.scale_rule}, scale_rounding={self.scale_rounding}, "
                f"element_rounding={self.element_rounding}, profile={self.profile})")


@dataclass(frozen=True, eq=False)
class BlockTensor:
    """An encoded tensor: element ``codes`` (the tensor's shape) and ``scales`` (one code per block, in
    the tiling's block-grid shape) of ``format``."""

    codes: np.ndarray
    scales: np.ndarray
    shape: tuple
    format: BlockFormat

    def decode(self) -> np.ndarray:
        from bitsim.blocks.codec import decode
        return decode(self)

    def __repr__(self):
        """NumPy-like: the decoded values (summarised by NumPy's print options), or, above NumPy's
        summarising threshold or for codes on the GPU, the element codes and the scale codes."""
        from bitsim.backend import is_device_array
        head = f"BlockTensor(shape={tuple(self.shape)}, format={self.format}, blocks={tuple(self.scales.shape)}"
        if is_device_array(self.codes):
            return head + ", on the GPU)"
        pad = " " * len("BlockTensor(")
        if self.codes.size <= np.get_printoptions()["threshold"]:
            body = np.array2string(self.decode(), separator=", ", prefix=pad + "values=")
            return f"{head},\n{pad}values={body})"
        codes = np.array2string(self.codes, separator=", ", prefix=pad + "codes=")
        scales = np.array2string(self.scales, separator=", ", prefix=pad + "scales=", threshold=0)
        return f"{head},\n{pad}codes={codes},\n{pad}scales={scales})"

    def scale_exponents(self) -> np.ndarray:
        """X of every block (int64, block-grid shape); NaN scales give the int64 minimum."""
        s = self.scales.astype(np.int64)
        x = s - self.format.scale.bias
        nan = self.format.scale.nan_code
        return np.where(s == nan, np.iinfo(np.int64).min, x) if nan is not None else x


def kulisch_bits(a: FloatFormat, b: FloatFormat) -> tuple[int, int]:
    """(kadd, kshift) of Fox et al. 2021 Eq. (4), (5): the fixed-point width that holds any product of
    an ``a`` and a ``b`` element exactly plus one bit for the addition, and its fraction-free part."""
    kadd = 1 + (2 ** a.exp_bits + a.man_bits + 1) + (2 ** b.exp_bits + b.man_bits + 1)
    return kadd, kadd - (a.man_bits + b.man_bits + 2)


@dataclass(frozen=True)
class BlockMinifloat:
    """A Block Minifloat training configuration (Fox et al. 2021, Table 1/3): a forward element format
    (weights, activations) and a backward one (errors), 8-bit shared exponents, tile T.

    The shared exponent is the reference code's: s = floor(log2 amax) clamped to [-128, 127], stored in 8
    bits; the scale is 2**(s - emax_e). ``weight``/``activation``/``error`` give the BlockFormats with the
    reference code's tilings (``Tiling.bm_reference``); ``paper_tiles`` uses plain T x T tiles instead.
    """

    name: str
    forward: FloatFormat
    backward: FloatFormat
    tile: int = 48
    paper_tiles: bool = False
    notes: str = ""

    def block_format(self, element: FloatFormat, tensor: str) -> BlockFormat:
        tiling = Tiling.tiles(self.tile) if self.paper_tiles else Tiling.bm_reference(self.tile, tensor)
        scale = power_of_two_scale(8, bias=128 + element_emax(element), name="bm_shared_exponent8")
        return BlockFormat(element, tiling, scale=scale, name=f"{self.name}.{tensor}:{element}")

    @property
    def weight(self) -> BlockFormat:
        return self.block_format(self.forward, "w")

    @property
    def activation(self) -> BlockFormat:
        return self.block_format(self.forward, "x")

    @property
    def error(self) -> BlockFormat:
        return self.block_format(self.backward, "x")

    @property
    def kulisch_forward(self) -> tuple[int, int]:
        """(kadd, kshift) of the forward GEMM (forward x forward)."""
        return kulisch_bits(self.forward, self.forward)

    @property
    def kulisch_backward(self) -> tuple[int, int]:
        """(kadd, kshift) of the backward GEMMs (backward x forward)."""
        return kulisch_bits(self.backward, self.forward)

    @property
    def accumulator_bits(self) -> int:
        """The Kulisch accumulator width the paper quotes (Table 3 "acc"): the wider of the two kadd."""
        return max(self.kulisch_forward[0], self.kulisch_backward[0])

    def without_denormals(self) -> "BlockMinifloat":
        """The paper's ablation (section 4.5): both element formats flush below the smallest normal."""
        return BlockMinifloat(self.name + "_nodenorm", self.forward.replace(subnormals=False),
                              self.backward.replace(subnormals=False), self.tile, self.paper_tiles, self.notes)
