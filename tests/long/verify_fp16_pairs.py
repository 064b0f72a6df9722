"""`make verify`: fp16 add and mul (RNE) over all 2**32 operand pairs against an independent path.

The independent path is NumPy: both operands as float64 (exact), the sum or product in float64
(exact: fp16 significands have 11 bits and exponents span 2**-24..2**15, so the exact results need at
most 51 and 22 bits), then NumPy's own float64 -> float16 cast (round to nearest even). Codes are
compared exactly, NaNs by NaN-ness (bitsim returns the canonical NaN). Prints progress and the time.

    python tests/long/verify_fp16_pairs.py [--ops add,mul] [--rows-per-chunk 256]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from bitsim import ops

ALL = np.arange(1 << 16, dtype=np.uint16)
VALUES = ALL.view(np.float16).astype(np.float64)
NUMPY_OPS = {"add": np.add, "mul": np.multiply}


def verify(op: str, rows: int) -> int:
    """Number of mismatching pairs for ``op``; prints a progress bar."""
    bad_total = 0
    b = np.tile(ALL, rows)
    t0 = time.time()
    for start in range(0, 1 << 16, rows):
        a = np.repeat(ALL[start:start + rows], 1 << 16)
        got, _ = getattr(ops, op)(a, b, "fp16")
        with np.errstate(all="ignore"):
            want = NUMPY_OPS[op](VALUES[a], VALUES[b]).astype(np.float16).view(np.uint16)
        got_nan = np.isnan(got.view(np.float16))
        want_nan = np.isnan(want.view(np.float16))
        bad = (got_nan != want_nan) | (~want_nan & (got != want))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            print(f"\n{op}: {int(a[i]):#06x}, {int(b[i]):#06x}: bitsim {int(got[i]):#06x}, numpy {int(want[i]):#06x}")
            bad_total += int(bad.sum())
        done = (start + rows) / (1 << 16)
        elapsed = time.time() - t0
        sys.stdout.write(f"\r{op}: [{'#' * int(40 * done):<40}] {100 * done:5.1f}%  {elapsed:6.0f} s, "
                         f"eta {elapsed / done * (1 - done):5.0f} s")
        sys.stdout.flush()
    print(f"\n{op}: {bad_total} mismatches in 2**32 pairs, {time.time() - t0:.0f} s")
    return bad_total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", default="add,mul")
    ap.add_argument("--rows-per-chunk", type=int, default=256)
    args = ap.parse_args()
    bad = sum(verify(op, args.rows_per_chunk) for op in args.ops.split(","))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
