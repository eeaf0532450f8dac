"""Where one autograded notebook's CPU time goes, measured with cProfile (a benchmark, not a test).

    python benchmarks/profile_autograde.py [ASSIGNMENT] [--repeat N] [--top K]

Grades the reference notebook of ASSIGNMENT as one student, the way a `dltrack autograde`
worker does (dltrack.parallel.grade_student, nbgrader's Autograde in a scratch course),
once to warm up and then N times under cProfile. Prints the wall and CPU seconds a notebook
takes in the grading process and in its kernel (a child process), and the functions of the
grading process with the most cumulative time.
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

from dltrack import parallel  # noqa: E402


def course_with_one_student(where, assignment):
    course = harness.scratch_course(where, [assignment])
    harness.nbgrader(course, "generate_assignment", assignment, "--force")
    harness.submit(course, assignment, "student", nbformat.read(harness.source_notebook(assignment), 4))
    return course


def grade_once(payload, assignment, files):
    t = os.times()
    began = time.perf_counter()
    result = parallel.grade_student(payload, assignment, "student", files)
    assert result["success"], result["log"]
    u = os.times()
    return (time.perf_counter() - began, u.user + u.system - t.user - t.system,
            u.children_user + u.children_system - t.children_user - t.children_system)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("assignment", nargs="?", default="01_linear_models")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as where:
        course = course_with_one_student(Path(where) / "course", args.assignment)
        payload = dict(parallel.bundle(course, [args.assignment]), sandbox=True)
        files = parallel.submission_files(course / "submitted" / "student" / args.assignment)
        print("warm-up  wall %.2f s, grader CPU %.2f s, kernel CPU %.2f s" % grade_once(payload, args.assignment, files))
        profile, totals = cProfile.Profile(), [0.0, 0.0, 0.0]
        for _ in range(args.repeat):
            profile.enable()
            figures = grade_once(payload, args.assignment, files)
            profile.disable()
            totals = [a + b for a, b in zip(totals, figures)]
        n = args.repeat
        print(f"a notebook, mean of {n}: wall {totals[0] / n:.2f} s, grader CPU {totals[1] / n:.2f} s, "
              f"kernel CPU {totals[2] / n:.2f} s (the grader's figures include cProfile's own cost)")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
