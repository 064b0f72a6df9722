"""``$readmemh`` memory files: one file per field (operand, result, flags, matrix), one word a line.

IEEE 1364-2005 section 17.2.9 (and IEEE 1800 section 21.4): ``$readmemh`` reads hexadecimal words
separated by white space and skips ``//`` comments, so the header below loads unchanged into
``reg [W-1:0] mem [0:N-1]``. Layout of a file::

    // bitsim golden vectors
    // set: mul_rne_all
    // field: result
    // format: e5m2 = FloatFormat(e5m2, bias=15, subnormals, specials=ieee, overflow=inf)
    // width: 8
    // count: 65536
    // shape: 65536
    // order: word i is case i (matrices: C order, row by row)
    1F
    ...

``width`` is the word width in bits (each word has ceil(width / 4) hex digits, upper-case, zero-padded),
``count`` the number of words, ``shape`` the array shape (``4x96`` for a 4 x 96 matrix). Line
``header + 1 + i`` holds word i.
"""

from __future__ import annotations

import re

import numpy as np

from bitsim.golden.errors import GoldenFileError, hex_digits, parse_hex, read_lines

HEADER_KEYS = ("set", "field", "format", "width", "count", "shape", "order")
ORDER = "word i is case i (matrices: C order, row by row)"


def _shape_text(shape) -> str:
    return "x".join(str(int(d)) for d in shape) if len(shape) else "scalar"


def write(path, set_name: str, field_name: str, fmt_text: str, bits: int, array) -> None:
    """Write one field: its header, then one zero-padded hex word per line."""
    arr = np.asarray(array, dtype=np.uint64)
    header = {"set": set_name, "field": field_name, "format": fmt_text, "width": bits, "count": arr.size,
              "shape": _shape_text(arr.shape), "order": ORDER}
    d = hex_digits(bits)
    with open(path, "w", encoding="ascii", newline="\n") as fh:
        fh.write("// bitsim golden vectors\n")
        for k in HEADER_KEYS:
            fh.write(f"// {k}: {header[k]}\n")
        for v in arr.reshape(-1).tolist():
            fh.write(f"{v:0{d}X}\n")


def read(path, bits: int, shape) -> np.ndarray:
    """One field as a uint64 array of ``shape``; GoldenFileError names the file and line when the header
    disagrees (width, count, shape) or a word is malformed or missing."""
    shape = tuple(int(s) for s in shape)
    count = int(np.prod(shape, dtype=np.int64))
    lines = read_lines(path)
    header, first = {}, None
    for i, text in enumerate(lines):
        if text.startswith("//"):
            key, sep, value = text[2:].strip().partition(":")
            if sep:
                header[key.strip()] = (value.strip(), i + 1)
            continue
        first = i
        break
    end = len(lines) + 1
    for key, want in (("width", str(bits)), ("count", str(count)), ("shape", _shape_text(shape))):
        if key not in header:
            raise GoldenFileError(path, first + 1 if first is not None else end,
                                  f"header line '// {key}: {want}' missing before the first word")
        got, line = header[key]
        if got != want:
            raise GoldenFileError(path, line, f"header {key}: expected {want}, got {got!r}")
    out = np.zeros(count, dtype=np.uint64)
    words = lines[first:] if first is not None else []
    word = re.compile(f"[0-9A-Fa-f]{{{hex_digits(bits)}}}")
    if len(words) == count and all(map(word.fullmatch, words)):      # fast path; else find the bad line below
        values = [int(w, 16) for w in words]
        if not values or max(values) >> bits == 0:
            return np.array(values, dtype=np.uint64).reshape(shape)
    for j, text in enumerate(words):
        line = first + j + 1
        if j >= count:
            raise GoldenFileError(path, line, f"expected {count} words, found more")
        if " " in text.strip() or "\t" in text:
            raise GoldenFileError(path, line, f"expected one word a line, got {text!r}")
        out[j] = parse_hex(text, bits, path, line, "word")
    if len(words) < count:
        raise GoldenFileError(path, end, f"expected {count} words, the file ends after {len(words)} (truncated?)")
    return out.reshape(shape)
