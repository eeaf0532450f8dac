"""Serial `nbgrader autograde` against `dltrack autograde` on the same synthetic class.

A benchmark, not a test: it prints its figures and asserts nothing.

    python benchmarks/bench_class.py [-k STUDENTS] [--sections 01_linear_models ...] [--workers 1 2]

The class: K students (default 4) for each section, cycling through four kinds: the reference
(the source notebook), partly wrong (a catalogued mistake in place of one solution), the stub
(the release notebook) and a hostile one (kills its kernel in its first answer). Two identical
copies of the course are graded: one by `nbgrader autograde SECTION` section after section,
the other by `dltrack autograde SECTIONS --workers N` for each N asked for. For each it prints
the wall time, the CPU used by the command and everything it started (sampled every 0.1 s
over the process tree, kernels included), the speed-up over serial, whether the exported
CSV is byte-identical, and a projection to 100 and 2,000 students from the measured time a
submission (the fixed start-up cost counted once).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import harness  # noqa: E402

BIN = Path(sys.executable).parent
HOSTILE = "import os\nos._exit(1)"


def kinds(section, course):
    """The four kinds of student for `section`: name -> notebook."""
    source = nbformat.read(harness.source_notebook(section), 4)
    release = nbformat.read(next((course / "release" / section).glob("*.ipynb")), 4)
    mistake = harness.catalog.load(section)[0]
    first = next(c.metadata.nbgrader["grade_id"] for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code")
    return {"reference": source, "partly_wrong": harness.substitute(source, mistake["replaces"], mistake["code"]),
            "stub": release, "hostile": harness.substitute(source, first, HOSTILE)}


def make_class(where, sections, k):
    """A course with K students a section; returns its folder."""
    course = harness.scratch_course(where, sections)
    for section in sections:
        harness.nbgrader(course, "generate_assignment", section, "--force")
        made = list(kinds(section, course).items())
        for i in range(k):
            kind, nb = made[i % len(made)]
            harness.submit(course, section, f"s{i:03d}_{kind}", nb)
    return course


class CpuSampler(threading.Thread):
    """CPU seconds of a process and all its descendants, sampled until stopped."""

    def __init__(self, pid, every=0.1):
        super().__init__(daemon=True)
        self.root, self.seen, self.running, self.every = psutil.Process(pid), {}, True, every

    def run(self):
        while self.running:
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for p in procs:
                try:
                    t = p.cpu_times()
                    self.seen[(p.pid, p.create_time())] = t.user + t.system
                except psutil.Error:
                    pass
            time.sleep(self.every)

    def total(self):
        self.running = False
        self.join()
        return sum(self.seen.values())


def timed(cmd, cwd):
    """(wall seconds, CPU seconds) of a command and all it starts."""
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler = CpuSampler(proc.pid)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{err}")
    return wall, sampler.total()


def export(course):
    harness.nbgrader(course, "export", "--to", "grades.csv")
    return (course / "grades.csv").read_bytes()


def serial(course, sections):
    wall = cpu = 0.0
    for section in sections:
        w, c = timed([str(BIN / "nbgrader"), "autograde", section], course)
        wall, cpu = wall + w, cpu + c
    return wall, cpu


def project(wall, one_wall, submissions, students, sections):
    """Seconds for `students` x `sections`: the measured cost a submission, start-up counted once."""
    per = (wall - one_wall) / max(submissions - 1, 1)
    return one_wall + per * (students * len(sections) - 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", type=int, default=4, help="students a section (default 4)")
    ap.add_argument("--sections", nargs="+", default=["01_linear_models"],
                    help="sections to grade (default: 01_linear_models; `all` for the seven)")
    ap.add_argument("--workers", type=int, nargs="+", default=[os.cpu_count() or 1])
    args = ap.parse_args()
    sections = harness.assignments() if args.sections == ["all"] else args.sections
    n = args.k * len(sections)
    with tempfile.TemporaryDirectory() as where:
        base = make_class(Path(where) / "base", sections, args.k)
        print(f"a class of {args.k} students x {len(sections)} section(s) = {n} submissions; "
              f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
        course = Path(where) / "serial"
        shutil.copytree(base, course)
        s_wall, s_cpu = serial(course, sections)
        expected = export(course)
        print(f"serial   nbgrader autograde        {s_wall:7.1f} s wall  {s_cpu:7.1f} s CPU  "
              f"({s_wall / n:.1f} s a submission)")
        rows = [("serial", s_wall)]
        for workers in args.workers:
            course = Path(where) / f"parallel-{workers}"
            shutil.copytree(base, course)
            wall, cpu = timed([str(BIN / "dltrack"), "autograde", *sections, "--workers", str(workers)], course)
            same = export(course) == expected
            print(f"parallel dltrack autograde -w {workers:<3d} {wall:7.1f} s wall  {cpu:7.1f} s CPU  "
                  f"speed-up {s_wall / wall:4.2f}x  CSV {'byte-identical' if same else 'DIFFERS'}")
            rows.append((f"{workers} workers", wall))
        print("projection (measured cost a submission; start-up once):")
        one = _one_submission(base, sections[0])
        for label, wall in rows:
            start = one[0] if label == "serial" else one[1]
            figures = [project(wall, start, n, k, sections) for k in (100, 2000)]
            print(f"  {label:10s}  100 students: {figures[0] / 60:6.1f} min   "
                  f"2,000 students: {figures[1] / 3600:5.1f} h   (x {len(sections)} section(s))")


def _one_submission(base, section):
    """Wall seconds of grading one submission serially and with dltrack (the start-up included)."""
    out = []
    for cmd in ([str(BIN / "nbgrader"), "autograde", section],
                [str(BIN / "dltrack"), "autograde", section, "--workers", "1"]):
        with tempfile.TemporaryDirectory() as where:
            course = Path(where) / "one"
            shutil.copytree(base, course)
            for extra in sorted((course / "submitted").iterdir())[1:]:
                shutil.rmtree(extra)  # one student left, the reference
            out.append(timed(cmd, course)[0])
    return out


if __name__ == "__main__":
    main()
