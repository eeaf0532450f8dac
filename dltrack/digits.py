"""Handwritten digits for the capstone: data, a seeded split, plots and a progress bar.

The course trains on the 8x8 digits that scikit-learn ships (1,797 images), so it
works offline. `load_mnist` reads the full 28x28 MNIST files in the IDX format; it
downloads them once into a cache folder when the machine has a network, and is
never needed by the course itself.
"""
import gzip
import os
import struct
import tempfile
import urllib.request
from pathlib import Path

import numpy as np


def load_digits():
    """The 8x8 digits as X of shape (1797, 64), pixels scaled to [0, 1], and labels y (1797,).

    Read from the file scikit-learn ships (what its own load_digits reads: 64 pixels, then the
    label, a row per image) without importing scikit-learn, which takes over a second of CPU.
    """
    import importlib.util

    package = Path(importlib.util.find_spec("sklearn").origin).parent
    rows = np.loadtxt(package / "datasets" / "data" / "digits.csv.gz", delimiter=",")
    return rows[:, :-1] / 16.0, rows[:, -1].astype(np.int64)  # pixels are 0..16 in this set


def train_validation_test(X, y, validation=0.2, test=0.2, seed=0):
    """Shuffle the examples with a seeded NumPy generator and cut them in three.

    X -- examples, shape (N, n); y -- labels, shape (N,)
    validation, test -- the fraction of the examples in each of those parts
    returns X_train, y_train, X_val, y_val, X_test, y_test
    """
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = int(round(test * len(X)))
    n_val = int(round(validation * len(X)))
    test_rows, val_rows, train_rows = np.split(order, [n_test, n_test + n_val])
    return (X[train_rows], y[train_rows], X[val_rows], y[val_rows],
            X[test_rows], y[test_rows])


# ---------------------------------------------------------------- plots

def show_digits(X, titles=None, ncols=10, size=0.9, cmap="gray_r", limits=None):
    """Draw the images in the rows of X (N, side*side) on a grid, each under its title.

    limits -- (low, high) of the colour scale; default (0, 1) or up to the largest value
    """
    import matplotlib.pyplot as plt

    X = np.asarray(X, float)
    side = int(round(np.sqrt(X.shape[1])))
    low, high = limits if limits is not None else (0.0, max(1.0, float(X.max())))
    nrows = max(1, -(-len(X) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + 0.25) * nrows),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(X):
            ax.imshow(X[i].reshape(side, side), cmap=cmap, vmin=low, vmax=high)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=9)
    fig.tight_layout()
    return fig


def plot_confusion(counts, ax=None, title=None):
    """Draw a confusion matrix: counts[i, j] examples of digit i were called j."""
    import matplotlib.pyplot as plt

    counts = np.asarray(counts)
    ax = ax or plt.gca()
    ax.imshow(counts, cmap="Blues")
    k = len(counts)
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                dark = counts[i, j] > counts.max() / 2
                ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    if title:
        ax.set_title(title)
    return ax


class TrainingProgress:
    """A progress bar for a training loop: call it as progress(epoch, loss, accuracy).

    In JupyterLab it is an ipywidgets bar with the latest numbers beside it, updated
    in place; elsewhere it is one line of text, also updated in place. It keeps the
    numbers it was given in `epochs_seen`, `loss` and `accuracy`.
    """

    def __init__(self, epochs, description="training"):
        from IPython.display import display

        self.epochs, self.epochs_seen, self.loss, self.accuracy = epochs, [], [], []
        try:
            import ipywidgets

            self._bar = ipywidgets.IntProgress(value=0, min=0, max=epochs,
                                               description=description)
            self._label = ipywidgets.Label("starting")
            display(ipywidgets.HBox([self._bar, self._label]))
            self._handle = None
        except ImportError:
            self._bar = self._label = None
            self._handle = display(f"{description}: starting", display_id=True)

    def __call__(self, epoch, loss, accuracy):
        self.epochs_seen.append(epoch)
        self.loss.append(float(loss))
        self.accuracy.append(float(accuracy))
        text = f"epoch {epoch}/{self.epochs}: loss {loss:.4f}, training accuracy {accuracy:.1%}"
        if self._bar is not None:
            self._bar.value = epoch
            self._label.value = text
        elif self._handle is not None:
            self._handle.update(text)


# ---------------------------------------------------------------- MNIST (optional)

IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

MNIST_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
               "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}

# Public copies of the original files; DLTRACK_MNIST_URL puts another first.
MNIST_MIRRORS = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/"]


def parse_idx(data):
    """The array stored in the bytes of an IDX file (gzip-compressed or not).

    An IDX file is two zero bytes, a type code, the number of dimensions d, then
    d big-endian 32-bit sizes and the values in row-major order.
    """
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError("not an IDX file: it must start with two zero bytes")
    code, ndim = data[2], data[3]
    if code not in IDX_TYPES:
        raise ValueError(f"not an IDX file: unknown type code 0x{code:02x}")
    start = 4 + 4 * ndim
    if len(data) < start:
        raise ValueError(f"truncated IDX file: the header needs {start} bytes, got {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:start])
    dtype = IDX_TYPES[code]
    count = int(np.prod(shape, dtype=np.int64))
    size = start + count * dtype.itemsize
    if len(data) != size:
        raise ValueError(f"IDX file of shape {shape} should be {size} bytes, got {len(data)}")
    values = np.frombuffer(data, dtype=dtype, count=count, offset=start)
    return values.astype(dtype.newbyteorder("=")).reshape(shape)


def load_idx(path):
    """The array in the IDX file at `path` (a .gz file is decompressed)."""
    return parse_idx(Path(path).read_bytes())


def mnist_cache():
    """The folder MNIST is cached in: $DLTRACK_DATA/mnist, else ~/.cache/dltrack/mnist."""
    root = os.environ.get("DLTRACK_DATA") or Path.home() / ".cache" / "dltrack"
    return Path(root) / "mnist"


def _download(name, folder, mirrors, timeout=60):
    """Fetch one file into `folder`, written under its name only once it is whole and valid."""
    errors = []
    for base in mirrors:
        try:
            with urllib.request.urlopen(base + name, timeout=timeout) as response:
                data = response.read()
            parse_idx(data)
        except (OSError, ValueError) as exc:
            errors.append(f"{base + name}: {exc}")
            continue
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, folder / name)
        return folder / name
    raise OSError(f"could not download {name} (no network?). Tried:\n  " + "\n  ".join(errors)
                  + f"\nOr copy the file into {folder} by hand.")


def load_mnist(kind="train", cache=None, download=True):
    """The 28x28 MNIST digits as X (N, 784) in [0, 1] (float32) and labels y (N,).

    kind     -- "train" (60,000 images) or "test" (10,000)
    cache    -- the folder holding the four .gz files; default mnist_cache()
    download -- fetch missing files once; with False a missing file is an error
    """
    if kind not in MNIST_FILES:
        raise ValueError(f"kind must be 'train' or 'test', not {kind!r}")
    folder = Path(cache) if cache is not None else mnist_cache()
    mirrors = [u for u in [os.environ.get("DLTRACK_MNIST_URL")] if u] + MNIST_MIRRORS
    paths = []
    for name in MNIST_FILES[kind]:
        path = folder / name
        if not path.exists():
            if not download:
                raise FileNotFoundError(f"{path} is missing and download=False")
            path = _download(name, folder, mirrors)
        paths.append(path)
    images, labels = (load_idx(p) for p in paths)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"images {images.shape} and labels {labels.shape} do not match")
    X = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return X, labels.astype(np.int64)
