"""Grade many variants of a section in one process: the tests of the tests, fast.

A variant is the reference notebook with some solution cells replaced (a catalogued
mistake, another correct answer, a mutant, the stub). The reference runs once, cell
by cell, in an IPython shell in a process of its own; before the first cell that a
variant replaces, the process forks, and the copy runs the variant's code and the
rest of the notebook. Every test cell is judged as autograde judges it: the test
cell runs without its hidden values and records the answers (dltrack.check), and
dltrack.judge judges the record against the gradebook's test cell. A variant so
costs only the cells from its first change on that the change can reach (a test cell
it cannot reach keeps the reference's result): no kernel to start, no nbgrader.

nbgrader's autograde stays the truth: tests/test_sections.py grades the reference,
the stub and a sample of variants both ways and requires the same scores.

    python -m dltrack.variants REQUEST.json RESULT.json     (what `grade` runs)
"""
import ast
import contextlib
import functools
import gc
import io
import json
import os
import re
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CELL_TIMEOUT = 60      # seconds, as c.Execute.timeout
NOTEBOOK_BUDGET = 300  # seconds, as c.JudgedExecute.notebook_budget
MEMORY = 4 * 2**30     # bytes of address space a variant may use


def grade(course, assignment, variants, timeout=CELL_TIMEOUT, budget=NOTEBOOK_BUDGET, every_cell=False,
          cpu=None, stop=None, hintless=()):
    """variant id -> {test cell: result} for each variant and for "reference".

    `stop` maps a variant id to "first" (stop at its first test cell that loses points) or
    to a list of test cells (stop once they are graded); the cells after are then not in
    its result. The variants in `hintless` are graded without looking for catalogued
    mistakes: the same points, messages without hints, in less time (a hint may run a
    mistake's code many times). A dict given as `cpu` receives the CPU seconds of each
    variant's process.

    `variants` maps an id to {solution grade_id: code}. The course must be generated
    (its gradebook holds the test cells). A result is a dict: score, max, message
    (the verdict's text, or None), failure and mistakes (as in dltrack.diagnosis).
    """
    request = {"course": str(course), "assignment": assignment, "variants": variants,
               "timeout": timeout, "budget": budget, "every_cell": every_cell, "stop": stop or {},
               "hintless": sorted(hintless)}
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MPLBACKEND="Agg", PYTHONHASHSEED="0")
    with tempfile.TemporaryDirectory(prefix="dltrack-variants-") as work:
        Path(work, "request.json").write_text(json.dumps(request))
        done = subprocess.run([sys.executable, "-m", "dltrack.variants", "request.json", "result.json"],
                              cwd=work, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"grading the variants of {assignment} failed:\n{done.stderr[-4000:]}")
        if cpu is not None:
            cpu.update(json.loads(Path(work, "result.cpu.json").read_text()))
        return json.loads(Path(work, "result.json").read_text())


# ---------------------------------------------------------------- in the grading process

