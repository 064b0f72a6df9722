"""bitsim.nn: layers whose forward and backward run as explicit dataflow through bitsim's dot-product
units, every tensor and every rounding point named (docs/nn.md).

Tensors between layers are ``QTensor``s (codes, format, power-of-two scale; exact float64 values); every
rounding is a named ``Quantizer`` point, a unit's accumulator, or a stated ``bitsim.ops`` op.
"""

from bitsim.nn.conv import AvgPool2d, Conv2d, MaxPool2d
from bitsim.nn.gemm import GemmUnits
from bitsim.nn.layers import Flatten, Layer, LayerQuant, Linear, Param, ReLU
from bitsim.nn.losses import softmax_cross_entropy, sse
from bitsim.nn.model import Sequential, train_step
from bitsim.nn.norm import BatchNorm
from bitsim.nn.optim import SGD
from bitsim.nn.quant import Quantizer, ScaledQuantizer
from bitsim.nn.recipes import RECIPES, LayerRecipe, Recipe, get as get_recipe, register as register_recipe
from bitsim.nn.tensor import QTensor
from bitsim.nn.trace import Context, TraceEntry
from bitsim.nn import blpa_recipes, wage_recipes  # noqa: F401  registers wage_2888_{paper,code}, blpa4, blpa8
from bitsim.nn.block_recipes import BlockQTensor, BlockQuantizer, block_unit  # registers bm8 bm6 bm5 bm6_nodenorm mxfp8

__all__ = ["QTensor", "Quantizer", "ScaledQuantizer", "GemmUnits", "LayerQuant", "Layer", "Param", "Linear",
           "Conv2d", "ReLU", "Flatten", "MaxPool2d", "AvgPool2d", "BatchNorm", "softmax_cross_entropy", "sse", "SGD",
           "Sequential", "train_step", "Recipe", "LayerRecipe", "RECIPES", "get_recipe", "register_recipe",
           "Context", "TraceEntry"]
