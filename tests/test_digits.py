"""The capstone's data module: the IDX reader and the MNIST cache on small files written here.

No test touches the network: downloads are served by a stand-in for urlopen.
"""
import gzip
import io
import struct
import urllib.error
import urllib.request

import numpy as np
import pytest

from dltrack import digits

CODES = {"u1": 0x08, "i1": 0x09, ">i2": 0x0B, ">i4": 0x0C, ">f4": 0x0D, ">f8": 0x0E}


def idx_bytes(array, dtype="u1"):
    """An IDX file holding `array`, written by hand from the format's description."""
    array = np.asarray(array, dtype=np.dtype(dtype))
    header = bytes([0, 0, CODES[dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.dtype(dtype).newbyteorder(">")).tobytes()


def write_mnist(folder, kind, images, labels, compress=True):
    """The two files of one MNIST part, as load_mnist expects to find them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in zip(digits.MNIST_FILES[kind], (idx_bytes(images), idx_bytes(labels))):
        (folder / name).write_bytes(gzip.compress(data) if compress else data)


def small_mnist(n=5, side=28, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, side, side)), rng.integers(0, 10, size=n)


# ------------------------------------------------------------------ the IDX format

def test_idx_header_is_the_documented_layout():
    data = idx_bytes(np.array([[1, 2, 3], [4, 5, 6]]))
    assert data[:4] == b"\x00\x00\x08\x02"
    assert data[4:12] == b"\x00\x00\x00\x02\x00\x00\x00\x03"
    assert data[12:] == bytes([1, 2, 3, 4, 5, 6])


def test_reads_images_and_labels(tmp_path):
    images, labels = small_mnist(n=4, side=6)
    (tmp_path / "images.idx").write_bytes(idx_bytes(images))
    (tmp_path / "labels.idx").write_bytes(idx_bytes(labels))
    got = digits.load_idx(tmp_path / "images.idx")
    assert got.shape == (4, 6, 6) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(digits.load_idx(tmp_path / "labels.idx"), labels)


def test_reads_gzip_compressed_files(tmp_path):
    images, _ = small_mnist(n=3, side=5)
    (tmp_path / "images.idx.gz").write_bytes(gzip.compress(idx_bytes(images)))
    np.testing.assert_array_equal(digits.load_idx(tmp_path / "images.idx.gz"), images)


@pytest.mark.parametrize("dtype", ["i1", ">i2", ">i4", ">f4", ">f8"])
def test_reads_every_type_in_native_byte_order(dtype):
    values = np.array([[-3, 0, 7], [100, -100, 1]])
    got = digits.parse_idx(idx_bytes(values, dtype))
    assert got.dtype.isnative and got.dtype.kind == np.dtype(dtype).kind
    np.testing.assert_array_equal(got, values)


def test_reads_a_scalar_dimension_list_and_an_empty_array():
    np.testing.assert_array_equal(digits.parse_idx(idx_bytes(np.array([9, 8, 7]))), [9, 8, 7])
    assert digits.parse_idx(idx_bytes(np.zeros((0, 28, 28)))).shape == (0, 28, 28)


@pytest.mark.parametrize("data, message", [
    (b"", "not an IDX file"),
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "not an IDX file"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown type code 0x07"),
    (b"\x00\x00\x08\x02\x00\x00\x00\x01", "truncated IDX file"),
])
def test_rejects_bad_headers(data, message):
    with pytest.raises(ValueError, match=message):
        digits.parse_idx(data)


def test_rejects_missing_or_extra_values():
    whole = idx_bytes(np.arange(12).reshape(3, 4))
    with pytest.raises(ValueError, match="should be 24 bytes, got 23"):
        digits.parse_idx(whole[:-1])
    with pytest.raises(ValueError, match="should be 24 bytes, got 25"):
        digits.parse_idx(whole + b"\x00")


# ------------------------------------------------------------------ load_mnist and its cache

def no_network(*args, **kwargs):
    raise AssertionError("load_mnist tried the network although the files are cached")


def test_load_mnist_reads_the_cache_without_the_network(tmp_path, monkeypatch):
    images, labels = small_mnist(n=5)
    write_mnist(tmp_path, "test", images, labels)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    X, y = digits.load_mnist("test", cache=tmp_path)
    assert X.shape == (5, 784) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() <= 1.0
    np.testing.assert_allclose(X, images.reshape(5, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    assert y.dtype == np.int64


def test_load_mnist_reads_uncompressed_files_under_the_usual_names(tmp_path):
    images, labels = small_mnist(n=2)
    write_mnist(tmp_path, "train", images, labels, compress=False)
    X, y = digits.load_mnist("train", cache=tmp_path, download=False)
    assert X.shape == (2, 784)
    np.testing.assert_array_equal(y, labels)


def test_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    images, labels = small_mnist(n=3)
    monkeypatch.setenv("DLTRACK_DATA", str(tmp_path))
    assert digits.mnist_cache() == tmp_path / "mnist"
    write_mnist(tmp_path / "mnist", "test", images, labels)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    np.testing.assert_array_equal(digits.load_mnist("test")[1], labels)


class Served:
    """A stand-in for urlopen that serves files by name and counts the requests."""

    def __init__(self, files):
        self.files, self.requests = files, []

    def __call__(self, url, timeout=None):
        self.requests.append(url)
        name = url.rsplit("/", 1)[-1]
        if name not in self.files:
            raise urllib.error.URLError("not found")
        return io.BytesIO(self.files[name])


def test_download_once_then_cached(tmp_path, monkeypatch):
    images, labels = small_mnist(n=4)
    served = Served(dict(zip(digits.MNIST_FILES["train"],
                             (gzip.compress(idx_bytes(images)), gzip.compress(idx_bytes(labels))))))
    monkeypatch.setattr(urllib.request, "urlopen", served)
    cache = tmp_path / "cache"
    X, y = digits.load_mnist("train", cache=cache)
    assert len(served.requests) == 2
    assert sorted(p.name for p in cache.iterdir()) == sorted(digits.MNIST_FILES["train"])
    np.testing.assert_array_equal(y, labels)
    X_again, _ = digits.load_mnist("train", cache=cache)
    assert len(served.requests) == 2
    np.testing.assert_array_equal(X_again, X)


def test_download_tries_the_next_mirror_and_keeps_no_bad_file(tmp_path, monkeypatch):
    images, labels = small_mnist(n=2)
    good = dict(zip(digits.MNIST_FILES["test"], (idx_bytes(images), idx_bytes(labels))))

    def opener(url, timeout=None):
        if url.startswith("https://first.invalid/"):
            return io.BytesIO(b"<html>not a data file</html>")
        return Served(good)(url)

    monkeypatch.delenv("DLTRACK_MNIST_URL", raising=False)
    monkeypatch.setattr(digits, "MNIST_MIRRORS", ["https://first.invalid/", "https://second.invalid/"])
    monkeypatch.setattr(urllib.request, "urlopen", opener)
    X, y = digits.load_mnist("test", cache=tmp_path)
    np.testing.assert_array_equal(y, labels)
    assert not list(tmp_path.glob(".part-*"))


def test_download_failure_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", Served({}))
    with pytest.raises(OSError, match="could not download train-images-idx3-ubyte.gz"):
        digits.load_mnist("train", cache=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_no_download_when_told_not_to(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(FileNotFoundError, match="download=False"):
        digits.load_mnist("test", cache=tmp_path, download=False)


def test_rejects_unknown_part_and_mismatched_files(tmp_path):
    with pytest.raises(ValueError, match="'train' or 'test'"):
        digits.load_mnist("validation", cache=tmp_path)
    images, labels = small_mnist(n=3)
    write_mnist(tmp_path, "test", images, labels[:2])
    with pytest.raises(ValueError, match="do not match"):
        digits.load_mnist("test", cache=tmp_path, download=False)


# ------------------------------------------------------------------ the 8x8 digits and the split

def test_bundled_digits_are_scaled_and_labelled():
    X, y = digits.load_digits()
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))


def test_bundled_digits_are_scikit_learns():
    from sklearn.datasets import load_digits

    X, y = digits.load_digits()
    bunch = load_digits()
    np.testing.assert_array_equal(X, bunch.data / 16.0)
    np.testing.assert_array_equal(y, bunch.target)


def test_split_is_seeded_disjoint_and_complete():
    X = np.arange(100, dtype=float).reshape(50, 2)
    y = np.arange(50)
    parts = digits.train_validation_test(X, y, validation=0.2, test=0.2, seed=3)
    X_train, y_train, X_val, y_val, X_test, y_test = parts
    assert (len(y_train), len(y_val), len(y_test)) == (30, 10, 10)
    assert sorted(np.concatenate([y_train, y_val, y_test]).tolist()) == list(range(50))
    np.testing.assert_array_equal(X_train[:, 0] / 2, y_train)  # rows stay with their labels
    again = digits.train_validation_test(X, y, validation=0.2, test=0.2, seed=3)
    for a, b in zip(parts, again):
        np.testing.assert_array_equal(a, b)
    other = digits.train_validation_test(X, y, validation=0.2, test=0.2, seed=4)
    assert not np.array_equal(other[1], y_train)
