"""The course folder and the nbgrader command line: one home for the plumbing.

Used by the commands (`dltrack.cli`), the grading plug-ins and the course's tests.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# The files a copy of the course needs to generate and grade an assignment.
CONFIG_FILES = ("nbgrader_config.py", "autotests.yml")


class NbgraderFailed(RuntimeError):
    """An nbgrader command exited with an error; the message holds its output."""


def is_course(folder):
    return (Path(folder) / "nbgrader_config.py").exists() and (Path(folder) / "source").is_dir()


def find_root(start=None):
    """The nearest folder at or above `start` (the working folder) that holds a course, or None."""
    start = Path(start or Path.cwd()).resolve()
    return next((f for f in [start, *start.parents] if is_course(f)), None)


def assignment_ids(root):
    """The assignments of the course at `root`, one per folder of source/."""
    return sorted(p.parent.name for p in (Path(root) / "source").glob("*/*.ipynb"))


def source_notebook(root, assignment):
    return next((Path(root) / "source" / assignment).glob("*.ipynb"))


# nbgrader's own command line, as its `nbgrader` script starts it, after `import dltrack` (which leaves
# out an import nbgrader never needs: see dltrack/__init__.py).
NBGRADER_MAIN = "import sys, dltrack; from nbgrader.apps.nbgraderapp import main; sys.exit(main())"


def nbgrader(course, *args, timeout=None, env=None):
    """Run nbgrader's command line in `course` (see NBGRADER_MAIN); raise NbgraderFailed if it fails."""
    bin_folder = Path(sys.executable).parent
    path = os.pathsep.join([str(bin_folder), os.environ.get("PATH", "")])  # nbgrader calls alembic by name
    run_env = dict(os.environ, PATH=path, **(env or {}))
    done = subprocess.run([sys.executable, "-c", NBGRADER_MAIN, *args], cwd=course, capture_output=True,
                          text=True, timeout=timeout, env=run_env)
    if done.returncode != 0:
        raise NbgraderFailed(f"nbgrader {' '.join(args)} failed (exit {done.returncode}):\n"
                             f"{done.stdout}\n{done.stderr}")
    return done


def scratch_copy(root, where, assignments):
    """A copy of the course at `where` with only what nbgrader needs for `assignments`."""
    where = Path(where)
    where.mkdir(parents=True, exist_ok=True)
    for name in CONFIG_FILES:
        shutil.copy(Path(root) / name, where / name)
    for a in assignments:
        shutil.copytree(Path(root) / "source" / a, where / "source" / a, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return where


def error_texts(path):
    """grade_id -> the plain text of the error outputs of that cell in the notebook at `path`."""
    out = {}
    for cell in nbformat.read(path, 4).cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                text = ANSI.sub("", "\n".join(output.get("traceback", [])))
                out[grade_id] = (out[grade_id] + "\n" + text) if grade_id in out else text
    return out
