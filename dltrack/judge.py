"""The grader's judge: every test cell is judged outside the student's kernel.

At autograde the kernel runs a test cell with the hidden expected values cut out
(`kernel_source`) and only records the student's answers as plain data
(dltrack.check.begin_recording). The judge, in nbgrader's own process, then runs
the instructor's test cell from the gradebook again, with its hidden values, in
a namespace of its own holding the notebook's given cells; every `Exercise` there
takes its answers from the kernel's record instead of calling the student. What
the student wrote is never run here: their names are `Placeholder`s.
"""
import ast
import builtins
import contextlib
import functools
import io
import json

from IPython.core.inputtransformer2 import TransformerManager

from . import catalog, check
from .compare import Malformed, from_wire

MAX_RECORD = 16 * 2**20  # characters of JSON a test cell may hand back


class ChannelError(Exception):
    """The kernel handed back something other than the answers the checks asked for."""


class Placeholder:
    """A name the student defines: the judge never has the object, only its name."""

    def __init__(self, name):
        self.__name__ = name

    def __repr__(self):
        return f"your {self.__name__}"

    def __call__(self, *args, **kwargs):
        raise ChannelError(f"the test needs the value of {self.__name__} outside the kernel")

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise ChannelError(f"the test needs {self.__name__}.{attr} outside the kernel")


@functools.lru_cache(maxsize=1024)
def kernel_source(source):
    """The test cell as the kernel runs it: every `Expected(...)` emptied, so no hidden value is in it."""
    code = source.encode()
    starts = [0]
    for line in code.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    spans = []
    for node in ast.walk(ast.parse(source)):  # a test cell is plain Python
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Expected" \
                and (node.args or node.keywords):
            spans.append((starts[node.func.end_lineno - 1] + node.func.end_col_offset,
                          starts[node.end_lineno - 1] + node.end_col_offset))
    for begin, end in sorted(spans, reverse=True):
        code = code[:begin] + b"()" + code[end:]
    return code.decode()


@functools.lru_cache(maxsize=1024)
def _python(source):
    """A cell's source as plain Python (IPython's magics and ! lines turned into calls).

    Cached: a grading process judges the same instructor's cells for every student.
    """
    return TransformerManager().transform_cell(source)


@functools.lru_cache(maxsize=1024)
def _compiled(source):
    """An instructor's cell compiled, once a process (cached, as _python)."""
    return compile(_python(source), "<test>", "exec")


