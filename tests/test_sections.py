"""The tests of the tests, for every section: the graders give the grades they should.

Adding a section adds a folder in source/, a catalog and an answers file; nothing here changes.
"""
import nbformat
import pytest

import harness
from dltrack import catalog
from dltrack.authoring import normalise


def autograded(scores):
    return {cell: (s, m) for cell, (s, m) in scores.items()}


def auto_cells(course, assignment):
    """Grade ids of the autograded (code) test cells of a section."""
    nb = nbformat.read(harness.source_notebook(assignment), 4)
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


def solution_cells(assignment):
    nb = nbformat.read(harness.source_notebook(assignment), 4)
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}


def test_reference_gets_full_marks(assignment, graded):
    course, _, scores = graded
    cells = auto_cells(course, assignment)
    lost = {c: scores["reference"][c] for c in cells if scores["reference"][c][0] < scores["reference"][c][1]}
    assert not lost, f"the reference solution lost points: {lost}\n{harness.messages(course, assignment, 'reference')}"


def test_stub_runs_to_the_end_and_gets_zero(assignment, graded):
    course, _, scores = graded
    earned = {c: s for c in auto_cells(course, assignment) if (s := scores["stub"][c][0]) > 0}
    assert not earned, f"the release notebook earned points with its stubs: {earned}"
    path = next((course / "autograded" / "stub" / assignment).glob("*.ipynb"))
    cells = [c for c in nbformat.read(path, 4).cells if c.cell_type == "code"]
    assert all(c.execution_count for c in cells), "the release notebook did not run to its last cell"
    dead = [o for c in cells for o in c.outputs if o.get("ename") == "DeadKernelError"]
    assert not dead, "the release notebook killed its kernel"


def test_release_and_solutions_equal_a_fresh_build(assignment, graded):
    course, _, _ = graded
    for folder in ("release", "solutions"):
        fresh = sorted((course / folder / assignment).glob("*.ipynb"))
        committed = sorted((harness.ROOT / folder / assignment).glob("*.ipynb"))
        assert [p.name for p in fresh] == [p.name for p in committed], f"{folder}/{assignment} has other files; run `dltrack build`"
        for new, old in zip(fresh, committed):
            a, b = (nbformat.read(p, 4) for p in (new, old))
            shape = lambda nb: [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in nb.cells]  # noqa: E731
            assert shape(a) == shape(b), f"{old.relative_to(harness.ROOT)} differs from a fresh build; run `dltrack build {assignment}`"


def test_each_mistake_loses_points_where_it_should_and_is_named(assignment, graded):
    course, found, scores = graded
    problems = []
    for student, (_, mistake) in found.items():
        if not student.startswith("mistake-"):
            continue
        texts = harness.messages(course, assignment, student)
        for cell in mistake["caught_by"]:
            score, most = scores[student][cell]
            if score >= most:
                problems.append(f"{mistake['id']}: kept all {most:g} points of {cell}")
            elif mistake["why"] not in texts.get(cell, ""):
                problems.append(f"{mistake['id']}: {cell} failed without naming it:\n{texts.get(cell, '(no message)')}")
    assert not problems, "\n".join(problems)


def test_different_correct_answers_keep_full_marks(assignment, graded):
    course, found, scores = graded
    cells = auto_cells(course, assignment)
    problems = [f"{s}: lost {c}\n{harness.messages(course, assignment, s).get(c)}"
                for s in found if s.startswith("correct-")
                for c in cells if scores[s][c][0] < scores[s][c][1]]
    assert not problems, "\n".join(problems)


def test_known_wrong_answers_lose_points(assignment, graded):
    _, found, scores = graded
    problems = [f"{entry['id']}: kept the points of {c}" for s, (_, entry) in found.items()
                if s.startswith("wrong-") for c in entry["caught_by"] if scores[s][c][0] >= scores[s][c][1]]
    assert not problems, "\n".join(problems)


def test_catalog_and_answers_cover_every_exercise(assignment):
    solutions = solution_cells(assignment)
    nb = nbformat.read(harness.source_notebook(assignment), 4)
    tests = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    mistakes = catalog.load(assignment)
    correct, _ = harness.answers(assignment)
    assert len({m["id"] for m in mistakes}) == len(mistakes), "catalog ids must be unique"
    for m in mistakes:
        assert m["replaces"] in solutions, f"{m['id']} replaces no solution cell"
        assert set(m["caught_by"]) <= tests and m["caught_by"], f"{m['id']}: caught_by names no test cell"
        assert m["why"].strip() and m["reread"] in nb_headings(nb), f"{m['id']}: why or reread is missing"
    functions = {c for c in solutions if catalog.defined_names(source_of(nb, c))}
    for cell in functions:
        assert sum(m["replaces"] == cell for m in mistakes) >= 3, f"{cell}: fewer than three catalog mistakes"
        assert sum(a["replaces"] == cell for a in correct) >= 2, f"{cell}: fewer than two different correct answers"


def nb_headings(nb):
    return {line.lstrip("#").strip() for c in nb.cells if c.cell_type == "markdown"
            for line in c.source.splitlines() if line.startswith("#")}


def source_of(nb, grade_id):
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def test_source_notebooks_are_clean(assignment):
    path = harness.source_notebook(assignment)
    nb = nbformat.read(path, 4)
    assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code"), \
        f"{path.name} has outputs; clear them"
    clean = normalise(nbformat.read(path, 4))
    assert nbformat.writes(nb) == nbformat.writes(clean), f"{path.name} metadata is not normalised"
