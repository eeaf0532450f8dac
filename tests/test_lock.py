"""requirements.txt is one lock for every Python a student may arrive with, and CI installs it twice."""
import re

import pytest
from packaging.markers import Marker

import harness

PYTHONS = ["3.11.0", "3.11.2", "3.11.9", "3.12.1", "3.13.0"]
LINE = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+?)\s*(?:;\s*([^#]+?))?\s*(?:#.*)?$")


def pins():
    for line in (harness.ROOT / "requirements.txt").read_text().splitlines():
        match = LINE.match(line.strip())
        if match:
            yield match.group(1).lower(), match.group(2), match.group(3)


@pytest.mark.parametrize("python", PYTHONS)
def test_every_package_has_exactly_one_pin_for_each_python(python):
    env = {"python_full_version": python, "python_version": ".".join(python.split(".")[:2]),
           "sys_platform": "linux", "os_name": "posix", "platform_system": "Linux",
           "implementation_name": "cpython", "platform_machine": "x86_64"}
    chosen = {}
    for name, version, marker in pins():
        if marker is None or Marker(marker).evaluate(env):
            assert name not in chosen, f"{name} pinned twice for Python {python}"
            chosen[name] = version
    assert {"nbgrader", "jupyterlab", "numpy", "soupsieve", "latex2mathml"} <= set(chosen)


def test_the_lock_forks_where_debian_python_needs_it():
    soupsieve = {marker: version for name, version, marker in pins() if name == "soupsieve"}
    assert len(soupsieve) == 2 and all(soupsieve), soupsieve  # an older one for 3.11 before 3.11.5


def test_ci_installs_the_lock_on_a_second_python_and_runs_the_quick_tests():
    ci = (harness.ROOT / ".ci" / "run").read_text()
    assert "/usr/bin/python3.11" in ci and "-m venv .venv-second" in ci
    assert ".venv-second/bin/python -m pip install --quiet -r requirements.txt" in ci
    assert '-m "not slow and not browser" tests/test_check.py' in ci