def _cells(course, assignment):
    """The reference's code cells as autograde runs them: [(grade_id, kind, source, points)]."""
    import nbformat

    from .course import source_notebook
    from .nbplugins import _instructor_cells

    path = source_notebook(course, assignment)
    info = {"db_url": f"sqlite:///{Path(course) / 'gradebook.db'}", "notebook": path.stem, "assignment": assignment}
    instructor = _instructor_cells(info)
    cells = []
    for cell in nbformat.read(path, 4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        gid = meta.get("grade_id")
        mine = instructor.get(gid) if not meta.get("solution") else None
        if mine is not None and meta.get("grade"):
            cells.append((gid, "test", mine, float(meta.get("points", 0))))
        elif mine is not None:
            cells.append((gid, "given", mine, 0.0))
        else:
            cells.append((gid, "student", cell.source, 0.0))
    return cells


class _Notebook:
    """The shell, the judge and the clock of one notebook being graded."""

    def __init__(self, assignment, timeout, budget):
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config

        from .judge import Judge

        config = Config()
        config.HistoryManager.enabled = False
        self.shell = InteractiveShell.instance(config=config)
        # IPython's rewriting of a cell's text (magics, ! lines) depends on the text alone: each
        # cell is rewritten once, before the forks, not once a variant.
        self.shell.transform_cell = functools.lru_cache(maxsize=None)(self.shell.transform_cell)
        self.judge = Judge(assignment)
        self.judge.ask = self._ask
        self.timeout, self.budget, self.used = timeout, budget, 0.0
        self.stopped = None

    def prepare(self, cells):
        """Rewrite and parse the cells once, before the forks (see Judge.prepare)."""
        from .judge import kernel_source

        instructor = [source for _, kind, source, _ in cells if kind != "student"]
        self.judge.prepare(instructor)
        for _, kind, source, _ in cells:
            self.shell.transform_cell(kernel_source(source) if kind == "test" else source)

    def _ask(self, expression):
        try:
            value = self.shell.ev(expression)
        except BaseException:  # noqa: BLE001 - a question for a hint only
            return None
        return value if isinstance(value, str) else None

    def execute(self, source):
        """Run a cell as the kernel would: (error line or None, what it wrote to stderr)."""
        limit = min(self.timeout, self.budget - self.used)
        if limit <= 0:
            self.stopped = f"the notebook used up its time budget of {self.budget} s"
            return "KernelStopped", ""
        err = io.StringIO()
        began = time.monotonic()
        signal.signal(signal.SIGALRM, _interrupt)
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                result = self.shell.run_cell(source, store_history=False)
        except KeyboardInterrupt:  # the alarm rang outside the cell's own code
            result = None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.used += time.monotonic() - began
        self._close_figures()
        if result is None:
            return "CellTimeoutError: the cell was stopped", err.getvalue()
        error = result.error_in_exec or result.error_before_exec
        if isinstance(error, KeyboardInterrupt):
            return "CellTimeoutError: the cell was stopped", err.getvalue()
        return (f"{type(error).__name__}: {error}" if error else None), err.getvalue()

    def run(self, gid, kind, source, points):
        """Run one cell; a test cell's result, else None."""
        from . import check
        from .judge import kernel_source

        if self.stopped:
            return _zero(points, f"KernelStopped: not run: {self.stopped}", "not run") if kind == "test" else None
        if kind != "test":
            self.execute(source)
            if kind == "given":
                self.judge.given(source)
            return None
        check.begin_recording()
        error, stderr = self.execute(kernel_source(source))
        if self.stopped:
            return _zero(points, f"KernelStopped: not run: {self.stopped}", "not run")
        record = check.take_record()
        verdict = self.judge.verdict(source, record, error)
        found = dict(self.judge.diagnosis)
        if error and error.startswith("CellTimeoutError"):
            found["failure"] = "timeout"
        if verdict:
            self.judge.failed.add(gid)
        elif stderr:
            verdict, found["failure"] = f"The cell wrote to stderr: {stderr[:200]}", "visible"
        return {"score": 0.0 if verdict else points, "max": points, "message": verdict,
                "failure": found["failure"], "mistakes": found["mistakes"]}

    @staticmethod
    def _close_figures():
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _zero(points, message, failure):
    return {"score": 0.0, "max": points, "message": message, "failure": failure, "mistakes": []}


def _skippable(cells, start, changed, reference):
    """Indices of the cells after `start` that a variant need not run.

    A test or solution cell the change cannot reach is left out: one that reads no name
    the changed cells (`changed`, their indices) bind or change, in the variant or in
    the `reference` cells, nor a name a cell they reach binds, unless a later cell that
    runs reads what it binds. A demonstration runs only when a later cell that runs
    reads what it binds and no cell between binds it for sure: what it shows is for the
    student. A test cell left out keeps the reference's result. Given cells always run, and so
    does anything that draws numbers from a global random state.
    """
    reached = set()
    for i in changed:
        reached |= _uses(cells[i][2])[1] | _uses(reference[i][2])[1]
    grew = True
    while grew:  # the functions that call a changed one, wherever they are defined
        grew = False
        for gid, kind, source, _ in cells:
            reads, binds = _uses(source)
            if kind == "student" and gid is not None and reads & reached and not binds <= reached:
                reached |= binds
                grew = True
    runs = set(changed)
    for j in range(start, len(cells)):
        gid, kind, source, _ = cells[j]
        reads, binds = _uses(source)
        if reads & reached:
            reached |= binds
            if gid is not None:  # a graded cell it reaches runs; a demonstration only if a later one needs it
                runs.add(j)
        if _GLOBAL_RANDOM.search(source):  # it may draw other numbers than the reference drew
            runs.add(j)
            reached |= binds
        elif kind == "given":
            runs.add(j)
    return set(range(start, len(cells))) - _and_what_they_read(cells, start, runs)


def _and_what_they_read(cells, start, runs):
    """`runs` (indices of cells from `start` on) and the cells after `start` that bind what they
    read, as no cell between binds it for sure (_sure_binds)."""
    runs, later = set(runs), set()
    for j in range(len(cells) - 1, start - 1, -1):
        reads, binds = _uses(cells[j][2])
        if j in runs or binds & later:
            runs.add(j)
            later = (later - _sure_binds(cells[j][2])) | reads
    return runs


def _idle(cells, variants):
    """The demonstrations the reference's own run leaves out: those that no graded, given or
    random-drawing cell reads, in the reference or in any variant's version of it (a variant
    forked after a demonstration may read what the reference does not), directly or through
    another, unless a cell between binds the name for sure in every version."""
    versions = [[source] for _, _, source, _ in cells]
    order = {gid: i for i, (gid, *_) in enumerate(cells)}
    for changes in variants.values():
        for gid, code in changes.items():
            versions[order[gid]].append(code)
    runs, later = set(), set()
    for j in range(len(cells) - 1, -1, -1):
        uses = [_uses(v) for v in versions[j]]
        reads, binds = frozenset().union(*(r for r, _ in uses)), frozenset().union(*(b for _, b in uses))
        if (cells[j][0] is not None or cells[j][1] == "given" or binds & later
                or any(_GLOBAL_RANDOM.search(v) for v in versions[j])):
            runs.add(j)
            later = (later - frozenset.intersection(*map(_sure_binds, versions[j]))) | reads
    return set(range(len(cells))) - runs


# numpy's global generator (np.random.rand, not np.random.default_rng) or the random module's
_GLOBAL_RANDOM = re.compile(r"\b(np|numpy)\.random\.(?!default_rng\b)|(?<![\w.])random\.")


@functools.lru_cache(maxsize=4096)
def _uses(source):
    """(names a cell reads from outside itself, names it binds or may change). A name a function
    of the cell binds (an argument, a local) is its own; a method called on a name, or an item
    or attribute set on it, counts as a change to that name."""
    from .judge import _python

    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return frozenset({"*"}), frozenset({"*"})
    scope = _Scope()
    scope.visit(tree)
    return frozenset(scope.reads - scope.top), frozenset((scope.binds | scope.changes) - {None, "np", "plt"})


@functools.lru_cache(maxsize=4096)
def _sure_binds(source):
    """The names a cell binds before anything in it can fail: those of its first statements that
    assign literal values (`n_hidden, lr = 64, 0.1`) or define a function with literal defaults
    and no decorator, and that the cell has not read before."""
    from .judge import _python

    try:
        body = ast.parse(_python(source)).body
    except SyntaxError:
        return frozenset()
    sure, read = set(), set()
    for node in body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Assign) and _literal(node.value) and all(map(_names_of, node.targets)):
            names = [n for t in node.targets for n in _names_of(t)]
            if any(_unpacks(t, node.value) is False for t in node.targets):
                break
        elif isinstance(node, ast.FunctionDef) and not node.decorator_list and all(
                map(_literal, [*node.args.defaults, *filter(None, node.args.kw_defaults)])):
            names = [node.name]
        else:
            break
        read |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        sure |= set(names) - read
    return frozenset(sure)


