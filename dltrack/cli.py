"""The course's commands: `dltrack start`, `dltrack grade`, `dltrack build`.

    dltrack start [JupyterLab options]   copy release/ into notebooks/ (never overwriting) and open JupyterLab
    dltrack grade ASSIGNMENT             autograde notebooks/ASSIGNMENT on a scratch copy; print the points
    dltrack build [ASSIGNMENT ...]       regenerate release/ and solutions/ from source/ with nbgrader
"""
import argparse
import os
import shutil
import sys
from pathlib import Path

import nbformat

from . import course
from .authoring import normalise, write
from .course import assignment_ids

STUDENT = "student"


def course_root():
    """The course folder: the nearest parent of the working folder that holds a course."""
    root = course.find_root()
    if root is None:
        sys.exit(f"dltrack: no course in {Path.cwd()} or above it; run this inside the course folder "
                 "(the one with nbgrader_config.py and source/)")
    return root


def nbgrader(cwd, *args):
    """Run the real nbgrader CLI; stop with its output if it fails."""
    try:
        return course.nbgrader(cwd, *args)
    except course.NbgraderFailed as exc:
        sys.exit(str(exc))


# ---------------------------------------------------------------- build

def build(root, ids):
    """Regenerate release/ and solutions/ for `ids`, normalised so a rebuild makes no diff."""
    for a in ids:
        print(f"building {a}", flush=True)
        nbgrader(root, "generate_assignment", a, "--force")
        nbgrader(root, "generate_solution", a, "--force")
        for folder, keep in (("release", False), ("solutions", True)):
            for path in sorted((root / folder / a).glob("*.ipynb")):
                write(normalise(nbformat.read(path, 4), keep_outputs=keep), path)


# ---------------------------------------------------------------- start

def fill_workspace(root):
    """Copy release/ into notebooks/, never overwriting a file; returns the files copied."""
    copied = []
    for src in sorted((root / "release").rglob("*")):
        dest = root / "notebooks" / src.relative_to(root / "release")
        if src.is_file() and not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
            copied.append(dest)
    return copied


def start(root, lab_args):
    for path in fill_workspace(root):
        print(f"copied {path.relative_to(root)}")
    workspace = root / "notebooks"
    workspace.mkdir(exist_ok=True)
    # nbgrader's panels find nbgrader_config.py on Jupyter's config path, and the Assignments
    # panel fetches into the working folder: so the course's config, and the student's workspace.
    os.environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
        [str(root), *filter(None, [os.environ.get("JUPYTER_CONFIG_PATH")])])
    os.chdir(workspace)
    lab = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={workspace}", *lab_args]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in lab_args:
        lab.append("--allow-root")  # containers and CI machines often run as root
    os.execv(sys.executable, lab)


# ---------------------------------------------------------------- grade

def grade(root, assignment):
    """Autograde the student's notebooks/<assignment> on a scratch copy; print points and feedback."""
    mine = root / "notebooks" / assignment
    if not list(mine.glob("*.ipynb")):
        sys.exit(f"dltrack: no notebook in {mine}; run `dltrack start` first")
    scratch = root / ".grading" / assignment
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    course.scratch_copy(root, scratch, [assignment])
    submitted = scratch / "submitted" / STUDENT / assignment
    shutil.copytree(mine, submitted, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    print(f"grading a copy of {mine.relative_to(root)} ...", flush=True)
    nbgrader(scratch, "generate_assignment", assignment, "--force")
    nbgrader(scratch, "autograde", assignment, "--force")
    nbgrader(scratch, "generate_feedback", assignment, "--force")
    print(table(scratch, assignment))


def table(scratch, assignment):
    """Points per exercise with the first line of each failure, and the feedback path."""
    from nbgrader.api import Gradebook

    lines, got, most, by_hand = [], 0.0, 0.0, 0.0
    with Gradebook(f"sqlite:///{scratch / 'gradebook.db'}") as gb:
        for nb in gb.find_assignment(assignment).notebooks:
            sub = gb.find_submission_notebook(nb.name, assignment, STUDENT)
            reasons = _reasons(scratch / "autograded" / STUDENT / assignment / f"{nb.name}.ipynb")
            lines.append(f"{nb.name}.ipynb")
            for g in sorted(sub.grades, key=lambda g: _order(nb, g.name)):
                most += g.max_score
                if g.auto_score is None:
                    by_hand += g.max_score
                    lines.append(f"  {g.name:28s}   graded by hand ({g.max_score:g})")
                    continue
                got += g.score
                why = f"  {reasons[g.name]}" if g.score < g.max_score and g.name in reasons else ""
                lines.append(f"  {g.name:28s} {g.score:4g} / {g.max_score:g}{why}")
    lines.append(f"  {'total':28s} {got:4g} / {most - by_hand:g}"
                 + (f"  (and {by_hand:g} graded by hand)" if by_hand else ""))
    feedback = sorted((scratch / "feedback" / STUDENT / assignment).glob("*.html"))
    lines += [f"feedback: {path}" for path in feedback]
    return "\n".join(lines)


def _order(nb, name):
    cells = [c.name for c in nb.grade_cells]
    return cells.index(name) if name in cells else len(cells)


def _reasons(path):
    out = {}
    for grade_id, text in course.error_texts(path).items():
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and ln.strip() != "Check failed"]
        out[grade_id] = lines[0][:100] if lines else "error"
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="dltrack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("start", help="open the course in JupyterLab; other options go to JupyterLab")
    sub.add_parser("grade", help="grade your notebook").add_argument("assignment")
    sub.add_parser("build", help="rebuild release/ and solutions/").add_argument("assignments", nargs="*")
    rep = sub.add_parser("report", help="what the class got wrong: reports/ASSIGNMENT.html and .csv")
    rep.add_argument("assignment")
    rep.add_argument("--student", help="one student's page (the id `dltrack grade` uses is \"student\")")
    rep.add_argument("--course", type=Path, help="the course folder to read, e.g. .grading/ASSIGNMENT")
    args, lab_args = parser.parse_known_args(argv)
    if lab_args and args.command != "start":
        parser.error(f"unrecognized arguments: {' '.join(lab_args)}")
    root = course_root()
    if args.command == "start":
        start(root, lab_args)
    elif args.command == "grade":
        if args.assignment not in assignment_ids(root):
            sys.exit(f"dltrack: no assignment {args.assignment!r}; one of {', '.join(assignment_ids(root))}")
        grade(root, args.assignment)
    elif args.command == "report":
        from . import report  # matplotlib: only when it is needed
        report.main(root, args.assignment, args.student, args.course)
    else:
        build(root, args.assignments or assignment_ids(root))


if __name__ == "__main__":
    main()
