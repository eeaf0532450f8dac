"""`dltrack autograde` grades a class on a Dask cluster exactly as serial `nbgrader autograde` does.

One small class of section 1 (the reference, a catalogued mistake and a hostile student) is
put in two identical copies of the course: one graded by `nbgrader autograde`, the other by
`dltrack autograde --scheduler` on a real Dask scheduler with two workers, each started as a
process of its own and talking over loopback. Then one student is graded again after an
interruption, on a local cluster (`--workers`), the other way in.
"""
import csv
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import harness

pytestmark = pytest.mark.slow
A = "01_linear_models"
NB = "linear_models.ipynb"
BIN = Path(sys.executable).parent

# Tries to read the instructor's course and to write beside its own folder, then kills its kernel.
HOSTILE = """
import os
import re
for path in ["COURSE_ROOT/gradebook.db", "COURSE_ROOT/source/01_linear_models/linear_models.ipynb"]:
    try:
        open(path).read()
        print("READ", path)
    except OSError:
        pass
try:
    open("../../planted.txt", "w").write("mine")
except OSError:
    pass
os._exit(1)
"""
# student -> score out of 13 autograded points
EXPECTED = {"alice": 13, "carol": 9, "mallory": 0}


def make_class(course):
    """Submit the three students to a generated course."""
    source = harness.without_demos(nbformat.read(harness.source_notebook(A), 4))
    mistake = next(m for m in harness.catalog.load(A) if m["id"] == "run_ge_boundary")
    hostile = HOSTILE.replace("COURSE_ROOT", str(course.parent / "parallel"))
    for student, nb in {"alice": source, "carol": harness.substitute(source, "perceptron", mistake["code"]),
                        "mallory": harness.substitute(source, "decision", hostile)}.items():
        harness.submit(course, A, student, nb)


def dltrack(course, *args, timeout=600):
    return subprocess.run([str(BIN / "dltrack"), "autograde", *args], cwd=course, capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Dask scheduler and two workers on loopback, each a process of its own; the address."""
    where = tmp_path_factory.mktemp("dask")
    file = where / "scheduler.json"
    common = dict(cwd=where, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(file)], **common)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen([str(BIN / "dask"), "worker", "--scheduler-file", str(file),
                                           "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                                           "--host", "127.0.0.1"], **common))
        yield _address_when_ready(file, workers=2)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=60)


def _address_when_ready(file, workers):
    from distributed import Client

    for _ in range(240):
        if file.exists():
            address = json.loads(file.read_text())["address"]
            with Client(address, timeout="30s") as client:
                client.wait_for_workers(workers, timeout=120)
            return address
        time.sleep(0.5)
    pytest.fail("the Dask scheduler did not start")


@pytest.fixture(scope="module")
def graded(tmp_path_factory, cluster):
    """(serial course, parallel course, the parallel command's output)."""
    where = tmp_path_factory.mktemp("class")
    serial = harness.generated_course(where / "serial", [A])
    make_class(serial)
    parallel = where / "parallel"
    shutil.copytree(serial, parallel)  # the same submissions, times included
    harness.nbgrader(serial, "autograde", A)
    done = dltrack(parallel, A, "--scheduler", cluster)
    for course in (serial, parallel):
        harness.nbgrader(course, "export", "--to", "grades.csv")
    return serial, parallel, done


def test_the_class_is_graded_on_two_workers_with_progress(graded):
    _, _, done = graded
    assert done.returncode == 0, done.stderr
    assert "3/3 graded, 0 failed" in done.stderr and "left" in done.stderr, done.stderr


def test_the_export_is_byte_identical_to_serial_grading(graded):
    serial, parallel, _ = graded
    assert (parallel / "grades.csv").read_bytes() == (serial / "grades.csv").read_bytes()
    with open(parallel / "grades.csv") as f:
        scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)}
    assert scores == {s: float(p) for s, p in EXPECTED.items()}


def test_the_gradebook_rows_are_those_of_serial_grading(graded):
    serial, parallel, _ = graded
    assert rows(parallel) == rows(serial)
    assert harness.grades(parallel, A) == harness.grades(serial, A)


