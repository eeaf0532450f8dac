"""Preprocessors that nbgrader_config.py puts into nbgrader's own pipeline."""
import ast
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import jsonschema
import nbformat

from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.output_widget import OutputWidget
from nbclient.util import run_sync
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output
from nbgrader import api as nbgrader_api, utils
from nbgrader.api import Gradebook
from nbgrader.nbgraderformat import common as nbgrader_format
from nbgrader.preprocessors import (
    ClearHiddenTests, DeduplicateIds, Execute, LimitOutput, NbGraderPreprocessor)
from traitlets import Bool, Integer, Unicode

import dltrack

from . import diagnosis, sandbox
from .course import ANSI
from .judge import MAX_RECORD, Judge, kernel_source



@functools.cache
def _schema_validator(schema_json):
    """A jsonschema validator of the schema in `schema_json`, the schema itself checked once."""
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _validate(instance, schema):
    """jsonschema.validate, raising the same error, without checking the schema again each call."""
    error = jsonschema.exceptions.best_match(
        _schema_validator(json.dumps(schema, sort_keys=True)).iter_errors(instance))
    if error is not None:
        raise error


# nbgrader checks every cell's metadata against its schema with jsonschema.validate, which checks
# the schema itself first, every time: measured, the largest of nbgrader's own costs a notebook.
nbgrader_format.jsonschema = types.SimpleNamespace(validate=_validate)


@functools.cache
def alembic_head():
    """The revision a new gradebook is stamped with, as nbgrader's `alembic heads` process prints it.

    nbgrader starts that process for every new gradebook (3 s of CPU, and `alembic` must be on
    PATH); the revision is read here from the same migration scripts, in this process.
    """
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    with nbgrader_api._temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:  # the URL nbgrader's uses
        return ScriptDirectory.from_config(Config(ini)).get_current_head()


# Every nbgrader command that reads this course's nbgrader_config.py makes its gradebooks so.
nbgrader_api.get_alembic_version = alembic_head


class KeepDuplicatesGraded(DeduplicateIds):
    """DeduplicateIds that leaves a duplicated cell as a plain cell.

    nbgrader blanks the metadata of a duplicate to `{}`, which then fails
    validation and leaves the student ungraded (nbgrader issue 1083).
    """

    def preprocess_cell(self, cell, resources, index):
        cell, resources = super().preprocess_cell(cell, resources, index)
        if cell.metadata.get("nbgrader") == {}:
            del cell.metadata["nbgrader"]
        return cell, resources


class FailDeletedTests(NbGraderPreprocessor):
    """Put back each test cell the student deleted as a cell that fails, so it scores zero.

    nbgrader leaves a deleted test cell's grade empty; here it counts as failed,
    and the feedback says why.
    """

    def preprocess(self, nb, resources):
        present = {cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells}
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            source = gb.find_notebook(info["notebook"], info["assignment"])
            answers = {cell.name for cell in source.solution_cells}
            deleted = [(c.name, c.max_score) for c in source.grade_cells
                       if c.name not in present and c.name not in answers and c.cell_type == "code"]
        for grade_id, points in deleted:
            self.log.warning("Test cell %s was deleted: it scores zero", grade_id)
            cell = new_code_cell(
                f'"""The test cell {grade_id} was deleted from this notebook."""\n'
                f'raise RuntimeError("the test cell {grade_id} was deleted from the submitted '
                f'notebook, so its {points:g} points are lost")')
            cell.metadata.nbgrader = dict(grade=True, grade_id=grade_id, points=points, locked=True,
                                          solution=False, task=False, schema_version=3)
            nb.cells.append(cell)
        return nb, resources


class GradingCannotStart(SystemExit):
    """The grading environment is broken: stop before anyone is graded (exit status 2)."""

    def __init__(self, why):
        print(f"[dltrack] autograde cannot start: {why}", file=sys.stderr, flush=True)
        super().__init__(2)


