"""NPZ files of a case set: one ``.npy`` member per field, readable by ``numpy.load``.

The archive is written byte-reproducibly: members in sorted order, stored uncompressed, with a fixed
timestamp (1980-01-01, the zip epoch) and fixed permissions, so a regenerated suite is byte-identical.
Each array has the smallest unsigned dtype that holds its field's words (uint8 for 8-bit codes and for
flags) and the field's shape (C order); the formats, op and rounding are in the manifest.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

from bitsim.formats.spec import code_dtype
from bitsim.golden.errors import GoldenFileError

_EPOCH = (1980, 1, 1, 0, 0, 0)


def write(path, fields: dict, bits: dict) -> None:
    """Write ``{name: array}`` as members ``name.npy`` of dtype ``code_dtype(bits[name])``."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(fields):
            buf = io.BytesIO()
            arr = np.ascontiguousarray(fields[name], dtype=code_dtype(bits[name]))
            np.lib.format.write_array(buf, arr, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def read(path, shapes: dict, bits: dict) -> dict:
    """``{name: uint64 array}`` for the expected member names and shapes; GoldenFileError names the file
    and member when one is missing, has another dtype or shape, or holds a value wider than ``bits``."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise GoldenFileError(path, None, f"not a readable NPZ archive ({e})") from None
    out = {}
    with data:
        for name, shape in shapes.items():
            member = f"{name}.npy"
            if name not in data.files:
                raise GoldenFileError(path, member, f"member missing; expected fields {', '.join(sorted(shapes))}")
            try:
                arr = data[name]
            except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
                raise GoldenFileError(path, member, f"unreadable array ({e})") from None
            if arr.dtype != code_dtype(bits[name]):
                raise GoldenFileError(path, member, f"expected dtype {code_dtype(bits[name])} ({bits[name]}-bit "
                                      f"words), got {arr.dtype}")
            if tuple(arr.shape) != tuple(shape):
                raise GoldenFileError(path, member, f"expected shape {tuple(shape)}, got {tuple(arr.shape)}")
            if arr.size and int(arr.max()) >> bits[name]:
                i = int(np.argmax(arr.reshape(-1).astype(np.uint64) >> np.uint64(bits[name])))
                raise GoldenFileError(path, member, f"element {i} = {int(arr.reshape(-1)[i]):#x} does not fit in "
                                      f"{bits[name]} bits")
            out[name] = arr.astype(np.uint64)
    return out
