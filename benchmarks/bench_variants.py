"""Print how long the tests of the tests take to grade variants of a section, both ways, in one run.

The same variants (the reference, the stub, and the first K catalog answers and mutants) are graded
by nbgrader's autograde (a kernel and the sandbox for each) and by the judge in one process
(dltrack.variants, forked from the reference's run); then all the section's variants in one process.
A benchmark, not a test: it prints its figures and asserts nothing.

    python benchmarks/bench_variants.py [SECTION] [--k K]
"""
import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import harness  # noqa: E402
from dltrack import fairness, variants  # noqa: E402


def cpu():
    """CPU seconds of this process and the children it has waited for."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(work):
    wall, used = time.perf_counter(), cpu()
    result = work()
    return result, time.perf_counter() - wall, cpu() - used


def main():
    args = argparse.ArgumentParser()
    args.add_argument("section", nargs="?", default="02_activation_functions")
    args.add_argument("--k", type=int, default=4, help="catalog answers and mutants graded both ways")
    a = args.parse_args()
    with tempfile.TemporaryDirectory() as where:
        course = harness.scratch_course(where, [a.section])
        harness.nbgrader(course, "generate_assignment", a.section, "--force")
        import nbformat

        release = nbformat.read(next((course / "release" / a.section).glob("*.ipynb")), 4)
        found = fairness.section_variants(course, a.section, release)
        answers = [v for v, (kind, _, _) in found.items() if kind != "mutant" and kind != "stub"][:a.k]
        mutants = [v for v, (kind, _, _) in found.items() if kind == "mutant"][:a.k]
        chosen = ["stub", *answers, *mutants]
        notebooks = harness.notebooks(course, a.section, {"reference": {}, **{v: found[v][2] for v in chosen}})
        _, nb_wall, nb_cpu = timed(lambda: harness.autograde(course, a.section, notebooks))
        subset = {v: found[v][2] for v in chosen}
        _, one_wall, one_cpu = timed(lambda: variants.grade(course, a.section, subset))
        every = {v: changes for v, (_, _, changes) in found.items()}
        _, all_wall, all_cpu = timed(lambda: variants.grade(course, a.section, every))
    n = len(chosen) + 1
    print(f"{a.section}: {n} notebooks (the reference, the stub, {len(answers)} answers, {len(mutants)} mutants)")
    print(f"  nbgrader autograde      {nb_wall:7.1f} s wall {nb_cpu:7.1f} s CPU   {nb_wall / n:5.2f} s a notebook")
    print(f"  judge in one process    {one_wall:7.1f} s wall {one_cpu:7.1f} s CPU   {one_wall / n:5.2f} s a notebook")
    print(f"  ratio (one process / nbgrader), wall {one_wall / nb_wall:.2f}, CPU {one_cpu / max(nb_cpu, 1e-9):.2f}")
    print(f"  all {len(every) + 1} variants in one process: {all_wall:.1f} s wall, {all_cpu:.1f} s CPU "
          f"({all_wall / (len(every) + 1):.2f} s a variant)")


if __name__ == "__main__":
    main()