@functools.cache
def check_environment(course_root):
    """Stop (GradingCannotStart) unless a grading kernel imports the checks this nbgrader uses."""
    mine = Path(dltrack.__file__).resolve().parent
    theirs = Path(course_root, "dltrack")
    if theirs.is_dir() and theirs.resolve() != mine:
        raise GradingCannotStart(
            f"this course has its own dltrack package at {theirs}, but nbgrader runs with the one at "
            f"{mine}. Activate this course's virtual environment (or run `pip install -e .` in "
            f"{course_root}) and grade again.")
    probe = [sys.executable, "-c", "import dltrack.check, numpy; print(dltrack.check.__file__)"]
    with tempfile.TemporaryDirectory() as work, tempfile.TemporaryDirectory() as private:
        fd = None
        if sandbox.available():
            probe, fd = sandbox.command(probe, work, private)
        try:
            done = subprocess.run(probe, cwd=work, capture_output=True, text=True, timeout=120,
                                  pass_fds=(fd,) if fd is not None else ())
        finally:
            if fd is not None:
                os.close(fd)
    found = done.stdout.strip()
    if done.returncode != 0:
        raise GradingCannotStart(
            f"a grading kernel cannot import the course's checks "
            f"({(done.stderr.strip().splitlines() or ['no output'])[-1]}). Activate the course's virtual "
            f"environment (`pip install -r requirements.txt` in it) and grade again.")
    if Path(found).resolve().parent != mine:
        raise GradingCannotStart(
            f"nbgrader uses the checks in {mine}, but a grading kernel imports them from "
            f"{Path(found).parent}. Activate this course's own virtual environment (or run "
            f"`pip install -e .` in {course_root}) and grade again.")


def prepare_student(course_root, assignment, student, notebooks):
    """Autograde's pre_convert_hook: the environment checked once, then a misnamed notebook renamed."""
    check_environment(str(course_root))
    grade_misnamed_notebook(course_root, assignment, student, notebooks)


def grade_misnamed_notebook(course_root, assignment, student, notebooks):
    """Autograde's pre_convert_hook: a lone notebook under another name is graded as the missing one.

    nbgrader would skip it, stop that student with an error and score nothing. The
    notebook is copied, with a note on top, under the right name beside the submitted one.
    """
    if not notebooks:
        return
    folder = Path(notebooks[0]).parent  # submitted/<student>/<assignment>
    wanted = {p.name for p in (Path(course_root) / "source" / folder.name).glob("*.ipynb")}
    missing = sorted(wanted - {Path(n).name for n in notebooks})
    strays = [n for n in notebooks if Path(n).name not in wanted]
    if len(missing) != 1 or len(strays) != 1:
        return
    nb = nbformat.read(strays[0], as_version=4)
    nb.cells.insert(0, new_markdown_cell(
        f"**Note from the grader:** this notebook was submitted as `{Path(strays[0]).name}` "
        f"and graded as `{missing[0]}`."))
    nbformat.write(nb, folder / missing[0])
    notebooks[notebooks.index(strays[0])] = str(folder / missing[0])  # the list nbgrader grades


class LimitOutputSize(LimitOutput):
    """LimitOutput that also cuts long lines and drops huge images: feedback stays small."""

    max_chars = Integer(20_000, help="characters of text a cell output keeps").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        cell, resources = super().preprocess_cell(cell, resources, index)
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                output.text = self._cut(output.text)
            for mime, value in list(output.get("data", {}).items()):
                if mime.startswith("text/"):
                    output.data[mime] = self._cut(value if isinstance(value, str) else "".join(value))
                elif len(str(value)) > 50 * self.max_chars:
                    del output.data[mime]
                    output.data.setdefault("text/plain", f"... {mime} output too large, removed ...")
        return cell, resources

    def _cut(self, text):
        if len(text) <= self.max_chars:
            return text
        return text[:self.max_chars] + f"\n... Output truncated ({len(text):,} characters) ..."


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel started in dltrack.sandbox, talking to nbgrader over ipc sockets."""

    memory = Integer(2 * sandbox.GiB)

    def __init__(self, **kwargs):
        super().__init__(transport="ipc", **kwargs)  # the kernel has no network, not even loopback
        self.kernel_spec.interrupt_mode = "message"  # SIGINT would stop bubblewrap, and the kernel with it
        self.private = tempfile.mkdtemp(prefix="dltrack-kernel-")
        self.connection_file = os.path.join(self.private, "kernel.json")
        self.ip = os.path.join(self.private, "ipc")
        self.seccomp_fd = None

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        workdir = self._launch_args.get("cwd") or os.getcwd()
        cmd, self.seccomp_fd = sandbox.command(cmd, workdir, self.private, memory=self.memory,
                                               env=_matplotlib_cache(self.private))
        return cmd

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if self.seccomp_fd is not None:
            kw["pass_fds"] = (self.seccomp_fd,)
        try:
            await super()._async_launch_kernel(kernel_cmd, **kw)
        finally:
            if self.seccomp_fd is not None:
                os.close(self.seccomp_fd)
                self.seccomp_fd = None

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self.private, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources  # the public name, as AsyncKernelManager has it


def _matplotlib_cache(private):
    """MPLCONFIGDIR for a kernel: a folder in its `private` one holding a copy of matplotlib's font list.

    The kernel's home is empty, so without it every kernel that imports matplotlib builds the list
    anew, scanning the system's fonts (measured: a third of a second of CPU a notebook). The copy
    is the kernel's own, in a folder it may already write and that is deleted after it.
    """
    found = _font_list()
    if found is None:
        return {}
    folder = os.path.join(private, "matplotlib")
    os.makedirs(folder, exist_ok=True)
    shutil.copyfile(found, os.path.join(folder, os.path.basename(found)))
    return {"MPLCONFIGDIR": folder}


@functools.cache
def _font_list():
    """The path of this process's matplotlib font list (made once if need be), or None."""
    try:
        import matplotlib
        from matplotlib import font_manager

        path = Path(matplotlib.get_cachedir()) / f"fontlist-v{font_manager.FontManager.__version__}.json"
    except Exception:  # noqa: BLE001 - no matplotlib, no cache: the kernel builds its own
        return None
    return str(path) if path.is_file() else None


