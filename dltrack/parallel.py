"""Autograde a class in parallel: every core of this machine, or a Dask cluster of many.

    dltrack autograde ASSIGNMENT... [--workers N | --scheduler ADDRESS] [--force]

One code path for both. Without --scheduler a `distributed.LocalCluster` of N worker
processes (one thread each) runs on this machine; with it, the tasks go to the Dask
scheduler at ADDRESS, whose workers have this course's package installed (and bubblewrap).

The parent (this process) is the only writer to the course:

1. It decides who to grade as `nbgrader autograde` does (a student already autograded is
   skipped unless --force or the submission is newer), runs the course's pre_convert_hook
   on each submission (the environment check, a misnamed notebook, a hand-placed stamp), and
   creates the students in the gradebook in nbgrader's order.
2. A worker grades one student a task with nbgrader's own Autograde converter, in a scratch
   copy of the course with a gradebook holding the assignments but no submissions: each
   notebook in its own sandboxed kernel and throwaway folder (dltrack.nbplugins.JudgedExecute).
   It sends back the autograded notebooks and the judge's diagnoses as text.
3. As each student comes back, the parent runs nbgrader's Autograde converter for that
   student on the real course, with the kernel's work replaced by the worker's notebook
   (`Replay`): nbgrader itself then writes the gradebook rows (SaveAutoGrades,
   AssignLatePenalties, a missing notebook scored zero), the autograded folder and its files,
   exactly as serial grading does.
"""
import contextlib
import functools
import glob
import hashlib
import io
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

from . import course as course_

# The tables of a gradebook that hold students' work; a worker's seed gradebook has none of it.
SUBMISSION_TABLES = ("grade", "comment", "submitted_notebook", "submitted_assignment", "student")


class GradingFailed(RuntimeError):
    """A worker could not grade a student; the message holds nbgrader's log."""


# ---------------------------------------------------------------- what a worker needs

@functools.cache
def course_digest():
    """A hash of the grading code: this package's files and nbgrader's version."""
    import nbgrader

    package = Path(__file__).resolve().parent
    h = hashlib.sha256(nbgrader.__version__.encode())
    for path in sorted([*package.glob("*.py"), *package.glob("catalogs/*.yml")]):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def bundle(root, assignments):
    """What a worker needs of the course, as bytes: its configuration, sources, releases, gradebook.

    The gradebook is a copy without submissions or students (each worker grades into its own).
    """
    root = Path(root)
    files = {name: (root / name).read_bytes() for name in course_.CONFIG_FILES}
    for folder in ("source", "release"):
        for a in assignments:
            for path in sorted((root / folder / a).rglob("*")):
                if path.is_file() and ".ipynb_checkpoints" not in path.parts:
                    files[str(path.relative_to(root))] = path.read_bytes()
    files["gradebook.db"] = seed_gradebook(root / "gradebook.db")
    key = hashlib.sha256(b"".join(k.encode() + v for k, v in sorted(files.items()))).hexdigest()
    return {"key": key, "root": str(root), "files": files, "digest": course_digest()}


def seed_gradebook(path):
    """The bytes of a copy of the gradebook at `path` with every submission and student removed."""
    with tempfile.TemporaryDirectory() as where:
        copy = Path(where) / "gradebook.db"
        with sqlite3.connect(path) as src, sqlite3.connect(copy) as dest:
            src.backup(dest)
            for table in SUBMISSION_TABLES:
                dest.execute(f"DELETE FROM {table}")
            dest.commit()
        with sqlite3.connect(copy) as db:
            db.execute("VACUUM")
        return copy.read_bytes()


