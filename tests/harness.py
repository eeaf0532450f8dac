"""Grade variants of a section through the real nbgrader CLI, on a scratch copy of the course.

The variants of an assignment are: the reference (the source notebook), the stub
(the release notebook), each catalog mistake, and each other correct and wrong answer of the section's catalog
(dltrack/catalogs/<assignment>.yml), each put in place of its solution cell.

Run it by hand to see what a section's checks do:
    python tests/harness.py 01_linear_models
"""
import copy
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dltrack import catalog, course as course_  # noqa: E402
from dltrack.course import ANSI  # noqa: E402,F401 - used by the tests through harness

NBGRADER = str(Path(sys.executable).parent / "nbgrader")


def assignments():
    """Assignment ids that have a source notebook."""
    return course_.assignment_ids(ROOT)


def source_notebook(assignment):
    return course_.source_notebook(ROOT, assignment)


def answers(assignment):
    """The other correct and wrong answers of the section's catalog."""
    return catalog.others(assignment)


def scratch_course(where, assignment_ids):
    """A copy of the course with only what nbgrader needs, at `where`."""
    return course_.scratch_copy(ROOT, where, assignment_ids)


def nbgrader(course, *args, timeout=1800, env=None):
    """Run the nbgrader CLI in `course`; fail loudly if it fails."""
    return course_.nbgrader(course, *args, timeout=timeout, env=env)


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
    return course_.error_texts(next((Path(course) / "autograded" / student / assignment).glob("*.ipynb")))


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