# Run silently in the kernel before the first cell: seeded randomness, the checks imported
# from where they are installed, and the kernel's working folder moved to the end of the
# import path, so that a file submitted beside the notebook never replaces a module.
SEED = """\
import random, sys, numpy, dltrack.check
random.seed(0)
numpy.random.seed(0)
sys.path[:] = [p for p in sys.path if p not in ("", ".")] + [""]
del random, sys, numpy, dltrack
"""
BEGIN = "__import__('dltrack.check').check.begin_recording()"
TAKE = "__import__('dltrack.check').check.take_record()"


class LocalOutputWidget(OutputWidget):
    """nbclient's stand-in for an Output widget (a slider's figure), minus the echo to the kernel.

    nbclient's own sends each output back to the kernel on the shell channel while it waits on that
    channel for the cell's reply; when the two cross, the reply goes unnoticed until the cell's
    timeout runs out (measured: four notebooks with a slider graded side by side, one in four waited
    59 s after the slider cell, then went on). The outputs still go into the notebook's widget
    state; only the kernel's copy of them is not kept up to date, and no cell reads it.
    """

    def sync_state(self):
        pass


class LocalOutputWidgets:
    """A mixin for an nbclient NotebookClient (or nbgrader's Execute): Output widgets are LocalOutputWidget."""

    def on_comm_open_jupyter_widget(self, msg):
        self.widget_registry["@jupyter-widgets/output"]["OutputModel"] = LocalOutputWidget
        return super().on_comm_open_jupyter_widget(msg)


class LocalWidgetsClient(LocalOutputWidgets, NotebookClient):
    """nbclient's NotebookClient with LocalOutputWidget."""


class LocalWidgetsExecute(LocalOutputWidgets, Execute):
    """nbgrader's Execute (it runs the worked solutions) with LocalOutputWidget."""


