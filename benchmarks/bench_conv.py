"""Section 8's figures: the reference convolutional network, the release notebook, and PyTorch's conv2d.

A benchmark, not a test: it prints its figures and asserts nothing.

1. The reference network of source/08_convolutional_networks (its solution cells and its settings),
   trained on one core on the training split as the notebook trains it: its test accuracy and its
   training time, beside the fully connected network of the capstone (section 7's reference) on
   the same test split.
2. The release notebook run top to bottom with nbclient, as a student's Run All with every exercise
   unwritten.
3. Only when PyTorch can be imported: one convolution forward and backward, the notebook's
   `conv_forward` and `conv_backward` against `torch.nn.functional.conv2d` and autograd, for the
   same shapes and weights in float64 on the CPU, on one thread each. The results are compared
   before anything is timed; the ratio is NumPy's time over PyTorch's, in one run.

PyTorch is not a course dependency; without it the third part is skipped.

    python benchmarks/bench_conv.py [--repeats 20] [--skip-release]
"""
import argparse
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dltrack.digits import load_digits, train_validation_test  # noqa: E402

from bench_capstone import per_epoch  # noqa: E402 - the same timing: median of repeats after a warm-up

SECTION = "08_convolutional_networks"
NOTEBOOK = ROOT / "source" / SECTION / "convolutional_networks.ipynb"
REFERENCE_CELLS = ["sizes", "conv_forward", "max_pooling", "l2_pooling", "conv_backward",
                   "building_blocks", "convnet", "dropout"]
SEED = 2024  # the seed the notebook and its test train with


def cells():
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c.source
            for c in nbformat.read(NOTEBOOK, 4).cells if c.cell_type == "code"}


def reference():
    """The notebook's reference functions (solution regions included), and its settings."""
    from numpy.lib.stride_tricks import sliding_window_view

    source = cells()
    namespace = {"np": np, "sliding_window_view": sliding_window_view, "__name__": "reference"}
    for grade_id in REFERENCE_CELLS:
        exec(compile(source[grade_id], f"<{NOTEBOOK.name}:{grade_id}>", "exec"), namespace)
    settings_line = next(line for line in source["convnet_settings"].splitlines()
                         if line.startswith("n_maps, n_hidden"))
    values = {}
    exec(settings_line, {}, values)
    settings = {k: values[k] for k in ("n_maps", "n_hidden", "lr", "epochs", "batch_size", "lam")}
    return namespace, settings


def reference_network(ref, settings):
    X, y = load_digits()
    X_train, y_train, _, _, X_test, y_test = train_validation_test(X, y, seed=0)
    with threadpool_limits(1):
        start = time.perf_counter()
        params, _ = ref["train_convnet"](ref["as_images"](X_train), y_train, **settings, seed=SEED)
        seconds = time.perf_counter() - start
    right = int(np.sum(ref["predict"](params, ref["as_images"](X_test)) == y_test))
    return right, len(y_test), seconds, sum(v.size for v in params.values())


def capstone_network():
    """Section 7's reference network with its settings, on the same split: digits right, of how many."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_capstone

    cap = bench_capstone.reference()
    X, y = load_digits()
    X_train, y_train, _, _, X_test, y_test = train_validation_test(X, y, seed=0)
    rng = np.random.default_rng(SEED)
    with threadpool_limits(1):
        net = cap["init_network"](64, bench_capstone.N_HIDDEN, 10, rng)
        cap["train"](net, X_train, y_train, bench_capstone.LR, 50, bench_capstone.BATCH_SIZE,
                     bench_capstone.LAM, rng)
    scores = cap["forward"](net, X_test)[2]
    return int(np.sum(np.argmax(scores, axis=1) == y_test)), len(y_test)


def release_run():
    from dltrack.nbplugins import LocalWidgetsClient

    path = ROOT / "release" / SECTION / NOTEBOOK.name
    nb = nbformat.read(path, 4)
    start = time.perf_counter()
    LocalWidgetsClient(nb, timeout=600, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    code = [c for c in nb.cells if c.cell_type == "code"]
    stopped = [o.ename for c in code for o in c.outputs if o.output_type == "error"]
    kinds = ", ".join(f"{stopped.count(k)} {k}" for k in sorted(set(stopped)))
    return seconds, f"{sum(bool(c.execution_count) for c in code)} of {len(code)} code cells run; stopped: {kinds}"


def against_torch(ref, repeats):
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed, so the comparison with conv2d is skipped "
              "(pip install torch in a throwaway environment; it is not a course dependency).")
        return
    torch.set_num_threads(1)
    print(f"PyTorch {torch.__version__}, float64, CPU, one thread; median of {repeats} runs after a warm-up")
    print(f"{'shapes X / W':34s} {'NumPy ms':>9s} {'PyTorch ms':>11s} {'NumPy / PyTorch':>16s}  largest difference")
    for (n, c, h, f, k) in [(10, 1, 10, 16, 3), (64, 8, 16, 16, 3), (32, 3, 28, 8, 5)]:
        data = np.random.default_rng(0)
        X, W, b = data.normal(size=(n, c, h, h)), data.normal(size=(f, c, k, k)), data.normal(size=f)
        m = h - k + 1
        dz = data.normal(size=(n, f, m, m))

        def numpy_step():
            z = ref["conv_forward"](X, W, b, 1)
            return (z, *ref["conv_backward"](dz, X, W, 1))

        Xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (X, W, b))
        dzt = torch.from_numpy(dz)

        def torch_step():
            for t in (Xt, Wt, bt):
                t.grad = None
            z = torch.nn.functional.conv2d(Xt, Wt, bt)
            z.backward(dzt)
            return z, Xt.grad, Wt.grad, bt.grad

        with threadpool_limits(1):
            ours = numpy_step()
            theirs = [t.detach().numpy() for t in torch_step()]
            gap = max(float(np.max(np.abs(a - t))) for a, t in zip(ours, theirs))
            numpy_time, _ = per_epoch(numpy_step, repeats)
        torch_time, _ = per_epoch(torch_step, repeats)
        shapes = f"{(n, c, h, h)} / {(f, c, k, k)}"
        print(f"{shapes:34s} {1000 * numpy_time:9.2f} {1000 * torch_time:11.2f} "
              f"{numpy_time / torch_time:16.2f}  {gap:.1e}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed runs of one forward and backward")
    parser.add_argument("--skip-release", action="store_true", help="do not run the release notebook")
    args = parser.parse_args(argv)

    ref, settings = reference()
    right, total, seconds, size = reference_network(ref, settings)
    print(f"reference convolutional network ({', '.join(f'{k} {v}' for k, v in settings.items())}; "
          f"{size:,} parameters): {right} of {total} test digits ({right / total:.1%}), "
          f"trained in {seconds:.1f} s on one core")
    cap_right, cap_total = capstone_network()
    print(f"fully connected capstone network (section 7's reference): {cap_right} of {cap_total} "
          f"test digits ({cap_right / cap_total:.1%})")
    if not args.skip_release:
        seconds, cells = release_run()
        print(f"release notebook, top to bottom: {seconds:.1f} s ({cells})")
    against_torch(ref, args.repeats)


if __name__ == "__main__":
    main()
