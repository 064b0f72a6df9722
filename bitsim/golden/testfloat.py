"""TestFloat-style text vectors: one case a line, the layout of Berkeley TestFloat's ``testfloat_gen``
output (TestFloat 3, ``testfloat_gen.html``, "Output Format").

Each line holds the operands, then the result, then the exception flags, separated by single spaces.
Operands and results are the code words in hexadecimal without ``0x``, upper-case, zero-padded to the
format's width (4 digits for fp16, 2 for an 8-bit format). The flags are two hex digits in SoftFloat's
bit order (SoftFloat 3, ``SoftFloat.html`` section 7: ``softfloat_flag_inexact`` = 1, ``underflow`` = 2,
``overflow`` = 4, ``infinite`` = 8, ``invalid`` = 16). bitsim's flags use that same order, so they are
written unchanged (the mapping is the identity).

Stochastic rounding has no place in TestFloat: SR lines carry one more field after the flags, the
random integer of the case (hex, width of ``sr_bits``). The file has no header (TestFloat's readers take
none); the op, formats and rounding are in the suite manifest.
"""

from __future__ import annotations

import numpy as np

from bitsim.golden.errors import GoldenFileError, hex_digits, parse_hex, read_lines
from bitsim.golden.sets import OPERANDS, OPS, field_bits

FLAG_DIGITS = 2


def columns(params: dict) -> list[tuple[str, int, int]]:
    """(field, bits, hex digits) of each column of an ``op`` set's lines."""
    names = list(OPERANDS[:OPS[params["op"]]]) + ["result"]
    cols = [(n, field_bits("op", params, n), hex_digits(field_bits("op", params, n))) for n in names]
    cols.append(("flags", 5, FLAG_DIGITS))
    if params["rounding"] == "sr":
        cols.append(("rand", int(params["sr_bits"]), hex_digits(int(params["sr_bits"]))))
    return cols


def write(path, params: dict, fields: dict) -> None:
    """Write an ``op`` set's cases, one line each."""
    cols = columns(params)
    arrays = [np.asarray(fields[n], dtype=np.uint64).reshape(-1).tolist() for n, _, _ in cols]
    digits = [d for _, _, d in cols]
    with open(path, "w", encoding="ascii", newline="\n") as fh:
        for row in zip(*arrays):
            fh.write(" ".join(f"{v:0{d}X}" for v, d in zip(row, digits)) + "\n")


def read(path, params: dict, count: int) -> dict:
    """The fields of a TestFloat-style file of ``count`` cases (uint64 arrays); GoldenFileError names
    the file and line of anything malformed or missing."""
    cols = columns(params)
    lines = read_lines(path)
    out = {n: np.zeros(count, dtype=np.uint64) for n, _, _ in cols}
    for i, text in enumerate(lines):
        line = i + 1
        if i >= count:
            raise GoldenFileError(path, line, f"expected {count} case lines, found more")
        words = text.split(" ")
        if len(words) != len(cols):
            raise GoldenFileError(path, line, f"expected {len(cols)} fields ({' '.join(n for n, _, _ in cols)}), "
                                  f"got {len(words)}: {text!r}")
        for (name, bits, digits), w in zip(cols, words):
            out[name][i] = parse_hex(w, bits, path, line, name, digits)
    if len(lines) < count:
        raise GoldenFileError(path, len(lines) + 1, f"expected {count} case lines, the file ends after "
                              f"{len(lines)} (truncated?)")
    return out
