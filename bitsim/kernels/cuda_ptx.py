"""Compile every CUDA kernel to PTX without a GPU, and check the PTX for floating-point instructions.

``compile_all(cc)`` needs the CUDA compiler libraries (NVVM, NVRTC) but no device: numba-cuda asks the
current device for its compute capability when it compiles the device functions a kernel calls, so
that query is answered with ``cc`` for the duration of the compile. The signatures are the ones the
public functions launch (host NumPy inputs: uint64 GEMM operands, IEEE source codes, uint8 flags).

    python -m bitsim.kernels.cuda_ptx [--cc 9.0]   # prints each kernel's PTX size and float instructions
"""

from __future__ import annotations

import argparse
import contextlib
import re
import time

FLOAT_INSTRUCTION = re.compile(
    r"^\s*((?:fma|add|sub|mul|div|mad|neg|abs|min|max|sqrt|rcp|cvt|setp|testp)\.[\w.]*f(?:16|32|64))\b", re.MULTILINE)


# The float instructions a kernel may hold: the float64 lanes' products and sums, and the conversion of
# their integer-valued sums, each exact on the values it sees (``cuda.float_acc_lanes_kernel``); the native
# binary64 steps (``cuda.native_gemm_kernel``, ``bitsim.core.native``): exact products, TwoSum's rounded
# adds, negation, comparisons, a finiteness test, and a power-of-two scaling tested for integrality; no fma.
EXACT_FLOAT_OPS = {"float_acc_lanes_kernel": frozenset({"mul.rn.f64", "add.rn.f64"}),
                   "grid_finish_kernel": frozenset({"cvt.rzi.s64.f64"}),
                   "native_gemm_kernel": frozenset({"mul.rn.f64", "add.rn.f64", "neg.f64", "abs.f64", "setp.geu.f64",
                                                    "setp.gt.f64", "setp.neu.f64", "cvt.rzi.s64.f64", "cvt.rn.f64"})}


def _signatures():
    from numba import types as t
    from bitsim.core.fused import F_LEN
    P = t.UniTuple(t.int64, 15)
    R = t.UniTuple(t.int64, 10)
    F = t.UniTuple(t.int64, F_LEN)
    u8, u16, u32, u64 = (t.Array(d, 1, "C") for d in (t.uint8, t.uint16, t.uint32, t.uint64))
    i8 = t.Array(t.int8, 1, "C")
    i32, i64 = t.Array(t.int32, 1, "C"), t.Array(t.int64, 1, "C")
    f64 = t.Array(t.float64, 1, "C")
    m64 = t.Array(t.uint64, 2, "C")
    v64 = t.Array(t.float64, 2, "C")
    step = t.Tuple((t.int64, t.int64, t.int64, t.int64, t.float64))
    i, u = t.int64, t.uint64
    dot = (m64, m64, u64, t.boolean, P, P, P, i, P, i, P, i, i, i, i, i, P, P, i, u64, u8, u8)
    register = (m64, m64, i64, u8, i64, u8, u64, t.boolean, P, i, P, i, i, i, i, P, i, i, u64, u8, u8)
    return {
        "convert_kernel": (u32, P, P, i, i, u, u, u, u64, i, u8, u8),
        "encode_fast_kernel": (u32, P, i, i, u, u, u, u64, u8),
        "table_encode_kernel": (u32, u8, i, u8),
        "table_encode_wide_kernel": (u32, u16, i, u16),
        "counter_bits_kernel": (u, u, u, i, u64),
        "max_kernel": (u16, u64),
        "or_kernel": (u8, u64),
        "arith_kernel": (i, u8, P, u8, P, u8, P, P, i, i, u, u, u, u64, i, u8, u8),
        "compare_kernel": (i, u16, u16, P, u16, u8),
        "fixed_kernel": (i, u8, P, u16, P, P, i, i, i, u, u, u, u64, u32, u8),
        "block_encode_kernel": (u32, i, t.Array(t.int64, 1, "C"), t.Array(t.int64, 1, "C"), P, P, R, P, i, i, u, u,
                                u, u64, u8, u8, i8),
        "block_decode_kernel": (u8, i64, i64, u8, i, i, P, P, u64, u8),
        "dot_rows_kernel": (*dot[:-3], u8, *dot[-3:]),
        "gemm_kernel": (*dot[:-3], u8, *dot[-3:]),
        "grid_start_kernel": (u64, t.boolean, P, i, P, i, i, i, i, f64, u8, f64),
        "float_acc_lanes_kernel": (m64, m64, f64, u8, f64, u8, t.boolean, i, i, i, f64, u8),
        "grid_finish_kernel": (f64, u64, t.boolean, P, i, P, i, i, i, i, f64, u8, P, i, i, u64, u8, u8),
        "block_dot_kernel": (m64, m64, m64, m64, t.boolean, i, u64, t.boolean, P, P, P, P, P, i, i, i, P, i, i,
                             t.boolean, P, i, u64, u8, u8),
        "fused_decode_kernel": (m64, t.boolean, P, m64),
        "fused_output_kernel": (m64, m64, t.boolean, u64, t.boolean, P, F, u32),
        "fused_gemm_kernel": (m64, m64, u64, t.boolean, P, F, u32),
        "native_gemm_kernel": (v64, v64, t.boolean, i, step, step, u64, t.boolean, P, P, i, P, i, u64, u8, u8),
        "register_gemm_kernel": register,
        "register_rows_kernel": register,
        "take_kernel": (t.Array(t.uint8, 2, "C"), i64, i, t.Array(t.uint8, 2, "C")),
        "gather_samples_kernel": (u8, i, i64, i, u8),
    }