def test_the_autograded_notebooks_and_diagnoses_are_those_of_serial_grading(graded):
    serial, parallel, _ = graded
    for student in EXPECTED:
        mine, theirs = (c / "autograded" / student / A for c in (parallel, serial))
        assert sorted(p.name for p in mine.iterdir()) == sorted(p.name for p in theirs.iterdir())
        assert without_timing(mine / NB) == without_timing(theirs / NB), student
        diagnosis = Path("diagnoses") / A / f"{student}.json"
        assert (parallel / diagnosis).read_bytes() == (serial / diagnosis).read_bytes(), student


def test_a_hostile_student_reads_nothing_and_disturbs_no_one(graded):
    serial, parallel, _ = graded
    text = (parallel / "autograded" / "mallory" / A / NB).read_text()
    assert "READ /" not in text
    assert not list(parallel.rglob("planted.txt"))
    assert "the kernel died" in json.dumps(json.loads((parallel / "diagnoses" / A / "mallory.json").read_text()))
    assert harness.grades(parallel, A)["alice"] == harness.grades(serial, A)["alice"]


def test_after_an_interruption_the_rest_is_graded_on_a_local_cluster(graded):
    serial, parallel, _ = graded
    shutil.rmtree(parallel / "autograded" / "carol")  # as if killed before carol was merged
    done = dltrack(parallel, A, "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert "grading 1 submission" in done.stderr and "1/1 graded" in done.stderr, done.stderr
    harness.nbgrader(parallel, "export", "--to", "again.csv")
    assert (parallel / "again.csv").read_bytes() == (serial / "grades.csv").read_bytes()
    assert rows(parallel) == rows(serial)


def test_a_broken_environment_stops_before_anyone_is_graded(tmp_path):
    course = harness.scratch_course(tmp_path, [A])  # the check comes first: no need to generate
    harness.submit(course, A, "alice", nbformat.read(harness.source_notebook(A), 4))
    (course / "dltrack").mkdir()  # a course with its own package, not the one installed
    (course / "dltrack" / "__init__.py").write_text("")
    done = dltrack(course, A, "--workers", "1")
    assert done.returncode == 2 and "autograde cannot start" in done.stderr, done.stderr
    assert not (course / "autograded").exists()


def rows(course):
    """The gradebook's content without its random ids: students, submissions, grades, comments."""
    db = sqlite3.connect(course / "gradebook.db")
    q = {
        "student": "SELECT id, first_name, last_name, email, lms_user_id FROM student ORDER BY id",
        "submission": "SELECT a.name, s.student_id, s.timestamp FROM submitted_assignment s "
                      "JOIN assignment a ON a.id = s.assignment_id",
        "notebook": "SELECT n.name, s.student_id, sn.late_submission_penalty, sn.flagged "
                    "FROM submitted_notebook sn JOIN notebook n ON n.id = sn.notebook_id "
                    "JOIN submitted_assignment s ON s.id = sn.assignment_id",
        "grade": "SELECT c.name, s.student_id, g.auto_score, g.manual_score, g.extra_credit, "
                 "g.needs_manual_grade FROM grade g JOIN base_cell c ON c.id = g.cell_id "
                 "JOIN submitted_notebook sn ON sn.id = g.notebook_id "
                 "JOIN submitted_assignment s ON s.id = sn.assignment_id",
        "comment": "SELECT b.name, s.student_id, m.auto_comment, m.manual_comment FROM comment m "
                   "JOIN base_cell b ON b.id = m.cell_id "
                   "JOIN submitted_notebook sn ON sn.id = m.notebook_id "
                   "JOIN submitted_assignment s ON s.id = sn.assignment_id",
    }
    try:
        return {name: sorted(map(repr, db.execute(sql).fetchall())) for name, sql in q.items()}
    finally:
        db.close()


def without_timing(path):
    """The notebook without what differs between any two gradings: the kernel's timestamps
    (cell metadata "execution"), the random ids of widgets, and execution counts (whether a
    kernel that dies in a cell numbered it first is a race)."""
    nb = nbformat.read(path, 4)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.execution_count = None
    return re.sub(r'"model_id": "[0-9a-f]{32}"', '"model_id": ""', nbformat.writes(nb))
