"""Grade variants of a section on a scratch copy of the course: by nbgrader's autograde, or all at
once by the same judge in one process (dltrack.variants, through dltrack.fairness).

The variants of an assignment are: the reference (the source notebook), the stub (the
release notebook), and the reference with one solution cell replaced by a catalogued
mistake, another correct or wrong answer of the section's catalog
(dltrack/catalogs/<assignment>.yml), or a mutant (dltrack.mutants).

Run it by hand to see what a section's checks do:
    python tests/harness.py 01_linear_models
"""
import copy
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dltrack import catalog, course as course_  # noqa: E402,F401 - catalog: used by conftest
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


def generated_course(where, assignment_ids):
    """scratch_course, then nbgrader's generate_assignment of each of `assignment_ids`.

    Under pytest the generated course is made once for the whole run, in the folder named by
    $DLTRACK_TEST_GENERATED (tests/conftest.py makes it; pytest-xdist's workers share it), and
    copied: generating runs the reference notebook, 5 to 30 s of CPU, and a dozen tests start
    from the same generated course.
    """
    import fcntl
    import os
    import shutil

    cache = os.environ.get(GENERATED)
    if not cache:
        return _generate(where, assignment_ids)
    made = Path(cache) / "-".join(assignment_ids)
    with open(f"{made}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker generates, the others wait for it
        if not made.exists():
            _generate(f"{made}.partial", assignment_ids).rename(made)
    return Path(shutil.copytree(made, where, dirs_exist_ok=True))


def _generate(where, assignment_ids):
    course = scratch_course(where, assignment_ids)
    for a in assignment_ids:
        nbgrader(course, "generate_assignment", a, "--force")
    return course


GENERATED = "DLTRACK_TEST_GENERATED"


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


def notebooks(course, assignment, students):
    """student -> the notebook nbgrader grades, for {student: {solution grade_id: code}} (as
    `sample` gives): "reference" is the source notebook, "stub" the release notebook (their
    changes are not read), any other student the source with those cells replaced."""
    source = nbformat.read(source_notebook(assignment), 4)
    out = {"stub": nbformat.read(next((Path(course) / "release" / assignment).glob("*.ipynb")), 4),
           "reference": source}
    for student, changes in students.items():
        if student not in out:
            out[student] = source
            for grade_id, code in changes.items():
                out[student] = substitute(out[student], grade_id, code)
    return {student: out[student] for student in students}


TWO = "answer-and-mutant"  # the sample's student with two cells changed


def sample(found, assignment):
    """The variants nbgrader grades too, {student: {solution grade_id: code}}: the reference, the
    stub, and one student with a catalog answer (a mistake, another correct answer or a wrong one)
    and a mutant of another cell, drawn at random, seeded by the section. One notebook with two
    changes, not two with one: each of the section's nbgrader runs costs a kernel a notebook."""
    import random

    rng = random.Random(assignment)
    answers = [v for v, (kind, _, _) in found.items() if kind in ("mistake", "correct", "wrong")]
    out = {"reference": {}, "stub": found["stub"][2]}
    changes = found[rng.choice(answers)][2] if answers else {}
    mutants = [v for v, (kind, _, cells) in found.items() if kind == "mutant" and not set(cells) & set(changes)]
    changes = {**changes, **(found[rng.choice(mutants)][2] if mutants else {})}
    return {**out, TWO: changes} if changes else out


def without_demos(nb):
    """A copy of the notebook without its ungraded demonstration cells (plots, widgets, the XOR
    run): quicker to grade, the same points."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and "nbgrader" not in c.metadata)]
    return nb


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


def autograde(course, assignment, notebooks):
    """Grade {student: notebook} with nbgrader's autograde; returns (see `grades`)."""
    for student, nb in notebooks.items():
        submit(course, assignment, student, nb)
    nbgrader(course, "autograde", assignment, "--force")
    return grades(course, assignment)


def report(assignment, where):
    """Print every variant's points and where its mistake was named (graded by the judge in one process)."""
    from dltrack import fairness

    course = scratch_course(where, [assignment])
    nbgrader(course, "generate_assignment", assignment, "--force")
    found, results = fairness.grade_section(course, assignment)
    for vid, result in results.items():
        total, most = sum(r["score"] for r in result.values()), sum(r["max"] for r in result.values())
        lost = sorted(c for c, r in result.items() if r["score"] < r["max"])
        print(f"{vid:40s} {total:5.1f} / {most:g}  lost: {', '.join(lost) or '-'}")
        entry = found.get(vid, (None, None))[1]
        if isinstance(entry, dict) and entry.get("why"):
            named = [c for c in entry["caught_by"] if entry["why"] in (result.get(c, {}).get("message") or "")]
            print(f"{'':40s}        named in: {', '.join(named) or 'NOWHERE'}")


if __name__ == "__main__":
    import tempfile

    for a in sys.argv[1:] or assignments():
        report(a, tempfile.mkdtemp(prefix=f"harness-{a}-"))
