"""The misconception catalog: wrong answers students really write.

Each section has `catalogs/<assignment>.yml`, a list of mistakes. A mistake is
the code of a whole solution cell written wrongly, with one sentence on what is
wrong and the part of the notebook to reread. When a check fails, the student's
output is compared with each catalogued wrong answer on the same input; a match
is named in the failure message.

Fields of a mistake:
  id        -- short name, unique in the file
  replaces  -- grade_id of the solution cell the code stands in for
  caught_by -- grade_ids of the test cells that must lose points for it
  why       -- one sentence: what is wrong
  reread    -- the heading of the part of the notebook that explains it
  code      -- the wrong solution cell
"""
import ast
import functools
import sys
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).parent / "catalogs"


@functools.cache
def load(assignment):
    """The mistakes of one assignment, as a list of dicts."""
    path = HERE / f"{assignment}.yml"
    if not path.exists():
        return []
    return yaml.safe_load(path.read_text())["mistakes"]


def assignments():
    """Names of the assignments that have a catalog."""
    return sorted(p.stem for p in HERE.glob("*.yml"))


def defined_names(code):
    """Top-level function and class names that `code` defines."""
    return {node.name for node in ast.parse(code).body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def _entries_defining(name):
    """Mistakes that define `name`: the notebook's own section first, where it is known.

    A kernel runs in its notebook's folder, which is named after the assignment.
    """
    here = Path.cwd().name
    return _defining(name, here if here in assignments() else None)


@functools.cache
def _defining(name, assignment):
    pool = [assignment] if assignment else assignments()
    return [m for a in pool for m in load(a) if name in defined_names(m["code"])]


def build(mistake, name):
    """The wrong object `name` from a mistake's code, run beside the notebook."""
    main = sys.modules.get("__main__")
    namespace = dict(vars(main)) if main else {}
    namespace.update(np=np, __name__="catalog")
    exec(compile(mistake["code"], f"<catalog {mistake['id']}>", "exec"), namespace)
    return namespace[name]


def recognise(exercise, inputs, got, expected=None, error=None):
    """A sentence naming each catalogued mistake that the answer matches, or None.

    The answer is `got` (an output that differs from `expected`) or `error` (an
    exception). A mistake matches when it fails the same way on the same input.
    """
    if isinstance(error, NotImplementedError):
        return None  # an unwritten stub is not a mistake
    name = getattr(exercise.obj, "__name__", None)
    found = [f"This looks like a known mistake: {m['why']} Reread \"{m['reread']}\"."
             for m in _entries_defining(name)
             if _same_failure(exercise, m, name, inputs, got, expected, error)]
    return "\n".join(found[:3]) or None


def _same_failure(exercise, mistake, name, inputs, got, expected, error):
    from .check import _kind, difference  # check imports this module

    try:
        wrong = exercise._output(inputs, obj=build(mistake, name))
    except Exception as exc:  # noqa: BLE001 - a wrong answer may raise
        return error is not None and type(exc) is type(error) and str(exc) == str(error)
    if error is not None:
        return False
    tol = dict(rtol=exercise.rtol, atol=exercise.atol)
    scalar_or_array = isinstance(wrong, (np.ndarray, np.generic, int, float))
    same_kind = _kind(wrong) if scalar_or_array else None
    return (difference(wrong, expected, dtype=exercise.dtype, **tol) is not None
            and difference(got, wrong, dtype=same_kind, **tol) is None)
