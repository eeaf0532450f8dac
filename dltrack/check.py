"""Checks for graded exercises, with messages a student can act on.

A test cell builds an `Exercise` around the student's object and asks it for
known answers (`expect`), properties (`holds`) or, in hidden tests, for its
outputs on seeded random cases (`run`), which are compared with the outputs
the reference solution gave when the assignment was generated (`Expected`).

A failure raises `CheckFailed`. It names the input, the expected and the
received value, and a catalogued mistake when the answer matches one. It
renders without a traceback, so no line of a hidden test is ever shown.

The checks resist the easy ways of fooling them. An output is copied into plain
numbers right after the call (`_plain`), so no student code runs while it is
compared: no `__eq__` that always says yes, no `__array__` that answers twice.
The comparison uses NumPy functions bound here at import, not numpy's names at
the time of the call. When grading, nbgrader reloads this module before each
test cell (dltrack.nbplugins.SandboxedExecute), which also puts back numpy's
functions as they were before any student code ran.
"""
import math
import os
import sys
import traceback
import types
import warnings

import numpy as np

from . import catalog

nan, inf = math.nan, math.inf

# numpy as it was at the first import, before a student's code could replace its
# functions (np.allclose = ...); kept across reloads, and put back at each one.
try:
    _NUMPY  # noqa: B018 - defined when this is a reload
except NameError:
    _NUMPY = {module: dict(vars(module)) for module in (np, np.linalg, np.random)}
for _module, _names in _NUMPY.items():
    vars(_module).update(_names)
_array, _copy, _errstate = np.array, np.copy, np.errstate
_absolute, _isfinite, _isnan = np.absolute, np.isfinite, np.isnan
# Where installed code lives: a graded object whose code comes from there was imported.
_INSTALLED = tuple(os.path.realpath(p) + os.sep for p in {
    sys.prefix, sys.base_prefix, os.path.dirname(os.path.abspath(__file__))})


class CheckFailed(AssertionError):
    """A check failed; the message says what to fix."""

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


def show(value, width=300):
    """A short, readable text of a value: arrays by shape, dtype and values."""
    if isinstance(value, np.ndarray):
        with np.printoptions(precision=6, threshold=30, edgeitems=3):
            body = np.array2string(value, separator=", ")
        body = " ".join(body.split())
        text = f"array of shape {value.shape}, dtype {value.dtype}: {body}"
    elif isinstance(value, np.generic):
        text = repr(value.item())
    elif isinstance(value, dict):
        text = ", ".join(f"{k}={show(v, width)}" for k, v in value.items())
    else:
        text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def _kind(value):
    dtype = _array(value).dtype
    return "float" if dtype.kind == "f" else "int" if dtype.kind in "iub" else dtype.kind


