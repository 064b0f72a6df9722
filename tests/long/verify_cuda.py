"""`make verify-cuda`: the CUDA kernels against the CPU kernels on large inputs (needs a real GPU).

Every check runs the public API twice -- ``backend="cpu"`` on host arrays and the GPU on device arrays
(no host copies on the way in) -- and compares code words and flags exactly. Inputs: float32 values
spread over 2**-40 .. 2**40 mixed with uniformly random bit patterns (NaN, inf, subnormals, huge and
tiny values); every 8-bit operand pair for the e4m3 ops and the fixed-point ops; 512^3 and odd-shaped GEMMs for every
accumulator model. Prints one line per check and exits 1 on the first mismatch.

    python tests/long/verify_cuda.py [--n 16777216] [--gemm 512]
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

import numpy as np
from numba import cuda

import bitsim
from bitsim.accum import ChunkedAcc, DotUnit, FloatAcc, IntAcc, KulischAcc
from bitsim.blocks.catalog import lookup_block
from bitsim.kernels.cuda import SIMULATOR

ELEMENT_FORMATS = ("e4m3", "e5m2", "e4m3fnuz", "e5m2fnuz", "fp16", "bf16", "e3m2", "e2m3", "e2m1", "fp8_wang",
                   "e6m5b20", "fixed8.4", "int8")
MODES = ("rne", "rna", "rtz", "rup", "rdn", "rto", "sr")
FAILURES = []
CLOCK = [time.time()]


def host(x):
    return x.copy_to_host() if bitsim.backend.is_device_array(x) else np.asarray(x)


def check(label, got, want, count):
    """Compare one result (or a tuple of results) exactly; print and record."""
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(got, want):
        g, w = host(g).reshape(-1), np.asarray(w).reshape(-1)
        if g.dtype == np.float64:
            g, w = g.view(np.uint64), w.view(np.uint64)
        bad = np.flatnonzero(g != w)
        if bad.size:
            i = int(bad[0])
            print(f"MISMATCH {label}: {bad.size} of {g.size}, first at {i}: gpu {g[i]!r} cpu {w[i]!r}", flush=True)
            FAILURES.append(label)
            return
    now = time.time()
    print(f"ok  {label}: {count:,} identical ({now - CLOCK[0]:.1f} s)", flush=True)
    CLOCK[0] = now


def float_inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * np.exp2(rng.integers(-40, 41, n))).astype(np.float32)
    pick = rng.random(n) < 0.25
    x[pick] = rng.integers(0, 2**32, int(pick.sum()), dtype=np.uint64).astype(np.uint32).view(np.float32)
    return x


def sr(mode, bits=12):
    return {"sr_bits": bits, "seed": 1234, "offset": 99} if mode == "sr" else {}


def verify_encode(n, formats=ELEMENT_FORMATS):
    """Every format and mode: the GPU's codes and flags, and its fast (flag-free) codes, against the CPU's
    generic (flag-computing) kernel."""
    x = float_inputs(n)
    xd = cuda.to_device(x)
    for name in formats:
        for mode in MODES:
            want = bitsim.encode(x, name, mode, return_flags=True, backend="cpu", **sr(mode))
            check(f"encode float32 -> {name} {mode} (+flags)",
                  bitsim.encode(xd, name, mode, return_flags=True, **sr(mode)), want, n)
            check(f"encode float32 -> {name} {mode} (fast)", bitsim.encode(xd, name, mode, **sr(mode)), want[0], n)
    wide = x.astype(np.float64) * np.float64(1.0 + 2.0 ** -30)          # bits below float32's: one rounding
    for mode in MODES:
        check(f"encode float64 -> bf16 {mode}", bitsim.encode(cuda.to_device(wide), "bf16", mode, **sr(mode)),
              bitsim.encode(wide, "bf16", mode, backend="cpu", **sr(mode)), n)


def verify_convert_and_decode():
    codes = np.arange(1 << 16, dtype=np.uint16)
    for mode in MODES:
        for dst in ("e4m3", "e5m2fnuz", "e2m1", "fixed8.4"):
            check(f"convert every fp16 code -> {dst} {mode}",
                  bitsim.convert(cuda.to_device(codes), "fp16", dst, mode, return_flags=True, **sr(mode)),
                  bitsim.convert(codes, "fp16", dst, mode, return_flags=True, **sr(mode)), codes.size)
    for name in ("e4m3", "e5m2", "e4m3fnuz", "bf16"):
        fmt = bitsim.format(name)
        all_codes = np.arange(1 << fmt.bits, dtype=fmt.code_dtype)
        check(f"decode every {name} code", bitsim.decode(cuda.to_device(all_codes), fmt), bitsim.decode(all_codes, fmt),
              all_codes.size)


def every_byte_pair():
    """(a, b): every pair of 8-bit codes, as two uint8 arrays of 65,536."""
    every = np.arange(1 << 16, dtype=np.uint32)
    return (every >> 8).astype(np.uint8), (every & 255).astype(np.uint8)


def verify_ops(n):
    a8, b8 = every_byte_pair()
    ad, bd = cuda.to_device(a8), cuda.to_device(b8)
    for op in ("add", "sub", "mul", "div"):
        for mode in MODES[:-1]:
            check(f"e4m3 {op} {mode}, every operand pair (CPU: lookup table)",
                  getattr(bitsim.ops, op)(ad, bd, "e4m3", mode), getattr(bitsim.ops, op)(a8, b8, "e4m3", mode),
                  a8.size)
    for op in ("eq", "lt", "le", "min", "max"):
        check(f"e4m3 {op}, every operand pair", getattr(bitsim.ops, op)(ad, bd, "e4m3"),
              getattr(bitsim.ops, op)(a8, b8, "e4m3"), a8.size)
    rng = np.random.default_rng(3)
    for fmt in ("fp16", "bf16"):
        dt = bitsim.format(fmt).code_dtype
        a, b, c = (bitsim.encode(float_inputs(n, s), fmt) for s in (1, 2, 3))
        a[: n // 8] = rng.integers(0, 1 << 16, n // 8).astype(dt)
        dev = [cuda.to_device(v) for v in (a, b, c)]
        for mode in ("rne", "rtz", "rup", "sr"):
            kw = sr(mode, 13)
            for op, k in (("add", 2), ("mul", 2), ("div", 2), ("sqrt", 1), ("fma", 3)):
                fn = getattr(bitsim.ops, op)
                check(f"{fmt} {op} {mode}", fn(*dev[:k], fmt, mode, **kw), fn(*(a, b, c)[:k], fmt, mode, **kw), n)


def verify_fixed(n):
    """bitsim.fixed add/sub/mul/shift: every pair of 8-bit codes, and n random 64-bit pairs whose products
    need 128 bits and whose binary points lie far apart, in every mode."""
    a8, b8 = every_byte_pair()
    s8, u8 = bitsim.FixedFormat(8, 3), bitsim.FixedFormat(8, 5, signed=False)
    rng = np.random.default_rng(5)
    a64, b64 = (rng.integers(0, 2**64, n, dtype=np.uint64) for _ in range(2))
    s64, far = bitsim.FixedFormat(64, 40), bitsim.FixedFormat(64, 100)
    cases = [((a8, b8), (s8, u8), bitsim.FixedFormat(8, 2)),
             ((a8, b8), (s8, u8), bitsim.FixedFormat(6, 4, overflow="wrap")),
             ((a64, b64), (s64, far), bitsim.FixedFormat(64, 60, overflow="wrap")),
             ((a64, b64), (s64, far), bitsim.FixedFormat(32, 10, symmetric=True))]
    for (a, b), (fa, fb), out in cases:
        ad, bd = cuda.to_device(a), cuda.to_device(b)
        for mode in MODES:
            kw = sr(mode, 20)
            for op in ("add", "sub", "mul"):
                fn = getattr(bitsim.fixed, op)
                check(f"fixed {op} {fa} {fb} -> {out} {mode}", fn(ad, bd, fa, fb, out, mode, **kw),
                      fn(a, b, fa, fb, out, mode, backend="cpu", **kw), a.size)
            check(f"fixed shift -37 {fa} -> {out} {mode}", bitsim.fixed.shift(ad, fa, -37, out, mode, **kw),
                  bitsim.fixed.shift(a, fa, -37, out, mode, backend="cpu", **kw), a.size)


def verify_blocks(n):
    side = int(np.sqrt(n))
    x = float_inputs(side * side, 7).reshape(side, side)
    x[~np.isfinite(x)] = 1.0
    xd = cuda.to_device(x)
    bm8 = lookup_block("bm8")
    for fmt in (bitsim.format("mxfp8_e4m3"), bitsim.format("mxfp6_e2m3"), bitsim.format("mxfp4_e2m1"),
                bitsim.format("mxint8"), bm8.weight, bm8.activation, bm8.error, bitsim.format("bfp8_qpytorch")):
        for mode in ("default", "sr"):
            kw = {}
            if mode == "sr":
                kw = {"rounding": "sr", "seed": 9,
                      "sr_bits": 23 - fmt.element.bits if fmt.profile == "qpytorch_bfp" else 10}
            want = bitsim.encode(x, fmt, backend="cpu", **kw)
            got = bitsim.encode(xd, fmt, **kw)
            check(f"block encode {fmt} {mode}", (got.codes, got.scales), (want.codes, want.scales), x.size)
            check(f"block decode {fmt} {mode}", bitsim.decode(got), bitsim.decode(want, backend="cpu"), x.size)


def verify_gemm(size):
    fp16, fp32, e4m3 = bitsim.format("fp16"), bitsim.format("fp32"), bitsim.format("e4m3")
    int8 = bitsim.FixedFormat(8, 0)
    units = {
        "FloatAcc(fp16)": DotUnit(e4m3, e4m3, FloatAcc(fp16), fp16),
        "FloatAcc(fp32, rtz)": DotUnit(e4m3, e4m3, FloatAcc(fp32, "rtz"), fp32),
        "wang_fp8 (chunk 64)": bitsim.unit("wang_fp8"),
        "ChunkedAcc(7)": DotUnit(e4m3, e4m3, ChunkedAcc(7, FloatAcc(fp16), FloatAcc(fp32)), fp16),
        "KulischAcc -> fp32": DotUnit(e4m3, e4m3, KulischAcc(), fp32, c=fp16),
        "int8 -> int32 (wrap)": bitsim.unit("int8_int32"),
        "IntAcc(20, saturate)": DotUnit(int8, int8, IntAcc(20, "saturate"), bitsim.FixedFormat(20, 0)),
        "fp32_seq": bitsim.unit("fp32_seq"),
    }
    rng = np.random.default_rng(5)
    for label, unit in units.items():
        for m, k, n in ((size, size, size), (max(1, size // 4 - 1), size // 2 + 44, max(1, size // 8 - 3)),
                        (1, 2 * size + 3, 3)):
            if unit.a.bits == 8 and isinstance(unit.a, bitsim.FixedFormat):
                A = rng.integers(0, 256, (m, k)).astype(np.uint8)
                B = rng.integers(0, 256, (k, n)).astype(np.uint8)
            else:
                A = bitsim.encode(rng.standard_normal((m, k)) * 8, unit.a)
                B = bitsim.encode(rng.standard_normal((k, n)), unit.b)
            C = bitsim.encode(rng.standard_normal((m, n)), unit.c) if not isinstance(unit.c, bitsim.FixedFormat) \
                else rng.integers(0, 1 << unit.c.bits, (m, n)).astype(unit.c.code_dtype)
            t0 = time.time()
            want = bitsim.matmul(A, B, unit, C, backend="cpu")
            t1 = time.time()
            got = bitsim.matmul(cuda.to_device(A), cuda.to_device(B), unit, cuda.to_device(C))
            cuda.synchronize()
            t2 = time.time()
            check(f"matmul {m}x{k}x{n} {label} (cpu {t1 - t0:.2f}s, gpu {t2 - t1:.2f}s)", got, want, m * n)
        rows, k = 8 * size, size // 2 + 1
        A = bitsim.encode(rng.standard_normal((rows, k)), unit.a) if isinstance(unit.a, bitsim.FloatFormat) else \
            rng.integers(0, 256, (rows, k)).astype(np.uint8)
        B = np.roll(A, 1, axis=0)
        check(f"dot rows {rows} x {k} {label}", bitsim.dot(cuda.to_device(A), cuda.to_device(B), unit),
              bitsim.dot(A, B, unit), rows)


def verify_lanes(size):
    """The float64-lane GEMM kernel (FloatAcc into fp16 with operands on its quantum) in every mode, on
    inputs that reach its every branch at scale: wide-range values (overflowing sums, exact
    cancellations), ReLU-like zeros with -0 and +0 (zero signs decided by the products), NaN rows and
    columns, special addends; e4m3 and int8 operands."""
    fp16, e4m3, int8 = bitsim.format("fp16"), bitsim.format("e4m3"), bitsim.FixedFormat(8, 0)
    rng = np.random.default_rng(8)
    m, k, n = size, size + 37, size - 5
    wide = rng.standard_normal((m, k)) * np.exp2(rng.integers(-12, 9, (m, k)))
    relu = np.maximum(rng.standard_normal((k, n)), 0) * np.where(rng.random((k, n)) < 0.5, -0.0, 1.0)
    C = bitsim.encode(rng.standard_normal((m, n)) * 4, fp16)
    C[:, ::97] = 0x8000
    C[:, 1::97] = 0x7C00
    for mode in ("rne", "rna", "rtz", "rup", "rdn", "rto"):
        for label, fa, A, B in (("e4m3", e4m3, bitsim.encode(wide, e4m3), bitsim.encode(relu * 16, e4m3)),
                         ("int8", int8, rng.integers(0, 256, (m, k)).astype(np.uint8),
                          rng.integers(0, 256, (k, n)).astype(np.uint8))):
            if fa is e4m3:
                A[::101] = 0x80                                           # -0 rows: zero signs from products
                A[m // 2, 3], B[5, n // 2] = 0x7F, 0xFF                           # a NaN row and column
            unit = DotUnit(fa, fa, FloatAcc(fp16, mode), fp16)
            for addend in (C, None):
                want = bitsim.matmul(A, B, unit, addend, backend="cpu", return_flags=True)
                got = bitsim.matmul(cuda.to_device(A), cuda.to_device(B), unit,
                                    None if addend is None else cuda.to_device(addend), return_flags=True)
                check(f"lanes {m}x{k}x{n} {label} FloatAcc(fp16, {mode}){' + C' if addend is not None else ''}",
                      got, want, m * n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1 << 24)
    ap.add_argument("--gemm", type=int, default=512)
    ap.add_argument("--only", default="encode,convert,ops,fixed,blocks,gemm,lanes")
    ap.add_argument("--formats", default=",".join(ELEMENT_FORMATS), help="element formats for the encode check")
    ap.add_argument("--simulator-dry-run", action="store_true", help="allow the CUDA simulator (tiny sizes only)")
    args = ap.parse_args()
    if (SIMULATOR and not args.simulator_dry_run) or not cuda.is_available():
        print("verify_cuda: needs a real CUDA GPU (and NUMBA_ENABLE_CUDASIM unset)")
        return 2
    print(f"GPU: {getattr(cuda.get_current_device(), 'name', 'simulator')!r}")
    t0 = time.time()
    steps = {"encode": lambda: verify_encode(args.n, args.formats.split(",")), "convert": verify_convert_and_decode,
             "ops": lambda: verify_ops(args.n), "fixed": lambda: verify_fixed(args.n), "blocks": lambda: verify_blocks(args.n),
             "gemm": lambda: verify_gemm(args.gemm), "lanes": lambda: verify_lanes(args.gemm)}
    for name in args.only.split(","):
        try:
            steps[name]()
        except Exception:                               # report, and go on with the other checks
            traceback.print_exc()
            FAILURES.append(f"{name} (raised)")
    print(f"{'FAILED: ' + ', '.join(FAILURES) if FAILURES else 'all identical'} ({time.time() - t0:.0f} s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
