"""Cells that need an unfinished exercise say which one, instead of a NameError.

A release notebook run top to bottom stops in every exercise the student has not written yet.
A demonstration cell after it would then fail on a name that cell never made. Such a cell starts
with `needs(...)`, and a name that only an exercise's cell can make is first bound to
`unfinished(...)`, which says the same wherever it is used (a graded check included).
"""


class Unfinished(RuntimeError):
    """A cell needs the result of an exercise that is not finished yet."""

    def _render_traceback_(self):
        # IPython shows this instead of a traceback.
        return ["\x1b[0;33mNot yet\x1b[0m", *str(self).splitlines()]


def _message(name, finish):
    return f"This cell needs `{name}`, which does not exist yet: finish {finish}, run its cell, then run this one."


class Placeholder:
    """Stands for `name` until the cell that makes it has run; using it raises `Unfinished`.

    """

    def __init__(self, name, finish):
        object.__setattr__(self, "_what", (name, finish))

    def _stop(self, *args, **kwargs):
        raise Unfinished(_message(*self._what))

    __getitem__ = __setitem__ = __call__ = __iter__ = __len__ = __array__ = _stop
    __add__ = __sub__ = __mul__ = __matmul__ = __truediv__ = __float__ = __int__ = _stop

    def __getattr__(self, attribute):
        if attribute.startswith("_"):  # what Python, NumPy and IPython look for
            raise AttributeError(attribute)
        self._stop()

    def __repr__(self):
        name, finish = self._what
        return f"<{name}: not made yet, finish {finish}>"


def _is_placeholder(value):
    # by name: the grader may reload this module between cells, which makes a new class
    return type(value).__name__ == "Placeholder" and type(value).__module__ == __name__


def unfinished(name, finish):
    """A stand-in for `name` until `finish` (an exercise, said in words) has run."""
    return Placeholder(name, finish)


def needs(finish, *names):
    """Stop this cell with a clear message unless every one of `names` exists and is made.

    `finish` says in words which exercise makes them, e.g. "Exercise 2 (NeuralNetwork)".
    """
    import inspect

    frame = inspect.currentframe().f_back
    try:
        scope = {**frame.f_globals, **frame.f_locals}
    finally:
        del frame
    for name in names:
        if name not in scope or _is_placeholder(scope[name]):
            raise Unfinished(_message(name, finish))
