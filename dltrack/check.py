"""Checks for graded exercises, with messages a student can act on.

A test cell builds an `Exercise` around the student's object and asks it for
known answers (`expect`), properties (`holds`) or, in hidden tests, for its
outputs on seeded random cases (`run`), which are compared with the outputs
the reference solution gave when the assignment was generated (`Expected`).

A failure raises `CheckFailed`. It names the input, the expected and the
received value, and a catalogued mistake when the answer matches one. It
renders without a traceback, so no line of a hidden test is ever shown.
"""
import math
import traceback
import warnings

import numpy as np

from . import catalog

nan, inf = math.nan, math.inf


class CheckFailed(AssertionError):
    """A check failed; the message says what to fix."""

    def _render_traceback_(self):
        # IPython shows this instead of a traceback.
        return ["\x1b[0;31mCheck failed\x1b[0m", *str(self).splitlines()]


def written_here(obj, name):
    """Fail unless `obj` was written in the notebook, not imported."""
    target = getattr(obj, "__func__", obj)
    module = getattr(target, "__module__", None)
    if module != "__main__":
        raise CheckFailed(
            f"{name} must be written in this notebook, but it comes from "
            f"module {module!r}. Write your own code in the solution cell.")


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
    dtype = np.asarray(value).dtype
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
        g = np.asarray(got)
        e = np.asarray(expected)
        if g.dtype.kind not in "biuf":
            return f"expected numbers, got {show(got)}"
    except Exception:  # noqa: BLE001 - a student's object can fail anyhow
        return f"expected numbers, got {show(got)}"
    if g.shape != e.shape:
        return f"expected shape {e.shape}, got shape {g.shape}"
    if dtype and _kind(g) != dtype:
        return f"expected {dtype} values, got dtype {g.dtype}"
    g, e = g.astype(float), e.astype(float)
    bad = ~np.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
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
        return np.asarray(value).dtype.kind in "biuf"
    except Exception:  # noqa: BLE001
        return False


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
        copies = {k: np.copy(v) if isinstance(v, np.ndarray) else v
                  for k, v in inputs.items()}
        # nbgrader scores a cell 0 for anything on stderr: a warning is not a wrong answer.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.call(self.obj if obj is None else obj, **copies)

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
