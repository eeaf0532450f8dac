"""Broken, hostile and odd submissions, graded in one run of the real nbgrader CLI.

Each bad student is the section 1 reference with some cells changed. Every one must get
the grade its code earns, a reason in its feedback, and leave the rest of the batch
graded. The same run grades five copies of a submission whose answers in three cells (2, 1
and 4 points) depend on unseeded randomness: all five must get the same score (were the
kernels not seeded, eight scores would be as likely, and the chance that five copies all agree
is 1 in 4,096). A second, small class is
killed halfway through autograding and graded again: its CSV must not change.
"""
import copy
import csv
import html
import os
import re
import shutil
import signal
import subprocess
import textwrap
import time

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell

import harness
from dltrack import course as course_, sandbox

pytestmark = pytest.mark.skipif(not sandbox.available(), reason="bubblewrap is not installed: no memory limit")

A = "01_linear_models"
NB = "linear_models.ipynb"
POINTS = {"decision_values": 2, "uv_separates": 1, "perceptron_init": 1, "perceptron_run_single": 2,
          "perceptron_run_batch": 2, "epoch_updates": 3, "train_separates": 2}
FAST = {"DLTRACK_CELL_TIMEOUT": "8", "DLTRACK_TEST_SECRET": "hunter2"}  # a loop costs 8 s
hostile = pytest.mark.xdist_group("hostile")
integrity = pytest.mark.xdist_group("integrity")


# ------------------------------------------------------------ making bad notebooks

