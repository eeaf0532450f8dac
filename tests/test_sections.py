"""The tests of the tests, for every section: the graders give the grades they should.

Adding a section adds a folder in source/, and a catalog; nothing here changes.
"""
import subprocess
import sys

import nbformat

import harness
from dltrack import catalog
from dltrack.authoring import normalise


def auto_cells(course, assignment):
    """Grade ids of the autograded (code) test cells of a section."""
    nb = nbformat.read(harness.source_notebook(assignment), 4)
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


def solution_cells(assignment):
    nb = nbformat.read(harness.source_notebook(assignment), 4)
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}


def reference_gets_full_marks(course, assignment, found, scores):
    cells = auto_cells(course, assignment)
    lost = {c: scores["reference"][c] for c in cells if scores["reference"][c][0] < scores["reference"][c][1]}
    return [f"the reference solution lost points: {lost}\n{harness.messages(course, assignment, 'reference')}"] if lost else []


def stub_runs_to_the_end_and_gets_zero(course, assignment, found, scores):
    problems = []
    earned = {c: s for c in auto_cells(course, assignment) if (s := scores["stub"][c][0]) > 0}
    if earned:
        problems.append(f"the release notebook earned points with its stubs: {earned}")
    path = next((course / "autograded" / "stub" / assignment).glob("*.ipynb"))
    cells = [c for c in nbformat.read(path, 4).cells if c.cell_type == "code"]
    if not all(c.execution_count for c in cells):
        problems.append("the release notebook did not run to its last cell")
    if any(o.get("ename") == "DeadKernelError" for c in cells for o in c.outputs):
        problems.append("the release notebook killed its kernel")
    return problems


def release_and_solutions_equal_a_fresh_build(course, assignment, found, scores):
    def shape(nb):
        return [(c.cell_type, c.source, c.metadata.get("nbgrader"), c.metadata.get("tags")) for c in nb.cells]

    problems = []
    for folder in ("release", "solutions"):
        fresh = sorted((course / folder / assignment).glob("*.ipynb"))
        committed = sorted((harness.ROOT / folder / assignment).glob("*.ipynb"))
        if [p.name for p in fresh] != [p.name for p in committed]:
            problems.append(f"{folder}/{assignment} has other files than a fresh build; run `dltrack build`")
        for new, old in zip(fresh, committed):
            if shape(nbformat.read(new, 4)) != shape(nbformat.read(old, 4)):
                problems.append(f"{old.relative_to(harness.ROOT)} differs from a fresh build; run `dltrack build {assignment}`")
    return problems


def each_mistake_loses_points_where_it_should_and_is_named(course, assignment, found, scores):
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
    return problems


def different_correct_answers_keep_full_marks(course, assignment, found, scores):
    cells = auto_cells(course, assignment)
    return [f"{s}: lost {c}\n{harness.messages(course, assignment, s).get(c)}"
            for s in found if s.startswith("correct-")
            for c in cells if scores[s][c][0] < scores[s][c][1]]


def known_wrong_answers_lose_points(course, assignment, found, scores):
    return [f"{entry['id']}: kept the points of {c}" for s, (_, entry) in found.items()
            if s.startswith("wrong-") for c in entry["caught_by"] if scores[s][c][0] >= scores[s][c][1]]


SELF_CHECKED = {"01_linear_models", "02_activation_functions"}  # quick notebooks; the code path is shared


def self_check_agrees_with_the_judge(course, assignment, found, scores):
    """The student's self-check (the test cells judging in their own kernel) passes the same cells
    the grader's judge passes, for the reference, the stub and a few catalogued mistakes."""
    from nbclient import NotebookClient

    if assignment not in SELF_CHECKED:
        return []
    problems = []
    sample = ["reference", "stub", *[s for s in found if s.startswith("mistake-")][:3]]
    for student in sample:
        path = next((course / "autograded" / student / assignment).glob("*.ipynb"))
        nb = nbformat.read(path, 4)
        NotebookClient(nb, timeout=120, allow_errors=True, resources={"metadata": {"path": str(path.parent)}}).execute()
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade"):
                passed = not any(o.output_type == "error" for o in cell.outputs)
                score, most = scores[student][meta["grade_id"]]
                if passed != (score == most):
                    problems.append(f"{student}: {meta['grade_id']} {'passes' if passed else 'fails'} in the "
                                    f"student's kernel but scores {score:g} / {most:g} when autograded")
    return problems


GRADED = [reference_gets_full_marks, self_check_agrees_with_the_judge, stub_runs_to_the_end_and_gets_zero,
          release_and_solutions_equal_a_fresh_build, each_mistake_loses_points_where_it_should_and_is_named,
          different_correct_answers_keep_full_marks, known_wrong_answers_lose_points]


def test_the_section_grades_as_it_should(assignment, tmp_path):
    """One nbgrader run per section (so pytest-xdist spreads sections), then every property of it."""
    course = harness.scratch_course(tmp_path, [assignment])
    subprocess.run([sys.executable, "-m", "dltrack.cli", "build", assignment],
                   cwd=course, check=True, capture_output=True, text=True)
    found, scores = harness.grade_variants(course, assignment, generate=False)
    problems = [f"{check.__name__}: {p}" for check in GRADED for p in check(course, assignment, found, scores)]
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
