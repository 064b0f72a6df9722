"""Named block formats: OCP MX v1.0, Block Minifloat configurations, block floating point.

``lookup_block(name)`` resolves a catalog name, or the generic ``bfp<wl>`` (one exponent per tensor,
sign-magnitude integers of wl bits including the sign, correct rounding) and ``bfp<wl>_qpytorch``
(QPyTorch's ``BlockFloatingPoint(wl, dim=-1)``, profile "qpytorch_bfp"); None if unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bitsim.blocks.spec import BlockFormat, BlockMinifloat, power_of_two_scale
from bitsim.blocks.tiling import Tiling
from bitsim.formats.catalog import lookup
from bitsim.formats.spec import FixedFormat

_OCP_MX = "OCP Microscaling Formats (MX) Specification v1.0, 2023, sections 5-6"
_BM = "Fox et al., A Block Minifloat Representation for Training Deep Neural Networks, ICLR 2021, Tables 1 and 3"


@dataclass(frozen=True)
class BlockEntry:
    name: str
    spec: BlockFormat | BlockMinifloat
    source: str
    notes: str = ""


def _mx(name: str, element) -> BlockFormat:
    return BlockFormat(element, 32, scale=lookup("e8m0"), name=name)


MXINT8_ELEMENT = FixedFormat(8, 6, name="mxint8_element")


def bfp(wl: int, *, qpytorch: bool = False, tiling: Tiling | None = None) -> BlockFormat:
    """Block floating point: elements k * 2**(X + 2 - wl), |k| <= 2**(wl-1) - 1 (wl bits with sign), one
    shared exponent X = floor(log2 amax) per block (default: per tensor) stored as an 8-bit exponent.
    ``qpytorch=True`` gives QPyTorch's arithmetic (profile "qpytorch_bfp", nearest = "rna")."""
    if isinstance(wl, bool) or not isinstance(wl, int) or not 2 <= wl <= 32:
        raise ValueError(f"bfp word length wl must be an int in 2..32; got {wl!r}")
    element = FixedFormat(wl, wl - 2, symmetric=True, name=f"bfp{wl}_element")
    name = f"bfp{wl}_qpytorch" if qpytorch else f"bfp{wl}"
    return BlockFormat(element, tiling or Tiling.per_tensor(), scale=power_of_two_scale(8, bias=128, name="exp8"),
                       element_rounding="rna" if qpytorch else "rne",
                       profile="qpytorch_bfp" if qpytorch else "exact", name=name)


def _bm(name, fwd, bwd, notes=""):
    return BlockEntry(name, BlockMinifloat(name, lookup(f"bm_e{fwd[0]}m{fwd[1]}"), lookup(f"bm_e{bwd[0]}m{bwd[1]}"),
                                           notes=notes), _BM, notes)


BLOCK_ENTRIES = [
    BlockEntry("mxfp8_e4m3", _mx("mxfp8_e4m3", lookup("e4m3_sat")), _OCP_MX,
               "32 E4M3 elements (saturating to +-448; NaN S.1111.111 kept) + one E8M0 scale."),
    BlockEntry("mxfp8_e5m2", _mx("mxfp8_e5m2", lookup("e5m2_sat")), _OCP_MX,
               "32 E5M2 elements (saturating to +-57344) + one E8M0 scale."),
    BlockEntry("mxfp6_e3m2", _mx("mxfp6_e3m2", lookup("e3m2")), _OCP_MX, "32 FP6 E3M2 elements + one E8M0 scale."),
    BlockEntry("mxfp6_e2m3", _mx("mxfp6_e2m3", lookup("e2m3")), _OCP_MX, "32 FP6 E2M3 elements + one E8M0 scale."),
    BlockEntry("mxfp4_e2m1", _mx("mxfp4_e2m1", lookup("e2m1")), _OCP_MX, "32 FP4 E2M1 elements + one E8M0 scale."),
    BlockEntry("mxint8", _mx("mxint8", MXINT8_ELEMENT), _OCP_MX,
               "32 two's complement 8-bit elements k * 2**-6 (-2 .. 1.984375, -128 allowed as in gfloat) "
               "+ one E8M0 scale; emax of the element is 0."),
    _bm("bm8", (2, 5), (4, 3), "Forward (2,5), backward (4,3); Kulisch accumulator 31 bits."),
    _bm("bm7", (2, 4), (4, 2), "Forward (2,4), backward (4,2): the paper names BM7 but its table as consulted "
        "does not list it; this pairing is an assumption."),
    _bm("bm6", (2, 3), (3, 2), "Forward (2,3), backward (3,2); Kulisch accumulator 20 bits."),
    _bm("bm5", (2, 2), (3, 1), "Forward (2,2), backward (3,1); Kulisch accumulator 18 bits."),
    _bm("bm4", (2, 1), (3, 0), "Forward (2,1), backward (3,0) read linearly (powers of two, no subnormals); "
        "the reference code cannot run m = 0."),
]

_BY_NAME = {e.name: e for e in BLOCK_ENTRIES}
_GENERIC_BFP = re.compile(r"^bfp(?P<wl>\d+)(?P<q>_qpytorch)?$")


def lookup_block(name: str):
    """The block format (or Block Minifloat configuration) of a name, or None if unknown."""
    key = name.strip().lower()
    if key in _BY_NAME:
        return _BY_NAME[key].spec
    m = _GENERIC_BFP.match(key)
    if m:
        wl = int(m["wl"])
        if m["q"] and not 2 <= wl <= 22:
            raise ValueError(f"format name {name!r}: QPyTorch BFP needs 2 <= wl <= 22")
        return bfp(wl, qpytorch=bool(m["q"]))
    return None


def block_entry(name: str) -> BlockEntry | None:
    return _BY_NAME.get(name.strip().lower())
