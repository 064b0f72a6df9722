"""Convolution and pooling for small CNNs, on integer code arrays (NCHW), as the GEMMs hardware runs.

``conv2d``, ``conv2d_backward_data`` and ``conv2d_backward_weight`` gather their operands (im2col, a
pure index gather on codes; padding inserts the +0 code of the operand's format) and make one
``bitsim.matmul`` call through a dot-product unit (a ``DotUnit``, a tensor-core preset or a preset
name), so the accumulation order of every output element is a stated K order (see ``conv``'s module
doc and docs/dataflow.md). ``max_pool2d``, ``avg_pool2d`` and ``relu`` are in ``pool``.
"""

from bitsim.dataflow.conv import conv2d, conv2d_backward_data, conv2d_backward_weight
from bitsim.dataflow.pool import avg_pool2d, max_pool2d, relu

__all__ = ["conv2d", "conv2d_backward_data", "conv2d_backward_weight", "max_pool2d", "avg_pool2d", "relu"]