class JudgedExecute(LocalWidgetsExecute):
    """nbgrader's Execute where the kernel computes and the grader judges.

    The kernel runs in a sandbox (dltrack.sandbox), in a throwaway copy of the
    submission's folder, so nbgrader never touches a file it may have made. A test
    cell runs there without its hidden values and hands back only the student's
    answers as plain data; dltrack.judge judges them here and writes the verdict into
    the cell's outputs, which nbgrader then scores. A kernel that dies or hangs, or a
    notebook that uses up its time budget, scores zero from the cell where it stopped.
    """

    use_sandbox = Bool(True, help="run kernels in dltrack.sandbox when bubblewrap is installed").tag(config=True)
    memory_limit = Integer(2 * sandbox.GiB, help="bytes of address space a kernel may use").tag(config=True)
    notebook_budget = Integer(300, help="seconds a whole notebook may run").tag(config=True)
    max_output_chars = Integer(1_000_000, help="characters of output a cell keeps while it runs").tag(config=True)
    diagnosis_dir = Unicode("", help="folder for what the judge found in each test cell (dltrack.diagnosis)").tag(config=True)

    def create_kernel_manager(self):
        if self.use_sandbox and sandbox.available():
            self.kernel_manager_class = SandboxedKernelManager
        elif self.use_sandbox:
            self.log.warning("bubblewrap is not installed: student code runs without a sandbox")
        km = super().create_kernel_manager()
        if isinstance(km, SandboxedKernelManager):
            km.memory = self.memory_limit
        return km

    def preprocess(self, nb, resources=None, km=None):
        self.stopped, self.seeded, self.began = None, False, time.monotonic()
        self.diagnoses = {}
        info = resources["nbgrader"]
        self.judge = Judge(info["assignment"])
        self.judge.ask = self._ask
        self.instructor = _instructor_cells(info)
        folder = resources.setdefault("metadata", {}).get("path") or "."
        work = tempfile.mkdtemp(prefix="dltrack-work-")
        _copy_regular_files(folder, work)
        resources["metadata"]["path"] = work
        try:
            nb, resources = super().preprocess(nb, resources, km)
        finally:
            resources["metadata"]["path"] = folder
            shutil.rmtree(work, ignore_errors=True)
        if self.diagnosis_dir:
            diagnosis.write(self.diagnosis_dir, info, nb, self.diagnoses)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return super().preprocess_cell(cell, resources, index)
        meta = cell.metadata.get("nbgrader", {})
        mine = self.instructor.get(meta.get("grade_id"))
        if mine != cell.source:  # not the instructor's cell as nbgrader restored it (FailDeletedTests)
            mine = None
        try:
            if self.stopped:
                return self._failed(cell, "KernelStopped", f"not run: {self.stopped}")
            if self._left() <= 0:
                self.stopped = f"the notebook used up its time budget of {self.notebook_budget} s"
                return self._failed(cell, "KernelStopped", f"not run: {self.stopped}")
            if not self.seeded:
                self.seeded = True
                self._silently(SEED)
            if mine and utils.is_grade(cell) and not utils.is_solution(cell):
                return self._test_cell(cell, mine, resources, index)
            self._run(cell, resources, index)
            if mine and meta.get("locked"):
                self.judge.given(mine)
            return cell, self.resources
        except DeadKernelError:
            self.stopped = (f"the kernel died in {_name(cell, index)} (it ran out of its "
                            f"{self.memory_limit / sandbox.GiB:g} GiB of memory, or was made to exit)")
        except CellTimeoutError:
            self.stopped = f"the kernel stopped answering in {_name(cell, index)}, even to an interrupt"
            try:
                run_sync(self.km.shutdown_kernel)(now=True)
            except Exception:  # noqa: BLE001 - it is being killed anyway
                pass
        self.log.error("%s: %s", resources.get("nbgrader", {}).get("student", ""), self.stopped)
        return self._failed(cell, "KernelStopped", self.stopped)

    def _test_cell(self, cell, source, resources, index):
        """Run the test in the kernel without its hidden values; judge its answers here."""
        theirs = cell.source
        cell.source = kernel_source(source)
        try:
            self._silently(BEGIN)
            self._run(cell, resources, index)
        finally:
            cell.source = theirs
        record = self._record()
        errors = [o for o in cell.outputs if o.output_type == "error"]
        errors.sort(key=lambda o: o.get("ename") != "CellTimeoutError")  # a timeout says the most
        kernel_error = _error_line(errors[0]) if errors else None
        verdict = self.judge.verdict(source, record, kernel_error)
        found = dict(self.judge.diagnosis)
        if kernel_error and "CellTimeoutError" in kernel_error:
            found["failure"] = "time budget" if "time budget" in kernel_error else "timeout"
        self.diagnoses[cell.metadata.nbgrader.grade_id] = found
        if verdict:
            self.judge.failed.add(cell.metadata.nbgrader.grade_id)
        # The verdict alone scores the cell: the kernel's errors and results (which nbgrader
        # would read as a partial grade) are dropped, what it printed is kept.
        cell.outputs = [o for o in cell.outputs if o.output_type not in ("error", "execute_result")]
        if verdict:
            cell.outputs.insert(0, new_output(
                "error", ename="CheckFailed", evalue=verdict.splitlines()[0],
                traceback=["\x1b[0;31mCheck failed\x1b[0m", *verdict.splitlines()]))
        if self._left() <= 0 and not self.stopped:
            self.stopped = f"the notebook used up its time budget of {self.notebook_budget} s"
        return cell, self.resources

    def _run(self, cell, resources, index):
        """Execute the cell in the kernel, its time limited by the cell's and the notebook's."""
        self.cell_chars, self.cut = 0, False
        budget_first = self._left() < self.timeout
        self.error_on_timeout = {"ename": "CellTimeoutError", "evalue": "", "traceback": [
            "\x1b[0;31mCellTimeoutError\x1b[0m: " + (
                f"the notebook used up its time budget of {self.notebook_budget} s in this cell; "
                "this cell and the ones after it score zero" if budget_first else
                f"this cell ran longer than {self.timeout} s and was stopped; it scores zero")]}
        super().preprocess_cell(cell, resources, index)

    def _left(self):
        return self.notebook_budget - (time.monotonic() - self.began)

    def _get_timeout(self, cell):
        return max(1, int(min(self.timeout, self._left()) + 0.999))

    def output(self, outs, msg, display_id, cell_index):
        """Keep a cell's output only up to max_output_chars, while it runs."""
        self.cell_chars += len(json.dumps(msg.get("content", {}).get("data", ""))) + \
            len(msg.get("content", {}).get("text", ""))
        if self.cell_chars <= self.max_output_chars or msg["msg_type"] == "error":
            return super().output(outs, msg, display_id, cell_index)
        if not self.cut:
            self.cut = True
            outs.append(new_output("stream", name="stdout", text=(
                f"\n... output cut: this cell printed more than {self.max_output_chars:,} characters ...\n")))
        return None

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        outputs = kwargs["cell"].outputs
        if len(outputs) > 1 and outputs[-1].get("ename") == "CellTimeoutError":
            outputs.insert(0, outputs.pop())  # the reason first, then where the cell was stopped

    def _failed(self, cell, ename, evalue):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id and utils.is_grade(cell):
            self.diagnoses[grade_id] = {"failure": diagnosis.stopped_kind(evalue), "mistakes": [],
                                        "message": f"{ename}: {evalue}"}
        cell.outputs = cell.get("outputs", []) + [new_output(
            "error", ename=ename, evalue=evalue, traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])]
        return cell, self.resources

    def _silently(self, code, **expressions):
        """Run code in the kernel without output; the reply's content."""
        reply = self.wait_for_reply(self.kc.execute(code, silent=True, store_history=False,
                                                    user_expressions=expressions))
        if reply is None:
            raise CellTimeoutError("no reply")
        return reply["content"]

    def _record(self):
        """What the kernel recorded of the test cell just run: a JSON text, or None."""
        return self._ask(TAKE, quiet=False)

    def _ask(self, expression, quiet=True):
        """The value of `expression` in the kernel when it is a str, else None. A kernel that
        does not answer raises, unless `quiet` (a question of the judge's, for a hint only)."""
        try:
            value = self._silently("", value=expression).get("user_expressions", {}).get("value", {})
        except (CellTimeoutError, DeadKernelError):
            if not quiet:
                raise
            return None
        text = value.get("data", {}).get("text/plain") if value.get("status") == "ok" else None
        if not isinstance(text, str) or len(text) > 2 * MAX_RECORD:
            return None
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None