def submission_files(folder):
    """relative path -> (bytes, mtime) of the regular files of a submitted folder; never a link."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    out[os.path.relpath(path, folder)] = (f.read(), os.stat(path).st_mtime)
    return out


# ---------------------------------------------------------------- the worker's side

_LOCK = threading.Lock()  # nbgrader changes the working folder: one grading a process at a time


def grade_student(payload, assignment, student, files):
    """A Dask task: autograde one student in this worker's scratch copy of the course.

    Returns {"student", "assignment", "notebooks": {name: text}, "diagnosis": text or None,
    "success", "log", "seconds", "cpu"}; or {"cannot_start": why} when this worker cannot grade
    at all (another version of the course, no bubblewrap, kernels that cannot import the checks).
    """
    with _LOCK:
        why = _cannot_start(payload)
        if why:
            return {"cannot_start": why}
        scratch = _scratch(payload)
        began, cpu = time.perf_counter(), _cpu()
        _place(scratch, assignment, student, files)
        result = _run_autograde(scratch, assignment, student)
        out = _collect(scratch, assignment, student)
        out.update(student=student, assignment=assignment, success=result["success"],
                   log=result.get("log", "") + result.get("error", ""),
                   seconds=time.perf_counter() - began, cpu=_cpu() - cpu)
        for folder in ("submitted", "autograded"):
            shutil.rmtree(scratch / folder / student, ignore_errors=True)
        return out


def _cpu():
    """CPU seconds of this process and of its finished children (the kernels)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _cannot_start(payload):
    """Why this worker cannot grade for the course in `payload`, or None."""
    from . import nbplugins, sandbox

    if payload["digest"] != course_digest():
        return (f"the worker {os.uname().nodename} has another version of the course's package or of "
                f"nbgrader than the instructor's ({Path(__file__).parent}); install the same one")
    if payload.get("sandbox") and not sandbox.available():
        return f"the worker {os.uname().nodename} has no bubblewrap (apt-get install bubblewrap)"
    scratch = _scratch(payload)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            nbplugins.check_environment(str(scratch))
    except SystemExit:
        return f"on the worker {os.uname().nodename}: {err.getvalue().strip()}"
    return None


@functools.cache
def _scratch_cached(key, root):
    return Path(tempfile.mkdtemp(prefix="dltrack-worker-"))


def _scratch(payload):
    """This process's scratch copy of the course in `payload`, made once."""
    from . import sandbox

    scratch = _scratch_cached(payload["key"], payload["root"])
    if not (scratch / "nbgrader_config.py").exists():
        for name, data in payload["files"].items():
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            (scratch / name).write_bytes(data)
    if payload["root"] not in sandbox.HIDDEN:
        sandbox.HIDDEN.append(payload["root"])  # the instructor's course, if this machine has it
    return scratch


def _place(scratch, assignment, student, files):
    """Put the student's submitted files in the scratch course, with their times."""
    folder = scratch / "submitted" / student / assignment
    for stale in ("submitted", "autograded"):
        shutil.rmtree(scratch / stale / student, ignore_errors=True)
    (scratch / "diagnoses" / assignment / f"{student}.json").unlink(missing_ok=True)
    for rel, (data, mtime) in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))


@functools.cache
def _api(scratch):
    """nbgrader's API with the configuration of the course at `scratch`."""
    return _load_api(Path(scratch))


def _load_api(root, **overrides):
    """NbGraderAPI with the nbgrader_config.py of `root`, as the command line reads it."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.apps.nbgraderapp import NbGraderApp

    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    here = Path.cwd()
    os.chdir(root)
    try:
        app = NbGraderApp()
        app.initialize([])
    finally:
        os.chdir(here)
    config = app.config
    for section, values in overrides.items():
        for name, value in values.items():
            setattr(config[section], name, value)
    return NbGraderAPI(config=config)


def _run_autograde(scratch, assignment, student):
    """nbgrader's autograde of one student in `scratch`; what the kernels print goes to a log."""
    log = scratch / "worker.log"
    with open(log, "a") as f, _fds_to(f):
        return _api(scratch).autograde(assignment, student, force=True)


@contextlib.contextmanager
def _fds_to(f):
    """Send this process's stdout and stderr (file descriptors 1 and 2) to the file `f`."""
    sys.stdout.flush(), sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(f.fileno(), 1), os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush(), sys.stderr.flush()
        os.dup2(saved[0], 1), os.dup2(saved[1], 2)
        os.close(saved[0]), os.close(saved[1])


def _collect(scratch, assignment, student):
    """The autograded notebooks and the diagnosis the grading left in `scratch`, as text."""
    folder = scratch / "autograded" / student / assignment
    notebooks = {p.stem: p.read_text() for p in sorted(folder.glob("*.ipynb"))}
    found = scratch / "diagnoses" / assignment / f"{student}.json"
    return {"notebooks": notebooks, "diagnosis": found.read_text() if found.exists() else None}


# ---------------------------------------------------------------- the parent's side

RESULTS = {}  # (assignment, student) -> what the worker sent back, for Replay


