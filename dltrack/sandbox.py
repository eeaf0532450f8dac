"""A sandbox for the kernels that run student code: bubblewrap, resource limits, no new processes.

`command(cmd, workdir, private)` wraps a kernel's command line so that the kernel
  - sees the Python installation and the course package read-only, and nothing else
    of the file system but its own `workdir` (read-write), a `private` folder for its
    connection file and sockets, and an empty /tmp and home;
  - has no network (its own network namespace: talk to it over `ipc`, not `tcp`),
    sees no other process, runs without capabilities and dies with its parent;
  - gets a clean environment;
  - cannot start processes (a seccomp filter refuses fork, vfork and clone without
    CLONE_THREAD; threads still work), so its address-space limit bounds its memory.

Linux only; `available()` says whether bubblewrap (Debian's `bubblewrap`) is installed.
    python -m dltrack.sandbox CMD ...     runs CMD in the sandbox, in the current folder
"""
import os
import platform
import shutil
import struct
import sys
from pathlib import Path

import dltrack

GiB, MiB = 2**30, 2**20

# What the kernel keeps of the environment.
KEEP_ENV = ("LANG", "LC_ALL", "TZ", "NBGRADER_EXECUTION", "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "MPLBACKEND")
# The few files of /etc that Python and its libraries read.
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group",
       "nsswitch.conf", "fonts", "mime.types")


def available():
    return sys.platform.startswith("linux") and all(shutil.which(c) for c in ("bwrap", "prlimit"))


def command(cmd, workdir, private, memory=2 * GiB, file_size=256 * MiB, tmp_size=256 * MiB, env=None):
    """(argv, fd): `cmd` run in the sandbox; pass the seccomp filter's `fd` to the child (pass_fds).

    `env` adds variables to the kernel's clean environment.
    """
    workdir, private = os.path.realpath(workdir), os.path.realpath(private)
    args = ["prlimit", f"--as={memory}", f"--fsize={file_size}", "--core=0", "--",
            "bwrap", "--unshare-all", "--cap-drop", "ALL", "--die-with-parent",
            "--dev", "/dev", "--proc", "/proc",
            "--size", str(tmp_size), "--perms", "1777", "--tmpfs", "/tmp", "--dir", "/tmp/home",
            "--ro-bind", "/usr", "/usr"]
    args += system_binds()
    for name in ETC:
        if os.path.exists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    for path in _python_paths(workdir):
        args += ["--ro-bind", path, path]
    args += ["--bind", workdir, workdir, "--bind", private, private, "--chdir", workdir,
             "--clearenv", "--setenv", "HOME", "/tmp/home", "--setenv", "TMPDIR", "/tmp",
             "--setenv", "PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin",
             "--setenv", "PYTHONHASHSEED", "0", "--setenv", "PYTHONSAFEPATH", "1"]
    for name in KEEP_ENV:
        if name in os.environ:
            args += ["--setenv", name, os.environ[name]]
    for name, value in (env or {}).items():
        args += ["--setenv", name, value]
    fd = None
    program = seccomp_filter()
    if program:
        read, write = os.pipe()
        os.write(write, program)
        os.close(write)
        fd = read
        args += ["--seccomp", str(fd)]
    return args + ["--", *cmd], fd


def system_binds():
    """bwrap arguments showing /bin, /lib and their kin read-only, as links where they are links."""
    args = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/", name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


# Course folders no kernel may see besides the working folder's: a grading worker adds the
# instructor's course here, since it grades in a scratch copy (dltrack.parallel).
HIDDEN = []


def _python_paths(workdir):
    """The folders Python imports from, the course package's own folder, never the course."""
    course = Path.cwd().resolve()
    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    package = Path(dltrack.__file__).resolve().parent
    candidates = [*prefixes, *sys.path, package]
    found = []
    for path in candidates:
        if not path or not os.path.isdir(path):
            continue
        path = Path(path).resolve()
        hidden = (course, Path(workdir), *(Path(h).resolve() for h in HIDDEN))
        if any(h == path or h.is_relative_to(path) for h in hidden):
            continue  # a folder holding the course or the submission is never shown whole
        if path != package and _in_course(path) and not any(path.is_relative_to(p) for p in prefixes):
            continue  # a folder of a course on the import path (its tests/, say), not its Python
        if not any(path.is_relative_to(f) for f in found):
            found = [f for f in found if not f.is_relative_to(path)] + [path]
    return [str(f) for f in found]


# seccomp: refuse new processes. A classic BPF program over struct seccomp_data
# (nr at offset 0, arch at 4, the low half of the first argument at 16).
ARCHES = {  # machine: (AUDIT_ARCH, clone, clone3, fork/vfork numbers)
    "x86_64": (0xC000003E, 56, 435, (57, 58)),
    "aarch64": (0xC00000B7, 220, 435, ()),
}
CLONE_THREAD, EPERM, ENOSYS = 0x10000, 1, 38
ALLOW, ERRNO, KILL = 0x7FFF0000, 0x00050000, 0x80000000
LD, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06


def _in_course(path):
    """Whether `path` is a course folder or inside one (a folder with nbgrader_config.py and source/)."""
    return any((p / "nbgrader_config.py").exists() and (p / "source").is_dir() for p in (path, *path.parents))


def seccomp_filter():
    """The filter as bytes for bwrap --seccomp, or None on an unknown machine."""
    if platform.machine() not in ARCHES:
        return None
    arch, clone, clone3, forks = ARCHES[platform.machine()]
    # Each row: (code, jump if true, jump if false, k); jumps count the rows skipped.
    rows = [(LD, 0, 0, 4), (JEQ, 1, 0, arch), (RET, 0, 0, KILL),
            (LD, 0, 0, 0),
            (JGE, 0, 1, 0x40000000), (RET, 0, 0, ERRNO | ENOSYS),  # x32 system calls
            (JEQ, 0, 1, clone3), (RET, 0, 0, ERRNO | ENOSYS),      # glibc falls back to clone
            *[row for nr in forks for row in ((JEQ, 0, 1, nr), (RET, 0, 0, ERRNO | EPERM))],
            (JEQ, 0, 3, clone), (LD, 0, 0, 16),
            (JSET, 1, 0, CLONE_THREAD), (RET, 0, 0, ERRNO | EPERM),
            (RET, 0, 0, ALLOW)]
    return b"".join(struct.pack("HBBI", *row) for row in rows)


if __name__ == "__main__":
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as private:
        argv, fd = command(sys.argv[1:], os.getcwd(), private)
        sys.exit(subprocess.run(argv, pass_fds=[fd] if fd else []).returncode)
