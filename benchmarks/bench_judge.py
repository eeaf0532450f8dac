"""Autograde one student (the reference) through every section: this clone against another, in one run.

    python benchmarks/bench_judge.py /path/to/other/clone [rounds]

The other clone needs its own virtual environment in .venv (for example a worktree of an
earlier commit: `git worktree add ../before <commit>`, then install its requirements there).
Each round grades a scratch copy with each clone's own nbgrader, alternately, so both see the
same machine load; the script prints the seconds of each and their ratio.
"""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dltrack import course  # noqa: E402


def grade(clone, where):
    """Seconds for generate (not timed) then autograde of the reference of every section."""
    clone = Path(clone).resolve()
    bin_dir = clone / ".venv" / "bin"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", VIRTUAL_ENV=str(clone / ".venv"))
    ids = course.assignment_ids(clone)
    scratch = course.scratch_copy(clone, where, ids)

    def nbgrader(*args):
        subprocess.run([str(bin_dir / "nbgrader"), *args], cwd=scratch, env=env, check=True,
                       capture_output=True)

    for a in ids:
        nbgrader("generate_assignment", a, "--force")
        folder = scratch / "submitted" / "reference" / a
        folder.mkdir(parents=True)
        source = course.source_notebook(clone, a)
        (folder / source.name).write_bytes(source.read_bytes())
    start = time.monotonic()
    for a in ids:
        nbgrader("autograde", a, "--force")
    return time.monotonic() - start


def main():
    other = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    here = Path(__file__).resolve().parents[1]
    mine, theirs = [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            theirs.append(grade(other, b))
            mine.append(grade(here, a))
    print(f"autograde of one student, all sections ({rounds} round(s), best of each):")
    print(f"  {other}: {min(theirs):6.1f} s")
    print(f"  {here}: {min(mine):6.1f} s")
    print(f"  ratio (this / other): {min(mine) / min(theirs):.2f}")


if __name__ == "__main__":
    main()