class Replay(NbGraderPreprocessor):
    """In place of the kernel: the notebook a worker autograded for this student.

    Raises when the worker could not grade it, so that nbgrader handles the student as a
    failed one, as serial grading would.
    """

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        result = RESULTS[(info["assignment"], info["student"])]
        if not result["success"] or info["notebook"] not in result["notebooks"]:
            raise GradingFailed(f"the worker could not grade {info['student']}:\n{result['log']}")
        return nbformat.reads(result["notebooks"][info["notebook"]], as_version=4), resources


def merge_api(root):
    """nbgrader's API on the real course, whose autograde replays what the workers graded."""
    from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, SaveAutoGrades

    return _load_api(root, Autograde={
        "sanitize_preprocessors": [],
        "autograde_preprocessors": [Replay, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]})


def merge(api, root, result):
    """Write one student's grading into the course: diagnosis, then gradebook and autograded folder."""
    key = (result["assignment"], result["student"])
    folder = api.config.JudgedExecute.get("diagnosis_dir")  # where JudgedExecute would write it
    if result["diagnosis"] is not None and folder:
        path = Path(root, folder) / key[0] / f"{key[1]}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(result["diagnosis"])
        os.replace(tmp, path)
    RESULTS[key] = result
    try:
        return api.autograde(*key, force=True)
    finally:
        del RESULTS[key]


# ---------------------------------------------------------------- who to grade

def plan(api, assignment, force):
    """[(student, files)] to grade for `assignment`, as `nbgrader autograde` would choose them.

    Runs the course's pre_convert_hook on each (as nbgrader does before grading a student), so
    the files sent to a worker are the ones nbgrader would grade.
    """
    from nbgrader.api import Gradebook, MissingEntry

    cd = api.coursedir
    with Gradebook(cd.db_url, cd.course_id) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            sys.exit(f"dltrack: no assignment {assignment!r} in the gradebook; did you forget "
                     f"`nbgrader generate_assignment {assignment}`?")
    excluded = set(filter(None, cd.student_id_exclude.split(",")))
    jobs = []
    for found in sorted(glob.glob(cd.format_path(cd.submitted_directory, "*", assignment))):
        folder = Path(found)
        student = folder.parent.name
        notebooks = sorted(str(p) for p in folder.glob("*.ipynb"))
        if not notebooks or student in excluded or not _due(cd, assignment, student, force):
            continue
        _pre_convert_hook(api, assignment, student, notebooks)
        jobs.append((student, submission_files(folder)))
    return jobs


def _due(cd, assignment, student, force):
    """Whether nbgrader would grade this student again (Autograde.init_destination)."""
    dest = cd.format_path(cd.autograded_directory, student, assignment)
    if force or not os.path.exists(dest):
        return True
    new = cd.get_existing_timestamp(cd.format_path(cd.submitted_directory, student, assignment))
    old = cd.get_existing_timestamp(dest)
    return new is not None and old is not None and new > old


def _pre_convert_hook(api, assignment, student, notebooks):
    """The configured Autograde.pre_convert_hook, failing as quietly as nbgrader lets it fail."""
    hook = api.config.Autograde.get("pre_convert_hook")
    if not callable(hook):
        return
    try:
        hook(assignment=assignment, student=student, notebooks=notebooks)
    except Exception:  # noqa: BLE001 - nbgrader logs it and grades on; GradingCannotStart is not caught
        pass


def create_students(api, students):
    """Create the students in nbgrader's order, so the gradebook and its export list them so."""
    from nbgrader.api import Gradebook

    with Gradebook(api.coursedir.db_url, api.coursedir.course_id) as gb:
        for student in students:
            gb.update_or_create_student(student)


# ---------------------------------------------------------------- the run

def autograde(root, assignments, workers=None, scheduler=None, force=False, out=sys.stderr):
    """Grade every due student of `assignments` on a Dask cluster; the exit status, 0 when all were graded.

    `workers` local processes (default: this machine's cores) unless `scheduler`, the address
    of a running Dask scheduler, is given. Exits 2 (GradingCannotStart) before anyone is
    graded when the grading environment is broken, here or on a worker.
    """
    from . import nbplugins, sandbox

    root = Path(root).resolve()
    nbplugins.check_environment(str(root))
    with _cluster_meanwhile(workers, scheduler) as connect:  # workers start while the class is planned
        api = merge_api(root)
        jobs = []
        for a in assignments:
            jobs += [(a, student, files) for student, files in plan(api, a, force)]
        if not jobs:
            print("[dltrack] nothing to grade: every submission is autograded already "
                  "(--force grades them again)", file=out)
            return 0
        create_students(api, list(dict.fromkeys(student for _, student, _ in jobs)))
        payload = dict(bundle(root, assignments), sandbox=sandbox.available() and _sandboxed(api))
        return _grade_all(connect(), api, root, payload, jobs, Progress(len(jobs), out))


