"""Named formats: each catalog name pins every convention, and says where it comes from.

``lookup(name)`` resolves, in order: a catalog name or alias; a catalog name with the suffix ``_sat``
(overflow saturates instead); and the generic names

* ``eXmY``            IEEE-like: bias 2**(X-1)-1, subnormals, inf/NaN in the top binade, overflow to inf
* ``eXmYfn``          OCP-style: no inf, NaN = all-ones magnitude, overflow to NaN
* ``eXmYfnuz``        bias 2**(X-1), no inf, no -0, NaN = 0x80.., overflow to NaN
* ``eXmYb<B>...``     any of the above with bias B (e.g. ``e4m3b11fnuz``)
* ``bm_eXmY``         Block Minifloat element (Fox et al. 2021): bias 2**(X-1), subnormals, no specials, saturate
* ``qpt_eXmY``        QPyTorch >= 0.3 ``FloatingPoint``: IEEE bias and subnormals, top binade finite, saturate
* ``qpt02_eXmY``      QPyTorch 0.2 ``FloatingPoint``: no subnormals, min normal 2**-(2**(X-1)-1), saturate
* ``fixed<B>.<F>``    signed two's complement fixed point, B bits, F fraction bits, saturating
  (``ufixed<B>.<F>`` unsigned); ``wage_<k>`` WAGE's k-bit grid (Wu et al. 2018)

with an optional ``_sat`` suffix on the floating-point forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bitsim.formats.spec import FixedFormat, FloatFormat


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    spec: FloatFormat | FixedFormat
    source: str
    aliases: tuple = ()
    notes: str = ""


def _float(name, e, m, **kw) -> FloatFormat:
    return FloatFormat(e, m, name=name, **kw)


def _bm(e, m) -> FloatFormat:
    return _float(f"bm_e{e}m{m}", e, m, bias=2 ** (e - 1), specials="none", overflow="saturate")


def _wage(k) -> FixedFormat:
    return FixedFormat(k, k - 1, signed=True, overflow="saturate", symmetric=True, name=f"wage_{k}")


_OCP_FP8 = "OCP 8-bit Floating Point Specification (OFP8) rev 1.0, 2023"
_OCP_MX = "OCP Microscaling Formats (MX) Specification v1.0, 2023, section 5"
_BM = "Fox et al., A Block Minifloat Representation for Training Deep Neural Networks, ICLR 2021, Eq. (1)"

ENTRIES = [
    CatalogEntry("fp16", _float("fp16", 5, 10), "IEEE 754-2019 binary16", ("binary16", "half", "float16")),
    CatalogEntry("bf16", _float("bf16", 8, 7), "Google bfloat16 (truncated binary32)", ("bfloat16",)),
    CatalogEntry("fp32", _float("fp32", 8, 23), "IEEE 754-2019 binary32", ("binary32", "single", "float32")),
    CatalogEntry("fp64", _float("fp64", 11, 52), "IEEE 754-2019 binary64", ("binary64", "double", "float64")),
    CatalogEntry("tf32", _float("tf32", 8, 10), "NVIDIA TensorFloat-32 (Ampere and later tensor cores)", ()),
    CatalogEntry("e4m3", _float("e4m3", 4, 3, bias=7, specials="fn", overflow="nan"), _OCP_FP8,
                 ("e4m3fn", "ocp_e4m3", "float8_e4m3fn"),
                 "No infinities; NaN is S.1111.111; max 448. Overflow gives NaN as in ml_dtypes; "
                 "`e4m3_sat` saturates to +-448 (the OCP saturating mode, torch's cast)."),
    CatalogEntry("e5m2", _float("e5m2", 5, 2), _OCP_FP8, ("ocp_e5m2", "float8_e5m2"),
                 "IEEE-like; max 57344. `e5m2_sat` saturates instead of overflowing to inf."),
    CatalogEntry("e4m3fnuz", _float("e4m3fnuz", 4, 3, bias=8, specials="fnuz", overflow="nan"),
                 "AMD/Graphcore FNUZ FP8 (LLVM float8_e4m3fnuz)", ("float8_e4m3fnuz",),
                 "No inf, no -0; the only NaN is 0x80; max 240."),
    CatalogEntry("e5m2fnuz", _float("e5m2fnuz", 5, 2, bias=16, specials="fnuz", overflow="nan"),
                 "AMD/Graphcore FNUZ FP8 (LLVM float8_e5m2fnuz)", ("float8_e5m2fnuz",),
                 "No inf, no -0; the only NaN is 0x80; max 57344."),
    CatalogEntry("e3m2", _float("e3m2", 3, 2, bias=3, specials="none", overflow="saturate"), _OCP_MX,
                 ("fp6_e3m2", "float6_e3m2fn"), "MXFP6 element; no inf/NaN; max 28. A NaN input gives +max."),
    CatalogEntry("e2m3", _float("e2m3", 2, 3, bias=1, specials="none", overflow="saturate"), _OCP_MX,
                 ("fp6_e2m3", "float6_e2m3fn"), "MXFP6 element; no inf/NaN; max 7.5."),
    CatalogEntry("e2m1", _float("e2m1", 2, 1, bias=1, specials="none", overflow="saturate"), _OCP_MX,
                 ("fp4_e2m1", "float4_e2m1fn"), "MXFP4 element; no inf/NaN; max 6."),
    CatalogEntry("e8m0", _float("e8m0", 8, 0, bias=127, subnormals=False, specials="fn", overflow="nan",
                                signed=False, has_zero=False), _OCP_MX, ("e8m0fnu", "float8_e8m0fnu"),
                 "MX shared scale: unsigned powers of two `2**-127` .. `2**127`, 0xFF is NaN, no zero. "
                 "Zero and negative inputs give NaN; positive values below `2**-127` give `2**-127`. "
                 "Ties go to the even code (3 -> 2); ml_dtypes rounds them away (`rna`)."),
    CatalogEntry("fp8_wang", _float("fp8_wang", 5, 2), "Wang et al., Training Deep Neural Networks with "
                 "8-bit Floating Point Numbers, NeurIPS 2018: FP8 (1,5,2)", (),
                 "The paper gives (sign, exponent, mantissa) = (1,5,2) but no bias or special-value "
                 "convention; bitsim reads it as IEEE-like (bias 15, subnormals, inf/NaN). "
                 "`fp8_wang_sat` saturates."),
    CatalogEntry("fp16_wang", _float("fp16_wang", 6, 9), "Wang et al. NeurIPS 2018: FP16 (1,6,9) for "
                 "accumulation and weight updates", (),
                 "IEEE-like reading (bias 31, subnormals, inf/NaN), as for fp8_wang."),
    *[CatalogEntry(f"bm_e{e}m{m}", _bm(e, m), _BM, (),
                   "Bias `2**(e-1)`, subnormals, no inf/NaN (saturating); the element of a block minifloat."
                   + (" m = 0: the linear reading of BM4's backward format." if m == 0 else ""))
      for e, m in ((2, 5), (4, 3), (2, 4), (4, 2), (2, 3), (3, 2), (2, 2), (3, 1), (2, 1), (3, 0))],
    CatalogEntry("int8", FixedFormat(8, 0, name="int8"), "8-bit two's complement integer, saturating", ()),
    CatalogEntry("uint8", FixedFormat(8, 0, signed=False, name="uint8"), "8-bit unsigned integer, saturating", ()),
    CatalogEntry("int16", FixedFormat(16, 0, name="int16"), "16-bit two's complement integer, saturating", ()),
    CatalogEntry("int32", FixedFormat(32, 0, name="int32"), "32-bit two's complement integer, saturating", ()),
    *[CatalogEntry(f"wage_{k}", _wage(k), "Wu et al., Training and Inference with Integers in Deep Neural "
                   "Networks, ICLR 2018: `sigma(k) = 2**(1-k)`, `Q(x,k) = Clip(sigma*round(x/sigma), -1+sigma, 1-sigma)`",
                   (), "Symmetric k-bit two's complement in units of `2**(1-k)`, saturating at `+-(1 - 2**(1-k))`.")
      for k in (2, 8)],
]

_BY_NAME = {}
for _e in ENTRIES:
    for _n in (_e.name, *_e.aliases):
        if _n in _BY_NAME:
            raise RuntimeError(f"catalog name {_n!r} is defined twice")
        _BY_NAME[_n] = _e

_GENERIC_FLOAT = re.compile(r"^(?P<kind>bm_|qpt_|qpt02_)?e(?P<e>\d+)m(?P<m>\d+)(?:b(?P<bias>-?\d+))?(?P<sp>fn|fnuz)?$")
_GENERIC_FIXED = re.compile(r"^(?P<u>u?)fixed(?P<bits>\d+)\.(?P<frac>-?\d+)$")
_GENERIC_WAGE = re.compile(r"^wage_(?P<k>\d+)$")


def _parse_generic(name: str):
    m = _GENERIC_FLOAT.match(name)
    if m:
        e, mb = int(m["e"]), int(m["m"])
        kind, sp = m["kind"], m["sp"]
        if kind and sp:
            raise ValueError(f"format name {name!r}: {kind!r} formats take no {sp!r} suffix")
        if kind == "bm_":
            kw = dict(bias=2 ** (e - 1), specials="none", overflow="saturate")
        elif kind == "qpt_":
            kw = dict(specials="none", overflow="saturate")
        elif kind == "qpt02_":
            kw = dict(bias=2 ** (e - 1), subnormals=False, specials="none", overflow="saturate")
        elif sp == "fn":
            kw = dict(specials="fn", overflow="nan")
        elif sp == "fnuz":
            kw = dict(bias=2 ** (e - 1), specials="fnuz", overflow="nan")
        else:
            kw = {}
        if m["bias"] is not None:
            kw["bias"] = int(m["bias"])
        return FloatFormat(e, mb, name=name, **kw)
    m = _GENERIC_FIXED.match(name)
    if m:
        return FixedFormat(int(m["bits"]), int(m["frac"]), signed=not m["u"], name=name)
    m = _GENERIC_WAGE.match(name)
    if m:
        k = int(m["k"])
        if not 2 <= k <= 32:
            raise ValueError(f"format name {name!r}: WAGE bit width must be in 2..32, got {k}")
        return _wage(k)
    return None


def lookup(name: str):
    """The format spec for a catalog or generic name; ValueError naming the name if unknown."""
    if not isinstance(name, str):
        raise TypeError(f"format name must be a str, got {type(name).__name__}")
    key = name.strip().lower()
    if key in _BY_NAME:
        return _BY_NAME[key].spec
    base, sat = (key[:-4], True) if key.endswith("_sat") else (key, False)
    spec = _BY_NAME[base].spec if base in _BY_NAME else _parse_generic(base)
    if spec is None:
        raise ValueError(f"unknown format name {name!r}; see `bitsim formats` for the catalog "
                         "and bitsim.formats.catalog for the generic forms (e3m4, e5m2_sat, fixed8.7, ...)")
    if sat:
        if not isinstance(spec, FloatFormat):
            raise ValueError(f"format name {name!r}: '_sat' applies to floating-point formats only")
        spec = spec.replace(overflow="saturate", name=key)
    return spec


def entry(name: str) -> CatalogEntry | None:
    """The catalog entry of a name or alias, or None for generic names."""
    return _BY_NAME.get(name.strip().lower())
