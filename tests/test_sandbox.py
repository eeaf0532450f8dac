"""The sandbox of the autograding kernels on its own (dltrack.sandbox), without nbgrader.

tests/test_hostile.py shows the same limits from inside a real `nbgrader autograde`.
"""
import os
import subprocess
import sys
import textwrap

import pytest

from dltrack import sandbox

pytestmark = pytest.mark.skipif(not sandbox.available(), reason="bubblewrap is not installed")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROBE = """
import os, socket, subprocess, threading
import numpy as np

def attempt(what, action):
    try:
        action()
        print(f"{what}: ALLOWED")
    except Exception as exc:
        print(f"{what}: refused ({type(exc).__name__}: {exc})")
"""


def probe(tmp_path, code, **limits):
    """Run PROBE + code with Python in the sandbox, in a student's folder of a course at tmp_path."""
    (tmp_path / "source").mkdir()
    (tmp_path / "source" / "secret.txt").write_text("the reference")
    workdir = tmp_path / "autograded" / "student" / "assignment"
    workdir.mkdir(parents=True)
    private = tmp_path / "private"
    private.mkdir()
    argv, fd = sandbox.command([sys.executable, "-c", PROBE + textwrap.dedent(code)], workdir, private, **limits)
    try:
        done = subprocess.run(argv, pass_fds=[fd], capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, DLTRACK_TEST_SECRET="hunter2"))
    finally:
        os.close(fd)
    assert done.returncode == 0, done.stderr
    return dict(line.split(": ", 1) for line in done.stdout.splitlines())


def test_the_kernel_sees_python_and_its_own_folder_and_nothing_else(tmp_path):
    said = probe(tmp_path, f"""
        import dltrack.check
        attempt("read the course (relative)", lambda: open("../../../source/secret.txt").read())
        attempt("read the course (absolute)", lambda: open("{tmp_path}/source/secret.txt").read())
        attempt("read the repository", lambda: os.listdir("{ROOT}/source"))
        attempt("read the system's passwords", lambda: open("/etc/shadow").read())
        attempt("write into Python", lambda: open("{sys.prefix}/hacked", "w"))
        attempt("write into the course package", lambda: open(os.path.dirname(dltrack.check.__file__) + "/x", "w"))
        attempt("write /usr", lambda: open("/usr/hacked", "w"))
        attempt("write in its own folder", lambda: open("mine.txt", "w").write("mine"))
        attempt("write /tmp", lambda: open("/tmp/mine.txt", "w").write("mine"))
    """)
    assert said.pop("write in its own folder") == "ALLOWED" and said.pop("write /tmp") == "ALLOWED"
    assert all(v.startswith("refused") for v in said.values()), said
    assert (tmp_path / "autograded" / "student" / "assignment" / "mine.txt").exists()


def test_the_kernel_has_no_network_no_processes_and_a_clean_environment(tmp_path):
    said = probe(tmp_path, """
        attempt("connect out", lambda: socket.create_connection(("1.1.1.1", 53), timeout=3))
        attempt("resolve a name", lambda: socket.getaddrinfo("pypi.org", 443))
        attempt("fork", lambda: os.fork() or os._exit(0))
        attempt("start a process", lambda: subprocess.run(["true"]))
        attempt("read a secret from the environment", lambda: os.environ["DLTRACK_TEST_SECRET"])
        t = threading.Thread(target=print, args=("a thread: ALLOWED",))
        t.start(); t.join()
        print("hash seed:", os.environ.get("PYTHONHASHSEED"))
    """)
    assert said.pop("a thread") == "ALLOWED" and said.pop("hash seed") == "0"
    assert all(v.startswith("refused") for v in said.values()), said
    assert "Operation not permitted" in said["fork"]


def test_memory_file_size_and_tmp_are_limited(tmp_path):
    said = probe(tmp_path, """
        attempt("allocate 2 GB", lambda: np.ones(2**28))
        attempt("allocate 100 MB", lambda: np.ones(2**24))
        attempt("write a 5 MB file", lambda: open("big", "wb").write(b"x" * 5 * 2**20))
        attempt("fill /tmp with 3 MB", lambda: open("/tmp/big", "wb").write(b"x" * 3 * 2**20))
    """, memory=sandbox.GiB, file_size=4 * 2**20, tmp_size=2 * 2**20)
    assert said["allocate 2 GB"].startswith("refused (MemoryError")
    assert said["allocate 100 MB"] == "ALLOWED"
    assert "File too large" in said["write a 5 MB file"]
    assert "No space left" in said["fill /tmp with 3 MB"]


def test_the_seccomp_filter_knows_this_machine():
    assert sandbox.seccomp_filter(), "no filter for this machine: processes would not be refused"
