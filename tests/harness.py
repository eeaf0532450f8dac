"""Grade variants of a section through the real nbgrader CLI, on a scratch copy of the course.

The variants of an assignment are: the reference (the source notebook), the stub
(the release notebook), each catalog mistake, and each correct and wrong answer of
tests/answers/<assignment>.yml, each put in place of its solution cell.

Run it by hand to see what a section's checks do:
    python tests/harness.py 01_linear_models
"""
import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dltrack import catalog  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
NBGRADER = str(Path(sys.executable).parent / "nbgrader")


def assignments():
    """Assignment ids that have a source notebook."""
    return sorted(p.parent.name for p in (ROOT / "source").glob("*/*.ipynb"))


def source_notebook(assignment):
    return next((ROOT / "source" / assignment).glob("*.ipynb"))


def answers(assignment):
    """The correct and wrong answers of tests/answers/<assignment>.yml."""
    path = ROOT / "tests" / "answers" / f"{assignment}.yml"
    data = yaml.safe_load(path.read_text()) if path.exists() else {}
    return data.get("correct", []), data.get("wrong", [])


def scratch_course(where, assignment_ids):
    """A copy of the course with only what nbgrader needs, at `where`."""
    where = Path(where)
    where.mkdir(parents=True, exist_ok=True)
    for name in ("nbgrader_config.py", "autotests.yml"):
        shutil.copy(ROOT / name, where / name)
    for a in assignment_ids:
        shutil.copytree(ROOT / "source" / a, where / "source" / a,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return where


def nbgrader(course, *args, timeout=1800, env=None):
    """Run the nbgrader CLI in `course`; fail loudly if it fails."""
    run_env = dict(os.environ, **(env or {}))
    done = subprocess.run([NBGRADER, *args], cwd=course, capture_output=True, text=True,
                          timeout=timeout, env=run_env)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def substitute(nb, grade_id, code):
    """A copy of `nb` whose cell `grade_id` holds `code`."""
    nb = copy.deepcopy(nb)
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    if len(cells) != 1:
        raise KeyError(f"no single cell with grade_id {grade_id!r}")
    cells[0].source = code.rstrip()
    return nb


def variants(course, assignment):
    """student id -> (notebook, what it is); the course must be generated."""
    source = nbformat.read(source_notebook(assignment), 4)
    release = nbformat.read(next((Path(course) / "release" / assignment).glob("*.ipynb")), 4)
    out = {"reference": (source, None), "stub": (release, None)}
    for m in catalog.load(assignment):
        out[f"mistake-{m['id']}"] = (substitute(source, m["replaces"], m["code"]), m)
    correct, wrong = answers(assignment)
    for a in correct:
        out[f"correct-{a['id']}"] = (substitute(source, a["replaces"], a["code"]), a)
    for a in wrong:
        out[f"wrong-{a['id']}"] = (substitute(source, a["replaces"], a["code"]), a)
    return out


def submit(course, assignment, student, nb, name=None):
    folder = Path(course) / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    name = name or source_notebook(assignment).name
    nbformat.write(nb, folder / name)


def grades(course, assignment):
    """student -> {grade cell: (score, max_score)} from the course's gradebook."""
    from nbgrader.api import Gradebook

    notebook = source_notebook(assignment).stem
    out = {}
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gb:
        for student in gb.students:
            try:
                sn = gb.find_submission_notebook(notebook, assignment, student.id)
            except Exception:  # noqa: BLE001 - not submitted
                continue
            out[student.id] = {g.name: (g.score, g.max_score) for g in sn.grades if g.auto_score is not None or g.cell.cell_type == "code"}
    return out


def messages(course, assignment, student):
    """grade cell -> the text of its error output in the autograded notebook."""
    path = next((Path(course) / "autograded" / student / assignment).glob("*.ipynb"))
    out = {}
    for cell in nbformat.read(path, 4).cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                out[grade_id] = ANSI.sub("", "\n".join(output.get("traceback", [])))
    return out


def grade_variants(course, assignment, generate=True):
    """Generate the assignment, grade every variant; returns (variants, grades)."""
    if generate:
        nbgrader(course, "generate_assignment", assignment, "--force")
    found = variants(course, assignment)
    for student, (nb, _) in found.items():
        submit(course, assignment, student, nb)
    nbgrader(course, "autograde", assignment, "--force")
    return found, grades(course, assignment)


def report(assignment, where):
    course = scratch_course(where, [assignment])
    found, scores = grade_variants(course, assignment)
    for student, (_, entry) in found.items():
        cells = scores.get(student, {})
        total = sum(s for s, _ in cells.values())
        lost = sorted(c for c, (s, m) in cells.items() if s < m)
        print(f"{student:40s} {total:5.1f}  lost: {', '.join(lost) or '-'}")
        if entry and entry.get("why"):
            texts = messages(course, assignment, student)
            named = [c for c in entry["caught_by"] if entry["why"] in texts.get(c, "")]
            print(f"{'':40s}        named in: {', '.join(named) or 'NOWHERE'}")
    print("\nMessages of the first mistake, for a look:")
    first = next((s for s in found if s.startswith("mistake-")), None)
    if first:
        for cell, text in messages(course, assignment, first).items():
            print(f"--- {cell}\n{text}")


if __name__ == "__main__":
    import tempfile

    for a in sys.argv[1:] or assignments():
        report(a, tempfile.mkdtemp(prefix=f"harness-{a}-"))
