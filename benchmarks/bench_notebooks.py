"""Print how long each source notebook takes to execute, and one nbgrader autograde of each.

A benchmark, not a test: it prints its figures and asserts nothing.
    python benchmarks/bench_notebooks.py [ASSIGNMENT ...]
"""
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from dltrack.nbplugins import LocalWidgetsClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import harness  # noqa: E402


def execute(path):
    nb = nbformat.read(path, 4)
    start = time.perf_counter()
    LocalWidgetsClient(nb, timeout=600, resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def autograde(assignment):
    with tempfile.TemporaryDirectory() as where:
        course = harness.scratch_course(where, [assignment])
        start = time.perf_counter()
        harness.nbgrader(course, "generate_assignment", assignment, "--force")
        generated = time.perf_counter()
        harness.submit(course, assignment, "reference", nbformat.read(harness.source_notebook(assignment), 4))
        harness.nbgrader(course, "autograde", assignment, "--force")
        return generated - start, time.perf_counter() - generated


def main(ids):
    print(f"{'assignment':28s} {'execute':>9s} {'generate':>9s} {'autograde':>10s}   (seconds, wall)")
    for a in ids:
        run = execute(harness.source_notebook(a))
        generate, grade = autograde(a)
        print(f"{a:28s} {run:9.1f} {generate:9.1f} {grade:10.1f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or harness.assignments())
