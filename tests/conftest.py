"""How the suite is spread over pytest-xdist's workers: the longest work first, on four workers.

The tests wait as well as compute (kernels starting, cells sleeping or looping until their
timeout, servers and browsers starting): on two cores, two workers did not keep both busy, and
four keep them at about 94%, so `pyproject.toml` asks for four. A work unit is a test module
(its tests share the course their fixture graded once), or one section of tests/test_sections.py,
or a group named in APART; the units go out longest first (COST), so no long one is left alone
at the end.
"""
import os
import shutil
import tempfile

import harness

# Seconds each unit took on four workers on two cores (a run of 2026-12-02, after the cuts of that
# day): only their order matters. A unit not listed counts as short. The hostile tests mostly wait
# (timeouts), so they start early, beside the work that computes.
COST = {
    "test_every_variant_of_the_section[08_convolutional_networks]": 589,
    "test_every_variant_of_the_section[07_digits_capstone]": 361,
    "tests/test_hostile.py": 267,
    "test_every_variant_of_the_section[06_backpropagation]": 249,
    "tests/test_redteam.py": 191,
    "tests/test_browser.py": 190,
    "test_the_section_grades_as_it_should[08_convolutional_networks]": 187,
    "test_the_section_grades_as_it_should[07_digits_capstone]": 145,
    "test_the_section_grades_as_it_should[06_backpropagation]": 129,
    "tests/test_hostile.py::integrity": 126,
    "tests/test_hub.py": 122,
    "tests/test_report.py": 110,
    "tests/test_offline_pages.py": 105,
    "tests/test_parallel.py": 88,
    "tests/test_class.py": 71,
    "tests/test_cli.py": 57,
    "tests/test_instructor.py": 55,
    "tests/test_sections.py": 50,  # every other section test
    "tests/test_release_runs.py": 24,
}
LONG = ("test_every_variant_of_the_section", "test_the_section_grades")
# Tests of a module that share a fixture of their own, so they can run on another worker.
APART = {"tests/test_hostile.py": ("integrity", ("test_a_killed_autograde", "test_an_interrupted_autograde"))}


def unit(nodeid):
    """The work unit of a test: its module, its section test, or a group of APART."""
    module, _, name = nodeid.partition("::")
    if module == "tests/test_sections.py":
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
