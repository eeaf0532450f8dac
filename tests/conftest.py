"""Tests that take `assignment` run once per section."""
import harness


def pytest_generate_tests(metafunc):
    if "assignment" in metafunc.fixturenames:
        metafunc.parametrize("assignment", harness.assignments())
