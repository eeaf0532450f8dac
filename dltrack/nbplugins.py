"""Preprocessors that nbgrader_config.py puts into nbgrader's own pipeline."""
import ast
import os
import shutil
import tempfile
from pathlib import Path

import nbformat

from IPython.core.inputtransformer2 import TransformerManager
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import (
    ClearHiddenTests, DeduplicateIds, Execute, LimitOutput, NbGraderPreprocessor)
from traitlets import Bool, Integer

from . import sandbox
from .course import ANSI



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
        cmd, self.seccomp_fd = sandbox.command(cmd, workdir, self.private, memory=self.memory)
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


# Run silently in the kernel before the first cell: seeded randomness, and the checks
# imported before any student code runs (dltrack.check keeps numpy's functions as they are).
SEED = "import random, numpy, dltrack.check\nrandom.seed(0)\nnumpy.random.seed(0)\ndel random, numpy, dltrack"
# Run silently before each test cell: the course's modules reloaded from disk, IPython's
# error display back, then the imports of the notebook's locked cells again, so that
# what a student's cells changed (a replaced check, a home-made Exercise) is undone.
RESTORE = """\
def _dltrack_restore():
    import importlib, sys
    for name in sorted(n for n in sys.modules if n.startswith("dltrack.")):
        importlib.reload(sys.modules[name])
    get_ipython().custom_exceptions = ()
_dltrack_restore()
del _dltrack_restore
"""


class SandboxedExecute(Execute):
    """nbgrader's Execute with the kernel in a sandbox, the checks restored before each
    test cell, and a kernel that dies or hangs graded as such: the cell where it stopped
    and every cell after it score zero, with the reason in their output."""

    use_sandbox = Bool(True, help="run kernels in dltrack.sandbox when bubblewrap is installed").tag(config=True)
    memory_limit = Integer(2 * sandbox.GiB, help="bytes of address space a kernel may use").tag(config=True)

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
        self.stopped, self.seeded = None, False
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return super().preprocess_cell(cell, resources, index)
        try:
            if self.stopped:
                return self._failed(cell, "KernelStopped", f"not run: {self.stopped}")
            if not self.seeded:
                self.seeded = True
                self._silently(SEED)
            if utils.is_grade(cell) and not utils.is_solution(cell):
                why = self._silently(RESTORE + self._imports())
                if why:
                    return self._failed(cell, "ChecksTampered",
                                        f"the course's checks could not be restored ({why}); "
                                        "has this notebook changed them?")
            return super().preprocess_cell(cell, resources, index)
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

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        outputs = kwargs["cell"].outputs
        if len(outputs) > 1 and outputs[-1].get("ename") == "CellTimeoutError":
            outputs.insert(0, outputs.pop())  # the reason first, then where the cell was stopped

    def _failed(self, cell, ename, evalue):
        cell.outputs = cell.get("outputs", []) + [new_output(
            "error", ename=ename, evalue=evalue, traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])]
        return cell, self.resources

    def _silently(self, code):
        """Run code in the kernel without output; None, or what went wrong."""
        reply = self.wait_for_reply(self.kc.execute(code, silent=True, store_history=False))
        if reply is None:
            raise CellTimeoutError("no reply")
        content = reply["content"]
        if content.get("status") == "ok":
            return None
        return f"{content.get('ename', 'no reply')}: {content.get('evalue', '')}"

    def _imports(self):
        """The import statements of the notebook's locked cells (the course's setup)."""
        lines = []
        for cell in self.nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("locked") and not meta.get("grade"):
                try:
                    tree = ast.parse(TransformerManager().transform_cell(cell.source))
                except SyntaxError:
                    continue
                lines += [ast.unparse(node) for node in tree.body
                          if isinstance(node, (ast.Import, ast.ImportFrom))]
        return "\n".join(lines)


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