@contextlib.contextmanager
def _device_capability(cc):
    """numba-cuda's device query answered with ``cc`` (no GPU needed to compile)."""
    from numba.cuda import dispatcher

    class _Device:
        compute_capability = cc

    saved = dispatcher.get_current_device
    dispatcher.get_current_device = lambda: _Device()
    try:
        yield
    finally:
        dispatcher.get_current_device = saved


def compile_all(cc=(9, 0)) -> dict:
    """{kernel name: (PTX text, seconds to compile)} for every kernel of ``bitsim.kernels.cuda`` and
    ``bitsim.kernels.fused_cuda``."""
    from numba import cuda
    from bitsim.kernels import cuda as G, fused_cuda
    out = {}
    with _device_capability(cc):
        for name, sig in _signatures().items():
            t0 = time.perf_counter()
            kernel = getattr(G, name, None) or getattr(fused_cuda, name)
            ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=cc)
            out[name] = (ptx, time.perf_counter() - t0)
    return out


def float_instructions(ptx: str) -> list:
    """The floating-point instructions in a PTX listing."""
    return FLOAT_INSTRUCTION.findall(ptx)


def unexpected_float_instructions(name: str, ptx: str) -> list:
    """Kernel ``name``'s float instructions beyond its ``EXACT_FLOAT_OPS`` (none on the golden path)."""
    allowed = EXACT_FLOAT_OPS.get(name, frozenset())
    return [op for op in float_instructions(ptx) if op not in allowed]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cc", default="9.0", help="compute capability, e.g. 9.0 (H100), 8.0 (A100), 7.0 (V100)")
    cc = tuple(int(v) for v in ap.parse_args().cc.split("."))
    bad = 0
    for name, (ptx, seconds) in compile_all(cc).items():
        floats = unexpected_float_instructions(name, ptx)
        bad += len(floats)
        print(f"{name:22s} sm_{cc[0]}{cc[1]}  {len(ptx):>9,} bytes of PTX  {seconds:5.1f} s  "
              f"unexpected float instructions: {len(floats)}{' ' + str(sorted(set(floats))[:5]) if floats else ''}")
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
