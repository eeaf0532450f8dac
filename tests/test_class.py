"""An instructor's loop with the real nbgrader CLI: autograde a small class, feedback, grades to CSV."""
import csv
import html
import re

import nbformat
import pytest

import harness

A = "01_linear_models"
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)

HANGS_ON_BIG_BATCHES = """
class Perceptron:
    def __init__(self, w, b):
        self.weight, self.bias = w, b

    def run(self, x):
        while np.ndim(x) == 2 and len(x) > 4:
            pass
        return np.where(np.dot(x, self.weight) + self.bias > 0, 1, 0)
"""

# student: (solution cell replaced, its new code, score expected out of 13 autograded points)
CLASS = {
    "correct": (None, None, 13),
    "partly_wrong": ("perceptron", next(m["code"] for m in harness.catalog.load(A) if m["id"] == "run_ge_boundary"), 9),
    "raises": ("decision", 'raise ValueError("I give up")', 11),
    "loops": ("epoch", "while True:\n    pass", 8),
    "hangs_in_hidden_test": ("perceptron", HANGS_ON_BIG_BATCHES, 11),
}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = harness.generated_course(tmp_path_factory.mktemp("class"), [A])
    source = harness.without_demos(nbformat.read(harness.source_notebook(A), 4))  # quicker, same points
    for student, (cell, code, _) in CLASS.items():
        harness.submit(course, A, student, harness.substitute(source, cell, code) if cell else source)
    slow = {"DLTRACK_CELL_TIMEOUT": "5"}  # an infinite loop costs this many seconds a cell
    harness.nbgrader(course, "autograde", A, "--force", env=slow)
    harness.nbgrader(course, "generate_feedback", A, "--force")
    harness.nbgrader(course, "export", "--to", "grades.csv")
    return course


def test_the_exported_csv_has_the_expected_scores(course):
    with open(course / "grades.csv") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    got = {student: float(rows[student]["score"]) for student in CLASS}
    assert got == {student: float(points) for student, (_, _, points) in CLASS.items()}
    assert all(float(rows[s]["max_score"]) == 15 for s in CLASS), "13 autograded points and 2 graded by hand"


def test_a_loop_is_stopped_and_named_and_the_rest_is_graded(course):
    scores = harness.grades(course, A)["loops"]
    assert scores["decision_values"] == (2, 2) and scores["epoch_updates"] == (0, 3)
    text = harness.messages(course, A, "loops")
    assert "perceptron_epoch" in text["epoch_updates"]


def test_every_student_gets_feedback_without_hidden_tests(course):
    source = nbformat.read(harness.source_notebook(A), 4)
    hidden = {line.strip() for c in source.cells for block in HIDDEN.findall(c.source)
              for line in block.splitlines() if len(line.strip()) > 12}
    assert hidden, "the section has hidden tests to look for"
    written = "AUTOTEST", "Expected([", "from dltrack.check import A"
    for student in CLASS:
        path = course / "feedback" / student / A / "linear_models.html"
        assert path.exists(), f"no feedback for {student}"
        text = html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))
        leaked = [line for line in hidden | set(written) if line in text]
        assert not leaked, f"feedback of {student} shows hidden tests: {leaked[:3]}"
        assert path.stat().st_size < 3_000_000


def test_the_feedback_test_looks_where_hidden_lines_really_were(course):
    """The autograded notebook holds the hidden tests in the cell's input (which the feedback must
    hide), never in an output: a timeout inside a hidden test is reported by the judge alone."""
    path = next((course / "autograded" / "hangs_in_hidden_test" / A).glob("*.ipynb"))
    cell = next(c for c in nbformat.read(path, 4).cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == "perceptron_run_batch")
    assert "ex.run(cases)" in cell.source and "Expected([" in cell.source
    traceback = harness.messages(course, A, "hangs_in_hidden_test")["perceptron_run_batch"]
    assert "CellTimeoutError" in traceback and "Perceptron.run" in traceback
    assert "ex.run(cases)" not in traceback and "Expected(" not in traceback
