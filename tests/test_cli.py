"""The commands a newcomer types: dltrack start, dltrack grade."""
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

import harness
from dltrack.cli import fill_workspace

A = "01_linear_models"


def course_copy(where):
    course = harness.scratch_course(where, [A])
    shutil.copytree(harness.ROOT / "release" / A, course / "release" / A)
    return course


def test_start_copies_the_release_and_never_overwrites(tmp_path):
    course = course_copy(tmp_path)
    copied = fill_workspace(course)
    mine = course / "notebooks" / A / "linear_models.ipynb"
    assert copied == [mine]
    mine.write_text("my own work")
    assert fill_workspace(course) == [] and mine.read_text() == "my own work"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_start_opens_jupyterlab_without_a_browser(tmp_path):
    course, port = course_copy(tmp_path), free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "dltrack.cli", "start", "--no-browser", f"--port={port}",
         "--ServerApp.token=t0ken", "--ServerApp.ip=127.0.0.1"],
        cwd=course, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/api/contents/{A}?token=t0ken"
        for _ in range(120):
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:
                    listing = reply.read().decode()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer within 60 s")
        assert "linear_models.ipynb" in listing
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_grade_prints_points_reasons_and_feedback_and_leaves_the_notebook_alone(tmp_path):
    course = course_copy(tmp_path)
    fill_workspace(course)
    mine = course / "notebooks" / A / "linear_models.ipynb"
    mistake = next(m for m in harness.catalog.load(A) if m["id"] == "run_bias_ignored")
    nbformat.write(harness.substitute(nbformat.read(harness.source_notebook(A), 4), "perceptron", mistake["code"]), mine)
    before = mine.read_bytes()
    done = subprocess.run([sys.executable, "-m", "dltrack.cli", "grade", A], cwd=course,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "decision_values                 2 / 2" in out
    assert "perceptron_run_single           0 / 2" in out and "Perceptron.run gave a wrong answer" in out
    # The whole reason, wrapped and indented under its exercise, with the line naming the mistake.
    reason = out.split("perceptron_run_single")[1].split("perceptron_run_batch")[0]
    said = " ".join(line.strip() for line in reason.splitlines())
    assert "This looks like a known mistake: run leaves out the bias" in said, out
    assert 'Reread "The perceptron".' in said, out
    assert all(len(line) <= 100 and (not line.strip() or line.startswith("      "))
               for line in reason.splitlines()[1:]), reason
    assert "xor_answer                      - / 2  graded by hand" in out
    assert "total                           9 / 13  (and 2 graded by hand)" in out
    feedback = out.split("feedback: ")[-1].strip()
    assert feedback.endswith("linear_models.html") and (course / feedback).exists()
    assert mine.read_bytes() == before
    # Graded again with nothing changed: the same report, nothing regenerated.
    scratch = course / ".grading" / A
    db = (scratch / "gradebook.db").stat().st_mtime_ns
    again = subprocess.run([sys.executable, "-m", "dltrack.cli", "grade", A], cwd=course,
                           capture_output=True, text=True, timeout=600)
    assert again.stdout == out and (scratch / "gradebook.db").stat().st_mtime_ns == db


def test_a_new_gradebook_is_stamped_with_the_revision_alembic_heads_prints():
    """nbgrader starts `alembic heads` for the revision of each new gradebook; with this course's
    nbgrader_config.py it is read in nbgrader's own process (dltrack.nbplugins): the same revision."""
    from nbgrader.api import _temp_alembic_ini

    from dltrack.nbplugins import alembic_head

    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        printed = subprocess.run([str(Path(sys.executable).parent / "alembic"), "-c", ini, "heads"],
                                 capture_output=True, text=True, check=True).stdout
    assert printed.split()[0] == alembic_head()


def help_of(*args, cwd):
    done = subprocess.run([sys.executable, "-m", "dltrack.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_help_names_the_lab_options_the_sections_and_the_version(tmp_path):
    course, elsewhere = course_copy(tmp_path / "course"), tmp_path / "elsewhere"
    elsewhere.mkdir()
    start = help_of("start", "--help", cwd=course)
    assert "--no-browser" in start and "--port=" in start and "JupyterLab" in start
    assert A in help_of("grade", "--help", cwd=course)
    assert help_of("--version", cwd=course).startswith("dltrack ")
    assert "inside the course folder" in help_of("grade", "--help", cwd=elsewhere)