class Judge:
    """The judge of one notebook: its given cells' namespace and the kernel's record of a test cell."""

    def __init__(self, assignment):
        self.assignment = assignment
        self.failed = set()  # test cells of this notebook that have failed so far
        self.wrong = set()   # the student's objects whose check has failed so far
        self.namespace = {"__name__": "__judge__", "__builtins__": builtins}
        self.record = None
        self.ask = None  # ask(expression) -> its value in the grading kernel, a str or None
        self.hints = True  # False: no catalogued mistake is looked for, only the points count

    def prepare(self, cells=()):
        """Parse now what judging parses on the way: the instructor's `cells` (test and given
        cells' sources) and this assignment's catalog. A process that forks a copy of itself per
        variant (dltrack.variants) so parses them once, not once a copy."""
        for source in cells:
            _names(source)
            with contextlib.suppress(SyntaxError):  # judging reports it, in the cell that has it
                _compiled(source)
        for mistake in catalog.load(self.assignment):
            for name in catalog.defined_names(mistake["code"]) | _names(mistake["code"]):
                catalog.entries(self.assignment, name)

    def _exec(self, source):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exec(_compiled(source), self.namespace)

    def given(self, source):
        """Run one of the instructor's given cells (setup, data, helpers); None, or why it failed."""
        try:
            self._exec(source)
        except Exception as exc:  # noqa: BLE001 - a given cell may use the student's code
            return f"{type(exc).__name__}: {exc}"
        finally:
            _close_figures()
        return None

    def verdict(self, source, record_json, kernel_error=None):
        """None when the test cell passes on the kernel's record, else the message of its failure.

        What was found is kept in `self.diagnosis`: the kind of failure ("visible", "hidden",
        "changed input", "no answers") and the ids of the catalogued mistakes recognised.
        """
        message, failure, mistakes = self._judge(source, record_json, kernel_error)
        self.diagnosis = {"failure": failure, "mistakes": mistakes,
                          "message": message.splitlines()[0] if message else None}
        return message

    def _judge(self, source, record_json, kernel_error):
        self.answered = 0
        try:
            self.record = _parse(record_json)
        except ChannelError as exc:
            return self._stopped(f"The test cell handed back no usable answers ({exc}).", kernel_error), \
                "no answers", []
        for name in _names(source):
            if name not in self.namespace and not hasattr(builtins, name):
                self.namespace[name] = Placeholder(name)
        check._JUDGE = self
        try:
            self._exec(source)
        except check.CheckFailed as exc:
            kind = "changed input" if exc.changed else "hidden" if exc.hidden else "visible"
            return str(exc), kind, exc.mistakes
        except ChannelError as exc:
            return self._stopped(f"The test cell could not be judged: {exc}.", kernel_error), "no answers", []
        except RecursionError:
            return "The test cell handed back answers nested too deeply; it scores zero.", "no answers", []
        except Exception as exc:  # noqa: BLE001 - the instructor's test on odd answers
            return f"The test failed: {type(exc).__name__}: {exc}", "visible", []
        finally:
            check._JUDGE = None
            _close_figures()
        if self.record:
            return "The test cell handed back more answers than its checks asked for; it scores zero.", \
                "no answers", []
        return None, None, []

    @staticmethod
    def _stopped(what, kernel_error):
        if kernel_error:
            return f"{what}\nIn your kernel the cell stopped with {kernel_error}."
        return what

    # -- called by dltrack.check while it replays a test cell

    def take(self, kind, name="this check"):
        if not self.record:
            raise ChannelError(f"it stopped before {name} handed back an answer")
        item = self.record.pop(0)
        if type(item) is not dict or item.get("kind") != kind:
            raise ChannelError(f"an answer of the wrong kind came back where a {kind!r} was due")
        return item

    def answer(self, item):
        try:
            error = item["error"]
            if error is not None:
                kind, message, where = (str(e)[:2000] for e in error)
                answer = catalog.Answer(error=(kind, message))
                answer.where = where
            else:
                answer = catalog.Answer(output=from_wire(item["output"]))
            answer.changed = [str(n) for n in item["changed"]]
        except (KeyError, TypeError, ValueError, Malformed) as exc:
            raise ChannelError(f"a malformed answer ({exc})") from None
        answer.index, self.answered = self.answered, self.answered + 1
        return answer

    def helpers(self, code, name):
        """The student's other objects that a catalogued mistake calls."""
        return {n for n in _names(code) - {name} if isinstance(self.namespace.get(n), Placeholder)}

    def wrong_helpers(self, name):
        """The student's other objects, known to be wrong, that `name` uses (as its catalogued
        mistakes show): a failure of `name` may then be theirs."""
        used = {n for m in catalog.entries(self.assignment, name) for n in _names(m["code"])}
        return sorted(used & (self.wrong - {name}))

    def needs_kernel(self, code, name):
        return bool(self.helpers(code, name))

    def ask_candidate(self, answer, code, name):
        """A catalogued mistake's answer computed in the grading kernel, beside the student's
        other functions, on the inputs of `answer`; an error Answer when it cannot be had."""
        text = None
        tested_by = {cell for helper in self.helpers(code, name)
                     for m in catalog.entries(self.assignment, helper) for cell in m["caught_by"]}
        if tested_by & self.failed:  # a helper is wrong: the failure is its, not this mistake's
            return catalog.Answer(error=("HelperWrong", ""))
        if self.ask is not None and getattr(answer, "index", None) is not None:
            text = self.ask(f"__import__('dltrack.check').check.candidate({answer.index}, {code!r}, {name!r})")
        try:
            item = json.loads(text)
            wrong = self.answer(dict(item, kind="call"))
            self.answered -= 1
            return wrong
        except (TypeError, ValueError, RecursionError, ChannelError):
            return catalog.Answer(error=("CandidateUnavailable", ""))

    def answers(self, item, count):
        items = item.get("answers")
        if type(items) is not list or len(items) != count:
            raise ChannelError(f"{count} answers were due for the hidden cases")
        return [self.answer(i) for i in items]


def _parse(record_json):
    if not isinstance(record_json, str) or len(record_json) > MAX_RECORD:
        raise ChannelError("nothing, or too much")
    try:
        record = json.loads(record_json)
    except (ValueError, RecursionError):
        raise ChannelError("not JSON") from None
    if type(record) is not list:
        raise ChannelError("not a list of answers")
    return record


@functools.lru_cache(maxsize=4096)
def _names(source):
    """The names a cell or a catalog entry reads or binds, a frozenset (cached, as _python)."""
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return frozenset()
    return frozenset(node.id for node in ast.walk(tree) if isinstance(node, ast.Name))


def _close_figures():
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
