"""Shared fixtures: each section is built and graded once, on its own scratch copy of the course."""
import subprocess
import sys

import pytest

import harness


def pytest_generate_tests(metafunc):
    """Tests that take `assignment` run once per section, each section kept on one xdist worker."""
    if "assignment" in metafunc.fixturenames:
        metafunc.parametrize("assignment", [
            pytest.param(a, marks=pytest.mark.xdist_group(a)) for a in harness.assignments()])


_graded = {}


@pytest.fixture
def graded(assignment, tmp_path_factory):
    """A scratch course where `dltrack build` made the section and every variant was autograded.

    Returns (course folder, {student: (notebook, catalog or answer entry)}, {student: {cell: (score, max)}}).
    """
    if assignment not in _graded:
        course = harness.scratch_course(tmp_path_factory.mktemp(assignment), [assignment])
        subprocess.run([sys.executable, "-m", "dltrack.cli", "build", assignment],
                       cwd=course, check=True, capture_output=True, text=True)
        found, scores = harness.grade_variants(course, assignment, generate=False)
        _graded[assignment] = (course, found, scores)
    return _graded[assignment]
