"""The misconception catalog: wrong answers students really write.

Each section has one file, `catalogs/<assignment>.yml`: its `mistakes`, and the
other answers the tests of the tests put in place of a solution cell (`correct`:
different but right answers, which must keep full marks; `wrong`: wrong answers no
mistake names, which must lose the points of `caught_by`). A mistake is
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
from pathlib import Path

import numpy as np
import yaml

from .compare import difference, kind

HERE = Path(__file__).parent / "catalogs"


@functools.cache
def load(assignment):
    """The mistakes of one assignment, as a list of dicts."""
    return _file(assignment).get("mistakes", [])


@functools.cache
def _file(assignment):
    path = HERE / f"{assignment}.yml"
    return yaml.safe_load(path.read_text()) if path.exists() else {}


def mutant_marks(assignment):
    """What the section's catalog says of its mutants (dltrack.fairness): {"equivalent": {id: why},
    "plausible": {id, ...}}."""
    data = _file(assignment).get("mutants") or {}
    return {"equivalent": {m["id"]: m["why"] for m in data.get("equivalent", [])},
            "plausible": set(data.get("plausible", []))}


def others(assignment):
    """The section's other answers: (correct, wrong), each a list of dicts like a mistake's."""
    data = _file(assignment)
    return data.get("correct", []), data.get("wrong", [])


def assignments():
    """Names of the assignments that have a catalog."""
    return sorted(p.stem for p in HERE.glob("*.yml"))


@functools.cache
def defined_names(code):
    """Top-level function and class names that `code` defines, a frozenset.

    Cached: the judge asks it of every catalog entry at every failure.
    """
    return frozenset(node.name for node in ast.parse(code).body
                     if isinstance(node, (ast.FunctionDef, ast.ClassDef)))


@functools.cache
def entries(assignment, name):
    """The mistakes of `assignment` (of every assignment when None) that define `name`."""
    pool = [assignment] if assignment in assignments() else assignments()
    return [m for a in pool for m in load(a) if name in defined_names(m["code"])]


def build(mistake, name, namespace):
    """The wrong object `name` from a mistake's code, run in a copy of the notebook's `namespace`."""
    scope = dict(namespace)
    scope.update(np=np, __name__="catalog")
    exec(_compiled(mistake["code"], mistake["id"]), scope)
    return scope[name]


@functools.lru_cache(maxsize=4096)
def _compiled(code, mistake_id):
    return compile(code, f"<catalog {mistake_id}>", "exec")


class Answer:
    """What one call gave: an output (plain data) or an error (its type name and message)."""

    def __init__(self, output=None, error=None):
        self.output, self.error = output, error

    @property
    def failed(self):
        return self.error is not None


def recognise(assignment, name, run, answer, expected=None, rtol=1e-6, atol=1e-9, dtype=None, rank=None):
    """The catalogued mistakes (at most three) that the answer matches, the best first.

    `run(mistake)` calls the mistake's object on the failing input and returns its
    Answer; `answer` is the student's Answer (an output that differs from
    `expected`, or an error). A mistake matches when it fails the same way on the
    same input. `rank(mistake)`, when given, orders the matches (the highest
    first; the catalog's order among equals).
    """
    if answer.failed and answer.error[0] == "NotImplementedError":
        return []  # an unwritten stub is not a mistake
    found = [m for m in entries(assignment, name) if _same_failure(run(m), answer, expected, rtol, atol, dtype)]
    if rank is not None and len(found) > 1:
        found.sort(key=rank, reverse=True)
    return found[:3]


def sentence(mistake):
    """The line a failure message gives a recognised mistake."""
    return f"This looks like a known mistake: {mistake['why']} Reread \"{mistake['reread']}\"."


def _same_failure(wrong, answer, expected, rtol, atol, dtype):
    if wrong.failed or answer.failed:
        return wrong.error == answer.error
    out = wrong.output
    scalar_or_array = isinstance(out, (np.ndarray, np.generic, int, float))
    return (difference(out, expected, rtol, atol, dtype) is not None
            and difference(answer.output, out, rtol, atol, kind(out) if scalar_or_array else None) is None)
