"""Attacks on the grade itself, each from the release stub of section 1, in one run of the real nbgrader.

Every attack was written to get points the stub does not earn, or to harm the rest of
the class, by reaching into the grading kernel: reading the running test, tracing the
comparison, hooking Python or IPython, leaving threads behind, shadowing the course's
modules, planting links for nbgrader to follow, stalling, flooding. Since the kernel
only computes and the grader judges (dltrack.judge), each must score zero on every
cell, and a correct student graded just before and just after must keep full marks,
with nothing outside the attacker's own autograded folder changed.
"""
import copy
import hashlib
import os
import shutil

import nbformat
import pytest

import harness
from dltrack import authoring, course as course_, sandbox
from dltrack.course import NbgraderFailed

pytestmark = [pytest.mark.skipif(not sandbox.available(), reason="bubblewrap is not installed"),
              pytest.mark.xdist_group("redteam")]

A = "01_linear_models"
NB = "linear_models.ipynb"
FAST = {"DLTRACK_CELL_TIMEOUT": "4", "DLTRACK_NOTEBOOK_BUDGET": "20"}

# Each attack is a cell the student adds after the setup cell of the release stub.
ATTACKS = {
    # -- reading the running cell, its history, or the caller's frames
    "reads_input_history": '''
import re
from dltrack.check import A
def decision(w, b, X):
    for source in reversed(get_ipython().user_ns["In"]):
        found = re.search(r"Expected\\(\\[(.*)\\]\\)", source, re.S)
        if found:
            return eval(found.group(1).split("), A(")[0] + ")", {"A": A, "nan": 0.0, "inf": 0.0})
    return 0.0
''',
    "reads_frames_and_objects": '''
import gc, sys
def decision(w, b, X):
    frame = sys._getframe(1)
    while frame is not None:
        for name in ("expected", "want", "values"):
            if name in frame.f_locals:
                return frame.f_locals[name]
        frame = frame.f_back
    found = [o for o in gc.get_objects() if type(o).__name__ == "Expected" and getattr(o, "values", None)]
    return found[0].values[0] if found else 0.0
''',
    # -- tracing and patching the comparison
    "traces_the_comparison": '''
import ctypes, sys
def tracer(frame, event, arg):
    if frame.f_code.co_name == "difference" and event == "call":
        frame.f_locals["got"] = frame.f_locals.get("expected")
        ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(frame), ctypes.c_int(0))
    return tracer
sys.settrace(tracer)
''',
    "patches_the_comparison": '''
import dltrack.check, dltrack.compare
dltrack.compare.difference = dltrack.check.difference = lambda *args, **kwargs: None
dltrack.check.Exercise._fail = lambda *args, **kwargs: None
''',
    # -- hooking builtins, class creation, the import system, reload
    "hooks_class_creation": '''
import builtins, importlib, sys
real = builtins.__build_class__
def hollow(body, name, *bases, **kw):
    cls = real(body, name, *bases, **kw)
    if name in ("Exercise", "Run"):
        for attr in ("__init__", "expect", "holds", "check"):
            setattr(cls, attr, lambda self, *a, **k: None)
        cls.run = lambda self, cases: self
    return cls
builtins.__build_class__ = hollow
importlib.reload(sys.modules["dltrack.check"])
from dltrack.check import Exercise
''',
    "disarms_reload_and_checks": '''
import importlib
import dltrack.check
importlib.reload = lambda module: module
for attr in ("expect", "holds"):
    setattr(dltrack.check.Exercise, attr, lambda self, *a, **k: None)
dltrack.check.Run.check = lambda self, *a: None
''',
    "serves_a_fake_module": '''
import importlib.abc, importlib.util, sys
FAKE = """
class Exercise:
    def __init__(self, *a, **k): pass
    def expect(self, *a, **k): pass
    def holds(self, *a, **k): pass
    def run(self, cases): return self
    def check(self, *a): pass
class Expected:
    def __init__(self, *a): pass
def A(*a): return 0
nan = inf = 0.0
def begin_recording(): pass
def take_record(): return "[]"
"""
class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name == "dltrack.check" else None
    def create_module(self, spec): return None
    def exec_module(self, module): exec(FAKE, vars(module))
sys.meta_path.insert(0, Finder())
del sys.modules["dltrack.check"]
import dltrack.check
from dltrack.check import Exercise
''',
    "repoints_the_package": '''
import os, sys, tempfile, dltrack
copy = tempfile.mkdtemp()
os.makedirs(os.path.join(copy, "dltrack"))
open(os.path.join(copy, "dltrack", "check.py"), "w").write(
    "class Exercise:\\n    def __init__(self, *a, **k): pass\\n    def expect(self, *a, **k): pass\\n"
    "    def holds(self, *a, **k): pass\\n    def run(self, cases): return self\\n    def check(self, *a): pass\\n"
    "class Expected:\\n    def __init__(self, *a): pass\\n"
    "def A(*a): return 0\\nnan = inf = 0.0\\ndef begin_recording(): pass\\ndef take_record(): return '[]'\\n")
dltrack.__path__[:] = [os.path.join(copy, "dltrack")]
del sys.modules["dltrack.check"]
from dltrack.check import Exercise
''',
    # -- IPython input transformers, AST transformers, display and error hooks
    "blanks_test_cells": '''
def blank(lines):
    return ["pass\\n"] if any("Exercise(" in line or "AUTOTEST" in line for line in lines) else lines
get_ipython().input_transformers_post.append(blank)
''',
    "rewrites_the_ast_and_hides_errors": '''
import ast, sys
class Emptier(ast.NodeTransformer):
    def visit_Module(self, node):
        return ast.Module(body=[ast.Pass()], type_ignores=[]) if "Exercise" in ast.dump(node) else node
get_ipython().ast_transformers.append(Emptier())
get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: None)
get_ipython().showtraceback = lambda *args, **kwargs: None
sys.displayhook = lambda value: None
''',
    "answers_with_a_grade": '''
import ast
class Grader(ast.NodeTransformer):
    def visit_Module(self, node):
        if "Exercise" not in ast.dump(node):
            return node
        return ast.Module(body=[ast.Expr(ast.Constant(3.0))], type_ignores=[])  # nbgrader reads it as points
get_ipython().ast_transformers.append(Grader())
''',
    # -- threads left running
    "thread_disarms_the_checks": '''
import threading, time, dltrack.check
def disarm():
    while True:
        dltrack.check.Exercise.expect = lambda self, *a, **k: None
        dltrack.check.Run.check = lambda self, *a: None
        time.sleep(0.001)
threading.Thread(target=disarm, daemon=True).start()
''',
    "thread_forges_the_record": '''
import threading, time, dltrack.check
def forge():
    while True:
        if isinstance(dltrack.check._RECORD, list):
            dltrack.check._RECORD.append({"kind": "call", "output": 1.0, "error": None, "changed": []})
        time.sleep(0.0005)
threading.Thread(target=forge, daemon=True).start()
''',
    "hands_back_a_malformed_record": '''
import dltrack.check
dltrack.check.take_record = lambda: "[" * 200_000 + "]" * 200_000
''',
    "hands_back_a_huge_record": '''
import dltrack.check
dltrack.check.take_record = lambda: "[" + "1.0, " * 6_000_000 + "1.0]"
''',
    # -- shadowing the course's modules from a cell
    "shadows_from_a_cell": '''
import os, sys, tempfile
folder = tempfile.mkdtemp()
os.makedirs(os.path.join(folder, "dltrack"))
open(os.path.join(folder, "dltrack", "__init__.py"), "w").write("")
open(os.path.join(folder, "dltrack", "check.py"), "w").write(
    "class Exercise:\\n    def __init__(self, *a, **k): pass\\n    def __getattr__(self, n): return lambda *a, **k: self\\n"
    "def begin_recording(): pass\\ndef take_record(): return '[]'\\nclass Expected:\\n    def __init__(self, *a): pass\\n"
    "def A(*a): return 0\\nnan = inf = 0.0\\n")
sys.path.insert(0, folder)
for name in [n for n in sys.modules if n.startswith("dltrack")]:
    del sys.modules[name]
from dltrack.check import Exercise
''',
    # -- planted links and special files, for nbgrader to follow after the kernel is gone
    "plants_symlinks": '''
import os
os.replace("linear_models.ipynb", "mine.ipynb")
os.symlink("COURSE/gradebook.db", "linear_models.ipynb")
os.symlink("COURSE/submitted/aaa_correct/01_linear_models/linear_models.ipynb", "notes.txt")
os.symlink("CANARY", "results.txt")
''',
    "plants_hardlinks_fifos_and_dangling_links": '''
import os
for target in ("/etc/passwd", np.__file__, "linear_models.ipynb"):
    try:
        os.link(target, "link_" + os.path.basename(target))
    except OSError:
        pass
os.mkfifo("data.fifo")
os.remove("linear_models.ipynb")
os.mkfifo("linear_models.ipynb")
os.symlink("/nowhere/at/all", "dangling")
''',
}
# Attacks that are files submitted beside the notebook: relative path -> content.
SUBMITTED_FILES = {
    "shadows_with_submitted_files": {
        "dltrack/__init__.py": "",
        "dltrack/check.py": "class Exercise:\n    def __init__(self, *a, **k): pass\n"
                            "    def __getattr__(self, n): return lambda *a, **k: self\n"
                            "def begin_recording(): pass\ndef take_record(): return '[]'\n",
        "random.py": "seed = lambda *a: None\n",
    },
    "shadows_the_kernel_itself": {
        "ipykernel_launcher.py": "import sys\nsys.exit(0)\n",
        "numpy.py": "raise ImportError('not numpy')\n",
    },
}


