"""How the suite is spread over pytest-xdist's workers: the longest work first, on three workers.

The tests wait as well as compute (kernels starting, cells sleeping or looping until their
timeout, servers and browsers starting). On two cores (one run each, 2026-12-03): two workers
took 709 s, the cores idle 173 s; four 722 s, idle 9 s, but slowing each other down they used
1440 s of CPU; three 643 s, idle 36 s, 1253 s of CPU. So `pyproject.toml` asks for three. A work
unit is a test module (its tests share the course their fixture graded once), or one section of
tests/test_sections.py, or a group named in APART; the units go out longest first (COST), so no
long one is left alone at the end.
"""
import os
import shutil
import tempfile

import harness

# Seconds each unit took alone (a serial run on two cores, 2026-12-03): only their order matters.
# A unit not listed counts as short.
COST = {
    "test_the_section_grades_as_it_should[08_convolutional_networks]": 154,
    "tests/test_browser.py": 150,
    "tests/test_hostile.py": 140,
    "test_the_section_grades_as_it_should[07_digits_capstone]": 127,
    "tests/test_redteam.py": 104,
    "tests/test_offline_pages.py": 91,
    "test_the_section_grades_as_it_should[06_backpropagation]": 84,
    "tests/test_report.py": 71,
    "tests/test_hostile.py::integrity": 68,
    "tests/test_hub.py": 62,
    "tests/test_class.py": 44,
    "tests/test_parallel.py": 38,
    "tests/test_sections.py": 35,  # every other section's grading
    "tests/test_instructor.py": 22,
    "tests/test_release_runs.py": 17,
    "tests/test_cli.py::test_grade_prints_points_reasons_and_feedback_and_leaves_the_notebook_alone": 10,
}
LONG = ("test_the_section_grades",)
# Tests of a module that share a fixture of their own, so they can run on another worker.
APART = {"tests/test_hostile.py": ("integrity", ("test_a_killed_autograde",))}
# Modules whose tests share no fixture: each test is a unit (the quick part of .ci/run, on two
# workers, so runs its longest test beside the others).
EACH = {"tests/test_cli.py"}


def unit(nodeid):
    """The work unit of a test: its module, a group of APART, or the test itself (test_sections, EACH)."""
    module, _, name = nodeid.partition("::")
    if module == "tests/test_sections.py" or module in EACH:
        return nodeid
    group, prefixes = APART.get(module, (None, ()))
    return f"{module}::{group}" if name.startswith(prefixes) else module


def cost(nodeid):
    scope = unit(nodeid)
    if scope.startswith("tests/test_sections.py::"):
        name = scope.split("::", 1)[1]
        return COST.get(name, COST["tests/test_sections.py"] if name.startswith(LONG) else 0)
    return COST.get(scope, 0)


def pytest_configure(config):
    """The folder of the generated courses (harness.generated_course), made by the first process
    (the controller, before pytest-xdist starts its workers, which inherit its environment)."""
    if harness.GENERATED not in os.environ:
        os.environ[harness.GENERATED] = config._dltrack_generated = tempfile.mkdtemp(prefix="dltrack-generated-")


def pytest_unconfigure(config):
    if getattr(config, "_dltrack_generated", None):
        shutil.rmtree(config._dltrack_generated, ignore_errors=True)
        del os.environ[harness.GENERATED]


def pytest_generate_tests(metafunc):
    if "assignment" in metafunc.fixturenames:
        metafunc.parametrize("assignment", harness.assignments())


def pytest_collection_modifyitems(items):
    """The longest units first (with --no-loadscope-reorder, xdist hands them out in this order)."""
    items.sort(key=lambda item: (-cost(item.nodeid), unit(item.nodeid)))


def pytest_xdist_make_scheduler(config, log):
    """Each unit on one worker, the units in the order of the collection.

    (xdist_group marks with --dist loadgroup did not keep a group on one worker here.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class ByUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return unit(nodeid)

    return ByUnit(config, log)