def _literal(node):
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _names_of(target):
    """The names a plain or tuple target binds, or [] for any other target (an item, an attribute)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)) and all(isinstance(e, ast.Name) for e in target.elts):
        return [e.id for e in target.elts]
    return []


def _unpacks(target, value):
    """False when a tuple target gets a literal tuple of another length (the assignment fails)."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts)
    return True


class _Scope(ast.NodeVisitor):
    """What a cell reads and binds, with the names local to its functions set apart."""

    def __init__(self):
        self.reads, self.top, self.binds, self.changes, self.frames = set(), set(), set(), set(), []

    def _bind(self, name):
        self.binds.add(name)
        if not self.frames:
            self.top.add(name)

    def _function(self, node, body):
        args = node.args
        for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.visit(default)
        names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a}
        for part in body:
            names |= {n.id for n in ast.walk(part) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        self.frames.append(names)
        for part in body:
            self.visit(part)
        self.frames.pop()

    def visit_FunctionDef(self, node):
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._bind(node.name)
        self._function(node, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        self._function(node, [node.body])

    def visit_ClassDef(self, node):
        self._bind(node.name)
        self.generic_visit(node)

    def visit_Name(self, node):
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self._bind(node.id)
        elif not any(node.id in frame for frame in self.frames):
            self.reads.add(node.id)

    def visit_Import(self, node):
        for alias in node.names:
            self._bind((alias.asname or alias.name).split(".")[0])

    visit_ImportFrom = visit_Import

    def visit_Attribute(self, node):
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.changes.add(_base(node))
        self.generic_visit(node)

    visit_Subscript = visit_Attribute

    def visit_Call(self, node):
        if isinstance(node.func, ast.Attribute):
            self.changes.add(_base(node.func))
        self.generic_visit(node)

    def visit_Global(self, node):
        self.changes.update(node.names)


def _base(node):
    """The name at the root of an attribute, item or call chain (a.b[0].c() -> "a"), or None."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def _serve(request):
    cells = _cells(request["course"], request["assignment"])
    order = {gid: i for i, (gid, *_) in enumerate(cells)}
    starts = {}
    for vid, changes in request["variants"].items():
        unknown = set(changes) - set(order)
        if unknown:
            raise KeyError(f"variant {vid} replaces cells the notebook does not have: {sorted(unknown)}")
        starts.setdefault(min(order[g] for g in changes), []).append(vid)
    nb = _Notebook(request["assignment"], request["timeout"], request["budget"])
    nb.prepare(cells)
    nb.execute("import random, numpy\nrandom.seed(0)\nnumpy.random.seed(0)\ndel random, numpy")
    nb.used = 0.0
    reference, results = {}, {}
    # with every_cell, the children run every cell: what they read is there to fork from
    idle = set() if request.get("every_cell") else _idle(cells, request["variants"])
    for i, (gid, kind, source, points) in enumerate(cells):
        if i in idle:
            continue
        for vid in starts.get(i, []):
            changes = request["variants"][vid]
            variant = [(g, k, changes.get(g, s), p) for g, k, s, p in cells]
            changed = [j for j, (g, *_) in enumerate(cells) if g in changes]
            skip = set() if request.get("every_cell") else _skippable(variant, i, changed, cells)
            stop = request.get("stop", {}).get(vid)
            hints = vid not in request.get("hintless", ())
            results[vid] = _fork(nb, variant, i, request["budget"], skip, stop, hints)
            SECONDS[vid] = CPU[-1]
        result = nb.run(gid, kind, source, points)
        if result is not None:
            reference[gid] = result
    for vid, found in results.items():  # a cell left out keeps the reference's result
        last = found.pop(_STOPPED, len(cells))
        found.update({g: reference[g] for j, (g, *_) in enumerate(cells) if j <= last and g not in found
                      and g in reference})
    results["reference"] = reference
    return results


_STOPPED = "__stopped_after__"


def _done(stop, found, result):
    """Whether a variant can stop: "first" at its first failure, a list of cells once all are graded."""
    if stop == "first":
        return result["score"] < result["max"]
    return stop is not None and all(c in found for c in stop)


def _fork(nb, cells, start, budget, skip, stop=None, hints=True):
    """Run cells[start:] but those in `skip` in a forked copy of this process: {test cell: result}.

    `stop` ends the run early (see _done); the cells after it are then not in the result.
    Without `hints`, the judge looks for no catalogued mistake.
    """
    read, write = os.pipe()
    gc.freeze()  # the copy's collector leaves the parent's objects alone: no page copied for it
    pid = os.fork()
    if pid == 0:  # the copy: run the variant, send each test cell's result, never return
        os.close(read)
        nb.judge.hints = hints
        try:
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
            with os.fdopen(write, "w") as out:
                graded = set()
                for j, (gid, kind, source, points) in enumerate(cells[start:], start):
                    if j in skip:
                        continue
                    result = nb.run(gid, kind, source, points)
                    if result is not None:
                        graded.add(gid)
                        out.write(json.dumps([gid, result]) + "\n")
                        if _done(stop, graded, result):
                            out.write(json.dumps([_STOPPED, j]) + "\n")
                            break
                        out.flush()
        finally:
            os._exit(0)
    os.close(write)
    found = _collect(read, pid, deadline=time.monotonic() + budget + 30)
    last = found.get(_STOPPED, len(cells))
    for j, (gid, kind, _, points) in enumerate(cells[start:], start):
        if kind == "test" and gid not in found and j not in skip and j <= last:
            found[gid] = _zero(points, "KernelStopped: the variant's process died or hung", "kernel died")
    return found


def _collect(fd, pid, deadline):
    found, buffer = {}, b""
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                break
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                gid, result = json.loads(line)
                found[gid] = result
    finally:
        os.close(fd)
        usage = os.wait4(pid, 0)[2]
        CPU.append(usage.ru_utime + usage.ru_stime)
    return found


CPU, SECONDS = [], {}  # CPU seconds of each variant's process, for benchmarks/bench_variants.py


def main(argv):
    request = json.loads(Path(argv[0]).read_text())
    results = _serve(request)
    Path(argv[1]).write_text(json.dumps(results))
    Path(argv[1]).with_suffix(".cpu.json").write_text(json.dumps(SECONDS))


if __name__ == "__main__":
    main(sys.argv[1:])
