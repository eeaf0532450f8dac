"""The tests of the tests, for every section: the graders give the grades they should.

Every catalogued mistake, other answer and mutant is graded by the autograder's judge in one
process (dltrack.variants); nbgrader's own autograde grades the reference, the stub and a
sample, and both must agree.

Adding a section adds a folder in source/, and a catalog; nothing here changes.
"""
import types

import nbformat

import harness
from dltrack import catalog, cli, fairness
from dltrack.authoring import normalise
from dltrack.nbplugins import LocalWidgetsClient


def auto_cells(assignment):
    """Grade ids of the autograded (code) test cells of a section."""
    nb = nbformat.read(harness.source_notebook(assignment), 4)
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


def solution_cells(assignment):
    nb = nbformat.read(harness.source_notebook(assignment), 4)
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}


def reference_gets_full_marks(s):
    lost = {c: s.scores["reference"][c] for c in auto_cells(s.assignment)
            if s.scores["reference"][c][0] < s.scores["reference"][c][1]}
    return [f"the reference solution lost points: {lost}\n{harness.messages(s.course, s.assignment, 'reference')}"] \
        if lost else []


def stub_runs_to_the_end_and_gets_zero(s):
    problems = []
    earned = {c: p for c in auto_cells(s.assignment) if (p := s.scores["stub"][c][0]) > 0}
    if earned:
        problems.append(f"the release notebook earned points with its stubs: {earned}")
    path = next((s.course / "autograded" / "stub" / s.assignment).glob("*.ipynb"))
    cells = [c for c in nbformat.read(path, 4).cells if c.cell_type == "code"]
    if not all(c.execution_count for c in cells):
        problems.append("the release notebook did not run to its last cell")
    if any(o.get("ename") == "DeadKernelError" for c in cells for o in c.outputs):
        problems.append("the release notebook killed its kernel")
    return problems


def both_paths_give_the_same_grades(s):
    """The judge in one process (every variant) and nbgrader's autograde (a sample) agree, cell by
    cell, on the points and on the first line of each message."""
    problems = []
    for student, cells in s.scores.items():
        texts = harness.messages(s.course, s.assignment, student)
        for cell in auto_cells(s.assignment):
            score = cells[cell][0]
            mine = s.results[student].get(cell)
            if mine is None or mine["score"] != score:
                problems.append(f"{student}: {cell} scores {score:g} by nbgrader, "
                                f"{mine and mine['score']} by the judge in one process")
            elif mine["message"] and mine["message"].splitlines()[0] not in texts.get(cell, ""):
                problems.append(f"{student}: {cell} says another thing by nbgrader:\n{texts.get(cell)}\n"
                                f"than in one process:\n{mine['message']}")
    return problems


def release_and_solutions_equal_a_fresh_build(s):
    def shape(nb):
        return [(c.cell_type, c.source, c.metadata.get("nbgrader"), c.metadata.get("tags")) for c in nb.cells]

    problems = []
    for folder in ("release", "solutions"):
        fresh = sorted((s.course / folder / s.assignment).glob("*.ipynb"))
        committed = sorted((harness.ROOT / folder / s.assignment).glob("*.ipynb"))
        if [p.name for p in fresh] != [p.name for p in committed]:
            problems.append(f"{folder}/{s.assignment} has other files than a fresh build; run `dltrack build`")
        for new, old in zip(fresh, committed):
            if shape(nbformat.read(new, 4)) != shape(nbformat.read(old, 4)):
                problems.append(f"{old.relative_to(harness.ROOT)} differs from a fresh build; "
                                f"run `dltrack build {s.assignment}`")
    return problems


def each_mistake_loses_points_where_it_should_and_is_named(s):
    problems = []
    for vid, (kind, mistake, _) in s.found.items():
        if kind != "mistake":
            continue
        for cell in mistake["caught_by"]:
            result = s.results[vid][cell]
            if result["score"] >= result["max"]:
                problems.append(f"{mistake['id']}: kept all {result['max']:g} points of {cell}")
            elif mistake["why"] not in (result["message"] or ""):
                problems.append(f"{mistake['id']}: {cell} failed without naming it:\n{result['message']}")
    return problems


def different_correct_answers_keep_full_marks(s):
    return [f"{vid}: lost {c}\n{r['message']}" for vid, (kind, _, _) in s.found.items() if kind == "correct"
            for c, r in s.results[vid].items() if r["score"] < r["max"]]


