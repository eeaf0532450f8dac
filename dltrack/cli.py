"""The course's commands: `dltrack start`, `grade`, `build`, `fairness`, `autograde`, `report`.

    dltrack start [JupyterLab options]   copy release/ into notebooks/ (never overwriting) and open JupyterLab
                                         (--no-browser and every other JupyterLab option pass through)
    dltrack grade SECTION                autograde notebooks/SECTION on a scratch copy; print the points
    dltrack build [SECTION ...]          regenerate release/ and solutions/ from source/ with nbgrader
    dltrack fairness [SECTION ...]       grade every mutant and catalog answer; write docs/fairness/
    dltrack autograde SECTION ...        autograde the class in parallel, as `nbgrader autograde` does
                                         (--workers N on this machine, --scheduler ADDRESS on a Dask cluster)
    dltrack --version                    the version of the course's package
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

def build(root, ids, execute=True, generated=False):
    """Regenerate release/ and solutions/ for `ids`, normalised so a rebuild makes no diff.

    With execute=False the worked solutions are not run (the tests compare their cells only);
    with generated=True nbgrader's generate_assignment has already run.
    """
    for a in ids:
        print(f"building {a}", flush=True)
        if not generated:
            nbgrader(root, "generate_assignment", a, "--force")
        nbgrader(root, "generate_solution", a, "--force", *([] if execute else ["--Execute.enabled=False"]))
        for folder, keep in (("release", False), ("solutions", True)):
            for path in sorted((root / folder / a).glob("*.ipynb")):
                write(normalise(nbformat.read(path, 4), keep_outputs=keep), path)


# ---------------------------------------------------------------- start

def fill_workspace(root):
    """Copy release/ into notebooks/, never overwriting a file; returns the files copied.

    A notebook's copy gets the language_info of this Python's kernel, the one JupyterLab will
    start: JupyterLab writes the kernel's language_info into a notebook when it connects, and a
    notebook whose language_info differs (release/ holds no Python version) shows as modified
    the moment it is opened.
    """
    copied = []
    for src in sorted((root / "release").rglob("*")):
        dest = root / "notebooks" / src.relative_to(root / "release")
        if src.is_file() and not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            if src.suffix == ".ipynb":
                nb = nbformat.read(src, 4)
                nb.metadata["language_info"] = kernel_language_info()
                write(nb, dest)
            else:
                shutil.copy2(src, dest)
            copied.append(dest)
    return copied


def kernel_language_info():
    """What ipykernel in this Python reports as its language_info (with the Python version)."""
    from ipykernel.ipkernel import IPythonKernel

    return nbformat.from_dict(dict(IPythonKernel.language_info))


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

WIDTH = 100  # characters a line of the grade report


def grade(root, assignment):
    """Autograde the student's notebooks/<assignment> on a scratch copy; print points and feedback.

    The scratch copy (.grading/<assignment>) is kept between grades: the assignment is generated
    again only when what it is made from changed, and nothing is graded again when the student's
    notebook did not change either. nbgrader's apps run in this process, so nbgrader is imported
    once (``nbgrader.apps.NbGraderAPI``, the same apps as the command line, with the course's
    configuration).
    """
    mine = root / "notebooks" / assignment
    notebooks = sorted(mine.glob("*.ipynb"))
    if not notebooks:
        sys.exit(f"dltrack: no notebook in {mine}; run `dltrack start` first")
    scratch = root / ".grading" / assignment
    made_from = _digest([*(root / n for n in course.CONFIG_FILES), root / "source" / assignment,
                               Path(__file__).parent])
    work = _digest(notebooks)
    stamp = scratch / "made_from.txt"
    fresh = stamp.exists() and stamp.read_text() == made_from and (scratch / "gradebook.db").exists()
    graded = scratch / "graded.txt"
    print(f"grading a copy of {mine.relative_to(root)} ...", flush=True)
    if not (fresh and graded.exists() and graded.read_text() == work):
        submitted = scratch / "submitted" / STUDENT / assignment
        if not fresh:
            shutil.rmtree(scratch, ignore_errors=True)
            course.scratch_copy(root, scratch, [assignment])
        for stale in ("submitted", "autograded", "feedback"):
            shutil.rmtree(scratch / stale, ignore_errors=True)
        graded.unlink(missing_ok=True)
        shutil.copytree(mine, submitted, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        steps = [("autograde", assignment, STUDENT), ("generate_feedback", assignment, STUDENT)]
        if not fresh:
            steps.insert(0, ("generate_assignment", assignment))
        run_apps(scratch, steps)
        stamp.write_text(made_from)
        graded.write_text(work)
    print(table(scratch, assignment))


def _digest(paths):
    """A hash of the files at or under `paths`: their names and contents."""
    import hashlib

    h = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if "__pycache__" in f.parts or ".ipynb_checkpoints" in f.parts:
                continue
            h.update(str(f.relative_to(path.parent)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def run_apps(scratch, steps, timings=None):
    """Run nbgrader's own apps in this process, in `scratch`, with its nbgrader_config.py.

    `steps` are NbGraderAPI method names with their arguments. Stops with nbgrader's log when
    one fails. What the kernels print goes to scratch/nbgrader.log, not to the terminal.
    `timings`, a dict, receives the seconds each step took (benchmarks/bench_grade.py).
    """
    import time

    timings = {} if timings is None else timings
    begin = time.perf_counter()
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.apps.nbgraderapp import NbGraderApp

    here = Path.cwd()
    # nbgrader looks up alembic by name on PATH, as the command line does.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    log = open(scratch / "nbgrader.log", "w")
    saved = os.dup(1), os.dup(2)
    sys.stdout.flush(), sys.stderr.flush()
    try:
        os.chdir(scratch)
        os.dup2(log.fileno(), 1), os.dup2(log.fileno(), 2)
        timings["import nbgrader"] = time.perf_counter() - begin
        app = NbGraderApp()
        app.initialize([])  # reads nbgrader_config.py from the working folder, as `nbgrader` does
        api = NbGraderAPI(config=app.config)
        for name, *args in steps:
            begin = time.perf_counter()
            result = getattr(api, name)(*args)
            timings[name] = time.perf_counter() - begin
            log.write(result.get("log", ""))
            if not result["success"]:
                failed = f"nbgrader {name} {' '.join(args)} failed:\n{result.get('log', '')}{result.get('error', '')}"
                break
        else:
            failed = None
    finally:
        sys.stdout.flush(), sys.stderr.flush()
        os.dup2(saved[0], 1), os.dup2(saved[1], 2)
        os.close(saved[0]), os.close(saved[1])
        log.close()
        os.chdir(here)
    if failed:
        sys.exit(failed)


def table(scratch, assignment):
    """Points per exercise, the whole reason for each loss, and the feedback path."""
    from nbgrader.api import Gradebook

    lines, got, most, by_hand = [], 0.0, 0.0, 0.0
    with Gradebook(f"sqlite:///{scratch / 'gradebook.db'}") as gb:
        for nb in gb.find_assignment(assignment).notebooks:
            sub = gb.find_submission_notebook(nb.name, assignment, STUDENT)
            path = scratch / "autograded" / STUDENT / assignment / f"{nb.name}.ipynb"
            reasons, hand = _reasons(path), _graded_by_hand(path)
            lines.append(f"{nb.name}.ipynb")
            for g in sorted(sub.grades, key=lambda g: _order(nb, g.name)):
                most += g.max_score
                if g.name in hand or g.auto_score is None:
                    by_hand += g.max_score
                    lines.append(f"  {g.name:28s}    - / {g.max_score:g}  graded by hand: an instructor reads it")
                    continue
                got += g.score
                lines.append(f"  {g.name:28s} {g.score:4g} / {g.max_score:g}")
                if g.score < g.max_score and g.name in reasons:
                    lines += reasons[g.name]
    lines.append(f"  {'total':28s} {got:4g} / {most - by_hand:g}"
                 + (f"  (and {by_hand:g} graded by hand)" if by_hand else ""))
    feedback = sorted((scratch / "feedback" / STUDENT / assignment).glob("*.html"))
    lines += [f"feedback: {path}" for path in feedback]
    return "\n".join(lines)


def _order(nb, name):
    cells = [c.name for c in nb.grade_cells]
    return cells.index(name) if name in cells else len(cells)


def _graded_by_hand(path):
    """grade_ids of the cells an instructor grades: graded answers the student writes."""
    cells = nbformat.read(path, 4).cells if path.exists() else []
    return {c.metadata["nbgrader"]["grade_id"] for c in cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.metadata["nbgrader"].get("solution")}


def _reasons(path):
    """grade_id -> the lines of the reason a cell lost points, whole, wrapped and indented.

    A failed check's message is kept whole (what failed, the input, expected and received, the
    known mistake and what to reread); any other error is its last line (``NameError: ...``).
    """
    import textwrap

    out = {}
    for grade_id, text in course.error_texts(path).items():
        lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
        if lines and lines[0].strip() == "Check failed":
            lines = lines[1:]
        elif lines:
            lines = lines[-1:]
        wrapped = []
        for line in lines or ["error"]:
            extra = len(line) - len(line.lstrip())
            wrapped += textwrap.wrap(line.strip(), WIDTH - 6 - extra, initial_indent=" " * (6 + extra),
                                     subsequent_indent=" " * (8 + extra), break_on_hyphens=False) or [""]
        out[grade_id] = wrapped
    return out


START_HELP = """Copy release/ into notebooks/ (a file already there is never overwritten) and open
JupyterLab on notebooks/.

