"""What an instructor sees: a quiet autograde, hand-placed submissions that go all the way through.

One grading of a small class with the real nbgrader command line, on a scratch copy of the course:
`ref` submitted through the exchange's files (timestamp.txt of its own), `hand` and `stub` put in
submitted/ by hand as the README offers, and `tamper` with a test cell changed.
"""
import re
import shutil

import nbformat
import pytest

import harness

A = "01_linear_models"
NB = "linear_models.ipynb"
WARNING = re.compile(r"warn", re.I)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = harness.generated_course(tmp_path_factory.mktemp("class"), [A])
    harness.nbgrader(course, "release_assignment", A)  # makes the exchange, as the README's order does
    reference = harness.ROOT / "solutions" / A / NB
    submissions = {"ref": reference, "hand": reference, "stub": course / "release" / A / NB}
    for student, notebook in submissions.items():
        folder = course / "submitted" / student / A
        folder.mkdir(parents=True)
        shutil.copy(notebook, folder / NB)
    (course / "submitted" / "ref" / A / "timestamp.txt").write_text("2026-01-05 10:00:00.000000 UTC")
    clean = harness.nbgrader(course, "autograde", A, "--force")
    tampered = nbformat.read(reference, 4)
    cell = next(c for c in tampered.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "decision_values")
    cell.source = "pass  # nothing to check"
    folder = course / "submitted" / "tamper" / A
    folder.mkdir(parents=True)
    nbformat.write(tampered, folder / NB)
    tamper = harness.nbgrader(course, "autograde", A, "--student", "tamper", "--force")
    harness.nbgrader(course, "generate_feedback", A, "--force")
    released = harness.nbgrader(course, "release_feedback", A)
    harness.nbgrader(course, "export", "--to", "grades.csv")
    return course, clean, tamper, released


def test_a_clean_class_grades_without_a_warning_and_tampering_still_warns(graded):
    _, clean, tamper, _ = graded
    said = (clean.stdout + clean.stderr).splitlines()
    assert [line for line in said if WARNING.search(line)] == [], "\n".join(said)
    warned = [line for line in (tamper.stdout + tamper.stderr).splitlines() if WARNING.search(line)]
    assert any("Attribute 'checksum' for cell decision_values has changed" in line for line in warned), warned


def test_hand_placed_submissions_get_a_timestamp_feedback_and_a_csv_row(graded):
    course, _, _, released = graded
    for student in ("hand", "stub"):
        feedback = course / "feedback" / student / A
        assert (feedback / "timestamp.txt").read_text().strip().endswith("UTC")
        assert (feedback / "submission_secret.txt").read_text().strip()
        assert f"Releasing feedback for student '{student}'" in released.stdout + released.stderr
    # A submission that came with its own timestamp keeps it.
    assert (course / "feedback" / "ref" / A / "timestamp.txt").read_text().startswith("2026-01-05 10:00:00")
    rows = (course / "grades.csv").read_text().splitlines()
    header = rows[0].split(",")
    for row in rows[1:]:
        record = dict(zip(header, row.split(",")))
        assert record["timestamp"], row
    assert len(list((course / "exchange" / "dltrack" / "feedback").glob("*.html"))) == 4


def test_the_feedback_page_names_every_exercise_and_has_no_raw_maths(graded):
    course, *_ = graded
    html = (course / "feedback" / "ref" / A / "linear_models.html").read_text()
    summary = re.findall(r'<li><a href="#([^"]+)">([^<]*)</a>', html)
    graded_cells = [c.metadata["nbgrader"]["grade_id"] for c in nbformat.read(course / "release" / A / NB, 4).cells
                    if c.metadata.get("nbgrader", {}).get("grade")]
    assert [grade_id for grade_id, _ in summary] == graded_cells
    assert all(name != "Test cell" and grade_id in name for grade_id, name in summary), summary
    assert "graded by hand" in dict(summary)["xor_answer"]
    assert "<math" in html and "white-space: pre-wrap" in html
    assert not re.search(r"<script[^>]*mathjax|MathJax\.Hub", html, re.I)  # nothing to fetch from a CDN
    prose = re.sub(r"<(script|style|pre)\b.*?</\1>|<[^>]+>", "", html, flags=re.S)  # code keeps its $
    assert "$" not in prose