def known_wrong_answers_lose_points(s):
    return [f"{entry['id']}: kept the points of {c}" for vid, (kind, entry, _) in s.found.items()
            if kind == "wrong" for c in entry["caught_by"] if s.results[vid][c]["score"] >= s.results[vid][c]["max"]]


def the_fairness_report_is_up_to_date(s):
    """docs/fairness/<section>.md is what the mutants and catalog answers give now; no exercise kills
    a smaller share of its mutants than the report records."""
    rows = fairness.summary(s.assignment, s.found, s.results)
    path = harness.ROOT / fairness.FOLDER / f"{s.assignment}.md"
    committed = path.read_text() if path.exists() else ""
    if fairness.render(s.assignment, rows) == committed:
        return []
    recorded = fairness.recorded_rates(committed)
    fallen = [f"{cell}: {fairness.rate(r):.0%} of its mutants lose points, the report records "
              f"{recorded[cell]:.0%}" for cell, r in rows.items()
              if cell in recorded and round(fairness.rate(r), 2) < recorded[cell]]
    holes = [f"  {m.id}, {m.describe()}" for r in rows.values() for m in r["holes"]]
    return [f"{path.relative_to(harness.ROOT)} is out of date; run `dltrack fairness {s.assignment}`"
            + "".join(f"\n{line}" for line in fallen)
            + ("\nmutants that keep full marks:\n" + "\n".join(holes) if holes and fallen else "")]


SELF_CHECKED = {"01_linear_models", "02_activation_functions"}  # quick notebooks; the code path is shared


def self_check_agrees_with_the_judge(s):
    """The student's self-check (the test cells judging in their own kernel) passes the same cells
    the grader's judge passes, for the variants autograded by nbgrader."""
    if s.assignment not in SELF_CHECKED:
        return []
    problems = []
    for student in s.scores:
        path = next((s.course / "autograded" / student / s.assignment).glob("*.ipynb"))
        nb = nbformat.read(path, 4)
        LocalWidgetsClient(nb, timeout=120, allow_errors=True, resources={"metadata": {"path": str(path.parent)}}).execute()
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade"):
                passed = not any(o.output_type == "error" for o in cell.outputs)
                score, most = s.scores[student][meta["grade_id"]]
                if passed != (score == most):
                    problems.append(f"{student}: {meta['grade_id']} {'passes' if passed else 'fails'} in the "
                                    f"student's kernel but scores {score:g} / {most:g} when autograded")
    return problems


BY_NBGRADER = [reference_gets_full_marks, stub_runs_to_the_end_and_gets_zero, both_paths_give_the_same_grades,
               self_check_agrees_with_the_judge, release_and_solutions_equal_a_fresh_build]
IN_ONE_PROCESS = [each_mistake_loses_points_where_it_should_and_is_named, different_correct_answers_keep_full_marks,
                  known_wrong_answers_lose_points, the_fairness_report_is_up_to_date]


SAMPLE = "autograded-too-"  # the ids of the sample's second grading in one process


def test_the_section_grades_as_it_should(assignment, tmp_path):
    """Every catalogued mistake, other answer and mutant graded by the judge in one process; the
    reference, the stub and a sample graded by nbgrader's autograde too, with the same points and
    messages both ways; the built notebooks as committed."""
    course = harness.generated_course(tmp_path, [assignment])
    cli.build(course, [assignment], execute=False, generated=True)  # the solutions' cells, not their outputs
    release = nbformat.read(next((course / "release" / assignment).glob("*.ipynb")), 4)
    found = fairness.section_variants(course, assignment, release)
    sample = harness.sample(found, assignment)
    # the sample graded once more, to the end and with hints, as autograde grades it
    extra = {f"{SAMPLE}{v}": changes for v, changes in sample.items() if v not in ("reference", "stub")}
    found, results = fairness.grade_section(course, assignment, found, extra)
    scores = harness.autograde(course, assignment, harness.notebooks(course, assignment, sample))
    as_autograded = {v: results[f"{SAMPLE}{v}" if f"{SAMPLE}{v}" in extra else v] for v in sample}
    assert_properties([(IN_ONE_PROCESS, results), (BY_NBGRADER, as_autograded)],
                      assignment, course, found, scores)


def assert_properties(checks, assignment, course, found, scores):
    """`checks`: [(properties, the judge's results they read)]; every property must hold."""
    problems = []
    for properties, results in checks:
        section = types.SimpleNamespace(assignment=assignment, course=course, found=found, results=results,
                                        scores=scores)
        problems += [f"{check.__name__}: {p}" for check in properties for p in check(section)]
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