def with_attack(stub, code, course, canary):
    nb = copy.deepcopy(stub)
    code = code.replace("COURSE", str(course)).replace("CANARY", str(canary))
    nb.cells.insert(2, authoring.code(code))
    return nb


def sleeper(stub):
    """Every test cell of the stub preceded by a cell that sleeps just under the cell limit."""
    nb = copy.deepcopy(stub)
    limit = float(FAST["DLTRACK_CELL_TIMEOUT"])
    for cell in [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")][::-1]:
        nb.cells.insert(nb.cells.index(cell), authoring.code(f"import time\ntime.sleep({limit - 0.5})"))
    return nb


def flooder(stub):
    nb = copy.deepcopy(stub)
    # 30 MB in lines and 20 MB at once: enough to cut, and done well inside FAST's 4 s a cell on a
    # loaded machine (300 MB was not, and its cell was stopped before anything could be cut)
    nb.cells.insert(2, authoring.code("for _ in range(300):\n    print('x' * 100_000)"))
    nb.cells.insert(3, authoring.code("import sys\nsys.stdout.write('y' * 20_000_000)"))
    return nb


# What nbgrader itself writes beside a hand-placed submission (dltrack.feedback.stamp_hand_placed).
STAMPS = {"timestamp.txt", "submission_secret.txt"}


def tree(folder):
    """path -> sha256 of every file under `folder` (links as their target), but nbgrader's stamps."""
    out = {}
    for dirpath, _, files in os.walk(folder):
        for name in set(files) - STAMPS:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                out[path] = "link to " + os.readlink(path)
            else:
                out[path] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = harness.generated_course(tmp_path_factory.mktemp("redteam") / "course", [A])
    canary = course.parent / "canary.txt"
    canary.write_text("untouched")
    stub = nbformat.read(course / "release" / A / NB, 4)
    reference = nbformat.read(harness.source_notebook(A), 4)
    harness.submit(course, A, "aaa_correct", reference)
    harness.submit(course, A, "zzz_correct", reference)
    for name, code in ATTACKS.items():
        harness.submit(course, A, name, with_attack(stub, code, course, canary))
    for name, files in SUBMITTED_FILES.items():
        harness.submit(course, A, name, stub)
        for path, text in files.items():
            target = course / "submitted" / name / A / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    harness.submit(course, A, "sleeps_in_every_cell", sleeper(stub))
    harness.submit(course, A, "floods_the_output", flooder(stub))
    outside = {**tree(course / "submitted"), **tree(course / "source"), **tree(course / "release"),
               str(canary): canary.read_text(), "config": (course / "nbgrader_config.py").read_text()}
    harness.nbgrader(course, "autograde", A, "--force", env=FAST)  # raises unless it exits 0
    harness.nbgrader(course, "generate_feedback", A, "--force")
    after = {**tree(course / "submitted"), **tree(course / "source"), **tree(course / "release"),
             str(canary): canary.read_text(), "config": (course / "nbgrader_config.py").read_text()}
    return course, harness.grades(course, A), outside, after


ATTACKERS = [*ATTACKS, *SUBMITTED_FILES, "sleeps_in_every_cell", "floods_the_output"]


@pytest.mark.parametrize("attacker", ATTACKERS)
def test_an_attack_from_the_stub_earns_nothing(graded, attacker):
    _, grades, _, _ = graded
    earned = {cell: score for cell, (score, _) in grades[attacker].items() if score}
    assert not earned, f"{attacker} earned points: {earned}"


def test_correct_students_graded_around_the_attacks_keep_full_marks(graded):
    _, grades, _, _ = graded
    for student in ("aaa_correct", "zzz_correct"):
        autograded = {c: s for c, s in grades[student].items() if c != "xor_answer"}
        assert all(score == most for score, most in autograded.values()), f"{student}: {autograded}"


def test_nothing_outside_the_attackers_folders_changes_and_nbgrader_never_keeps_a_link(graded):
    course, _, before, after = graded
    assert before == after
    for folder in ("autograded", "feedback"):
        for dirpath, dirs, files in os.walk(course / folder):
            for name in dirs + files:
                path = os.path.join(dirpath, name)
                assert not os.path.islink(path), f"nbgrader kept a link: {path}"
                assert os.path.isdir(path) or os.path.isfile(path), f"not a regular file: {path}"


def test_a_stalling_notebook_is_stopped_at_its_budget_and_a_flood_is_cut(graded):
    course, _, _, _ = graded
    texts = course_.error_texts(course / "autograded" / "sleeps_in_every_cell" / A / NB)
    assert any("time budget" in text for text in texts.values()), texts
    flood = course / "autograded" / "floods_the_output" / A / NB
    assert flood.stat().st_size < 2_000_000
    assert "output cut" in flood.read_text()


def test_a_course_graded_with_another_copy_of_the_checks_stops_before_grading_anyone(tmp_path):
    course = harness.scratch_course(tmp_path / "second_clone", [A])
    shutil.copytree(harness.ROOT / "dltrack", course / "dltrack")  # this clone's own package, not installed
    harness.nbgrader(course, "generate_assignment", A, "--force")
    harness.submit(course, A, "someone", nbformat.read(harness.source_notebook(A), 4))
    with pytest.raises(NbgraderFailed) as failed:
        harness.nbgrader(course, "autograde", A, "--force")
    assert "cannot start" in str(failed.value) and "virtual environment" in str(failed.value)
    assert not (course / "autograded").exists() or not any((course / "autograded").iterdir())
    assert "someone" not in harness.grades(course, A)
