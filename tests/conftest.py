"""Tests that take `assignment` run once per section, the largest sections first.

Largest first (by the number of graded variants) keeps pytest-xdist's two workers
busy to the end instead of leaving one long section alone at the tail.
"""
import harness


def _variants(assignment):
    correct, wrong = harness.answers(assignment)
    return len(harness.catalog.load(assignment)) + len(correct) + len(wrong)


def pytest_generate_tests(metafunc):
    if "assignment" in metafunc.fixturenames:
        metafunc.parametrize("assignment", sorted(harness.assignments(), key=_variants, reverse=True))


def pytest_collection_modifyitems(items):
    """The long section gradings first, so the short tests fill the gaps at the end."""
    long = ("test_every_variant_of_the_section", "test_the_section_grades")
    items.sort(key=lambda item: 0 if item.name.startswith(long) else 1)


def pytest_xdist_make_scheduler(config, log):
    """Each module's tests on one worker, since they share the course its fixture graded once; but
    every section of test_sections apart, so the two workers share the long gradings.

    (xdist_group marks with --dist loadgroup did not keep a group on one worker here.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return nodeid if nodeid.startswith("tests/test_sections.py") else nodeid.split("::", 1)[0]

    return ByModule(config, log)
