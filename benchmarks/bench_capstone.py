"""Time one training epoch of the capstone network: the course's NumPy reference against PyTorch.

A benchmark, not a test. The NumPy network is the reference solution itself, read from
source/07_digits_capstone/digits_capstone.ipynb; the PyTorch network is the same one (64 inputs,
64 ReLU units, 10 softmax outputs, cross-entropy with L2 on the weights, plain mini-batch SGD)
written the usual PyTorch way. Both start from the same weights, take the same batches in the
same order in float64, and must end the epoch with the same weights, which is checked before
anything is timed. An epoch is what the notebook's `train` does in one epoch: the steps over the
1,079 training digits, then the cost and the accuracy on the whole training set.

PyTorch is not a course dependency; without it the script says so, times NumPy alone and exits 0.

    python benchmarks/bench_capstone.py [--repeats 15] [--threads 1 2]
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dltrack.digits import load_digits, train_validation_test  # noqa: E402

NOTEBOOK = ROOT / "source" / "07_digits_capstone" / "digits_capstone.ipynb"
REFERENCE_CELLS = ["hidden_units", "softmax_ce", "init", "network_init", "l2", "forward",
                   "backward", "accuracy", "train"]
N_HIDDEN, LR, BATCH_SIZE, LAM = 64, 0.1, 10, 1e-4  # the reference's settings


def reference():
    """The notebook's reference functions (solution regions included), in a fresh namespace."""
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source
             for c in nbformat.read(NOTEBOOK, 4).cells if c.cell_type == "code"}
    namespace = {"np": np, "__name__": "reference"}
    for grade_id in REFERENCE_CELLS:
        exec(compile(cells[grade_id], f"<{NOTEBOOK.name}:{grade_id}>", "exec"), namespace)
    return namespace


def numpy_epoch(ref, params, X, y, rng):
    history = ref["train"](params, X, y, LR, 1, BATCH_SIZE, LAM, rng)
    return history["loss"][-1], history["accuracy"][-1]


def torch_network(torch, params):
    """nn.Sequential with the weights of `params`, and SGD with weight decay on the weights only."""
    net = torch.nn.Sequential(torch.nn.Linear(*params["W1"].T.shape), torch.nn.ReLU(),
                              torch.nn.Linear(*params["W2"].T.shape)).double()
    with torch.no_grad():
        for layer, k in ((net[0], "1"), (net[2], "2")):
            layer.weight.copy_(torch.from_numpy(params["W" + k]))
            layer.bias.copy_(torch.from_numpy(params["b" + k]))
    weights = [net[0].weight, net[2].weight]
    biases = [net[0].bias, net[2].bias]
    # weight_decay adds lam * W to a weight's gradient: the gradient of (lam / 2) * sum W^2.
    sgd = torch.optim.SGD([{"params": weights, "weight_decay": LAM},
                           {"params": biases, "weight_decay": 0.0}], lr=LR)
    return net, sgd


def torch_epoch(torch, net, sgd, X, y, rng):
    order = torch.from_numpy(rng.permutation(len(X)))
    for start in range(0, len(X), BATCH_SIZE):
        rows = order[start:start + BATCH_SIZE]
        sgd.zero_grad()
        torch.nn.functional.cross_entropy(net(X[rows]), y[rows]).backward()
        sgd.step()
    with torch.no_grad():
        scores = net(X)
        penalty = 0.5 * LAM * (net[0].weight.square().sum() + net[2].weight.square().sum())
        loss = torch.nn.functional.cross_entropy(scores, y) + penalty
        acc = (scores.argmax(dim=1) == y).double().mean()
    return float(loss), float(acc)


def per_epoch(run, repeats):
    """Median and fastest seconds of one call of `run`, after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed epochs per measurement")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1],
                        help="thread counts to measure (BLAS for NumPy, intra-op for PyTorch)")
    args = parser.parse_args(argv)
    threads = sorted(set(args.threads))

    ref = reference()
    X, y = load_digits()
    X_train, y_train, *_ = train_validation_test(X, y, seed=0)
    start = ref["init_network"](64, N_HIDDEN, 10, np.random.default_rng(2024))
    print(f"one epoch: {len(X_train)} training digits, network 64-{N_HIDDEN}-10, batch size "
          f"{BATCH_SIZE}, lr {LR}, lam {LAM}; median of {args.repeats} epochs after a warm-up")

    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not installed, so only NumPy is timed (pip install torch to compare; "
              "it is not a course dependency).")

    if torch is not None:
        torch.manual_seed(0)
        params = {k: v.copy() for k, v in start.items()}
        numpy_result = numpy_epoch(ref, params, X_train, y_train, np.random.default_rng(5))
        net, sgd = torch_network(torch, start)
        X_t, y_t = torch.from_numpy(X_train), torch.from_numpy(y_train)
        torch_result = torch_epoch(torch, net, sgd, X_t, y_t, np.random.default_rng(5))
        gap = max(float(np.max(np.abs(params["W1"] - net[0].weight.detach().numpy()))),
                  float(np.max(np.abs(params["W2"] - net[2].weight.detach().numpy()))))
        print(f"same network: after one epoch from the same start, NumPy cost {numpy_result[0]:.6f}"
              f" and accuracy {numpy_result[1]:.4f}, PyTorch {torch_result[0]:.6f} and "
              f"{torch_result[1]:.4f}; largest weight difference {gap:.1e}")
        if gap > 1e-8:
            print("the two networks disagree; the timings below would not compare like with like")
            return 1
        print(f"PyTorch {torch.__version__}, float64, CPU")

    print(f"\n{'threads':>7}  {'NumPy ms/epoch':>14}  {'PyTorch ms/epoch':>16}  {'PyTorch / NumPy':>15}")
    for n in threads:
        with threadpool_limits(n):
            params = {k: v.copy() for k, v in start.items()}
            rng = np.random.default_rng(5)
            numpy_time, _ = per_epoch(lambda: numpy_epoch(ref, params, X_train, y_train, rng),
                                      args.repeats)
        line = f"{n:>7}  {1000 * numpy_time:>14.1f}"
        if torch is not None:
            torch.set_num_threads(n)
            net, sgd = torch_network(torch, start)
            rng = np.random.default_rng(5)
            torch_time, _ = per_epoch(lambda: torch_epoch(torch, net, sgd, X_t, y_t, rng),
                                      args.repeats)
            line += f"  {1000 * torch_time:>16.1f}  {torch_time / numpy_time:>15.2f}"
        else:
            line += f"  {'-':>16}  {'-':>15}"
        print(line)
    if torch is not None:
        print("\nA ratio above 1 means PyTorch takes longer than NumPy for an epoch of this small network.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
