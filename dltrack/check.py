"""Checks for graded exercises, with messages a student can act on.

A test cell builds an `Exercise` around the student's object and asks it for
known answers (`expect`), properties (`holds`) or, in hidden tests, for its
outputs on seeded random cases (`run`), which are compared with the outputs
the reference solution gave when the assignment was generated (`Expected`).

The same test cell works in three places:
  - in JupyterLab (the student's self-check) it calls the student's object and
    judges at once: a failure raises `CheckFailed`, which names the input, the
    expected and the received value, and a catalogued mistake when the answer
    matches one;
  - in the grading kernel (`begin_recording`) it only calls the student's
    object and records each answer as plain data, judging nothing;
  - in the grader (dltrack.judge) it runs again outside the kernel, on those
    recorded answers, and judges there: with the hidden expected values, which
    never enter the kernel.
"""
import copy
import json
import os
import sys
import traceback
import types
import warnings
from pathlib import Path

import numpy as np

from . import catalog
from .compare import A, Opaque, difference, encode, inf, nan, plain, same, show, to_wire  # noqa: F401

# Where installed code lives: a graded object whose code comes from there was imported.
_INSTALLED = tuple(os.path.realpath(p) + os.sep for p in {
    sys.prefix, sys.base_prefix, os.path.dirname(os.path.abspath(__file__))})
_RECORD = None  # the answers recorded in the grading kernel, a list while recording
_JUDGE = None   # the grader's judge while it replays a test cell (dltrack.judge)
_CALLS = []     # (exercise, inputs) of each answer recorded, for the judge's questions (candidate)


class CheckFailed(AssertionError):
    """A check failed; the message says what to fix.

    `mistakes` holds the ids of the catalogued mistakes recognised, `hidden` whether
    it failed on a hidden case; the grader keeps both (dltrack.diagnosis).
    """

    def __init__(self, message, mistakes=(), hidden=False, changed=False):
        super().__init__(message)
        self.mistakes, self.hidden, self.changed = list(mistakes), hidden, changed

    def _render_traceback_(self):
        # IPython shows this instead of a traceback.
        return ["\x1b[0;31mCheck failed\x1b[0m", *str(self).splitlines()]


def written_here(obj, name):
    """Fail unless `obj` was written in the notebook, not imported."""
    target = getattr(obj, "__func__", obj)
    module = getattr(target, "__module__", None)
    origin = f"module {module!r}"
    if module == "__main__":  # __module__ can be set by hand: look where the code is from too
        functions = vars(target).values() if isinstance(target, type) else [target]
        codes = [getattr(getattr(f, "__func__", f), "__code__", None) for f in functions]
        files = [os.path.realpath(c.co_filename) for c in codes
                 if isinstance(c, types.CodeType) and os.path.isabs(c.co_filename)]
        origin = next((f"the file {f}" for f in files if f.startswith(_INSTALLED)), None)
    if origin:
        raise CheckFailed(
            f"{name} must be written in this notebook, but it comes from "
            f"{origin}. Write your own code in the solution cell.")


# ---------------------------------------------------------------- recording in the grading kernel

def begin_recording():
    """From now on test cells record answers instead of judging them (the grading kernel)."""
    global _RECORD, _CALLS
    _RECORD, _CALLS = [], []


def candidate(index, code, name):
    """What the catalogued mistake `code` (defining `name`) answers on the inputs of recorded
    answer `index`, beside the student's other functions, as JSON: asked by the grader's judge
    when the mistake calls them. Only a hint depends on it, never a score."""
    exercise, inputs = _CALLS[index]
    scope = dict(vars(sys.modules["__main__"]))
    scope.update(np=np, __name__="catalog")
    exec(compile(code, "<catalog>", "exec"), scope)
    return json.dumps(to_record(call_on(exercise.call, scope[name], inputs)))


def take_record():
    """The answers recorded since `begin_recording`, as JSON; recording stops."""
    global _RECORD
    record, _RECORD = _RECORD, None
    return json.dumps(record)


