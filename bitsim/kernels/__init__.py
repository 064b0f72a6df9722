"""Array kernels over the scalar core: ``cpu`` (Numba parallel loops) now, ``cuda`` later.

Numba's on-disk cache notices edits to a kernel's own file but not to the core functions it calls, so
the cache directory is keyed by a hash of every source file the kernels compile from.
"""

import hashlib
import os
from pathlib import Path

import numba


def _source_fingerprint() -> str:
    pkg = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for sub in ("core", "kernels"):
        for path in sorted((pkg / sub).glob("*.py")):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _cache_root() -> str:
    root = os.environ.get("NUMBA_CACHE_DIR")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bitsim")
    return os.path.join(root, f"bitsim-{_source_fingerprint()}")


numba.config.CACHE_DIR = _cache_root()