def cell_of(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def swap(grade_id, code):
    return lambda nb: harness.substitute(nb, grade_id, code)


def add(code, at=None):
    """A new cell of the student's own, at index `at` or at the end."""
    def make(nb):
        nb = copy.deepcopy(nb)
        nb.cells.insert(len(nb.cells) if at is None else at, new_code_cell(code))
        return nb
    return make


def delete(grade_id):
    def make(nb):
        nb = copy.deepcopy(nb)
        nb.cells.remove(cell_of(nb, grade_id))
        return nb
    return make


def to_markdown(grade_id):
    def make(nb):
        nb = copy.deepcopy(nb)
        cell = cell_of(nb, grade_id)
        cell.cell_type = "markdown"
        del cell["outputs"], cell["execution_count"]
        return nb
    return make


def duplicate(grade_id):
    """The student copies a test cell as released, without its hidden tests; nbgrader grades the last copy."""
    def make(nb):
        nb = copy.deepcopy(nb)
        cell = cell_of(nb, grade_id)
        cell.source = re.sub(r"### BEGIN HIDDEN TESTS.*### END HIDDEN TESTS", "", cell.source, flags=re.S)
        nb.cells.insert(nb.cells.index(cell) + 1, copy.deepcopy(cell))
        return nb
    return make


def both(*makers):
    def make(nb):
        for m in makers:
            nb = m(nb)
        return nb
    return make


WRONG_DECISION = "def decision(w, b, X):\n    return np.dot(X, w)"  # the bias forgotten

LIAR = '''
class Liar:
    """Equal to anything."""
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __hash__ = object.__hash__

def decision(w, b, X):
    return Liar()
'''

ARRAY_LIES = '''
import sys

class Answer:
    """Becomes, when compared, whatever the caller expects."""
    def __array__(self, dtype=None, copy=None):
        frame = sys._getframe(1)
        while frame is not None:
            if "expected" in frame.f_locals:
                return np.asarray(frame.f_locals["expected"], dtype=dtype)
            frame = frame.f_back
        return np.zeros(1)

def decision(w, b, X):
    return Answer()
'''

PEEKS = '''
import inspect

def decision(w, b, X):
    for frame in inspect.stack():
        for name in ("expected", "want", "e"):
            if name in frame.frame.f_locals:
                return frame.frame.f_locals[name]
    return 0.0
'''

PATCHES_NUMPY = '''
np.allclose = lambda *args, **kwargs: True
np.isclose = lambda a, b, **kwargs: np.ones(np.shape(a), bool)
np.array_equal = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
np.testing.assert_array_equal = lambda *args, **kwargs: None

def decision(w, b, X):
    return np.dot(X, w)
'''

PATCHES_CHECKS = '''
import dltrack.check as check
check.difference = lambda *args, **kwargs: None
check.Exercise._fail = lambda *args, **kwargs: None
check.Exercise.expect = lambda *args, **kwargs: None
check.Run.check = lambda *args, **kwargs: None

def decision(w, b, X):
    return np.dot(X, w)
'''

FAKE_EXERCISE = '''
class Exercise:
    """Passes everything."""
    def __init__(self, *args, **kwargs): pass
    def expect(self, *args, **kwargs): pass
    def holds(self, *args, **kwargs): pass
    def run(self, cases): return self
    def check(self, expected): pass

class Expected:
    def __init__(self, *args): pass

def decision(w, b, X):
    return np.dot(X, w)
'''

REDEFINES_ASSERTION_ERROR = '''
import builtins

class AssertionError(Exception):
    """Not the real one."""

builtins.AssertionError = AssertionError
get_ipython().set_custom_exc((Exception,), lambda *args, **kwargs: None)  # swallow every error

def decision(w, b, X):
    return np.dot(X, w)
'''

IMPORTS_COURSE_CODE = '''
import dltrack.gradcheck

decision = dltrack.gradcheck.relative_error
decision.__module__ = "__main__"  # pretend it was written here
'''

READS_THE_REFERENCE = '''
import json

for path in ["../../../source/01_linear_models/linear_models.ipynb",
             "../../../solutions/01_linear_models/linear_models.ipynb",
             "COURSE_ROOT/source/01_linear_models/linear_models.ipynb"]:
    try:
        reference = json.load(open(path))
        break
    except OSError:
        pass
cell = next(c for c in reference["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "decision")
exec("".join(cell["source"]))
'''

SNOOPS = '''
import os, socket, subprocess
import dltrack
course = "COURSE_ROOT"

def attempt(what, action):
    try:
        action()
        print(f"{what}: ALLOWED")
    except Exception as exc:
        print(f"{what}: refused ({type(exc).__name__})")

attempt("read source", lambda: open(f"{course}/source/01_linear_models/linear_models.ipynb").read())
attempt("read source (relative)", lambda: open("../../../source/01_linear_models/linear_models.ipynb").read())
attempt("read solutions", lambda: os.listdir("../../../solutions"))
attempt("read the gradebook", lambda: open(f"{course}/gradebook.db", "rb").read())
attempt("list the submissions", lambda: os.listdir(f"{course}/submitted"))
attempt("read another student", lambda: open(f"{course}/submitted/reference/01_linear_models/linear_models.ipynb").read())
attempt("write the course config", lambda: open(f"{course}/nbgrader_config.py", "r+").write("# was here"))
attempt("write in another student's folder", lambda: open(f"{course}/autograded/reference/01_linear_models/hacked", "w").write("x"))
attempt("write into numpy", lambda: open(os.path.join(os.path.dirname(np.__file__), "hacked"), "w").write("x"))
attempt("write into the course package", lambda: open(os.path.join(os.path.dirname(dltrack.__file__), "hacked"), "w").write("x"))
attempt("reach the network", lambda: socket.create_connection(("1.1.1.1", 53), timeout=3))
attempt("resolve a name", lambda: socket.getaddrinfo("pypi.org", 443))
attempt("start a process", lambda: subprocess.run(["true"]))
attempt("fork", lambda: os.fork() or os._exit(0))
attempt("read a secret from the environment", lambda: os.environ["DLTRACK_TEST_SECRET"])
attempt("write in its own folder", lambda: open("notes.txt", "w").write("mine"))
'''

# Answers right or wrong by coin flips, each of three sources at once: numpy's and random's
# global generators and the order of a set of strings (hash randomisation).
COIN = '''
import random

def flip(i):
    return (np.random.rand() < 0.5) ^ (random.random() < 0.5) ^ (next(iter({f"heads {i}", f"tails {i}"})) == f"heads {i}")

lucky = [flip(i) for i in range(3)]  # for the decision, the line between u and v, the perceptron

def decision(w, b, X):
    return np.dot(X, w) + b if lucky[0] else np.dot(X, w)
'''


def coin_flipper(nb):
    """The decision (2 points), w_uv and b_uv (1) and the perceptron (4) right or wrong by a coin each."""
    perceptron = textwrap.indent(cell_of(nb, "perceptron").source, "    ")
    wrong = textwrap.indent(next(m["code"] for m in harness.catalog.load(A) if m["id"] == "run_ge_boundary"), "    ")
    nb = harness.substitute(nb, "decision", COIN)
    nb = harness.substitute(nb, "uv_choice", "w_uv = np.array([0.0, 1.0])\nb_uv = -1.0 if lucky[1] else 1.0")
    return harness.substitute(nb, "perceptron", f"if lucky[2]:\n{perceptron}\nelse:\n{wrong}")


# student: (how its notebook is made from the reference, cells it loses, {cell: words its reason must contain})
STUDENTS = {
    "reference": (None, set(), {}),
    "syntax_error": (swap("decision", "def decision(w, b, X)\n    return np.dot(X, w) + b"),
                     {"decision_values"}, {"decision": "SyntaxError", "decision_values": "'decision' is not defined"}),
    "raises_in_first_cell": (add("raise RuntimeError('my scratch work')", at=0), set(), {}),
    "cell_never_run": (both(swap("decision", "def decision(w, b, X):\n    return affine(X, w, b)"),
                            add("def affine(X, w, b):\n    return np.dot(X, w) + b")),
                       {"decision_values"}, {"decision_values": "NameError: name 'affine' is not defined"}),
    "infinite_loop": (swap("train", "def train_perceptron(X, y, lr=1.0, max_epochs=100):\n    while True:\n        pass"),
                      {"train_separates"}, {"train_separates": "train_perceptron"}),
    "unstoppable_loop": (swap("train", "def train_perceptron(X, y, lr=1.0, max_epochs=100):\n    while True:\n"
                                       "        try:\n            while True:\n                pass\n"
                                       "        except BaseException:\n            pass"),
                         {"train_separates"}, {"train_separates": "stopped answering"}),
    "allocates_40_gb": (swap("decision", "def decision(w, b, X):\n    return np.ones(5 * 10**9)"),
                        {"decision_values"}, {"decision_values": "MemoryError"}),
    # np.zeros asks for fresh pages and never writes them: the address space runs out at once, where
    # writing 2 GB of ones took longer than the cell limit on a loaded CI machine.
    "hoards_memory": (swap("perceptron", "hoard = []\nwhile True:\n    hoard.append(np.zeros(2**26))"),
                      {"perceptron_init", "perceptron_run_single", "perceptron_run_batch"},
                      {"perceptron": "MemoryError"}),
    "sys_exit": (swap("perceptron", "import sys\nsys.exit()"),
                 {"perceptron_init", "perceptron_run_single", "perceptron_run_batch"}, {"perceptron": "SystemExit"}),
    "os_exit": (swap("perceptron", "import os\nos._exit(1)"),
                {"perceptron_init", "perceptron_run_single", "perceptron_run_batch", "epoch_updates", "train_separates"},
                {"perceptron": "kernel died", "epoch_updates": "not run"}),
    "kill_9": (swap("epoch", "import os\nos.kill(os.getpid(), 9)"),
               {"epoch_updates", "train_separates"}, {"epoch": "kernel died", "train_separates": "not run"}),
    "prints_50_mb": (add("print('x' * 50_000_000)\nfor i in range(200_000):\n    print(i)\n"
                         "display({'image/png': 'A' * 5_000_000}, raw=True)", at=5), set(), {}),
    "duplicated_test_cell": (duplicate("decision_values"), set(), {}),
    "deleted_test_cell": (delete("epoch_updates"), {"epoch_updates"}, {"epoch_updates": "was deleted"}),
    "test_edited_to_pass": (both(swap("decision", WRONG_DECISION), swap("decision_values", "pass")),
                            {"decision_values"}, {"decision_values": "The bias is left out"}),
    "cells_to_markdown": (both(to_markdown("decision"), to_markdown("decision_values"),
                               swap("epoch", next(m["code"] for m in harness.catalog.load(A)
                                                  if m["id"] == "epoch_sign_flipped")), to_markdown("epoch_updates")),
                          {"epoch_updates", "train_separates"}, {"epoch_updates": "moves away from the right answer"}),
    "equal_to_anything": (swap("decision", LIAR), {"decision_values"},
                          {"decision_values": "expected numbers, got an object of type Liar"}),
    "array_lies": (swap("decision", ARRAY_LIES), {"decision_values"}, {"decision_values": "hidden case 1"}),
    "peeks_at_caller": (swap("decision", PEEKS), {"decision_values"}, {"decision_values": "hidden case 1"}),
    "patches_numpy": (swap("decision", PATCHES_NUMPY), {"decision_values"}, {"decision_values": "The bias is left out"}),
    # Checks disarmed in the kernel hand back no answers: every test cell after them scores zero.
    "patches_checks": (swap("decision", PATCHES_CHECKS), set(POINTS), {"decision_values": "could not be judged"}),
    "fake_exercise": (swap("decision", FAKE_EXERCISE), set(POINTS), {"decision_values": "could not be judged"}),
    "redefines_assertion_error": (swap("decision", REDEFINES_ASSERTION_ERROR), {"decision_values"},
                                  {"decision_values": "The bias is left out"}),
    "imports_course_code": (swap("decision", IMPORTS_COURSE_CODE), {"decision_values"},
                            {"decision_values": "must be written in this notebook"}),
    "reads_the_reference": (swap("decision", READS_THE_REFERENCE), {"decision_values"},
                            {"decision": "NameError: name 'reference' is not defined"}),
    "snoops": (add(SNOOPS), set(), {}),
    "writes_a_hidden_test_marker": (add("# ### BEGIN HIDDEN TESTS (no end)\nnotes = 1"), set(), {}),
}
COINS = [f"coin_{i}" for i in range(1, 6)]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """One autograde of every bad student, five coin flippers and the reference; feedback; CSV."""
    course = harness.generated_course(tmp_path_factory.mktemp("hostile"), [A])
    reference = nbformat.read(harness.source_notebook(A), 4)
    source = harness.without_demos(reference)  # quicker to grade; the reference keeps them
    for student, (make, _, _) in STUDENTS.items():
        nb = make(source) if make else reference
        harness.submit(course, A, student, nbformat.reads(nbformat.writes(nb).replace("COURSE_ROOT", str(course)), 4))
    harness.submit(course, A, "misnamed", source, name="my_perceptron.ipynb")
    harness.submit(course, A, "extra_notebook", source)
    harness.submit(course, A, "extra_notebook", source, name="scratch.ipynb")
    for student in COINS:
        harness.submit(course, A, student, coin_flipper(source))
    before = {p: p.read_bytes() for p in [course / "nbgrader_config.py", course / "source" / A / NB]}
    start = time.monotonic()
    done = harness.nbgrader(course, "autograde", A, "--force", env=FAST)
    seconds = time.monotonic() - start
    harness.nbgrader(course, "generate_feedback", A, "--force")
    harness.nbgrader(course, "export", "--to", "grades.csv")
    with open(course / "grades.csv") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    print(f"\nautograded {len(rows)} students in {seconds:.0f} s")
    return course, harness.grades(course, A), rows, done, before


@hostile
def test_the_batch_finishes_and_every_student_is_graded_with_feedback(batch):
    course, grades, rows, done, _ = batch
    students = [*STUDENTS, "misnamed", "extra_notebook", *COINS]
    assert done.returncode == 0 and "error processing" not in done.stderr
    assert sorted(rows) == sorted(students)
    for student in students:
        assert set(grades[student]) == set(POINTS), f"{student} has cells without a grade"
        assert (course / "feedback" / student / A / "linear_models.html").exists(), f"no feedback for {student}"


@hostile
@pytest.mark.parametrize("student", list(STUDENTS))
def test_each_bad_submission_gets_its_grade_and_a_reason(batch, student):
    course, grades, rows, _, _ = batch
    _, lost, reasons = STUDENTS[student]
    expected = {cell: (0.0 if cell in lost else float(points), float(points)) for cell, points in POINTS.items()}
    assert grades[student] == expected
    assert float(rows[student]["score"]) == sum(s for s, _ in expected.values())
    texts = errors(course / "autograded" / student / A / NB)
    for cell, words in reasons.items():
        assert words in texts.get(cell, ""), f"{student}: {cell} should say {words!r}, says {texts.get(cell)!r}"


def errors(path):
    """grade id -> the text of every error its cell shows in the autograded notebook."""
    return course_.error_texts(path)


@hostile
def test_a_misnamed_notebook_is_graded_with_a_note_and_an_extra_one_is_ignored(batch):
    course, grades, rows, _, _ = batch
    assert float(rows["misnamed"]["score"]) == 13 and float(rows["extra_notebook"]["score"]) == 13
    feedback = (course / "feedback" / "misnamed" / A / "linear_models.html").read_text()
    assert "submitted as <code>my_perceptron.ipynb</code>" in feedback
    assert not list((course / "autograded" / "extra_notebook" / A).glob("scratch*"))


@hostile
def test_printing_50_mb_leaves_small_feedback(batch):
    course = batch[0]
    autograded = course / "autograded" / "prints_50_mb" / A / NB
    feedback = course / "feedback" / "prints_50_mb" / A / "linear_models.html"
    assert autograded.stat().st_size < 500_000 and feedback.stat().st_size < 1_000_000
    assert "output cut" in feedback.read_text()


@hostile
def test_the_sandbox_refuses_everything_but_the_students_own_folder(batch):
    course, _, _, _, before = batch
    nb = nbformat.read(course / "autograded" / "snoops" / A / NB, 4)
    report = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    verdicts = dict(line.split(": ", 1) for line in report.splitlines())
    assert len(verdicts) == 16 and verdicts.pop("write in its own folder") == "ALLOWED", report
    assert all(v.startswith("refused") for v in verdicts.values()), report
    for path, content in before.items():
        assert path.read_bytes() == content, f"{path} changed"
    assert not (course / "autograded" / "reference" / A / "hacked").exists()


@hostile
def test_the_same_submission_gets_the_same_score_every_time(batch):
    rows = batch[2]
    assert len({rows[student]["score"] for student in COINS}) == 1, {s: rows[s]["score"] for s in COINS}


@hostile
def test_feedback_never_shows_the_hidden_tests(batch):
    course = batch[0]
    source = nbformat.read(harness.source_notebook(A), 4)
    hidden = {line.strip() for c in source.cells
              for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", c.source, re.S)
              for line in block.splitlines() if len(line.strip()) > 12}
    for student in STUDENTS:
        text = html.unescape(re.sub(r"<[^>]+>", "", (course / "feedback" / student / A / "linear_models.html").read_text()))
        assert not [line for line in hidden if line in text], f"feedback of {student} shows hidden tests"


# ------------------------------------------------------------ integrity

CLASS = {
    "a_reference": None,
    "b_wrong": swap("perceptron", next(m["code"] for m in harness.catalog.load(A) if m["id"] == "run_ge_boundary")),
    "c_coin": swap("decision", "import time\ntime.sleep(3)  # long enough to be killed (the third student)\n" + COIN),
    "d_dies": swap("epoch", "import os\nos._exit(1)"),
    "e_raises": swap("decision", 'raise ValueError("I give up")'),
}


@pytest.fixture(scope="module")
def small_class(tmp_path_factory):
    course = harness.generated_course(tmp_path_factory.mktemp("integrity"), [A])
    shutil.copy(course / "gradebook.db", course / "fresh.db")
    source = harness.without_demos(nbformat.read(harness.source_notebook(A), 4))
    for student, make in CLASS.items():
        harness.submit(course, A, student, make(source) if make else source)
    harness.nbgrader(course, "autograde", A, "--force", env=FAST)
    return course, export(course)


def start_over(course):
    """The class as on the day: submitted, nothing graded yet."""
    shutil.rmtree(course / "autograded")
    shutil.copy(course / "fresh.db", course / "gradebook.db")


def export(course):
    harness.nbgrader(course, "export", "--to", "grades.csv")
    return (course / "grades.csv").read_text()


def kill_during_the_third(course, *args):
    """Start autograde, kill it (SIGKILL) while the third student's notebook runs; its exit code."""
    third = course / "autograded" / sorted(CLASS)[2]
    process = subprocess.Popen([harness.NBGRADER, "autograde", A, *args], cwd=course,
                               env=dict(os.environ, **FAST), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, kernels = time.monotonic() + 600, []
    while process.poll() is None and time.monotonic() < deadline and not kernels:
        if third.exists():  # nbgrader has begun the third student: wait for their kernel
            kernels = kernels_of(process.pid)
        time.sleep(0.05)
    time.sleep(0.5)
    kernels = kernels_of(process.pid) or kernels
    process.send_signal(signal.SIGKILL)
    code = process.wait(timeout=120)
    for _ in range(50):  # the kernel it was running goes with it
        alive = [k for k in kernels if k.is_running() and k.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return code
        time.sleep(0.1)
    raise AssertionError(f"kernels left running: {alive}")


def kernels_of(pid):
    """The processes nbgrader started (its sandboxed kernels), which work in throwaway folders."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@integrity
def test_a_killed_autograde_run_again_gives_the_same_csv(small_class):
    course, uninterrupted = small_class
    assert len(uninterrupted.splitlines()) == len(CLASS) + 1
    start_over(course)
    assert kill_during_the_third(course, "--force") == -signal.SIGKILL
    assert not (course / "autograded" / "d_dies").exists(), "killed halfway, not at the end"
    harness.nbgrader(course, "autograde", A, "--force", env=FAST)  # the README's command, again
    assert export(course) == uninterrupted