def _where(exc):
    """The line of the student's own code that raised `exc`, or ""."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "ipykernel" in f.filename or f.filename.startswith("<")]
    return f" (line {frames[-1].lineno}: {frames[-1].line})" if frames else ""


def _unchanged(before, after):
    """False when an input was changed in place by the call."""
    if isinstance(before, np.ndarray):
        return isinstance(after, np.ndarray) and before.shape == after.shape and \
            np.array_equal(before, after, equal_nan=before.dtype.kind in "fc")
    if isinstance(before, (list, tuple)):
        return type(after) is type(before) and len(after) == len(before) and \
            all(_unchanged(b, a) for b, a in zip(before, after))
    if isinstance(before, dict):
        return isinstance(after, dict) and before.keys() == after.keys() and \
            all(_unchanged(before[k], after[k]) for k in before)
    return True


def call_on(call, obj, inputs):
    """Call `call(obj, **copies of inputs)`: an Answer with the output as plain data."""
    copies = copy.deepcopy(inputs)
    # nbgrader scores a cell 0 for anything on stderr: a warning is not a wrong answer.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            answer = catalog.Answer(output=plain(call(obj, **copies)))
        except Exception as exc:  # noqa: BLE001 - a student's object can fail anyhow
            answer = catalog.Answer(error=(type(exc).__name__, str(exc)[:2000]))
            answer.where = _where(exc)
    answer.changed = [k for k in inputs if not _unchanged(inputs[k], copies[k])]
    return answer


def to_record(answer):
    return {"kind": "call", "output": to_wire(answer.output), "error": answer.error and
            [*answer.error, answer.where], "changed": answer.changed}


# ---------------------------------------------------------------- the exercise

class Exercise:
    """One graded object, called the same way by every check of a test cell.

    name  -- what the student calls it, e.g. "Perceptron.run"
    obj   -- the student's function or class
    call  -- call(obj, **inputs) -> output; default obj(**inputs)
    dtype -- "float" or "int" to require that kind of number, else None
    may_change_inputs -- False (the default) when the contract says the inputs stay as they were;
                         True when any may change; or the names of those that may (("params",))
    """

    def __init__(self, name, obj, call=None, rtol=1e-6, atol=1e-9, dtype=None, may_change_inputs=False):
        self.name, self.obj = name, obj
        self.call = call or (lambda f, **inputs: f(**inputs))
        self.rtol, self.atol, self.dtype = rtol, atol, dtype
        self.may_change_inputs = may_change_inputs
        self.seen = []  # (inputs, answer) of each answer judged so far, to tell mistakes apart
        if _JUDGE is not None:
            refused = _JUDGE.take("new", name)["refused"]
            if refused:
                raise CheckFailed(str(refused)[:1000])
        elif _RECORD is not None:
            try:
                written_here(obj, name)
                _RECORD.append({"kind": "new", "refused": None})
            except CheckFailed as exc:
                _RECORD.append({"kind": "new", "refused": str(exc)})
        else:
            written_here(obj, name)

    # -- where the answers come from

    def _answer(self, inputs):
        """The student's answer on `inputs`: called here, or taken from the grading kernel's record."""
        if _JUDGE is not None:
            answer = _JUDGE.answer(_JUDGE.take("call", self.name))
        else:
            answer = call_on(self.call, self.obj, inputs)
        if _RECORD is not None:
            _RECORD.append(to_record(answer))
            _CALLS.append((self, inputs))
        else:
            self.seen.append((inputs, answer))
        return answer

    def _candidate(self, inputs, mistake, answer):
        """What a catalogued mistake answers on `inputs`: here, or, when it calls the student's
        other functions, which the grader does not have, in the grading kernel."""
        name = getattr(self.obj, "__name__", None)
        if _JUDGE is not None and _JUDGE.needs_kernel(mistake["code"], name):
            return _JUDGE.ask_candidate(answer, mistake["code"], name)
        where = _JUDGE.namespace if _JUDGE is not None else vars(sys.modules.get("__main__", types))
        try:
            wrong = catalog.build(mistake, name, where)
        except Exception as exc:  # noqa: BLE001 - a catalog entry that cannot be built matches nothing
            return catalog.Answer(error=("CatalogEntryBroken", str(exc)))
        return call_on(self.call, wrong, inputs)

    # -- judging

    @property
    def judging(self):
        return _RECORD is None

    def _fail(self, inputs, what, answer=None, expected=None, changed=False):
        lines = [f"{self.name} {what}", f"  input:    {show(inputs)}"]
        if expected is not None:
            lines += [f"  expected: {show(expected)}", f"  got:      {show(answer.output)}"]
        name = getattr(self.obj, "__name__", None)
        wrong_helpers = _JUDGE.wrong_helpers(name) if _JUDGE is not None else []
        found = []
        if wrong_helpers:  # the hint belongs to the helper's own cell, not here
            lines.append(f"This check uses your {' and '.join(wrong_helpers)}, which failed its own check "
                         "above: fix that first, since the mistake may be there rather than here.")
        elif answer and (_JUDGE is None or _JUDGE.hints):
            assignment = _JUDGE.assignment if _JUDGE is not None else Path.cwd().name
            found = catalog.recognise(
                assignment, name, lambda m: self._candidate(inputs, m, answer), answer, expected,
                self.rtol, self.atol, self.dtype, rank=self._agreements)
        lines += [catalog.sentence(m) for m in found]
        if _JUDGE is not None:
            _JUDGE.wrong.add(name)
        raise CheckFailed("\n".join(lines), [m["id"] for m in found], "(hidden case" in what, changed)

    def _agreements(self, mistake):
        """On how many of the answers judged before the failing one the mistake answers as the
        student did: of several mistakes that explain a failure, the one that explains the most."""
        count = 0
        for inputs, answer in self.seen[:-1]:
            wrong = self._candidate(inputs, mistake, answer)
            if wrong.failed or answer.failed:
                count += wrong.error == answer.error
            else:
                count += difference(answer.output, wrong.output, self.rtol, self.atol) is None
        return count

    def _raised(self, inputs, answer, label=""):
        kind, message = answer.error
        if kind == "NotImplementedError":
            what = "it raised NotImplementedError: the solution is not written yet"
        else:
            what = f"it raised {kind}: {message}{getattr(answer, 'where', '')}"
        self._fail(inputs, f"{what}{label}", answer)

    def _unchanged_inputs(self, inputs, answer, label=""):
        allowed = self.may_change_inputs
        changed = [] if allowed is True else [n for n in answer.changed if not allowed or n not in allowed]
        if changed:
            names = ", ".join(changed)
            self._fail(inputs, f"changed its input {names} in place{label}. Work on a copy "
                       "(for example x = x.copy(), or x = x - ... instead of x -= ...): "
                       "the caller's arrays must stay as they were.", changed=True)

    def expect(self, expected, **inputs):
        """Check one known answer."""
        answer = self._answer(inputs)
        if not self.judging:
            return
        if answer.failed:
            self._raised(inputs, answer)
        why = difference(answer.output, expected, self.rtol, self.atol, self.dtype)
        if why:
            self._fail(inputs, f"gave a wrong answer: {why}.", answer, expected)
        self._unchanged_inputs(inputs, answer)

    def holds(self, prop, says, **inputs):
        """Check that prop(output) is true; `says` states the property. prop sees plain data only."""
        answer = self._answer(inputs)
        if not self.judging:
            return
        if answer.failed:
            self._raised(inputs, answer)
        try:
            holds = bool(prop(answer.output))
        except Exception:  # noqa: BLE001 - an output of the wrong kind
            holds = False
        if not holds:
            self._fail(inputs, f"breaks a property: {says}.\n  got:      {show(answer.output)}", answer)
        self._unchanged_inputs(inputs, answer)

    def run(self, cases):
        """Outputs (or errors) on a list of input dicts, for `Run.check`."""
        return Run(self, cases)


class Run:
    """An exercise's answers on hidden cases; compared by `check`."""

    def __init__(self, exercise, cases):
        self.exercise, self.cases = exercise, cases
        if _JUDGE is not None:
            self.answers = _JUDGE.answers(_JUDGE.take("run", f"{exercise.name} (hidden cases)"), len(cases))
        else:
            self.answers = [call_on(exercise.call, exercise.obj, inputs) for inputs in cases]
            if _RECORD is not None:
                _RECORD.append({"kind": "run", "answers": [to_record(a) for a in self.answers]})
                _CALLS.extend((exercise, inputs) for inputs in cases)

    def __repr__(self):
        # Written into the hidden test when the assignment is generated.
        for answer in self.answers:
            if answer.failed:
                raise RuntimeError(f"the reference raised {answer.error}")
        return f"Expected([{', '.join(encode(a.output) for a in self.answers)}])"

    def check(self, expected=None):
        ex = self.exercise
        if not ex.judging:
            return
        if expected is None or expected.values is None:
            raise CheckFailed("the hidden test has no expected values: generate the assignment again")
        for number, (inputs, answer, want) in enumerate(zip(self.cases, self.answers, expected.values), 1):
            label = f" (hidden case {number} of {len(self.cases)})"
            ex.seen.append((inputs, answer))
            if answer.failed:
                ex._raised(inputs, answer, label)
            why = difference(answer.output, want, ex.rtol, ex.atol, ex.dtype)
            if why:
                ex._fail(inputs, f"gave a wrong answer{label}: {why}.", answer, want)
            ex._unchanged_inputs(inputs, answer, label)


class Expected:
    """The reference's outputs on the hidden cases, as written at generation."""

    def __init__(self, values=None):
        self.values = values

    def __repr__(self):
        return "Expected(<hidden>)"