def _sandboxed(api):
    return api.config.JudgedExecute.get("use_sandbox", True)


@contextlib.contextmanager
def _cluster_meanwhile(workers, scheduler):
    """Start connecting to the cluster in a thread; yield a function that waits for its client."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        opened = pool.submit(_open, workers, scheduler)
        try:
            yield lambda: opened.result()[0]
        finally:
            for part in opened.result():
                if part is not None:
                    part.close()


# Dask's own sampling, which costs CPU all the time a class is graded: the statistical profiler
# of the worker threads (every 10 ms by default) off, system monitors less often.
QUIET_DASK = {"distributed.worker.profile.enabled": False, "distributed.admin.system-monitor.interval": "2s"}


def _open(workers, scheduler):
    """(client, cluster): of the scheduler at `scheduler`, or of a local cluster of `workers` processes."""
    import logging

    import dask
    from distributed import Client, LocalCluster

    dask.config.set(QUIET_DASK)

    if scheduler:
        try:
            return Client(scheduler, timeout="60s"), None
        except OSError as exc:
            raise SystemExit(f"dltrack: cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                           dashboard_address=None, memory_limit=0, silence_logs=logging.ERROR)
    return Client(cluster), cluster


def _grade_all(client, api, root, payload, jobs, progress):
    """Send every job to the cluster and merge each student as it comes back; the exit status."""
    from distributed import as_completed

    token = os.urandom(4).hex()
    data = client.scatter(payload, broadcast=True, hash=False)
    futures = {client.submit(grade_student, data, a, s, files, key=f"autograde-{a}-{s}-{token}",
                             pure=False, retries=1): (a, s) for a, s, files in jobs}
    failed = []
    for future in as_completed(futures):
        a, s = futures[future]
        result = _result(future, a, s)
        if "cannot_start" in result:
            client.cancel(list(futures))
            print(f"[dltrack] autograde cannot start: {result['cannot_start']}", file=progress.out, flush=True)
            return 2
        merged = merge(api, root, result)
        if not merged["success"]:
            failed.append((a, s, result["log"] or merged.get("log", "") + merged.get("error", "")))
        progress.step(a, s, merged["success"], result.get("seconds", 0))
    return progress.finish(failed)


def _result(future, assignment, student):
    """What the task returned, or a failed result when the task itself failed (a worker died)."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - one student's failure, reported and the batch goes on
        return {"student": student, "assignment": assignment, "notebooks": {}, "diagnosis": None,
                "success": False, "log": f"{type(exc).__name__}: {exc}"}


class Progress:
    """One line a student on the terminal: done, failed, time left."""

    def __init__(self, total, out):
        self.total, self.out, self.done, self.failed = total, out, 0, 0
        self.began = time.monotonic()
        print(f"[dltrack] grading {total} submission{'s' * (total != 1)}", file=out, flush=True)

    def step(self, assignment, student, ok, seconds):
        self.done += 1
        self.failed += not ok
        elapsed = time.monotonic() - self.began
        left = elapsed / self.done * (self.total - self.done)
        print(f"[dltrack] {self.done}/{self.total} graded, {self.failed} failed, about {_clock(left)} left"
              f"  ({assignment} {student}: {'graded' if ok else 'FAILED'} in {seconds:.0f} s)",
              file=self.out, flush=True)

    def finish(self, failed):
        """Say how it went; the exit status (1 when a student could not be graded, as nbgrader)."""
        took = _clock(time.monotonic() - self.began)
        for a, s, log in failed:
            print(f"[dltrack] could not grade {s} on {a}:\n{log.strip()}", file=self.out)
        print(f"[dltrack] {self.done - len(failed)} of {self.total} graded in {took}"
              + (f"; {len(failed)} failed (see above)" if failed else ""), file=self.out, flush=True)
        return 1 if failed else 0


def _clock(seconds):
    minutes, seconds = divmod(int(seconds + 0.5), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
