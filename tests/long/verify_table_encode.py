"""Every float32 input (all 2**32 bit patterns) through the table encode path against the generic kernel.

    python tests/long/verify_table_encode.py [--targets e4m3,e5m2] [--modes rne,rtz]

Minutes per (target, mode) on 2 cores: the generic kernel runs about 30 M elem/s. Prints one line per
pair and exits non-zero on the first mismatch (with the input bits).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import bitsim

CHUNK = 1 << 26


def verify(target: str, mode: str) -> bool:
    start = time.perf_counter()
    for lo in range(0, 1 << 32, CHUNK):
        values = np.arange(lo, lo + CHUNK, dtype=np.uint64).astype(np.uint32).view(np.float32)
        fast = bitsim.encode(values, target, mode)
        generic, _ = bitsim.encode(values, target, mode, return_flags=True)
        bad = np.flatnonzero(fast != generic)
        if bad.size:
            i = int(bad[0])
            print(f"{target} {mode}: MISMATCH at input 0x{lo + i:08x}: table 0x{int(fast[i]):x}, "
                  f"generic 0x{int(generic[i]):x}")
            return False
    print(f"{target} {mode}: all 2**32 float32 inputs agree ({time.perf_counter() - start:.0f} s)")
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="e4m3,e5m2")
    parser.add_argument("--modes", default="rne")
    args = parser.parse_args(argv)
    ok = all(verify(t, m) for t in args.targets.split(",") for m in args.modes.split(","))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
