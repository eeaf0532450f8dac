"""requirements.txt is one lock for every Python a student may arrive with, and CI installs it twice."""
import re
import subprocess
from pathlib import Path

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
    assert "-m venv .venv-second" in ci and 'echo "second interpreter: $second' in ci
    assert '"$UV" pip install --quiet --python .venv-second/bin/python -r requirements.txt' in ci
    assert '-m "not slow and not browser" tests/test_check.py' in ci
    assert 'wait "$SECOND" || second_status=$?' in ci and "|| second_status=$?\nfi\n" in ci \
        and '[ "$status" -eq 0 ] && [ "$second_status" -eq 0 ]\n' in ci  # its failure fails CI


def second_python(home):
    """What .ci/run's second_python picks with `home` as HOME and only /usr/bin and /bin on PATH."""
    ci = (harness.ROOT / ".ci" / "run").read_text()
    function = ci[ci.index("second_python() {"):ci.index("\n}\n", ci.index("second_python() {")) + 3]
    done = subprocess.run(["bash", "-c", function + "second_python"], capture_output=True, text=True,
                          env={"HOME": str(home), "PATH": "/usr/bin:/bin"}, timeout=60, check=True)
    return done.stdout.strip()


def fake_python(home, version):
    path = home / ".pyenv" / "versions" / version / "bin" / f"python{version.rsplit('.', 1)[0]}"
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return str(path)


def test_ci_second_python_is_the_newest_of_313_and_312_before_debians_311(tmp_path):
    debian = subprocess.run(["/usr/bin/python3.11", "-c", "import ensurepip, venv"], capture_output=True) \
        if Path("/usr/bin/python3.11").exists() else None
    if not debian or debian.returncode:
        pytest.skip("no Debian Python 3.11 with venv to fall back on (CI would install it)")
    assert second_python(tmp_path) == "/usr/bin/python3.11"
    py312 = fake_python(tmp_path, "3.12.1")
    assert second_python(tmp_path) == py312
    py313 = fake_python(tmp_path, "3.13.0")
    assert second_python(tmp_path) == py313