def _instructor_cells(info):
    """grade_id -> the instructor's source, from the gradebook, of every locked or graded cell."""
    with Gradebook(info["db_url"]) as gb:
        notebook = gb.find_notebook(info["notebook"], info["assignment"])
        return {c.name: c.source for c in notebook.source_cells
                if c.cell_type == "code" and (c.locked or c.name in {g.name for g in notebook.grade_cells})}


def _copy_regular_files(src, dest):
    """Copy the regular files and folders of `src` into `dest`, never a link, FIFO or device."""
    for entry in os.scandir(src):
        target = os.path.join(dest, entry.name)
        if entry.is_dir(follow_symlinks=False):
            os.mkdir(target)
            _copy_regular_files(entry.path, target)
        elif entry.is_file(follow_symlinks=False):
            shutil.copyfile(entry.path, target, follow_symlinks=False)


def _error_line(output):
    text = ANSI.sub("", "\n".join(output.get("traceback", []))).strip()
    last = text.splitlines()[-1] if text else ""
    return last if output.get("ename", "") in last else f"{output.get('ename')}: {output.get('evalue')}"


def _name(cell, index):
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    return f"cell {index} ({grade_id})" if grade_id else f"cell {index}"


class HideHiddenTests(ClearHiddenTests):
    """Clear hidden tests from feedback: the cell input and any traceback line."""

    def preprocess_cell(self, cell, resources, index):
        if not utils.is_grade(cell):  # a student's text that looks like hidden tests: cut, never fail
            try:
                self._remove_hidden_test_region(cell)
            except RuntimeError:
                pass
            return cell, resources
        hidden = _hidden_lines(cell.source, self.begin_test_delimeter, self.end_test_delimeter)
        if hidden:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [_without(chunk, hidden) for chunk in output["traceback"]]
        return super().preprocess_cell(cell, resources, index)


def _hidden_lines(source, begin, end):
    lines, inside = set(), False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside and line.strip():
            lines.add(line.strip())
    return lines


def _without(chunk, hidden):
    kept = [line for line in chunk.split("\n")
            if not any(h in ANSI.sub("", line) for h in hidden)]
    return "\n".join(kept)
