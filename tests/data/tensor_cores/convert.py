"""Convert the MATLAB-tensor-core hardware recordings (text) into compact .npz files for the tests.

Usage: python tests/data/tensor_cores/convert.py SOURCE_DIR [DEST_DIR]

SOURCE_DIR holds ``<GPU>/<format>/{a,b,c,d}_<GPU>_<...>.txt`` (5000 lines each): a and b are K
space-separated hex fp32 words per line, c and d one 32-character binary fp32 word per line. Every set
``<GPU>/<format>`` becomes ``<gpu>_<format>.npz`` in DEST_DIR (default: this file's folder) with uint32
arrays ``a``, ``b`` (n, K), ``c`` (n,), and ``d_fp32`` and/or ``d_fp16`` (n,) — the bit patterns exactly as
recorded (fp16 results stay widened to fp32), stored with ``np.savez_compressed``.
"""

import sys
from pathlib import Path

import numpy as np


def read_hex_rows(path: Path) -> np.ndarray:
    rows = [[int(word, 16) for word in line.split()] for line in path.read_text().splitlines() if line.strip()]
    return np.array(rows, dtype=np.uint32)


def read_binary_words(path: Path) -> np.ndarray:
    words = [int(line.strip(), 2) for line in path.read_text().splitlines() if line.strip()]
    return np.array(words, dtype=np.uint32)


def convert_set(folder: Path) -> dict:
    one = lambda prefix: next(folder.glob(f"{prefix}_*.txt"))  # noqa: E731
    arrays = {"a": read_hex_rows(one("a")), "b": read_hex_rows(one("b")), "c": read_binary_words(one("c"))}
    for out in ("fp32", "fp16"):
        found = sorted(folder.glob(f"d_*_{out}.txt"))
        if found:
            arrays[f"d_{out}"] = read_binary_words(found[0])
    n = len(arrays["c"])
    assert all(len(v) == n for v in arrays.values()), f"{folder}: files of different lengths"
    return arrays


def main(source: str, dest: str | None = None) -> None:
    dest_dir = Path(dest) if dest else Path(__file__).parent
    for folder in sorted(p for p in Path(source).glob("*/*") if p.is_dir()):
        name = f"{folder.parent.name.lower()}_{folder.name.lower()}.npz"
        np.savez_compressed(dest_dir / name, **convert_set(folder))
        print(name, {k: v.shape for k, v in np.load(dest_dir / name).items()})


if __name__ == "__main__":
    main(*sys.argv[1:])
