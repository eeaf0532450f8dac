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

# Seconds each unit took on four workers on two cores (a run of 2026-12-02): only their order
# matters. A unit not listed counts as short.
COST = {
    "test_every_variant_of_the_section[08_convolutional_networks]": 545,
    "test_every_variant_of_the_section[07_digits_capstone]": 356,
    "test_every_variant_of_the_section[06_backpropagation]": 264,
    "tests/test_browser.py": 261,
    "tests/test_hostile.py": 218,
    "test_the_section_grades_as_it_should[07_digits_capstone]": 171,
    "tests/test_redteam.py": 169,
    "test_the_section_grades_as_it_should[08_convolutional_networks]": 138,
    "tests/test_hub.py": 129,
    "tests/test_report.py": 116,
    "tests/test_offline_pages.py": 108,
    "tests/test_hostile.py::integrity": 103,
    "tests/test_parallel.py": 78,
    "tests/test_class.py": 77,
    "test_the_section_grades_as_it_should[06_backpropagation]": 66,
    "tests/test_instructor.py": 55,
    "tests/test_sections.py": 40,  # every other section test
    "tests/test_release_runs.py": 32,
    "tests/test_cli.py": 27,
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
