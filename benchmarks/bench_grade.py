"""Print where the time of `dltrack grade` goes, against the three nbgrader commands it replaced.

A benchmark, not a test: it prints its figures and asserts nothing.
    python benchmarks/bench_grade.py [ASSIGNMENT]

On a scratch copy of the course, with the release stub as the student's notebook:
  commands  generate_assignment, autograde, generate_feedback as three `nbgrader` processes
            (what `dltrack grade` did before: each pays nbgrader's start-up)
  first     `dltrack grade` on a fresh clone: nbgrader's apps in one process, all three steps
  edited    again after the notebook changed: the assignment is not generated again
  same      again with nothing changed: the last grade is printed
"""
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import harness  # noqa: E402


def dltrack_grade(course, assignment):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dltrack.cli", "grade", assignment], cwd=course, check=True,
                   capture_output=True)
    return time.perf_counter() - start


def main(assignment="01_linear_models"):
    with tempfile.TemporaryDirectory() as where:
        course = harness.scratch_course(Path(where) / "course", [assignment])
        mine = course / "notebooks" / assignment
        shutil.copytree(ROOT / "release" / assignment, mine)

        old = Path(where) / "old"
        harness.scratch_course(old, [assignment])
        shutil.copytree(mine, old / "submitted" / "student" / assignment)
        start = time.perf_counter()
        for args in (("generate_assignment", assignment, "--force"), ("autograde", assignment, "--force"),
                     ("generate_feedback", assignment, "--force")):
            step = time.perf_counter()
            harness.nbgrader(old, *args)
            print(f"  nbgrader {args[0]:20s} {time.perf_counter() - step:5.1f} s (a process of its own)")
        print(f"commands (3 processes)         {time.perf_counter() - start:5.1f} s")

        print(f"first  dltrack grade           {dltrack_grade(course, assignment):5.1f} s")
        path = next(mine.glob("*.ipynb"))
        nb = nbformat.read(path, 4)
        nb.cells[0].source += "\n"
        nbformat.write(nb, path)
        print(f"edited dltrack grade           {dltrack_grade(course, assignment):5.1f} s")
        print(f"same   dltrack grade           {dltrack_grade(course, assignment):5.1f} s")

        # Inside one grade: the apps in this process, step by step.
        sys.path.insert(0, str(ROOT))
        from dltrack import cli

        nb.cells[0].source += "\n"
        nbformat.write(nb, path)
        scratch = course / ".grading" / assignment
        shutil.rmtree(scratch / "submitted" / "student")
        shutil.copytree(mine, scratch / "submitted" / "student" / assignment)
        timings = {}
        cli.run_apps(scratch, [("generate_assignment", assignment), ("autograde", assignment, "student"),
                               ("generate_feedback", assignment, "student")], timings)
        for name, seconds in timings.items():
            print(f"  in one process: {name:20s} {seconds:5.1f} s")


if __name__ == "__main__":
    main(*sys.argv[1:])
