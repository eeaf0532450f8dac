"""Print how long `dltrack grade` takes: the first time, after an edit, and with nothing changed.

A benchmark, not a test: it prints its figures and asserts nothing.
    python benchmarks/bench_grade.py [SECTION] [--runs N] [--commands]

Each run grades, on a scratch copy of the course with the release stub as the student's notebook:
  first      `dltrack grade` on a fresh clone: no .grading yet, so the assignment is generated
             (the reference runs for the hidden tests' expected values), a new gradebook made,
             the notebook autograded and its feedback written
  edited     again after the notebook changed: the assignment is not generated again
  unchanged  again with nothing changed: the last grade is printed
Each figure is wall-clock seconds, and in brackets the CPU seconds of the command and the
kernels it started (steadier than wall time on a machine others share). Then the first grade's
steps inside one process, and with --commands the three `nbgrader` processes it replaced.
"""
import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import harness  # noqa: E402

KINDS = ("first", "edited", "unchanged")


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def dltrack_grade(course, assignment):
    """(wall seconds, CPU seconds) of one `dltrack grade` in `course`."""
    cpu, start = children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "dltrack.cli", "grade", assignment], cwd=course, check=True,
                   capture_output=True)
    return time.perf_counter() - start, children_cpu() - cpu


def student_course(where, assignment):
    """A scratch course whose student has the release stub in notebooks/."""
    course = harness.scratch_course(Path(where), [assignment])
    shutil.copytree(ROOT / "release" / assignment, course / "notebooks" / assignment)
    return course


def edit(notebook):
    nb = nbformat.read(notebook, 4)
    nb.cells[0].source += "\n"
    nbformat.write(nb, notebook)


def one_run(where, assignment):
    """{kind: (wall, cpu)} for a first, an edited and an unchanged grade."""
    course = student_course(where, assignment)
    figures = {"first": dltrack_grade(course, assignment)}
    edit(next((course / "notebooks" / assignment).glob("*.ipynb")))
    figures["edited"] = dltrack_grade(course, assignment)
    figures["unchanged"] = dltrack_grade(course, assignment)
    return figures


def show(label, figures):
    print(f"{label:8s}" + "  ".join(f"{k} {w:5.1f} s ({c:4.1f} CPU)" for k, (w, c) in figures.items()),
          flush=True)


def first_grade_steps(where, assignment):
    """The steps of a first grade, in this process, as `dltrack grade` runs them."""
    sys.path.insert(0, str(ROOT))
    from dltrack import cli, course as dlcourse

    mine = student_course(Path(where) / "steps", assignment) / "notebooks" / assignment
    scratch = dlcourse.scratch_copy(ROOT, Path(where) / "steps" / ".grading" / assignment, [assignment])
    shutil.copytree(mine, scratch / "submitted" / cli.STUDENT / assignment)
    timings = {}
    cli.run_apps(scratch, [("generate_assignment", assignment), ("autograde", assignment, cli.STUDENT),
                           ("generate_feedback", assignment, cli.STUDENT)], timings)
    for name, seconds in timings.items():
        print(f"  first grade, in one process: {name:20s} {seconds:5.1f} s")


def three_commands(where, assignment):
    """What `dltrack grade` did before: three nbgrader processes, each paying nbgrader's start-up."""
    old = harness.scratch_course(Path(where) / "old", [assignment])
    shutil.copytree(ROOT / "release" / assignment, old / "submitted" / "student" / assignment)
    start = time.perf_counter()
    for args in (("generate_assignment", assignment, "--force"), ("autograde", assignment, "--force"),
                 ("generate_feedback", assignment, "--force")):
        step = time.perf_counter()
        harness.nbgrader(old, *args)
        print(f"  nbgrader {args[0]:20s} {time.perf_counter() - step:5.1f} s (a process of its own)")
    print(f"commands (3 processes)  {time.perf_counter() - start:5.1f} s")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("assignment", nargs="?", default="01_linear_models", metavar="SECTION")
    ap.add_argument("--runs", type=int, default=3, help="fresh clones to grade (default 3)")
    ap.add_argument("--commands", action="store_true", help="also time the three nbgrader processes")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as where:
        runs = []
        for n in range(args.runs):
            runs.append(one_run(Path(where) / f"run{n}", args.assignment))
            show(f"run {n + 1}", runs[-1])
        show("median", {k: tuple(statistics.median(r[k][i] for r in runs) for i in (0, 1)) for k in KINDS})
        first_grade_steps(where, args.assignment)
        if args.commands:
            three_commands(where, args.assignment)


if __name__ == "__main__":
    main()