Every option that dltrack does not know goes to JupyterLab as it is, for example:
  --no-browser             do not open a browser; open the address JupyterLab prints
  --port=8890              serve on another port
  --ServerApp.ip=0.0.0.0   listen on every interface (a server or a container)
`jupyter lab --help-all` lists them all."""


AUTOGRADE_HELP = """Autograde every submission in submitted/*/SECTION, several students at a time: the
same grades, gradebook rows, autograded notebooks and diagnoses as `nbgrader autograde SECTION`,
each student in their own sandboxed kernel. Students already autograded are skipped unless
--force (as nbgrader does), so after an interruption the same command carries on.

Without --scheduler, a Dask cluster of --workers processes on this machine; with it, the
Dask cluster at that address (its workers need this course's package, nbgrader and
bubblewrap: see the README, "Grading a class in parallel")."""


def _sections_help():
    root = course.find_root()
    if root is None:
        return (f"no course in {Path.cwd()} or above it: run this inside the course folder "
                "to see its sections")
    return "sections: " + ", ".join(assignment_ids(root))


def parser():
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("dltrack")
    except PackageNotFoundError:
        ours = "unknown (not installed)"
    top = argparse.ArgumentParser(prog="dltrack", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"dltrack {ours}")
    sub = top.add_subparsers(dest="command", required=True)
    raw = argparse.RawDescriptionHelpFormatter
    sub.add_parser("start", help="open the course in JupyterLab; other options go to JupyterLab",
                   description=START_HELP, formatter_class=raw,
                   usage="dltrack start [-h] [JupyterLab options ...]")
    sections = _sections_help()
    grade_parser = sub.add_parser(
        "grade", help="grade your notebook as an instructor would", formatter_class=raw,
        description="Autograde a copy of notebooks/SECTION with the real nbgrader pipeline (your notebook "
                    "is never touched);\nprint the points of every exercise, the reason for each loss, and "
                    "the path of an HTML feedback page.")
    grade_parser.add_argument("assignment", metavar="SECTION", help="the section to grade; " + sections)
    build_parser = sub.add_parser("build", help="rebuild release/ and solutions/ from source/")
    build_parser.add_argument("assignments", metavar="SECTION", nargs="*",
                              help="the sections to rebuild (default: all); " + sections)
    fair = sub.add_parser("fairness", help="grade the mutants and catalog answers: docs/fairness/SECTION.md")
    fair.add_argument("assignments", metavar="SECTION", nargs="*",
                      help="the sections to report on (default: all); " + sections)
    auto = sub.add_parser(
        "autograde", help="autograde the class in parallel: this machine's cores or a Dask cluster",
        formatter_class=raw, description=AUTOGRADE_HELP)
    auto.add_argument("assignments", metavar="SECTION", nargs="+", help="the sections to grade; " + sections)
    where = auto.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="grading processes on this machine (default: one a core)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="a Dask scheduler, e.g. tcp://10.0.0.5:8786, whose workers have the course installed")
    auto.add_argument("--force", action="store_true", help="grade again the students already autograded")
    rep = sub.add_parser("report", help="what the class got wrong: reports/SECTION.html and .csv")
    rep.add_argument("assignment", metavar="SECTION", help="the section to report on; " + sections)
    rep.add_argument("--student", help="one student's page (the id `dltrack grade` uses is \"student\")")
    rep.add_argument("--course", type=Path, help="the course folder to read, e.g. .grading/SECTION")
    return top


def main(argv=None):
    top = parser()
    args, lab_args = top.parse_known_args(argv)
    if lab_args and args.command != "start":
        top.error(f"unrecognized arguments: {' '.join(lab_args)}")
    root = course_root()
    if args.command == "start":
        start(root, lab_args)
    elif args.command == "grade":
        if args.assignment not in assignment_ids(root):
            sys.exit(f"dltrack: no assignment {args.assignment!r}; one of {', '.join(assignment_ids(root))}")
        grade(root, args.assignment)
    elif args.command == "autograde":
        unknown = [a for a in args.assignments if a not in assignment_ids(root)]
        if unknown:
            sys.exit(f"dltrack: no assignment {unknown[0]!r}; one of {', '.join(assignment_ids(root))}")
        from . import parallel  # dask and nbgrader: only when they are needed

        sys.exit(parallel.autograde(root, args.assignments, args.workers, args.scheduler, args.force))
    elif args.command == "report":
        from . import report  # matplotlib: only when it is needed
        report.main(root, args.assignment, args.student, args.course)
    elif args.command == "fairness":
        from . import fairness  # the mutation engine: only when it is needed
        fairness.write(root, args.assignments or assignment_ids(root))
    else:
        build(root, args.assignments or assignment_ids(root))


if __name__ == "__main__":
    main()
