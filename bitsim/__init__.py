"""bitsim: a bit-accurate simulator of low-precision number formats, rounding and accumulation.

Values are integer code words; every result is the code a correct piece of hardware with the stated
configuration produces. See DESIGN (docs/) for the contract.
"""

from bitsim._version import __version__
from bitsim.backend import CudaUnavailableError, use_backend
from bitsim.formats import FixedFormat, FloatFormat, format
from bitsim.quantize import convert, decode, encode, quantize
from bitsim.rounding import MODES as ROUNDING_MODES
from bitsim import blpa, fixed, ops, wage
from bitsim.blocks import BlockFormat, BlockMinifloat, BlockTensor, Tiling
from bitsim.accum import DotUnit, dot, matmul, unit
from bitsim import dataflow
from bitsim.interop import from_ml_dtypes, to_ml_dtypes

__all__ = ["__version__", "FloatFormat", "FixedFormat", "format", "encode", "decode", "quantize", "convert",
           "ROUNDING_MODES", "ops", "fixed", "blpa", "wage", "BlockFormat", "BlockTensor", "BlockMinifloat", "Tiling",
           "DotUnit", "dot", "matmul", "unit", "use_backend", "CudaUnavailableError", "dataflow",
           "to_ml_dtypes", "from_ml_dtypes"]
