"""One-instruction versions of the scalar core's bit primitives, per target.

``bitsim.core.build`` compiles the core's plain-Python definitions, except for the names listed here,
which it binds to the target's hardware instruction instead: ``bit_length`` becomes 64 minus LLVM's
``ctlz`` on the CPU, and 64 minus ``clz`` on the GPU; ``float64_bits`` / ``bits_float64`` (a float64's
bit pattern as an int64 and back) an LLVM bitcast on the CPU and libdevice's ``double_as_longlong`` /
``longlong_as_double`` on the GPU, where ``f64_add`` / ``f64_mul`` become ``dadd_rn`` / ``dmul_rn`` (never
contracted into an fma). The results are the same (the tests compare them); only the
instruction count differs. Numba's CUDA simulator keeps the plain definitions (its ``clz`` counts on 32
bits).
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba import int64, types, uint64
from numba.extending import intrinsic


@intrinsic
def leading_zeros64(typingctx, x):
    """LLVM's ctlz on a uint64 (64 for 0)."""
    def codegen(context, builder, signature, args):
        return builder.ctlz(args[0], ir.Constant(ir.IntType(1), 0))
    return types.uint64(types.uint64), codegen


@numba.njit(nogil=True, inline="always")
def _cpu_bit_length(x):  # pragma: no cover - compiled
    return int64(64) - int64(leading_zeros64(uint64(x)))


def _cuda_bit_length():
    from numba import cuda

    @cuda.jit(device=True)
    def bit_length(x):  # pragma: no cover - compiled
        return int64(64) - int64(cuda.clz(uint64(x)))
    return bit_length


def _cuda_float64_ops() -> dict:
    from numba import cuda
    from numba.cuda import libdevice

    @cuda.jit(device=True)
    def float64_bits_gpu(x):  # pragma: no cover - compiled
        return int64(libdevice.double_as_longlong(x))

    @cuda.jit(device=True)
    def bits_float64_gpu(x):  # pragma: no cover - compiled
        return libdevice.longlong_as_double(int64(x))

    @cuda.jit(device=True)
    def f64_add_gpu(x, y):  # pragma: no cover - compiled
        return libdevice.dadd_rn(x, y)

    @cuda.jit(device=True)
    def f64_mul_gpu(x, y):  # pragma: no cover - compiled
        return libdevice.dmul_rn(x, y)
    return {"float64_bits": float64_bits_gpu, "bits_float64": bits_float64_gpu, "f64_add": f64_add_gpu,
            "f64_mul": f64_mul_gpu}


def primitives(target: str) -> dict:
    """{core function name: compiled replacement} for ``target`` ("cpu" or "cuda")."""
    if target == "cpu":
        return {"bit_length": _cpu_bit_length, "float64_bits": float64_bits, "bits_float64": bits_float64}
    from numba import config
    if config.ENABLE_CUDASIM:
        return {}
    return {"bit_length": _cuda_bit_length(), **_cuda_float64_ops()}


@intrinsic
def float64_bits(typingctx, x):
    """The IEEE binary64 bit pattern of a float64, as an int64 (a register move, no memory)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def bits_float64(typingctx, x):
    """The float64 whose IEEE binary64 bit pattern is the int64 ``x`` (``float64_bits``' inverse)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen
