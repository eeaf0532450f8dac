"""Where one autograded notebook's time goes, against executing it bare (a benchmark, not a test).

    python benchmarks/profile_autograde.py [ASSIGNMENT] [--repeat N] [--top K] [--no-font-cache]

Takes the reference notebook of ASSIGNMENT as one student's submission and, N times each,
  bare    executes it with nbclient in a fresh kernel (no nbgrader, no sandbox, no judge);
  graded  grades it the way a `dltrack autograde` worker does (dltrack.parallel.grade_student:
          nbgrader's Autograde in a scratch course, a sandboxed kernel, the judge).
Prints for each the wall seconds and the CPU seconds of this process and of the kernels
(sampled over the process tree), the overhead of grading over bare execution, and then the
functions of the grading process with the most cumulative time under cProfile.
--no-font-cache grades as before kernels got a copy of matplotlib's font list.
"""
import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import harness  # noqa: E402
from bench_class import CpuSampler  # noqa: E402

from dltrack import nbplugins, parallel  # noqa: E402


def course_with_one_student(where, assignment):
    course = harness.scratch_course(where, [assignment])
    harness.nbgrader(course, "generate_assignment", assignment, "--force")
    harness.submit(course, assignment, "student", nbformat.read(harness.source_notebook(assignment), 4))
    return course


def measure(work):
    """(wall, this process's CPU, the kernels' CPU) seconds of `work()`."""
    sampler = CpuSampler(os.getpid(), every=0.05)
    sampler.start()
    t = os.times()
    began = time.perf_counter()
    work()
    wall = time.perf_counter() - began
    u = os.times()
    mine = u.user + u.system - t.user - t.system
    sampler.seen = {k: v for k, v in sampler.seen.items() if k[0] != os.getpid()}
    return wall, mine, sampler.total()


def bare(path):
    """Execute the notebook at `path` with nbclient in a fresh kernel, in a throwaway folder."""
    from dltrack.nbplugins import LocalWidgetsClient

    nb = nbformat.read(path, 4)
    with tempfile.TemporaryDirectory() as work:
        LocalWidgetsClient(nb, kernel_name="python3", timeout=60, resources={"metadata": {"path": work}}).execute()


def graded(payload, assignment, files):
    result = parallel.grade_student(payload, assignment, "student", files)
    assert result["success"], result["log"]


def report(label, figures, n):
    wall, mine, kernels = (sum(f[i] for f in figures) / n for i in range(3))
    print(f"{label:7s} wall {wall:5.2f} s   CPU: this process {mine:5.2f} s, kernels {kernels:5.2f} s, "
          f"together {mine + kernels:5.2f} s")
    return wall, mine + kernels


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("assignment", nargs="?", default="01_linear_models")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--no-font-cache", action="store_true")
    args = ap.parse_args()
    if args.no_font_cache:
        nbplugins._font_list = lambda: None
    with tempfile.TemporaryDirectory() as where:
        course = course_with_one_student(Path(where) / "course", args.assignment)
        payload = dict(parallel.bundle(course, [args.assignment]), sandbox=True)
        folder = course / "submitted" / "student" / args.assignment
        files = parallel.submission_files(folder)
        path = next(folder.glob("*.ipynb"))
        bare(path), graded(payload, args.assignment, files)  # warm up: imports, caches
        n = args.repeat
        b = report("bare", [measure(lambda: bare(path)) for _ in range(n)], n)
        g = report("graded", [measure(lambda: graded(payload, args.assignment, files)) for _ in range(n)], n)
        print(f"grading over bare execution: wall {g[0] / b[0]:.2f}x, CPU {g[1] / b[1]:.2f}x "
              f"(mean of {n}; load average {os.getloadavg()[0]:.1f})")
        profile = cProfile.Profile()
        profile.enable()
        graded(payload, args.assignment, files)
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