def difference(got, expected, rtol=1e-6, atol=1e-9, dtype=None):
    """None when `got` matches `expected`, else one sentence saying how not."""
    if expected is None:
        return None if got is None else f"expected None, got {show(got)}"
    if isinstance(expected, (tuple, list)) and not _numeric(expected):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected a sequence of {len(expected)} items, got {show(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            why = difference(g, e, rtol, atol, dtype)
            if why:
                return f"item {i}: {why}"
        return None
    try:
        g = _array(got)
        e = _array(expected)
        if g.dtype.kind not in "biuf":
            return f"expected numbers, got {show(got)}"
    except Exception:  # noqa: BLE001 - a student's object can fail anyhow
        return f"expected numbers, got {show(got)}"
    if g.shape != e.shape:
        return f"expected shape {e.shape}, got shape {g.shape}"
    if dtype and _kind(g) != dtype:
        return f"expected {dtype} values, got dtype {g.dtype}"
    g, e = g.astype(float), e.astype(float)
    with _errstate(all="ignore"):  # np.isclose, with ufuncs and operators only
        close = ((_absolute(g - e) <= atol + rtol * _absolute(e)) & _isfinite(e)) | (g == e)
        bad = ~(close | (_isnan(g) & _isnan(e)))
        if not bad.any():
            return None
        gap = np.where(bad, np.abs(np.nan_to_num(g - e, nan=inf)), -1.0)
    worst = np.unravel_index(np.argmax(gap), g.shape)
    if not g.ndim:
        return f"expected {e[()]:.6g}, got {g[()]:.6g}"
    where = tuple(int(i) for i in worst)
    return (f"worst element at index {where}: expected {e[worst]:.6g}, got {g[worst]:.6g} "
            f"({int(bad.sum())} of {bad.size} elements differ)")


def _numeric(value):
    try:
        return _array(value).dtype.kind in "biuf"
    except Exception:  # noqa: BLE001
        return False


class _Opaque:
    """An output that is not made of numbers, kept only as the name of its type."""

    def __init__(self, value):
        self.text = f"an object of type {type(value).__name__}"

    def __repr__(self):
        return self.text


def _plain(value):
    """A copy of an output made of plain Python and NumPy values, taken once, right after the call."""
    if value is None or type(value) in (bool, int, float, complex, str):
        return value
    if isinstance(value, (tuple, list)):
        return (tuple if isinstance(value, tuple) else list)(_plain(v) for v in value)
    try:
        array = _array(value, copy=True)  # a plain ndarray: its subclass and methods are gone
    except Exception:  # noqa: BLE001 - a student's object can fail anyhow
        return _Opaque(value)
    if array.dtype.kind not in "biufc":
        return _Opaque(value)
    return array if array.ndim else array[()]


def _student_error(exc):
    """The exception as the student should read it: their own frames only."""
    if isinstance(exc, NotImplementedError):
        return "it raised NotImplementedError: the solution is not written yet"
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "ipykernel" in f.filename or f.filename.startswith("<")]
    where = f" (line {frames[-1].lineno}: {frames[-1].line})" if frames else ""
    return f"it raised {type(exc).__name__}: {exc}{where}"


class Exercise:
    """One graded object, called the same way by every check of a test cell.

    name  -- what the student calls it, e.g. "Perceptron.run"
    obj   -- the student's function or class
    call  -- call(obj, **inputs) -> output; default obj(**inputs)
    dtype -- "float" or "int" to require that kind of number, else None
    """

    def __init__(self, name, obj, call=None, rtol=1e-6, atol=1e-9, dtype=None):
        written_here(obj, name)
        self.name, self.obj = name, obj
        self.call = call or (lambda f, **inputs: f(**inputs))
        self.rtol, self.atol, self.dtype = rtol, atol, dtype

    def _output(self, inputs, obj=None):
        copies = {k: _copy(v) if isinstance(v, np.ndarray) else v
                  for k, v in inputs.items()}
        # nbgrader scores a cell 0 for anything on stderr: a warning is not a wrong answer.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _plain(self.call(self.obj if obj is None else obj, **copies))

    def _fail(self, inputs, what, got=None, expected=None, error=None):
        lines = [f"{self.name} {what}", f"  input:    {show(inputs)}"]
        if expected is not None:
            lines += [f"  expected: {show(expected)}", f"  got:      {show(got)}"]
        hint = catalog.recognise(self, inputs, got, expected, error)
        if hint:
            lines.append(hint)
        raise CheckFailed("\n".join(lines))

    def expect(self, expected, **inputs):
        """Check one known answer."""
        try:
            got = self._output(inputs)
        except Exception as exc:  # noqa: BLE001
            self._fail(inputs, _student_error(exc), error=exc)
        why = difference(got, expected, self.rtol, self.atol, self.dtype)
        if why:
            self._fail(inputs, f"gave a wrong answer: {why}.", got, expected)

    def holds(self, prop, says, **inputs):
        """Check that prop(output) is true; `says` states the property."""
        try:
            got = self._output(inputs)
            holds = bool(prop(got))
        except Exception as exc:  # noqa: BLE001
            self._fail(inputs, _student_error(exc), error=exc)
        if not holds:
            self._fail(inputs, f"breaks a property: {says}.\n  got:      {show(got)}")

    def run(self, cases):
        """Outputs (or errors) on a list of input dicts, for `Run.check`."""
        return Run(self, cases)


class Run:
    """An exercise's outputs on hidden cases; compared by `check`."""

    def __init__(self, exercise, cases):
        self.exercise, self.cases, self.outputs = exercise, cases, []
        for inputs in cases:
            try:
                self.outputs.append((True, exercise._output(inputs)))
            except Exception as exc:  # noqa: BLE001
                self.outputs.append((False, exc))

    def __repr__(self):
        # Written into the hidden test when the assignment is generated.
        for ok, out in self.outputs:
            if not ok:
                raise RuntimeError(f"the reference raised {out!r}")
        return f"Expected([{', '.join(encode(out) for _, out in self.outputs)}])"

    def check(self, expected):
        ex = self.exercise
        for number, (inputs, (ok, got), want) in enumerate(
                zip(self.cases, self.outputs, expected.values), 1):
            label = f"(hidden case {number} of {len(self.cases)})"
            if not ok:
                ex._fail(inputs, f"{_student_error(got)} {label}", error=got)
            why = difference(got, want, ex.rtol, ex.atol, ex.dtype)
            if why:
                ex._fail(inputs, f"gave a wrong answer {label}: {why}.", got, want)


class Expected:
    """The reference's outputs on the hidden cases, as written at generation."""

    def __init__(self, values):
        self.values = values

    def __repr__(self):
        return "Expected(<hidden>)"


def A(dtype, shape, flat):  # noqa: N802 - short name for the generated literal
    """An array from its generated literal."""
    return np.array(flat, dtype=dtype).reshape(shape)


def encode(value):
    """A Python literal that `A`, `nan` and `inf` turn back into `value`."""
    if isinstance(value, (np.ndarray, np.generic)):
        flat = ", ".join(encode(v) for v in np.ravel(value).tolist())
        return f"A({str(value.dtype)!r}, {tuple(np.shape(value))!r}, [{flat}])"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(encode(v) for v in value)
        return f"({inner},)" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    raise TypeError(f"cannot write {type(value).__name__} into a hidden test")
